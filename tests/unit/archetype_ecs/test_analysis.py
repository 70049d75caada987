"""Analysis API: Arrow / pandas / Polars / DuckDB views of entity state, lookups, plots.

Tests that need a library of the ``analysis`` extra skip without it (importorskip);
the ImportError tests simulate a missing library by hiding it in ``sys.modules``.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archetype_ecs import (
    CommandBuffer,
    ComponentNotRegisteredError,
    EntityNotAliveError,
    EntityRef,
    MissingComponentError,
    SchemaError,
    World,
    _html,
    bool_,
    component,
    f32,
    f64,
    i32,
    system,
)
from archetype_ecs import analysis as an
from archetype_ecs.profiling import StatsView
from archetype_ecs.recorder import Recorder
from archetype_ecs.testing import strategies as ecs_st
from archetype_ecs.testing import values_equal


@component
class Position:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Velocity:
    dx: f32 = 0.0
    dy: f32 = 0.0


@component
class Health:
    hp: i32 = 100


@component
class Frozen:
    pass


@component
class Spin:
    axis: f32[3] = (0.0, 0.0, 1.0)


@component
class Alert:
    on: bool_ = False


@component
class Target:
    who: EntityRef = 0


@component
class Mass:
    kg: f64 = 1.0


def _world() -> tuple[World, dict[str, np.ndarray[Any, Any]]]:
    """Three archetypes holding Position; values chosen so every row differs."""
    w = World(threads=1)
    a = w.spawn_batch(
        {
            Position: {"x": [1.0, 2.0, 3.0], "y": [10.0, 20.0, 30.0]},
            Velocity: {"dx": [0.5, 0.25, 0.125], "dy": [1.0, 2.0, 3.0]},
        }
    )
    b = w.spawn_batch(
        {Position: {"x": [4.0, 5.0], "y": [40.0, 50.0]}, Health: {"hp": [7, 8]}}
    )
    c = w.spawn_batch(
        {
            Position: {"x": [6.0], "y": [60.0]},
            Velocity: {"dx": [4.0], "dy": [5.0]},
            Frozen: None,
            Spin: {"axis": [[1.0, 2.0, 3.0]]},
            Alert: {"on": [True]},
        }
    )
    return w, {"a": a, "b": b, "c": c}


def _rows(table: pa.Table) -> dict[int, dict[str, Any]]:
    return {r["entity"]: r for r in table.to_pylist()}


# ----------------------------------------------------------------- to_arrow


def test_to_arrow_has_entity_then_qualified_field_columns():
    w, ids = _world()
    t = an.to_arrow(w, Position, Velocity)
    assert t.column_names == [
        "entity",
        "Position.x",
        "Position.y",
        "Velocity.dx",
        "Velocity.dy",
    ]
    rows = _rows(t)
    assert sorted(rows) == sorted([*ids["a"].tolist(), *ids["c"].tolist()])
    for e in rows:
        pos, vel = w.component(e, Position), w.component(e, Velocity)
        assert rows[e]["Position.x"] == pos.x
        assert rows[e]["Velocity.dy"] == vel.dy


def test_to_arrow_chunks_are_the_archetype_buffers_not_copies():
    w, _ = _world()
    t = an.to_arrow(w, Position)
    chunks = t.column("Position.x").chunks
    holders = [tb for tb in w.tables if tb.len and "Position" in tb.names]
    assert len(chunks) == len(holders) == 3
    for chunk, table in zip(chunks, holders, strict=True):
        assert chunk.buffers()[1].address == table._bufs["Position.x"].address


def test_to_arrow_without_components_lists_every_entity_with_optional_columns():
    w, ids = _world()
    loner = w.spawn()  # an entity with no component at all
    t = an.to_arrow(w)
    rows = _rows(t)
    assert len(rows) == len(w) == 7
    assert rows[loner]["Position.x"] is None
    assert rows[int(ids["c"][0])]["Frozen"] is True
    assert rows[int(ids["a"][0])]["Frozen"] is False
    assert rows[int(ids["c"][0])]["Spin.axis"] == [1.0, 2.0, 3.0]


def test_to_arrow_forwards_without_and_optional():
    w, ids = _world()
    t = an.to_arrow(w, Position, without=[Frozen], optional=[Health])
    rows = _rows(t)
    assert int(ids["c"][0]) not in rows
    assert rows[int(ids["b"][1])]["Health.hp"] == 8
    assert rows[int(ids["a"][0])]["Health.hp"] is None


def test_where_accepts_an_expression_a_callable_or_a_mask():
    w, _ = _world()
    expr = an.to_arrow(w, Position, where=pc.field("Position.x") > 2.5)
    call = an.to_arrow(w, Position, where=lambda t: pc.greater(t["Position.x"], 2.5))
    call_expr = an.to_arrow(w, Position, where=lambda t: pc.field("Position.x") > 2.5)
    assert sorted(expr["Position.x"].to_pylist()) == [3.0, 4.0, 5.0, 6.0]
    assert call.equals(expr)
    assert call_expr.equals(expr)
    mask = np.array([True, False, False, False, False, True])
    assert an.to_arrow(w, Position, where=mask).num_rows == 2


def test_where_rejects_a_wrong_mask_or_type_with_a_hint():
    w, _ = _world()
    with pytest.raises(TypeError, match="one bool per row"):
        an.to_arrow(w, Position, where=np.array([True]))
    with pytest.raises(TypeError, match="Expression"):
        an.to_arrow(w, Position, where="Position.x > 1")


def test_to_arrow_of_an_empty_world_has_the_schema_and_no_rows():
    w = World()
    t = an.to_arrow(w, Position)
    assert t.num_rows == 0
    assert t.column_names == ["entity", "Position.x", "Position.y"]


@pytest.mark.hypothesis
@settings(max_examples=40, deadline=None)
@given(ecs_st.world_states())
def test_to_arrow_equals_the_reference_model(state):
    for cls in state.classes:
        table = an.to_arrow(state.world, cls)
        want = state.reference.query(cls)
        got = {}
        for r in table.to_pylist():
            fields = [
                tuple(v) if isinstance(v, list) else v
                for k, v in r.items()
                if k != "entity"
            ]
            got[r["entity"]] = (tuple(fields),)
        assert got.keys() == want.keys()
        assert all(values_equal(got[e], want[e]) for e in want)


# ------------------------------------------------------------ pandas, polars


def test_to_pandas_round_trip_equals_arrow_values():
    pd = pytest.importorskip("pandas")
    w, _ = _world()
    df = an.to_pandas(w, Position, Velocity)
    assert isinstance(df, pd.DataFrame)
    t = an.to_arrow(w, Position, Velocity)
    assert list(df.columns) == t.column_names
    for name in t.column_names:
        np.testing.assert_array_equal(df[name].to_numpy(), t[name].to_numpy())
    assert df["entity"].dtype == np.uint64
    assert df["Position.x"].dtype == np.float32


def test_to_pandas_with_arrow_dtypes_keeps_arrow_types():
    pd = pytest.importorskip("pandas")
    w, _ = _world()
    df = an.to_pandas(w, Position, where=pc.field("Position.x") > 4, arrow_dtypes=True)
    assert isinstance(df["Position.x"].dtype, pd.ArrowDtype)
    assert df["Position.x"].tolist() == [5.0, 6.0]


def test_to_polars_round_trip_equals_arrow_values():
    pl = pytest.importorskip("polars")
    w, _ = _world()
    df = an.to_polars(w, Position, optional=[Spin])
    assert isinstance(df, pl.DataFrame)
    t = an.to_arrow(w, Position, optional=[Spin])
    assert df.columns == t.column_names
    assert df.to_arrow().to_pylist() == t.to_pylist()
    assert df.schema["entity"] == pl.UInt64


@pytest.mark.hypothesis
@settings(max_examples=25, deadline=None)
@given(ecs_st.world_states())
def test_pandas_and_polars_equal_arrow_on_random_worlds(state):
    pytest.importorskip("pandas")
    pytest.importorskip("polars")
    for cls in state.classes:
        t = an.to_arrow(state.world, cls)
        df = an.to_pandas(state.world, cls)
        pf = an.to_polars(state.world, cls)
        assert list(df.columns) == pf.columns == t.column_names
        for name in t.column_names:
            want = t[name].to_pylist()
            assert values_equal(pf[name].to_list(), want), name
            got = [v.tolist() if isinstance(v, np.ndarray) else v for v in df[name]]
            assert values_equal([_plain(v) for v in got], want), name


def _plain(value: Any) -> Any:
    """A numpy scalar from pandas as the Python value Arrow's to_pylist gives."""
    return value.item() if isinstance(value, np.generic) else value


