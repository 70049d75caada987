"""Run model modules: load, check parameters, build, step with progress, report.

A *model module* is a Python file or module that defines ``build(*, seed, threads,
**params) -> World`` and optionally ``PARAMS`` (parameter defaults, whose types are
the parameters' types), ``FRAMES`` (default frame count), ``summary(world)`` (JSON-able
end figures), ``status(world)`` (short live text), ``RECORD`` (components that
``record=`` writes) and ``RENDER`` (hints for ``render=``). :func:`load_model` finds
and imports one, :func:`run_model` runs it and returns plain JSON-able figures, so it
works the same from the ``arrow-ecs run`` command, a notebook or a Ray task.

Errors in the model's own code (while importing, building or stepping it) become a
:class:`ModelError` that names the model file and line; bad parameters a
:class:`ParamError` that lists the valid ones.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import importlib
import importlib.util
import math
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

from archetype_ecs._progress import Progress, activity
from archetype_ecs.errors import EcsError
from archetype_ecs.monitor import FrameBudget, live_figures
from archetype_ecs.world import World

if TYPE_CHECKING:
    from archetype_ecs.recorder import Recorder

__all__ = [
    "DEFAULT_FRAMES",
    "RESERVED_KEYS",
    "TIMING_KEYS",
    "Model",
    "ModelError",
    "ParamError",
    "ParamValue",
    "SummaryKeyWarning",
    "load_model",
    "parse_params",
    "resolve_params",
    "run_model",
]

ParamValue = int | float | str | bool
DEFAULT_FRAMES = 100
"""Frames a model runs when it defines no ``FRAMES``."""

TIMING_KEYS = frozenset(
    {
        "first_frame_ms",
        "median_frame_ms",
        "mean_frame_ms",
        "p95_frame_ms",
        "max_frame_ms",
        "total_s",
        "system_mean_ms",
        "slowest_system",
        "budget",
    }
)
"""Summary keys that hold wall-clock figures (they differ between identical runs)."""

RESERVED_KEYS = frozenset(
    {"model", "source", "frames", "seed", "threads", "params", "entities", "outputs"}
    | TIMING_KEYS
)
"""Summary keys the runner writes; a model's ``summary()`` figure of that name is
reported as ``model_<key>`` with a :class:`SummaryKeyWarning`."""

_PARAM_TYPES = (bool, int, float, str)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class ModelError(EcsError, RuntimeError):
    """A model module cannot be loaded, built or run.

    Attributes
    ----------
    file, line
        Where in the model's own source the error happened, when known.
    """

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None
    ) -> None:
        super().__init__(message)
        self.file = file
        self.line = line


class ParamError(EcsError, ValueError):
    """A model parameter is unknown or has the wrong type."""


class SummaryKeyWarning(UserWarning):
    """A model's ``summary()`` used a key the runner writes (it is renamed)."""


# --------------------------------------------------------------------- models


