"""The model runner: loading model modules, parameters, run_model and its outputs."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import World
from archetype_ecs.demos import bounce
from archetype_ecs.errors import EcsError
from archetype_ecs.runner import (
    DEFAULT_FRAMES,
    RESERVED_KEYS,
    TIMING_KEYS,
    ModelError,
    ParamError,
    SummaryKeyWarning,
    load_model,
    parse_params,
    resolve_params,
    run_model,
)
from archetype_ecs.serialization import load

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "examples"


def write_model(tmp_path: Path, body: str, name: str = "model.py") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return path


TINY = """\
    '''Tiny: one counter that goes up by a parameter every frame.'''
    from dataclasses import dataclass

    from archetype_ecs import World, system
    from archetype_ecs.runner import resolve_params

    PARAMS = {"step": 2, "scale": 1.5, "label": "a", "on": True}
    FRAMES = 4


    @dataclass
    class Counter:
        value: float = 0.0


    @dataclass
    class Settings:
        step: float


    @system(resources=[Settings], resources_mut=[Counter])
    def count(ctx):
        ctx.resource_mut(Counter).value += ctx.resource(Settings).step


    def build(*, seed=0, threads=None, **params):
        p = resolve_params(PARAMS, params, model="tiny")
        world = World(seed=seed, threads=threads)
        world.insert_resource(Counter())
        world.insert_resource(Settings(p["step"] * p["scale"] if p["on"] else 0.0))
        world.add_system(count)
        return world


    def summary(world):
        return {"count": world.resource(Counter).value}


    def status(world):
        return f"count={world.resource(Counter).value:g}"