# ---------------------------------------------------------------------- SQL


def test_component_tables_are_zero_copy_views_per_component():
    w, _ = _world()
    tables = an.component_tables(w)
    assert set(tables) >= {"Position", "Velocity", "Health", "Frozen", "Spin"}
    assert tables["Position"].column_names == ["entity", "x", "y"]
    assert tables["Frozen"].column_names == ["entity"]
    assert tables["Position"].num_rows == 6
    holders = [tb for tb in w.tables if tb.len and "Position" in tb.names]
    for chunk, table in zip(tables["Position"]["x"].chunks, holders, strict=True):
        assert chunk.buffers()[1].address == table._bufs["Position.x"].address


def test_component_tables_qualify_a_field_named_entity():
    @component
    class Link:
        entity: EntityRef = 0

    w = World()
    a = w.spawn()
    b = w.spawn(Link(a))
    t = an.component_tables(w, [Link])["Link"]
    assert t.column_names == ["entity", "Link.entity"]
    assert t.to_pylist() == [{"entity": b, "Link.entity": a}]


def test_sql_aggregate_equals_numpy():
    pytest.importorskip("duckdb")
    w, _ = _world()
    got = an.sql(w, "SELECT sum(x) AS sx, avg(y) AS ay, count(*) AS n FROM Position")
    xs = an.to_arrow(w, Position)["Position.x"].to_numpy()
    ys = an.to_arrow(w, Position)["Position.y"].to_numpy()
    row = got.to_pylist()[0]
    assert row["n"] == len(xs)
    assert row["sx"] == pytest.approx(float(xs.astype(np.float64).sum()))
    assert row["ay"] == pytest.approx(float(ys.astype(np.float64).mean()))