@dataclass(frozen=True)
class Model:
    """A loaded model module and what it declares.

    Attributes
    ----------
    name
        Short name (the file stem, or the last part of the module name).
    module
        The imported module.
    source
        The model file (or the module name when it has no file).
    description
        First line of the module docstring.
    params
        ``PARAMS``: parameter defaults (their types are the parameters' types).
    frames
        ``FRAMES`` (default :data:`DEFAULT_FRAMES`).
    """

    name: str
    module: ModuleType
    source: str
    description: str
    params: dict[str, ParamValue] = field(default_factory=dict)
    frames: int = DEFAULT_FRAMES

    @property
    def file(self) -> str | None:
        """The model's source file, when it has one."""
        f = getattr(self.module, "__file__", None)
        return str(Path(f).resolve()) if f else None

    @property
    def record(self) -> list[type] | None:
        """``RECORD``: the components ``record=`` writes (None: all of them)."""
        rec = getattr(self.module, "RECORD", None)
        return None if rec is None else list(rec)

    @property
    def render_hints(self) -> dict[str, Any]:
        """``RENDER``: keyword hints for the renderer (``bounds``, ``width``, ...)."""
        return dict(getattr(self.module, "RENDER", None) or {})

    def build(self, *, seed: int, threads: int | None, **params: Any) -> World:
        """Call the module's ``build`` (errors name the model file and line)."""
        with self._located("building"):
            world = self.module.build(seed=seed, threads=threads, **params)
        if not isinstance(world, World):
            raise ModelError(
                f"model {self.name!r} ({self.source}): build() returned "
                f"{type(world).__name__}, not a World; end build() with `return world`",
                file=self.file,
            )
        return world

    def summary(self, world: World) -> dict[str, Any]:
        """The module's ``summary(world)`` as plain JSON values ({} without one)."""
        fn = getattr(self.module, "summary", None)
        if fn is None:
            return {}
        with self._located("computing the summary of"):
            figures = fn(world)
        if not isinstance(figures, Mapping):
            raise ModelError(
                f"model {self.name!r}: summary() returned {type(figures).__name__}, "
                "not a dict of figures",
                file=self.file,
            )
        out: dict[str, Any] = {}
        for key, value in figures.items():
            name = str(key)
            if name in RESERVED_KEYS:
                # A clash found at the end of a long run should not lose its
                # results: keep the figure under another name and say so.
                warnings.warn(
                    f"model {self.name!r}: summary() key {name!r} is one the runner "
                    f"writes itself; its value is reported as 'model_{name}'; rename "
                    f"it in summary() (reserved: {sorted(RESERVED_KEYS)})",
                    SummaryKeyWarning,
                    stacklevel=2,
                )
                name = f"model_{name}"
            out[name] = _plain(value, f"summary()[{key!r}]", self)
        return out

    def status(self, world: World) -> str:
        """The module's ``status(world)`` live text ('' without one)."""
        fn = getattr(self.module, "status", None)
        if fn is None:
            return ""
        with self._located("computing the status of"):
            return str(fn(world))

    @contextmanager
    def _located(self, doing: str) -> Iterator[None]:
        """Turn an exception from the model's code into a ModelError with file:line."""
        try:
            yield
        except (ModelError, ParamError):
            raise
        except Exception as exc:
            raise _located_error(
                exc, f"{doing} model {self.name!r}", self.file
            ) from exc


def _located_error(exc: BaseException, doing: str, file: str | None) -> ModelError:
    """A ModelError saying ``file:line: Type: message (while doing)``."""
    where_file, line, text = _location(exc, file)
    where = f"{where_file}:{line}: " if where_file and line else ""
    code = f"\n    {text}" if text else ""
    notes = "".join(f"\n  {n}" for n in getattr(exc, "__notes__", ()))
    return ModelError(
        f"{where}{type(exc).__name__}: {exc}{code}\n  (while {doing}){notes}",
        file=where_file,
        line=line,
    )


def _location(
    exc: BaseException, file: str | None
) -> tuple[str | None, int | None, str]:
    """The deepest traceback frame inside ``file`` (or the syntax error's place)."""
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno, (exc.text or "").strip()
    frames = traceback.extract_tb(exc.__traceback__)
    target = None if file is None else _real(file)
    inside = [f for f in frames if target is not None and _real(f.filename) == target]
    if inside:
        f = inside[-1]
        return f.filename, f.lineno, (f.line or "").strip()
    return file, None, ""


def _real(path: str) -> str:
    try:
        return str(Path(path).resolve())
    except OSError:  # pragma: no cover - unresolvable names such as '<string>'
        return path


def _plain(value: Any, where: str, model: Model) -> Any:
    """``value`` as JSON-able Python (numpy scalars and arrays become plain)."""
    if isinstance(value, np.generic):
        value = value.item()
    elif isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}[{k!r}]", model) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, f"{where}[{i}]", model) for i, v in enumerate(value)]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise ModelError(
        f"model {model.name!r}: {where} is a {type(value).__name__}, which JSON cannot "
        "hold; return numbers, strings, lists or dicts from summary()",
        file=model.file,
    )


# -------------------------------------------------------------------- loading