"""


# ------------------------------------------------------------------- loading


def test_load_by_module_name_reads_the_protocol() -> None:
    model = load_model("archetype_ecs.demos.bounce")
    assert model.module is bounce
    assert model.name == "bounce"
    assert model.params == {"agents": 100_000}
    assert model.frames == 300
    assert model.description.startswith("Bounce: agents steer")
    assert model.record == [bounce.Position, bounce.Velocity, bounce.Age]


def test_file_inside_the_package_is_imported_by_its_module_name() -> None:
    # through the examples/ symlink and through the real path: one module, so the
    # components are the package's (not registered a second time under a copy)
    via_link = load_model(EXAMPLES / "bounce.py")
    direct = load_model(ROOT / "archetype_ecs" / "demos" / "bounce.py")
    assert via_link.module is bounce
    assert direct.module is bounce
    assert via_link.source == str(EXAMPLES / "bounce.py")


def test_outside_file_is_imported_under_its_stem_and_reused(tmp_path) -> None:
    # the name `import stem` would give it, so Numba's on-disk cache (which names
    # the module) agrees between the CLI and a plain import
    path = write_model(tmp_path, TINY, name="tiny_runner_model.py")
    first = load_model(str(path))
    again = load_model(path)
    assert first.module is again.module
    assert first.module.__name__ == "tiny_runner_model"
    assert sys.modules["tiny_runner_model"] is first.module
    assert first.name == "tiny_runner_model"
    assert first.frames == 4
    # a changed file is imported again
    path.write_text(textwrap.dedent(TINY).replace('"label": "a"', '"label": "b"'))
    changed = load_model(path)
    assert changed.params["label"] == "b"
    # another file with the same stem replaces it (both were imported by the runner)
    (tmp_path / "sub").mkdir()
    other = write_model(tmp_path / "sub", TINY, name="tiny_runner_model.py")
    assert load_model(other).module.__file__ == str(other.resolve())


def test_file_named_like_an_existing_module_gets_a_private_name(tmp_path) -> None:
    path = write_model(tmp_path, TINY, name="json.py")
    model = load_model(path)
    assert model.module.__name__.startswith("_arrow_ecs_model_json_")
    assert sys.modules["json"] is json  # the standard library is left alone
    assert model.name == "json"


def test_example_template_is_a_complete_model() -> None:
    model = load_model(EXAMPLES / "my_model.py")
    assert model.params == {"agents": 10_000, "patch": 0.2, "cost": 0.01}
    out = run_model(model, frames=5, params={"agents": 300}, progress=False)
    assert out["alive"] + out["starved"] == 300
    assert 0.0 < out["mean_energy"] <= 1.0


def test_import_error_names_the_model_file_and_line(tmp_path) -> None:
    path = write_model(tmp_path, "import math\n\nvalue = math.sqrt(-1)\n")
    with pytest.raises(ModelError, match=r"model\.py:3: ValueError: math domain error"):
        load_model(path)
    with pytest.raises(ModelError) as info:
        load_model(path)
    assert info.value.line == 3
    assert info.value.file == str(path.resolve())
    assert "value = math.sqrt(-1)" in str(info.value)
    # the half-imported module is not left behind
    files = [getattr(m, "__file__", None) for m in list(sys.modules.values())]
    assert str(path.resolve()) not in files


def test_syntax_error_names_the_file_and_line(tmp_path) -> None:
    path = write_model(tmp_path, "x = 1\ndef build(:\n    pass\n")
    with pytest.raises(ModelError, match=r"model\.py:2: SyntaxError") as info:
        load_model(path)
    assert info.value.line == 2


def test_build_error_names_the_line_inside_the_model(tmp_path) -> None:
    body = """\
        from archetype_ecs import World

        def build(*, seed=0, threads=None):
            world = World()
            world.resource(int)
            return world
    """
    path = write_model(tmp_path, body)
    model = load_model(path)
    with pytest.raises(ModelError, match=r"model\.py:5: ResourceNotFoundError") as info:
        run_model(model, frames=1, progress=False)
    assert "while building model 'model'" in str(info.value)
    assert info.value.line == 5


def test_error_while_stepping_names_the_system_line(tmp_path) -> None:
    body = """\
        from archetype_ecs import World, system

        @system
        def broken(ctx):
            raise KeyError("no such thing")

        def build(*, seed=0, threads=None):
            world = World(threads=threads)
            world.add_system(broken)
            return world
    """
    path = write_model(tmp_path, body)
    with pytest.raises(ModelError, match=r"model\.py:5: KeyError") as info:
        run_model(path, frames=3, progress=False)
    message = str(info.value)
    assert "running frame 1 of model 'model'" in message
    assert "while running system 'broken'" in message  # the executor's note


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("X = 1\n", "defines no build"),
        ("build = 3\n", "defines no build"),
        ("def build(**k): pass\nPARAMS = {'a': [1]}\n", "PARAMS must be a dict"),
        ("def build(**k): pass\nPARAMS = [1]\n", "PARAMS must be a dict"),
        ("def build(**k): pass\nFRAMES = 0\n", "FRAMES must be a positive int"),
        ("def build(**k): pass\nFRAMES = 2.5\n", "FRAMES must be a positive int"),
    ],
)
def test_malformed_protocol_is_a_clear_error(tmp_path, body, match) -> None:
    with pytest.raises(ModelError, match=match):
        load_model(write_model(tmp_path, body))


def test_missing_file_and_module_are_clear_errors(tmp_path) -> None:
    with pytest.raises(ModelError, match=r"model file .* not found"):
        load_model(tmp_path / "absent.py")
    (tmp_path / "sub").mkdir()
    with pytest.raises(ModelError, match="it is a directory"):
        load_model(tmp_path / "sub")
    with pytest.raises(
        ModelError, match=r"no model file or module named 'no\.such\.mod'"
    ):
        load_model("no.such.mod")


def test_build_must_return_a_world(tmp_path) -> None:
    path = write_model(tmp_path, "def build(*, seed=0, threads=None):\n    return 1\n")
    with pytest.raises(ModelError, match="returned int, not a World"):
        run_model(path, frames=1, progress=False)


def test_summary_reserved_keys_are_renamed_with_a_warning(tmp_path) -> None:
    body = TINY.replace(
        'return {"count": world.resource(Counter).value}',
        'return {"frames": 1, "count": 2}',
    )
    with pytest.warns(SummaryKeyWarning, match=r"summary\(\) key 'frames' is one"):
        out = run_model(write_model(tmp_path, body), progress=False)
    assert out["frames"] == 4  # the runner's figure
    assert out["model_frames"] == 1  # the model's, kept under another name
    assert out["count"] == 2
    assert {"model", "frames", "seed", "params"} <= RESERVED_KEYS
    assert TIMING_KEYS <= RESERVED_KEYS


def test_summary_values_must_be_json_able(tmp_path) -> None:
    body = TINY.replace(
        'return {"count": world.resource(Counter).value}',
        'import numpy as np\n        return {"arr": np.arange(2), "n": np.int64(3), '
        '"bad": {"x": object()}}',
    )
    with pytest.raises(ModelError, match=r"summary\(\)\['bad'\]\['x'\] is a object"):
        run_model(write_model(tmp_path, body), progress=False)


# ---------------------------------------------------------------- parameters


def test_resolve_params_types_and_defaults() -> None:
    defaults = {"n": 10, "r": 1.5, "name": "x", "on": False}
    assert resolve_params(defaults) == defaults
    got = resolve_params(defaults, {"n": "1_000", "r": 2, "on": "yes", "name": "y"})
    assert got == {"n": 1000, "r": 2.0, "name": "y", "on": True}
    assert type(got["r"]) is float


@pytest.mark.parametrize(
    ("given", "match"),
    [
        ({"m": 1}, r"unknown parameter 'm'.*valid parameters: n=10 \(int\)"),
        ({"nn": 1}, r"did you mean 'n'\?"),
        ({"n": 1.5}, r"parameter 'n' must be int \(default 10\), got 1.5"),
        ({"n": True}, r"parameter 'n' must be int"),
        ({"n": "ten"}, r"parameter 'n' must be int.*--param n=100"),
        ({"r": "fast"}, r"parameter 'r' must be float"),
        ({"r": "nan"}, r"parameter 'r' must be float"),
        ({"on": "maybe"}, r"parameter 'on' must be bool"),
        ({"on": 1}, r"parameter 'on' must be bool"),
        ({"name": 3}, r"parameter 'name' must be str"),
    ],
)
def test_bad_params_are_clear_errors(given, match) -> None:
    defaults = {"n": 10, "r": 1.5, "name": "x", "on": False}
    with pytest.raises(ParamError, match=match):
        resolve_params(defaults, given, model="m")


def test_parse_params_pairs() -> None:
    defaults = {"agents": 10, "radius": 1.0}
    assert parse_params(["agents=5", "radius=2.5", "agents=7"], defaults) == {
        "agents": 7,
        "radius": 2.5,
    }
    with pytest.raises(ParamError, match="'agents' is not name=value"):
        parse_params(["agents"], defaults)
    with pytest.raises(ParamError, match="is not name=value"):
        parse_params(["=3"], defaults)
    with pytest.raises(ParamError, match="this model takes no parameters"):
        parse_params(["x=1"], {})


def test_model_build_checks_params_when_called_directly() -> None:
    with pytest.raises(ParamError, match="unknown parameter 'agent'"):
        bounce.build(agent=10)
    with pytest.raises(ParamError, match="agents must be >= 0"):
        bounce.build(agents=-1)


# ------------------------------------------------------------------- running


def test_run_model_returns_json_able_figures(tmp_path) -> None:
    path = write_model(tmp_path, TINY)
    out = run_model(path, seed=3, params={"step": 5}, progress=False)
    assert json.loads(json.dumps(out)) == out
    assert out["model"] == "model"
    assert out["frames"] == 4  # the model's FRAMES
    assert out["seed"] == 3
    assert out["params"] == {"step": 5, "scale": 1.5, "label": "a", "on": True}
    assert out["count"] == 4 * 5 * 1.5
    assert out["entities"] == 0
    assert set(out["system_mean_ms"]) == {"count"}
    assert out["slowest_system"] == "count"
    assert out["median_frame_ms"] > 0
    assert out["outputs"] == {}
    assert "budget" not in out


def test_run_model_default_frames_without_frames_constant(tmp_path) -> None:
    body = TINY.replace("FRAMES = 4\n", "")
    out = run_model(write_model(tmp_path, body), progress=False)
    assert out["frames"] == DEFAULT_FRAMES
    assert out["count"] == DEFAULT_FRAMES * 3.0


def test_run_model_rejects_bad_arguments_before_building(tmp_path) -> None:
    path = write_model(tmp_path, TINY)
    with pytest.raises(EcsError, match="frames must be a positive int"):
        run_model(path, frames=0, progress=False)
    with pytest.raises(EcsError, match="seed must be an int"):
        run_model(path, seed="1", progress=False)  # type: ignore[arg-type]
    with pytest.raises(ParamError, match="unknown parameter 'stp'"):
        run_model(path, params={"stp": 1}, progress=False)
    with pytest.raises(EcsError, match=r"the folder of .* does not exist"):
        run_model(path, trace=tmp_path / "no" / "t.json", progress=False)
    (tmp_path / "taken.parquet").write_text("x")
    with pytest.raises(EcsError, match="already exists"):
        run_model(
            path,
            record=tmp_path / "taken.parquet",
            trace=tmp_path / "t.json",
            save=tmp_path / "saved",
            progress=False,
        )
    assert not (tmp_path / "t.json").exists()  # nothing was written
    assert not (tmp_path / "saved").exists()
    (tmp_path / "file").write_text("x")
    with pytest.raises(EcsError, match="exists and is not a directory"):
        run_model(path, save=tmp_path / "file", progress=False)


def test_progress_bar_shows_live_figures_and_status(tmp_path) -> None:
    import io

    stream = io.StringIO()
    run_model(write_model(tmp_path, TINY), stream=stream)
    text = stream.getvalue()
    assert "4/4 frames" in text
    assert "0 entities" in text
    assert "count=12" in text  # the model's status()
    assert "ms/frame" in text


def test_bounce_is_deterministic_across_runs_and_threads() -> None:
    runs = [
        run_model(
            "archetype_ecs.demos.bounce",
            frames=6,
            seed=11,
            threads=threads,
            params={"agents": 1500},
            progress=False,
        )
        for threads in (1, 1, 2)
    ]
    stable = [
        {k: v for k, v in r.items() if k not in TIMING_KEYS | {"threads"}} for r in runs
    ]
    for r in stable:
        r.pop("move_ns_per_agent")  # a timing figure of the model's own
    assert stable[0] == stable[1] == stable[2]
    other = run_model(
        bounce, frames=6, seed=12, threads=1, params={"agents": 1500}, progress=False
    )
    assert other["checksum"] != runs[0]["checksum"]


def test_record_trace_and_save_outputs(tmp_path) -> None:
    out = run_model(
        "archetype_ecs.demos.bounce",
        frames=5,
        seed=2,
        threads=1,
        params={"agents": 400},
        record=tmp_path / "run.parquet",
        trace=tmp_path / "trace.json",
        save=tmp_path / "final",
        progress=False,
    )
    assert out["outputs"] == {
        "record": str(tmp_path / "run.parquet"),
        "trace": str(tmp_path / "trace.json"),
        "save": str(tmp_path / "final"),
    }
    table = pq.read_table(tmp_path / "run.parquet")
    frames = sorted(set(table.column("frame").to_pylist()))
    assert frames == [0, 1, 2, 3, 4, 5]  # the initial state, then every frame
    assert {"entity", "Position.x", "Velocity.dx", "Age.frames"} <= set(
        table.column_names
    )
    last = table.filter(table.column("frame").to_numpy() == 5)
    assert last.num_rows == out["agents"] == 400
    checksum = float(
        last.column("Position.x").to_numpy().astype("float64").sum()
        + last.column("Position.y").to_numpy().astype("float64").sum()
    )
    assert checksum == pytest.approx(out["checksum"], rel=1e-12)

    trace = json.loads((tmp_path / "trace.json").read_text())
    names = {e["name"] for e in trace["traceEvents"] if e["ph"] == "X"}
    assert {"movement", "aging", "resting", "births", "frame 5"} <= names
    assert "frame 1" not in names  # frame 1 (kernel compile) is left out

    world = World()
    result = load(
        tmp_path / "final", world, components=[*bounce.RECORD, bounce.Resting]
    )
    assert len(result.world) == 400


def test_record_without_record_constant_takes_every_component(tmp_path) -> None:
    body = """\
        from archetype_ecs import World, component, f32

        @component
        class Mass:
            kg: f32 = 1.0

        @component
        class Heavy:
            '''A tag.'''

        def build(*, seed=0, threads=None):
            world = World(threads=threads)
            world.spawn_batch({Mass: None}, n=3)
            world.spawn_batch({Mass: {"kg": [5.0, 6.0]}, Heavy: None})
            return world
    """
    run_model(
        write_model(tmp_path, body),
        frames=2,
        record=tmp_path / "all.parquet",
        record_every=2,
        progress=False,
    )
    table = pq.read_table(tmp_path / "all.parquet")
    assert sorted(set(table.column("frame").to_pylist())) == [0, 2]
    at2 = table.filter(table.column("frame").to_numpy() == 2)
    assert sorted(at2.column("Mass.kg").to_pylist()) == [1.0, 1.0, 1.0, 5.0, 6.0]
    assert sorted(at2.column("Heavy").to_pylist()) == [False] * 3 + [True] * 2


def test_budget_adds_counts_to_the_summary(tmp_path) -> None:
    from archetype_ecs.monitor import FrameBudgetWarning

    body = TINY.replace(
        "    ctx.resource_mut(Counter).value +=",
        "    __import__('time').sleep(0.004)\n        ctx.resource_mut(Counter).value +=",
    )
    with pytest.warns(FrameBudgetWarning, match="slowest: count"):
        out = run_model(write_model(tmp_path, body), budget_ms=0.5, progress=False)
    budget = out["budget"]
    assert budget["budget_ms"] == 0.5
    assert budget["judged_frames"] == 3  # frame 1 is the warm-up
    assert budget["over_budget_frames"] == 3
    assert budget["budget_warnings"] == 1  # rate-limited: one per 5 s
    assert budget["worst_frame"]["slowest"][0][0] == "count"


_VALUES = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.text(st.characters(blacklist_categories=["Cs"]), max_size=12),
)


def _text_of(value: object) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return repr(value) if isinstance(value, float) else str(value)


@pytest.mark.hypothesis
@settings(max_examples=60)
@given(
    defaults=st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), _VALUES),
    data=st.data(),
)
def test_params_given_as_text_parse_back_to_the_same_values(defaults, data) -> None:
    # any value of a parameter's type, written as the command line would, parses back
    # to itself; resolve_params keeps every other default
    given = {
        name: data.draw(
            {bool: st.booleans(), int: st.integers(), str: st.text(max_size=8)}.get(
                type(d), st.floats(allow_nan=False, allow_infinity=False)
            )
        )
        for name, d in defaults.items()
        if data.draw(st.booleans())
    }
    pairs = [f"{name}={_text_of(value)}" for name, value in given.items()]
    parsed = parse_params(pairs, defaults)
    assert parsed == given
    assert all(type(parsed[k]) is type(defaults[k]) for k in parsed)
    full = resolve_params(defaults, parsed)
    assert full == {**defaults, **given}