def test_sql_joins_components_on_entity():
    pytest.importorskip("duckdb")
    w, _ = _world()
    got = an.sql(
        w,
        "SELECT p.entity, p.x + v.dx AS nx FROM Position p "
        "JOIN Velocity v USING (entity) ORDER BY p.entity",
    )
    t = an.to_arrow(w, Position, Velocity).sort_by("entity")
    want = t["Position.x"].to_numpy() + t["Velocity.dx"].to_numpy()
    assert got["entity"].to_pylist() == t["entity"].to_pylist()
    np.testing.assert_allclose(got["nx"].to_numpy(), want)


def test_sql_sees_tags_vectors_and_anti_joins():
    pytest.importorskip("duckdb")
    w, ids = _world()
    frozen = an.sql(w, "SELECT entity FROM Frozen")
    assert frozen["entity"].to_pylist() == ids["c"].tolist()
    spin = an.sql(w, "SELECT axis[2] AS ay FROM Spin")  # DuckDB arrays are 1-based
    assert spin["ay"].to_pylist() == [2.0]
    moving = an.sql(
        w,
        "SELECT count(*) AS n FROM Velocity v "
        "WHERE NOT EXISTS (SELECT 1 FROM Frozen f WHERE f.entity = v.entity)",
    )
    assert moving["n"].to_pylist() == [3]


def test_sql_binds_params_and_reuses_a_connection():
    duckdb = pytest.importorskip("duckdb")
    w, _ = _world()
    con = duckdb.connect()
    try:
        got = an.sql(w, "SELECT x FROM Position WHERE x > ? ORDER BY x", params=[4.5])
        assert got["x"].to_pylist() == [5.0, 6.0]
        an.sql(w, "SELECT 1", connection=con)
        w.spawn(Position(100.0, 0.0))
        again = an.sql(w, "SELECT max(x) AS m FROM Position", connection=con)
        assert again["m"].to_pylist() == [100.0]  # views re-registered per call
    finally:
        con.close()


def test_sql_statement_that_writes_returns_a_table():
    pytest.importorskip("duckdb")
    w, _ = _world()
    out = an.sql(w, "CREATE TABLE scratch AS SELECT 1 AS one")
    # DuckDB 1.x returns no relation (an empty table here), 2.x a row count.
    assert isinstance(out, pa.Table)
    assert out.num_columns <= 1


def test_connect_registers_views_that_see_writes_in_place():
    pytest.importorskip("duckdb")
    w, _ = _world()
    con = an.connect(w)
    try:
        for _, pos in w.query(Position):
            pos.x[:] = 0.0
        assert con.sql("SELECT sum(x) FROM Position").fetchall() == [(0.0,)]
    finally:
        con.close()