def load_model(target: str | Path | ModuleType) -> Model:
    """Import a model module by file path or module name and check its protocol.

    Parameters
    ----------
    target
        A path to a ``.py`` file, a module name (``archetype_ecs.demos.bounce``), or
        an imported module. A file inside an importable package (also through a
        symlink such as ``examples/bounce.py``) is imported by its module name, so
        its components are the package's; any other file is imported under a
        private module name derived from its path (loading it again reuses it).

    Returns
    -------
    Model

    Raises
    ------
    ModelError
        When nothing is found, importing fails (the message names the model file
        and line), ``build`` is missing, or ``PARAMS`` / ``FRAMES`` are malformed.

    Examples
    --------
    >>> model = load_model("archetype_ecs.demos.bounce")
    >>> model.name, model.params
    ('bounce', {'agents': 100000})
    """
    if isinstance(target, ModuleType):
        module = target
        source = getattr(module, "__file__", None) or module.__name__
    elif _looks_like_file(target):
        module, source = _import_file(Path(target))
    else:
        module, source = _import_name(str(target)), str(target)
    return _checked_model(module, source)


def _looks_like_file(target: str | Path) -> bool:
    text = str(target)
    return isinstance(target, Path) or text.endswith(".py") or "/" in text


def _import_name(name: str) -> ModuleType:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        raise ModelError(
            f"no model file or module named {name!r}; pass a path to a .py file "
            "(e.g. examples/my_model.py) or an importable module name "
            "(e.g. archetype_ecs.demos.bounce)"
        )
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise _located_error(exc, f"importing model {name!r}", spec.origin) from exc


def _package_name_of(real: Path) -> str | None:
    """The dotted module name of a file inside an importable package, if any.

    Walks up the folders that hold an ``__init__.py`` and keeps the name when
    ``importlib`` finds exactly this file under it (so it also works for editable
    installs, whose packages are not under a ``sys.path`` entry).
    """
    parts = [real.stem]
    folder = real.parent
    while (folder / "__init__.py").is_file():
        parts.insert(0, folder.name)
        folder = folder.parent
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return None
    name = ".".join(parts)
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is not None and spec.origin and _real(spec.origin) == str(real):
        return name
    return None


def _loose_name_of(real: Path) -> str:
    """The module name for a file outside any package.

    The file's stem, as ``import my_model`` from its folder would name it: Numba's
    on-disk cache (keyed by file) refers to the module by name, so the CLI and a
    plain import must agree. When another module already has that name (``random``,
    or a different file), a private name derived from the path is used instead.
    """
    stem = real.stem
    if stem.isidentifier():
        taken = sys.modules.get(stem)
        if taken is not None and _owns(taken, real):
            return stem
        if taken is None and _spec_file(stem) in {None, str(real)}:
            return stem
    safe = "".join(c if c.isalnum() else "_" for c in stem)
    digest = hashlib.sha1(str(real).encode(), usedforsecurity=False).hexdigest()[:10]
    return f"_arrow_ecs_model_{safe}_{digest}"