def test_sql_unknown_component_lists_the_registered_views():
    pytest.importorskip("duckdb")
    w, _ = _world()
    with pytest.raises(ComponentNotRegisteredError) as info:
        an.sql(w, "SELECT * FROM Positon")
    msg = str(info.value)
    assert "Positon" in msg
    assert "Position(entity, x, y)" in msg
    assert "Velocity(entity, dx, dy)" in msg
    assert info.value.__cause__ is not None


def test_sql_other_errors_keep_their_type_with_a_note():
    duckdb = pytest.importorskip("duckdb")
    w, _ = _world()
    with pytest.raises(duckdb.Error) as info:
        an.sql(w, "SELECT z FROM Position")
    assert any("Position(entity, x, y)" in n for n in info.value.__notes__)


@pytest.mark.hypothesis
@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(-1e6, 1e6, allow_nan=False),
            st.integers(-1000, 1000),
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_sql_equals_numpy_on_random_values(rows):
    pytest.importorskip("duckdb")
    w = World()
    kg = np.array([r[0] for r in rows])
    hp = np.array([r[1] for r in rows], dtype=np.int32)
    has_hp = np.array([r[2] for r in rows])
    ids = w.spawn_batch({Mass: {"kg": kg}})
    w.insert_batch(ids[has_hp], Health, {"hp": hp[has_hp]})
    got = an.sql(
        w,
        "SELECT m.entity, m.kg * h.hp AS w FROM Mass m JOIN Health h "
        "USING (entity) ORDER BY m.entity",
    )
    order = np.argsort(ids[has_hp])
    want = (kg[has_hp] * hp[has_hp])[order]
    assert got["entity"].to_pylist() == ids[has_hp][order].tolist()
    np.testing.assert_array_equal(got["w"].to_numpy(), want)
    total = an.sql(w, "SELECT sum(kg) AS s FROM Mass")["s"][0].as_py()
    assert total == pytest.approx(float(kg.sum()), rel=1e-12, abs=1e-6)


# -------------------------------------------------------------------- lookup


def test_lookup_returns_rows_in_the_order_given():
    w, ids = _world()
    order = [int(ids["c"][0]), int(ids["a"][1]), int(ids["b"][0])]
    t = an.lookup(w, order, Position)
    assert t["entity"].to_pylist() == order
    assert t["Position.x"].to_pylist() == [6.0, 2.0, 4.0]
    assert an.lookup(w, np.array(order, dtype=np.uint64), Position).equals(t)


def test_lookup_raises_on_dead_or_missing_by_default():
    w, ids = _world()
    dead = int(ids["a"][0])
    w.despawn(dead)
    with pytest.raises(EntityNotAliveError, match=r"\[E0001\]"):
        an.lookup(w, [dead], Position)
    with pytest.raises(EntityNotAliveError, match=r"lookup: 1 of 2 entities"):
        an.lookup(w, [dead, int(ids["b"][0])])
    with pytest.raises(MissingComponentError, match=r"\[E0006\]"):
        an.lookup(w, [int(ids["b"][0])], Velocity)


def test_lookup_with_missing_null_gives_nulls_and_tag_presence():
    w, ids = _world()
    dead = int(ids["a"][0])
    w.despawn(dead)
    order = [dead, int(ids["b"][0]), int(ids["c"][0])]
    t = an.lookup(w, order, Velocity, Spin, Frozen, missing="null")
    assert t["Velocity.dx"].to_pylist() == [None, None, 4.0]
    assert t["Spin.axis"].to_pylist() == [None, None, [1.0, 2.0, 3.0]]
    assert t["Frozen"].to_pylist() == [False, False, True]
    assert t.schema.field("Velocity.dx").nullable


def test_lookup_without_components_returns_the_union_of_their_archetypes():
    w, ids = _world()
    t = an.lookup(w, [int(ids["a"][0]), int(ids["c"][0])], missing="null")
    assert "Alert.on" in t.column_names
    assert "Health.hp" not in t.column_names
    assert t["Alert.on"].to_pylist() == [None, True]


def test_lookup_rejects_an_unknown_missing_mode():
    w, ids = _world()
    with pytest.raises(ValueError, match="missing="):
        an.lookup(w, ids["a"], Position, missing="skip")  # type: ignore[arg-type]