def _spec_file(name: str) -> str | None:
    """The file ``import name`` would load, or None when nothing is found."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    return _real(spec.origin) if spec.origin else "<namespace or built-in>"


def _owns(module: ModuleType, real: Path) -> bool:
    """True for a module this runner imported from a model file (or ``real`` itself)."""
    file = getattr(module, "__file__", None)
    return hasattr(module, "__arrow_ecs_mtime__") or (
        file is not None and _real(file) == str(real)
    )


def _import_file(path: Path) -> tuple[ModuleType, str]:
    if not path.is_file():
        hint = " (it is a directory)" if path.is_dir() else ""
        raise ModelError(
            f"model file {path} not found{hint}; pass the path of a .py file that "
            "defines build(), e.g. `arrow-ecs run examples/my_model.py`"
        )
    real = path.resolve()
    name = _package_name_of(real)
    if name is not None:
        return _import_name(name), str(path)
    name = _loose_name_of(real)
    mtime = real.stat().st_mtime_ns
    cached = sys.modules.get(name)
    if (
        cached is not None
        and getattr(cached, "__arrow_ecs_mtime__", None) == mtime
        and _real(getattr(cached, "__file__", "")) == str(real)
    ):
        return cached, str(path)
    spec = importlib.util.spec_from_file_location(name, real)
    if spec is None or spec.loader is None:  # pragma: no cover - .py files load
        raise ModelError(f"model file {path}: Python cannot import it")
    module = importlib.util.module_from_spec(spec)
    module.__arrow_ecs_mtime__ = mtime  # type: ignore[attr-defined] # cache stamp
    previous = sys.modules.get(name)
    sys.modules[name] = module  # dataclasses, pickling and Numba look it up
    folder = str(real.parent)
    sys.path.insert(0, folder)  # sibling imports work as with `python model.py`
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        if previous is None:
            del sys.modules[name]
        else:
            sys.modules[name] = previous
        raise _located_error(exc, f"importing model file {path}", str(real)) from exc
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return module, str(path)


def _checked_model(module: ModuleType, source: str) -> Model:
    name = Path(getattr(module, "__file__", None) or "x").stem
    if name in {"x", "__init__"}:
        name = module.__name__.rsplit(".", 1)[-1]
    file = getattr(module, "__file__", None)
    build = getattr(module, "build", None)
    if not callable(build):
        raise ModelError(
            f"model {source} defines no build() function; a model module must "
            "define `def build(*, seed: int = 0, threads: int | None = None, "
            "**params) -> World` (see docs/cli.md, 'The model protocol')",
            file=file,
        )
    params = getattr(module, "PARAMS", {})
    if not isinstance(params, dict) or not all(
        isinstance(k, str) and isinstance(v, _PARAM_TYPES) for k, v in params.items()
    ):
        raise ModelError(
            f"model {source}: PARAMS must be a dict of name -> default value "
            f"(int, float, str or bool), got {params!r}",
            file=file,
        )
    frames = getattr(module, "FRAMES", DEFAULT_FRAMES)
    if type(frames) is not int or frames < 1:
        raise ModelError(
            f"model {source}: FRAMES must be a positive int, got {frames!r}",
            file=file,
        )
    doc = (module.__doc__ or "").strip()
    return Model(
        name=name,
        module=module,
        source=source,
        description=doc.splitlines()[0] if doc else name,
        params=dict(params),
        frames=frames,
    )


# ----------------------------------------------------------------- parameters


def _type_name(value: ParamValue) -> str:
    return type(value).__name__


def _valid_list(defaults: Mapping[str, ParamValue]) -> str:
    if not defaults:
        return "this model takes no parameters"
    items = ", ".join(f"{k}={v!r} ({_type_name(v)})" for k, v in defaults.items())
    return f"valid parameters: {items}"


def _convert(
    name: str, value: object, defaults: Mapping[str, ParamValue], model: str
) -> ParamValue:
    """``value`` as the type of ``default`` (strings are parsed), or ParamError."""
    default = defaults[name]
    kind = type(default)
    try:
        if isinstance(value, str) and kind is not str:
            text = value.strip()
            if kind is bool:
                if text.lower() in _TRUE | _FALSE:
                    return text.lower() in _TRUE
                raise ValueError(text)
            number = int(text) if kind is int else float(text)
            if kind is float and not math.isfinite(number):
                raise ValueError(text)
            return number
        if kind is bool and isinstance(value, bool):
            return value
        if kind is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if (
            kind is float
            and isinstance(value, int | float)
            and not isinstance(value, bool)
        ):
            return float(value)
        if kind is str and isinstance(value, str):
            return value
    except ValueError:
        pass
    example = {bool: "true", int: "100", float: "0.5", str: "name"}[kind]
    raise ParamError(
        f"model {model!r}: parameter {name!r} must be {kind.__name__} (default "
        f"{default!r}), got {value!r}; e.g. --param {name}={example}; "
        f"{_valid_list(defaults)}"
    )


def resolve_params(
    defaults: Mapping[str, ParamValue],
    given: Mapping[str, object] | None = None,
    *,
    model: str = "model",
) -> dict[str, ParamValue]:
    """All parameters: ``defaults`` overridden by ``given``, type-checked.

    Models call this at the top of ``build`` so a direct Python call checks its
    parameters like the CLI does.

    Parameters
    ----------
    defaults
        The model's ``PARAMS``.
    given
        Values to use instead; strings are parsed to the parameter's type
        (``"1e3"`` for a float, ``"yes"`` for a bool), ints are accepted for floats.
    model
        Model name for messages.

    Returns
    -------
    dict
        Every parameter, in ``defaults`` order.

    Raises
    ------
    ParamError
        When a name is unknown (the message lists the valid ones and the closest
        match) or a value does not fit the parameter's type.

    Examples
    --------
    >>> resolve_params({"agents": 10, "radius": 2.0}, {"radius": 3})
    {'agents': 10, 'radius': 3.0}
    >>> resolve_params({"agents": 10}, {"agent": 5})
    Traceback (most recent call last):
    ...
    archetype_ecs.runner.ParamError: model 'model': unknown parameter 'agent' (did you mean 'agents'?); valid parameters: agents=10 (int)
    """
    out: dict[str, ParamValue] = dict(defaults)
    for name, value in (given or {}).items():
        if name not in defaults:
            close = difflib.get_close_matches(name, list(defaults), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ParamError(
                f"model {model!r}: unknown parameter {name!r}{hint}; "
                f"{_valid_list(defaults)}"
            )
        out[name] = _convert(name, value, defaults, model)
    return out


def parse_params(
    pairs: Sequence[str], defaults: Mapping[str, ParamValue], *, model: str = "model"
) -> dict[str, ParamValue]:
    """Parse ``["name=value", ...]`` (the CLI's ``--param``) against ``defaults``.

    Returns only the parameters given (typed); later pairs win.

    Raises
    ------
    ParamError
        When a pair has no ``=``, a name is unknown or a value has the wrong type.

    Examples
    --------
    >>> parse_params(["agents=1_000", "fast=no"], {"agents": 10, "fast": True})
    {'agents': 1000, 'fast': False}
    """
    raw: dict[str, object] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise ParamError(
                f"model {model!r}: --param {pair!r} is not name=value; "
                f"e.g. --param agents=1000; {_valid_list(defaults)}"
            )
        raw[name.strip()] = value
    checked = resolve_params(defaults, raw, model=model)
    return {k: checked[k] for k in raw}


# --------------------------------------------------------------------- running


@dataclass
class _Outputs:
    """Where a run writes, checked before the (possibly long) run starts."""

    record: Path | None = None
    trace: Path | None = None
    render: Path | None = None
    save: Path | None = None

    def check(self) -> None:
        for label, path in (
            ("record", self.record),
            ("trace", self.trace),
            ("render", self.render),
        ):
            if path is not None and not path.parent.is_dir():
                raise EcsError(
                    f"{label}: the folder of {path} does not exist; create it first "
                    "or choose another path"
                )
        if self.record is not None and (
            self.record.is_file()
            or (self.record.is_dir() and any(self.record.rglob("*.parquet")))
        ):
            raise EcsError(
                f"record: {self.record} already exists; record into a new path (or "
                "delete the old recording first)"
            )
        if self.save is not None and self.save.exists() and not self.save.is_dir():
            raise EcsError(f"save: {self.save} exists and is not a directory")

    def plain(self) -> dict[str, str]:
        items = vars(self).items()
        return {k: str(v) for k, v in items if v is not None}


def _recorder(world: World, model: Model, path: Path, every: int) -> Recorder:
    from archetype_ecs.recorder import Recorder

    classes = model.record
    if classes:
        return Recorder(world, classes, every=every, path=path)
    every_component = [s.cls for s in world.components]
    if not every_component:
        raise EcsError(
            f"record: model {model.name!r} registers no components to record"
        )
    return Recorder(
        world, world.query(optional=every_component), every=every, path=path
    )


class _Timing:
    """Per-frame wall times; system means come from the profiler (frames 2..N)."""

    def __init__(self) -> None:
        self.frame_s: list[float] = []

    def figures(self, world: World) -> dict[str, Any]:
        times = np.asarray(self.frame_s, dtype=np.float64) * 1e3
        steady = times[1:] if len(times) > 1 else times
        rows = world.profiler.stats_table().to_pylist()
        means = {
            r["name"]: r["total_ms"] / r["calls"]
            for r in rows
            if r["kind"] == "system" and r["calls"]
        }
        return {
            "first_frame_ms": float(times[0]),
            "median_frame_ms": float(np.median(steady)),
            "mean_frame_ms": float(steady.mean()),
            "p95_frame_ms": float(np.percentile(steady, 95)),
            "max_frame_ms": float(steady.max()),
            "total_s": float(times.sum() / 1e3),
            "system_mean_ms": means,
            "slowest_system": max(means, key=lambda k: means[k]) if means else None,
        }


def run_model(
    model: str | Path | ModuleType | Model,
    *,
    frames: int | None = None,
    seed: int = 0,
    threads: int | None = None,
    params: Mapping[str, object] | None = None,
    record: str | Path | None = None,
    record_every: int = 1,
    trace: str | Path | None = None,
    render: str | Path | None = None,
    render_every: int = 1,
    save: str | Path | None = None,
    budget_ms: float | None = None,
    progress: bool = True,
    stream: TextIO | None = None,
) -> dict[str, Any]:
    """Build a model's world, run it ``frames`` frames, write outputs, return figures.

    Parameters
    ----------
    model
        A model file path, module name, module or :class:`Model`.
    frames
        Frames to run (default: the model's ``FRAMES``).
    seed, threads
        Passed to the model's ``build``; the same seed gives the same results
        whatever ``threads`` is.
    params
        Model parameters (names from ``PARAMS``; strings are parsed).
    record
        Write the model's ``RECORD`` components (all components without one) after
        every ``record_every`` frames, and the initial state as frame 0, as a
        Parquet dataset folder (read it with ``pyarrow.parquet.read_table(path)``).
    trace
        Write the profiler's Chrome trace (the last 600 frames) to this JSON file.
    render
        Write an animated GIF of every ``render_every``-th frame (needs the
        ``render`` extra and render components on the model's entities).
    save
        Save the final world to this directory (``World.save``).
    budget_ms
        Frame budget: warn (:class:`~archetype_ecs.monitor.FrameBudgetWarning`)
        about frames slower than this, and add the counts to the summary.
    progress
        Draw a progress bar with live figures on ``stream`` (default stderr).

    Returns
    -------
    dict
        JSON-able figures: ``model``, ``source``, ``frames``, ``seed``,
        ``threads``, ``params``, the model's ``summary(world)``, ``entities``,
        frame times (``first_frame_ms``; ``median_frame_ms``, ``mean_frame_ms``,
        ``p95_frame_ms``, ``max_frame_ms`` over frames 2..N), ``total_s``,
        ``system_mean_ms`` (frames 2..N), ``slowest_system``, ``budget`` (with
        ``budget_ms``) and ``outputs`` (paths written).

    Raises
    ------
    ModelError
        When the model fails to load, build or run (the message names the model
        file and line).
    ParamError
        When a parameter is unknown or mistyped.
    EcsError
        When an output path is unusable (checked before the run starts).

    Examples
    --------
    >>> out = run_model("archetype_ecs.demos.bounce", frames=3,
    ...                 params={"agents": 500}, threads=1, progress=False)
    >>> out["model"], out["frames"], out["agents"]
    ('bounce', 3, 500)
    """
    m = model if isinstance(model, Model) else load_model(model)
    n = m.frames if frames is None else frames
    if type(n) is not int or n < 1:
        raise EcsError(f"run_model: frames must be a positive int, got {frames!r}")
    if type(seed) is not int:
        raise EcsError(f"run_model: seed must be an int, got {seed!r}")
    full = resolve_params(m.params, params, model=m.name)
    outputs = _Outputs(
        *(None if p is None else Path(p) for p in (record, trace, render, save))
    )
    outputs.check()
    gif = _gif_preflight(m, outputs.render, render_every)
    world = m.build(seed=seed, threads=threads, **full)
    try:
        figures = _run(
            world,
            m,
            n,
            outputs,
            record_every,
            gif,
            budget_ms,
            progress=progress,
            stream=stream,
        )
    finally:
        world.close()
    return {
        "model": m.name,
        "source": m.source,
        "frames": n,
        "seed": seed,
        "threads": threads,
        "params": dict(full),
        **figures,
    }


def _run(
    world: World,
    m: Model,
    n: int,
    outputs: _Outputs,
    record_every: int,
    gif: Callable[[World], _Gif] | None,
    budget_ms: float | None,
    *,
    progress: bool,
    stream: TextIO | None,
) -> dict[str, Any]:
    movie = None if gif is None else gif(world)
    rec = (
        None
        if outputs.record is None
        else _recorder(world, m, outputs.record, record_every)
    )
    if rec is not None:
        rec.record()  # the initial state, as frame 0
    budget = None if budget_ms is None else FrameBudget(budget_ms).attach(world)
    bar = Progress(n, stream=stream) if progress else None
    timing = _Timing()
    try:
        with _warnings_through(bar):
            _loop(world, m, n, timing, bar, movie)
    except BaseException:
        if movie is not None:
            with contextlib.suppress(EcsError):  # keep the run's own error
                movie.close()
        raise
    else:
        if movie is not None:
            movie.close()
    finally:
        if rec is not None:
            rec.close()
        if budget is not None:
            budget.detach()
    figures = {**m.summary(world), "entities": len(world), **timing.figures(world)}
    if budget is not None:
        figures["budget"] = budget.summary()
    if outputs.trace is not None:
        world.profiler.write_chrome_trace(outputs.trace)
    if outputs.save is not None:
        label = f"saving the world to {outputs.save}"
        with activity(label, stream) if progress else contextlib.nullcontext():
            world.save(outputs.save)
    figures["outputs"] = outputs.plain()
    return figures


def _loop(
    world: World,
    m: Model,
    n: int,
    timing: _Timing,
    bar: Progress | None,
    movie: _Gif | None,
) -> None:
    for frame in range(1, n + 1):
        t = time.perf_counter()
        with m._located(f"running frame {frame} of"):
            world.step()
        timing.frame_s.append(time.perf_counter() - t)
        if frame == 1 and n > 1:
            # Frame 1 compiles the kernels (or loads them from Numba's disk cache):
            # statistics and the trace cover frames 2..N.
            world.profiler.clear()
        if movie is not None:
            movie.capture(world)  # the recorder keeps every render_every-th frame
        if bar is not None and bar.due(frame):
            status = m.status(world)
            text = live_figures(world) + (f" | {status}" if status else "")
            bar.update(frame, text)


@contextmanager
def _warnings_through(bar: Progress | None) -> Iterator[None]:
    """Show warnings raised during the run above the progress bar, not inside it."""
    if bar is None:
        yield
        return
    previous = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        bar.message(f"arrow-ecs: warning: {message}")

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous


# ---------------------------------------------------------------------- render


class _Gif:
    """A :class:`~archetype_ecs.render.GifRecorder` set up from the model's RENDER."""

    def __init__(self, world: World, model: Model, path: Path, every: int) -> None:
        from archetype_ecs import render

        hints = model.render_hints
        if hints.get("shape") is None and not world.query(render.Shape).count():
            raise EcsError(
                f"render: no entity of model {model.name!r} carries the Shape render "
                "component, and the model's RENDER hints name no default shape; give "
                "entities Shape / Size / Color (archetype_ecs.render) in build(), or "
                "add e.g. RENDER = {'position': Position, 'shape': 'circle'} to the "
                "model (see docs/cli.md), or run without --render"
            )
        renderer = render.Renderer.from_hints(hints)
        self._recorder = render.GifRecorder(path, renderer, every=every)

    def capture(self, world: World) -> None:
        self._recorder.capture(world)

    def close(self) -> None:
        self._recorder.close()


def _gif_preflight(
    m: Model, path: Path | None, every: int
) -> Callable[[World], _Gif] | None:
    """Check the render extra before building: a missing Pillow fails fast."""
    if path is None:
        return None
    try:
        importlib.import_module("archetype_ecs.render")
    except ImportError as exc:
        raise EcsError(
            f"render: --render needs the render extra ({exc}); install it with: "
            "pip install 'arrow-ecs[render]'"
        ) from exc
    return lambda world: _Gif(world, m, path, every)