def test_lookup_keeps_entity_refs_and_their_metadata():
    w = World()
    a = w.spawn()
    b = w.spawn(Target(a))
    t = an.lookup(w, [b], Target)
    assert t["Target.who"].to_pylist() == [a]
    assert t.schema.field("Target.who").metadata == {b"arrow_ecs.type": b"entity"}


# ------------------------------------------------------- the missing extra


@pytest.mark.parametrize(
    ("call", "library"),
    [
        (lambda w: an.to_pandas(w, Position), "pandas"),
        (lambda w: an.to_polars(w, Position), "polars"),
        (lambda w: an.sql(w, "SELECT 1"), "duckdb"),
        (lambda w: an.connect(w), "duckdb"),
        (lambda w: an.plot_frame_times(w), "matplotlib"),
        (lambda w: an.plot_distribution(w, Position, "x"), "matplotlib"),
        (lambda w: an.animate_positions([an.to_arrow(w, Position)]), "matplotlib"),
    ],
    ids=["pandas", "polars", "sql", "connect", "frames", "distribution", "animate"],
)
def test_missing_library_raises_import_error_naming_the_extra(
    call, library, monkeypatch
):
    for name in [m for m in sys.modules if m == library or m.startswith(library + ".")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, library, None)
    if library == "matplotlib":
        monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    w, _ = _world()
    with pytest.raises(ImportError) as info:
        call(w)
    assert "install with: pip install 'arrow-ecs[analysis]'" in str(info.value)
    assert library in str(info.value)
    assert info.value.name == library


# ---------------------------------------------------------------------- plots


@pytest.fixture
def plt():
    mpl = pytest.importorskip("matplotlib")
    mpl.use("Agg")
    pyplot = pytest.importorskip("matplotlib.pyplot")
    yield pyplot
    pyplot.close("all")


@system(phase="update", writes=[Position], exclusive=True)
def _drift(world: World) -> None:
    for _, pos in world.query(Position):
        pos.x += 1.0
        pos.y += 0.5


def test_plot_frame_times_draws_one_point_per_buffered_frame(plt):
    w, _ = _world()
    w.add_system(_drift)
    w.run(5)
    ax = an.plot_frame_times(w, systems=True)
    frame_line = ax.get_lines()[0]
    marks = np.array(w.profiler.frames())
    np.testing.assert_array_equal(frame_line.get_xdata(), marks[:, 0])
    np.testing.assert_allclose(
        frame_line.get_ydata(), (marks[:, 2] - marks[:, 1]) / 1e6
    )
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["frame", "_drift"]
    per_system = ax.get_lines()[1].get_ydata()
    assert np.all(per_system <= frame_line.get_ydata() + 1e-9)
    assert np.all(per_system > 0)


def test_plot_frame_times_without_frames_says_what_to_do(plt):
    with pytest.raises(ValueError, match=r"world\.run"):
        an.plot_frame_times(World(profile=False))


def test_plot_frame_times_draws_on_a_given_axes(plt):
    w = World(threads=1)
    w.run(2)
    _, ax = plt.subplots()
    assert an.plot_frame_times(w, ax=ax) is ax


def test_plot_distribution_counts_every_entity(plt):
    w, _ = _world()
    ax = an.plot_distribution(w, Position, "x", bins=4)
    heights = [p.get_height() for p in ax.patches]
    assert sum(heights) == 6
    assert ax.get_xlabel() == "Position.x"


def test_plot_distribution_of_a_vector_field_draws_one_histogram_per_element(plt):
    w, _ = _world()
    w.spawn(Spin((0.0, 1.0, 2.0)))
    ax = an.plot_distribution(w, Spin, "axis", bins=2)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["axis[0]", "axis[1]", "axis[2]"]


def test_plot_distribution_of_bool_field_and_filter(plt):
    w, _ = _world()
    w.spawn_batch({Alert: {"on": [True, False, False]}})
    ax = an.plot_distribution(w, Alert, "on", bins=2, where=pc.field("Alert.on"))
    assert sum(p.get_height() for p in ax.patches) == 2


def test_plot_distribution_unknown_field_is_a_coded_schema_error(plt):
    w, _ = _world()
    with pytest.raises(SchemaError, match=r"\[E0005\].*fields are \['x', 'y'\]"):
        an.plot_distribution(w, Position, "z")


def _recorded_world(frames: int = 4) -> tuple[World, Recorder]:
    w, _ = _world()
    w.add_system(_drift)
    rec = Recorder(w, [Position], attach=False)
    for _ in range(frames):
        w.step()
        rec.on_frame_end(w)
    return w, rec


def test_animate_positions_has_one_animation_frame_per_recorded_frame(plt):
    _, rec = _recorded_world(4)
    anim = an.animate_positions(rec, color="Position.y", interval=20)
    html = an.animation_html(anim)
    assert "<script" in html
    assert anim._save_count == 4  # FuncAnimation's frame count
    scat = anim._fig.axes[0].collections[0]
    anim._func(3)
    last = rec.to_arrow().filter(pc.field("frame") == 4)
    np.testing.assert_allclose(scat.get_offsets()[:, 0], last["Position.x"].to_numpy())
    assert anim._fig.axes[0].get_title() == "frame 4"


def test_animate_positions_limits_agents_and_accepts_tables(plt):
    _, rec = _recorded_world(2)
    anim = an.animate_positions(rec.to_arrow(), max_agents=2)
    scat = anim._fig.axes[0].collections[0]
    anim._func(1)
    assert len(scat.get_offsets()) == 2
    an.animation_html(anim)


def test_animate_positions_reports_a_missing_column(plt):
    _, rec = _recorded_world(1)
    with pytest.raises(KeyError, match=r"Position\.z"):
        an.animate_positions(rec, y="Position.z")
    with pytest.raises(ValueError, match="frame"):
        an.animate_positions(pa.table({"Position.x": [1.0], "Position.y": [1.0]}))
    with pytest.raises(ValueError, match="no frames"):
        an.animate_positions([])


def test_save_gif_writes_an_animated_gif(plt, tmp_path):
    pytest.importorskip("PIL")
    _, rec = _recorded_world(3)
    anim = an.animate_positions(rec)
    out = an.save_gif(anim, tmp_path / "agents.gif", fps=5)
    assert out.read_bytes()[:6] in (b"GIF87a", b"GIF89a")


# ---------------------------------------------------------------- HTML reprs


def test_world_html_lists_archetypes_memory_and_system_timings():
    w, _ = _world()
    w.add_system(_drift)
    w.run(2)
    out = _html.world_html(w)
    assert "<b>World</b>: 6 entities" in out
    assert "Position, Velocity" in out
    assert _html.format_bytes(w.tables[1].nbytes()) in out
    assert "_drift" in out
    assert "frame 2" in out
    assert "Time" in out  # resources


def test_world_html_of_an_empty_world_renders():
    out = _html.world_html(World())
    assert "0 entities" in out
    assert "Systems" not in out


def test_query_html_shows_spec_counts_and_a_preview():
    w, _ = _world()
    out = _html.query_html(w.query(Position, without=[Frozen], optional=[Health]))
    assert "<b>Query</b>(Position)" in out
    assert "without Frozen" in out
    assert "optional Health" in out
    assert "5 entities in 2 archetypes" in out
    assert "Position.x" in out  # the preview table


def test_query_html_escapes_and_caps_long_tables():
    w = World()
    w.spawn_batch({Position: None}, n=200)
    out = _html.query_html(w.query(Position))
    assert "200 rows x 3 columns" in out
    assert "195 more" in out


def test_commands_html_lists_runs_in_recording_order():
    cmd = CommandBuffer("<spawner>")
    cmd.spawn_batch({Position: None}, n=3)
    cmd.despawn(1 << 32 | 5)
    out = _html.commands_html(cmd)
    assert "&lt;spawner&gt;" in out
    assert out.index("SPAWN") < out.index("DESPAWN")
    assert "4 commands in 2 runs, 3 pending spawns" in out


def test_stats_html_accepts_a_stats_view_or_a_table():
    w, _ = _world()
    w.add_system(_drift)
    w.run(3)
    table = w.profiler.stats_table()
    view = StatsView(table, {"entities": len(w)})
    for out in (_html.stats_html(view), _html.stats_html(table, {"entities": 6})):
        assert "_drift" in out
        assert "entities: <b>6</b>" in out
        assert "mean_ms" in out


def test_table_html_shows_nulls_and_counts():
    t = pa.table({"a": [1, None, 3], "b": ["x", "<y>", None]})
    out = _html.table_html(t, max_rows=5, title="t")
    assert "t: 3 rows x 2 columns" in out
    assert "<i>null</i>" in out
    assert "&lt;y&gt;" in out
