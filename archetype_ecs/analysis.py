"""Analysis: entity state as Arrow, pandas, Polars and DuckDB tables, and plots.

Everything here reads the live archetype tables without copying them where Arrow
allows: :func:`to_arrow` assembles one ``pyarrow.Table`` whose chunks are the tables'
own buffers, :func:`sql` registers those buffers with DuckDB as one view per
component. pandas, Polars, DuckDB and matplotlib are the ``analysis`` extra and are
imported here only, inside the functions that need them; without them those functions
raise an ImportError that names the extra.

Lifetime: results that share buffers with the world (``to_arrow``,
``component_tables``, the views of ``connect``) are valid until the next structural
change of the tables involved; copy them (``table.combine_chunks()``, or record them
with :class:`~archetype_ecs.recorder.Recorder`) to keep a state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from archetype_ecs.commands import _as_ids
from archetype_ecs.component import ComponentSchema, schema_of
from archetype_ecs.errors import (
    E_UNKNOWN_FIELD,
    ComponentNotRegisteredError,
    SchemaError,
    coded,
)
from archetype_ecs.schema import ENTITY_METADATA
from archetype_ecs.table import ENTITY_COLUMN

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import polars as pl
    from matplotlib.animation import FuncAnimation
    from matplotlib.axes import Axes

    from archetype_ecs.recorder import Recorder
    from archetype_ecs.world import World

__all__ = [
    "INSTALL_HINT",
    "animate_positions",
    "animation_html",
    "component_tables",
    "connect",
    "lookup",
    "plot_distribution",
    "plot_frame_times",
    "save_gif",
    "sql",
    "to_arrow",
    "to_pandas",
    "to_polars",
]

INSTALL_HINT = "install with: pip install 'arrow-ecs[analysis]'"
"""How to get the optional analysis libraries; every ImportError here ends with it."""

Where = Any  # a pyarrow.compute.Expression, or a callable(table) -> mask / Expression
_MAX_LISTED = 12


def _missing(library: str, feature: str) -> ImportError:
    return ImportError(
        f"{feature} needs {library}, which is not installed; {INSTALL_HINT}",
        name=library,
    )


def _apply_where(table: pa.Table, where: Where, feature: str) -> pa.Table:
    if where is None:
        return table
    cond = where(table) if callable(where) else where
    if isinstance(cond, pc.Expression):
        return table.filter(cond)
    if isinstance(cond, pa.Array | pa.ChunkedArray | np.ndarray | list):
        mask = cond if isinstance(cond, pa.Array | pa.ChunkedArray) else pa.array(cond)
        if not pa.types.is_boolean(mask.type) or len(mask) != table.num_rows:
            raise TypeError(
                f"{feature}: where= gave a {mask.type} mask of {len(mask)} rows for a "
                f"table of {table.num_rows} rows; return one bool per row, e.g. "
                "where=lambda t: pc.greater(t['Position.x'], 0)"
            )
        return table.filter(mask)
    raise TypeError(
        f"{feature}: where= must be a pyarrow.compute.Expression (e.g. "
        "pc.field('Position.x') > 0) or a callable taking the table and returning "
        f"one, or a bool mask; got {type(cond).__name__}"
    )


def to_arrow(
    world: World,
    *components: type,
    where: Where = None,
    without: Iterable[type] = (),
    optional: Iterable[type] = (),
) -> pa.Table:
    """One ``pyarrow.Table`` of entity state: ``entity`` then ``<Component>.<field>``.

    Parameters
    ----------
    world
        The world to read.
    *components
        Required components: only entities carrying all of them appear. With none
        (and no ``optional``), every live entity appears with every registered
        component as an optional column.
    where
        Row filter: a ``pyarrow.compute.Expression`` such as
        ``pc.field("Position.x") > 0`` (applied with ``Table.filter``), or a
        callable that takes the table and returns such an expression or a bool mask.
    without
        Entities carrying any of these are left out.
    optional
        Components whose columns appear with nulls where an entity lacks them (an
        optional tag appears as a bool column).

    Returns
    -------
    pyarrow.Table
        One chunk per non-empty matched archetype.

    Raises
    ------
    ComponentNotRegisteredError
        [E0002] when a class is not a component.
    TypeError
        When ``where`` is neither an expression, a callable nor a bool mask.

    Notes
    -----
    Zero-copy: each chunk is a view of an archetype table's buffers (bool fields
    are bit-packed, O(rows)); ``where`` copies the rows it keeps. Valid until the
    next structural change.

    Examples
    --------
    >>> import pyarrow.compute as pc
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: {"x": [1.0, -2.0, 3.0]}})
    >>> to_arrow(w, Pos).column_names
    ['entity', 'Pos.x']
    >>> to_arrow(w, Pos, where=pc.field("Pos.x") > 0)["Pos.x"].to_pylist()
    [1.0, 3.0]
    """
    opt = list(optional)
    if not components and not opt:
        opt = [s.cls for s in world.components]
    table = world.query(*components, without=without, optional=opt).to_arrow()
    return _apply_where(table, where, "to_arrow")


def to_pandas(
    world: World,
    *components: type,
    where: Where = None,
    without: Iterable[type] = (),
    optional: Iterable[type] = (),
    arrow_dtypes: bool = False,
) -> pd.DataFrame:
    """Entity state as a pandas ``DataFrame`` (see :func:`to_arrow` for the rows).

    Parameters
    ----------
    world, *components, where, without, optional
        As for :func:`to_arrow`.
    arrow_dtypes
        Back the columns by Arrow (``pd.ArrowDtype``): no copy at all. By default
        the columns are numpy arrays, copied once where the table has several
        chunks (one per archetype) or a column has nulls.

    Returns
    -------
    pandas.DataFrame
        Columns ``entity`` and ``<Component>.<field>``; vector fields hold one
        numpy array per row. With one archetype and no nulls the columns may share
        memory with the world's storage (zero-copy): later frames change them.
        Call ``.copy()`` to keep a snapshot.

    Raises
    ------
    ImportError
        When pandas is not installed (the message names the ``analysis`` extra).

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: {"x": [1.0, 2.0]}})
    >>> to_pandas(w, Pos)["Pos.x"].tolist()
    [1.0, 2.0]
    """
    try:
        import pandas as pd
    except ImportError as exc:
        raise _missing("pandas", "to_pandas") from exc
    table = to_arrow(
        world, *components, where=where, without=without, optional=optional
    )
    mapper = pd.ArrowDtype if arrow_dtypes else None
    frame: pd.DataFrame = table.to_pandas(types_mapper=mapper, split_blocks=True)
    return frame


def to_polars(
    world: World,
    *components: type,
    where: Where = None,
    without: Iterable[type] = (),
    optional: Iterable[type] = (),
) -> pl.DataFrame:
    """Entity state as a Polars ``DataFrame`` (see :func:`to_arrow` for the rows).

    Returns
    -------
    polars.DataFrame
        Columns ``entity`` and ``<Component>.<field>`` (vector fields as
        ``pl.Array``).

    Raises
    ------
    ImportError
        When Polars is not installed (the message names the ``analysis`` extra).

    Notes
    -----
    Built with ``pl.from_arrow(..., rechunk=False)``: Polars keeps the Arrow
    chunks (one per archetype) instead of copying them into one.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: {"x": [1.0, 2.0]}})
    >>> to_polars(w, Pos)["Pos.x"].to_list()
    [1.0, 2.0]
    """
    try:
        import polars as pl
    except ImportError as exc:
        raise _missing("polars", "to_polars") from exc
    table = to_arrow(
        world, *components, where=where, without=without, optional=optional
    )
    frame = pl.from_arrow(table, rechunk=False)
    if not isinstance(frame, pl.DataFrame):  # from_arrow gives a Series for arrays
        raise TypeError("to_polars: expected a DataFrame from pl.from_arrow")
    return frame


# ---------------------------------------------------------------------- lookup


def _lookup_schema(schemas: Sequence[ComponentSchema], *, nullable: bool) -> pa.Schema:
    fields = [pa.field(ENTITY_COLUMN, pa.uint64(), nullable=False)]
    for s in schemas:
        if s.is_tag:
            fields.append(pa.field(s.name, pa.bool_(), nullable=False))
        for f in s.fields:
            meta = ENTITY_METADATA if f.type.is_entity else None
            fields.append(
                pa.field(
                    f"{s.name}.{f.name}", f.type.arrow_type, nullable, metadata=meta
                )
            )
    return pa.schema(fields)


def _arrow_of(
    values: np.ndarray[Any, Any],
    typ: pa.DataType,
    valid: np.ndarray[Any, Any] | None,
) -> pa.Array:
    """An Arrow array of a field column; rows where ``valid`` is False are null."""
    if pa.types.is_fixed_size_list(typ):
        flat = pa.array(values.reshape(-1), type=typ.value_type)
        mask = None if valid is None else pa.array(~valid)
        return pa.FixedSizeListArray.from_arrays(flat, type=typ, mask=mask)
    return pa.array(values, type=typ, mask=None if valid is None else ~valid)


def lookup(
    world: World,
    entities: object,
    *components: type,
    missing: Literal["raise", "null"] = "raise",
) -> pa.Table:
    """The rows of given entities, in the order given, as one Arrow table.

    Parameters
    ----------
    world
        The world to read.
    entities
        Entity ids (an int, a list, or an integer array such as a column of
        :func:`sql` or :func:`to_arrow` output).
    *components
        Components whose fields to return. With none: every component of the
        archetypes those entities live in.
    missing
        ``"raise"`` (default): a dead entity or a missing component raises.
        ``"null"``: their fields are null instead.

    Returns
    -------
    pyarrow.Table
        ``entity`` then, per component, a bool presence column for a tag or the
        ``<Component>.<field>`` columns. A copy (the rows are gathered).

    Raises
    ------
    EntityNotAliveError
        [E0001] with ``missing="raise"``, when an entity is not alive.
    MissingComponentError
        [E0006] with ``missing="raise"``, when an entity lacks a component.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> @component
    ... class Vel:
    ...     dx: f32 = 1.0
    >>> w = World()
    >>> a = w.spawn(Pos(1.0), Vel(5.0))
    >>> b = w.spawn(Pos(2.0))
    >>> lookup(w, [b, a], Pos)["Pos.x"].to_pylist()
    [2.0, 1.0]
    >>> lookup(w, [a, b], Vel, missing="null")["Vel.dx"].to_pylist()
    [5.0, None]
    """
    if missing not in ("raise", "null"):
        raise ValueError(f"lookup: missing= must be 'raise' or 'null', got {missing!r}")
    nullable = missing == "null"
    # Strict mode checks every id first, also when no component is named.
    ids = (
        _as_ids(entities, "lookup")
        if nullable
        else world._alive_ids(entities, "lookup")
    )
    alive = world.is_alive_batch(ids)
    tabs, _ = world.entities.locate_batch(ids)
    if components:
        schemas = [schema_of(c, "lookup") for c in components]
    else:
        held = {int(t) for t in np.unique(tabs[alive])}
        cids = sorted({c for t in held for c in world.tables[t].components})
        schemas = [world.components.schemas[c] for c in cids]
    schema = _lookup_schema(schemas, nullable=nullable)
    cols: list[pa.Array] = [pa.array(ids, type=pa.uint64())]
    for s in schemas:
        cols.extend(_lookup_component(world, ids, alive, tabs, s, nullable=nullable))
    return pa.Table.from_arrays(cols, schema=schema)


def _lookup_component(
    world: World,
    ids: np.ndarray[Any, Any],
    alive: np.ndarray[Any, Any],
    tabs: np.ndarray[Any, Any],
    s: ComponentSchema,
    *,
    nullable: bool,
) -> list[pa.Array]:
    cid = world.components.id_of(s.cls, "lookup")
    has_c = np.array([cid in t.component_set for t in world.tables], dtype=np.bool_)
    has = alive & has_c[np.where(alive, tabs, 0)]
    sel = has if nullable else np.ones(len(ids), dtype=np.bool_)
    values = world.get_batch(ids[sel], s.cls)  # raises E0001 / E0006 when strict
    out: list[pa.Array] = []
    if s.is_tag:
        out.append(pa.array(has, type=pa.bool_()))
    for f in s.fields:
        if not nullable:
            out.append(_arrow_of(values[f.name], f.type.arrow_type, None))
            continue
        full = np.zeros((len(ids), *f.type.shape), dtype=f.type.dtype)
        full[has] = values[f.name]
        out.append(_arrow_of(full, f.type.arrow_type, has))
    return out


# ------------------------------------------------------------------------- SQL


def _view_schema(s: ComponentSchema) -> pa.Schema:
    fields = [
        pa.field(ENTITY_COLUMN, pa.uint64(), nullable=False, metadata=ENTITY_METADATA)
    ]
    for f in s.fields:
        # A field named like the id column keeps its qualified name.
        name = f"{s.name}.{f.name}" if f.name == ENTITY_COLUMN else f.name
        meta = ENTITY_METADATA if f.type.is_entity else None
        fields.append(pa.field(name, f.type.arrow_type, nullable=False, metadata=meta))
    return pa.schema(fields)


def component_tables(
    world: World, components: Iterable[type] | None = None
) -> dict[str, pa.Table]:
    """One zero-copy table per component: ``entity`` then its fields, unqualified.

    Parameters
    ----------
    world
        The world to read.
    components
        Which components (default: every component the world has registered).

    Returns
    -------
    dict of str to pyarrow.Table
        Keyed by component name. Each table unions (one chunk each) the archetype
        tables holding the component; a tag's table has the ``entity`` column only.
        A field named ``entity`` appears as ``<Component>.entity``.

    Notes
    -----
    Zero-copy except bool fields; valid until the next structural change. These
    are the views :func:`sql` and :func:`connect` register with DuckDB.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> @component
    ... class Vel:
    ...     dx: f32 = 1.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: {"x": [1.0]}})
    >>> _ = w.spawn_batch({Pos: {"x": [2.0]}, Vel: None})
    >>> tables = component_tables(w)
    >>> tables["Pos"].column_names, tables["Pos"].num_rows, tables["Vel"].num_rows
    (['entity', 'x'], 2, 1)
    """
    if components is None:
        schemas = list(world.components)
    else:
        schemas = [schema_of(c, "component_tables") for c in components]
    out: dict[str, pa.Table] = {}
    for s in schemas:
        cid = world.components.id_of(s.cls)
        schema = _view_schema(s)
        batches = [
            pa.RecordBatch.from_arrays(t.batch((cid,)).columns, schema=schema)
            for t in world.tables
            if t.len and cid in t.component_set
        ]
        out[s.name] = pa.Table.from_batches(batches, schema=schema)
    return out


def _describe_views(tables: Mapping[str, pa.Table]) -> str:
    shown = [f"{n}({', '.join(t.column_names)})" for n, t in tables.items()]
    more = len(shown) - _MAX_LISTED
    text = ", ".join(shown[:_MAX_LISTED]) + (f" and {more} more" if more > 0 else "")
    return text or "none (no component is registered yet)"


def connect(
    world: World, connection: duckdb.DuckDBPyConnection | None = None
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with one view per component of ``world`` registered.

    Parameters
    ----------
    world
        The world whose tables to register (see :func:`component_tables`).
    connection
        Register on this connection (views of the same names are replaced);
        default: a new in-memory connection.

    Returns
    -------
    duckdb.DuckDBPyConnection
        Views named after the components, each with ``entity`` and field columns.

    Raises
    ------
    ImportError
        When DuckDB is not installed (the message names the ``analysis`` extra).

    Notes
    -----
    The views are Arrow tables registered without copying: values written in
    place show through, but after a structural change call ``connect`` again.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: {"x": [1.0, 2.0]}})
    >>> con = connect(w)
    >>> con.sql("SELECT sum(x) AS s FROM Pos").fetchall()
    [(3.0,)]
    >>> con.close()
    """
    try:
        import duckdb
    except ImportError as exc:
        raise _missing("duckdb", "connect") from exc
    con = duckdb.connect() if connection is None else connection
    for name, table in component_tables(world).items():
        con.register(name, table)
    return con


def sql(
    world: World,
    query: str,
    *,
    params: Sequence[object] | Mapping[str, object] | None = None,
    connection: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Run a DuckDB SQL query over the live tables of ``world``; return Arrow.

    Parameters
    ----------
    world
        The world to query. Each component is a view named after it, with an
        ``entity`` column and one column per field; join components on ``entity``.
    query
        The SQL text (DuckDB dialect). Quote component names that are SQL keywords.
    params
        Values for ``?`` / ``$name`` placeholders.
    connection
        Run on this connection (after registering the views on it); default: a
        fresh in-memory connection, closed afterwards.

    Returns
    -------
    pyarrow.Table
        The result. A statement that returns no rows gives what DuckDB reports
        for it (a row count, or an empty table without columns).

    Raises
    ------
    ComponentNotRegisteredError
        When the query names a table that is not a component view of this world;
        the message lists the views and their columns.
    duckdb.Error
        Any other DuckDB error, with a note listing the views.
    ImportError
        When DuckDB is not installed (the message names the ``analysis`` extra).

    Notes
    -----
    The views are zero-copy (see :func:`component_tables`); DuckDB scans the
    archetype buffers directly.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> @component
    ... class Vel:
    ...     dx: f32 = 1.0
    >>> w = World()
    >>> _ = w.spawn_batch({Pos: {"x": [1.0, 2.0]}, Vel: {"dx": [0.5, 0.25]}})
    >>> _ = w.spawn_batch({Pos: {"x": [10.0]}})
    >>> sql(w, "SELECT sum(x) AS total FROM Pos").to_pylist()
    [{'total': 13.0}]
    >>> sql(w, "SELECT p.x + v.dx AS nx FROM Pos p JOIN Vel v USING (entity) "
    ...        "ORDER BY nx").column("nx").to_pylist()
    [1.5, 2.25]
    """
    try:
        import duckdb
    except ImportError as exc:
        raise _missing("duckdb", "sql") from exc
    con = duckdb.connect() if connection is None else connection
    try:
        tables = component_tables(world)
        for name, table in tables.items():
            con.register(name, table)
        try:
            return _run_sql(con, query, params)
        except duckdb.Error as exc:
            raise _sql_error(exc, query, tables) from exc
    finally:
        if connection is None:
            con.close()


def _run_sql(
    con: duckdb.DuckDBPyConnection,
    query: str,
    params: Sequence[object] | Mapping[str, object] | None,
) -> pa.Table:
    # Typed as optional: statements that return no rows give None.
    rel: duckdb.DuckDBPyRelation | None = con.sql(query, params=params)
    if rel is None:
        return pa.table({})
    # duckdb >= 1.4 names it to_arrow_table; older releases return a table from arrow().
    fetch = getattr(rel, "to_arrow_table", None) or rel.arrow
    result = fetch()
    if isinstance(result, pa.RecordBatchReader):
        result = result.read_all()
    return result


def _sql_error(exc: Exception, query: str, tables: Mapping[str, pa.Table]) -> Exception:
    views = _describe_views(tables)
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if "Table with name" in first or "Table with name" in str(exc):
        return ComponentNotRegisteredError(
            f"sql: {first} in {query!r}. The views of this world are one per "
            f"component, with an 'entity' column and one column per field: {views}. "
            "Query one of these (join on entity), or spawn an entity with the "
            "component first so the world registers it"
        )
    exc.add_note(f"sql: the views of this world are {views}")
    return exc


# ---------------------------------------------------------------------- plots


def plot_frame_times(
    world: World, *, ax: Axes | None = None, systems: bool = False
) -> Axes:
    """Plot the duration of each recent frame (ms), from ``world.profiler``.

    Parameters
    ----------
    world
        A world that ran frames with profiling on (the default).
    ax
        Draw on this matplotlib ``Axes`` (default: a new figure).
    systems
        Also draw one line per system: its time in each frame.

    Returns
    -------
    matplotlib.axes.Axes
        Frame number on x, milliseconds on y.

    Raises
    ------
    ValueError
        When the profiler holds no frame (profiling off, or no frame ran).
    ImportError
        When matplotlib is not installed (the message names the ``analysis`` extra).

    Notes
    -----
    Covers the frames the profiler buffers (``Profiler(trace_frames=...)``, 600 by
    default). Per-system times are summed per frame with one vectorized pass.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from archetype_ecs import World
    >>> w = World(threads=1)
    >>> w.run(3)
    >>> ax = plot_frame_times(w)
    >>> ax.get_ylabel()
    'ms'
    >>> plt.close(ax.figure)
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise _missing("matplotlib", "plot_frame_times") from exc
    frames = world.profiler.frames()
    if not frames:
        raise ValueError(
            "plot_frame_times: the profiler holds no frame; run world.step() / "
            "world.run(n) on a World(profile=True) (the default) first"
        )
    marks = np.array(frames, dtype=np.int64)
    if ax is None:
        _, ax = plt.subplots()
    ax.plot(marks[:, 0], (marks[:, 2] - marks[:, 1]) / 1e6, label="frame")
    if systems:
        for name, per_frame in _system_times(world, marks).items():
            ax.plot(marks[:, 0], per_frame, label=name, linewidth=0.8)
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("frame")
    ax.set_ylabel("ms")
    ax.set_title("frame times")
    return ax


def _system_times(world: World, marks: np.ndarray[Any, Any]) -> dict[str, Any]:
    spans = [s for s in world.profiler.spans() if s.kind == "system"]
    if not spans:
        return {}
    names = np.array([s.name for s in spans])
    starts = np.array([s.start_ns for s in spans], dtype=np.int64)
    ms = np.array([s.end_ns - s.start_ns for s in spans], dtype=np.int64) / 1e6
    frame = np.searchsorted(marks[:, 1], starts, side="right") - 1
    inside = (frame >= 0) & (starts <= marks[np.maximum(frame, 0), 2])
    out: dict[str, Any] = {}
    for name in dict.fromkeys(names.tolist()):
        sel = inside & (names == name)
        out[name] = np.bincount(frame[sel], weights=ms[sel], minlength=len(marks))
    return out


def plot_distribution(
    world: World,
    component: type,
    field: str,
    *,
    ax: Axes | None = None,
    bins: int = 50,
    where: Where = None,
) -> Axes:
    """Histogram of one component field over every entity that carries it.

    Parameters
    ----------
    world
        The world to read.
    component, field
        The component class and the field name; a vector field draws one
        histogram per element (``field[0]``, ``field[1]`` ...).
    ax
        Draw on this matplotlib ``Axes`` (default: a new figure).
    bins
        Number of histogram bins.
    where
        Row filter, as for :func:`to_arrow`.

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    SchemaError
        [E0005] when the component has no such field.
    ImportError
        When matplotlib is not installed (the message names the ``analysis`` extra).

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Hp:
    ...     value: f32 = 0.0
    >>> w = World()
    >>> _ = w.spawn_batch({Hp: {"value": [1.0, 2.0, 2.0, 3.0]}})
    >>> ax = plot_distribution(w, Hp, "value", bins=3)
    >>> ax.get_xlabel()
    'Hp.value'
    >>> plt.close(ax.figure)
    """
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise _missing("matplotlib", "plot_distribution") from exc
    s = schema_of(component, "plot_distribution")
    spec = next((f for f in s.fields if f.name == field), None)
    if spec is None:
        raise SchemaError(
            coded(
                E_UNKNOWN_FIELD,
                f"plot_distribution: {s.name} has no field {field!r}; its fields are "
                f"{s.field_names()}",
            )
        )
    key = f"{s.name}.{field}"
    column = to_arrow(world, s.cls, where=where).column(key).combine_chunks()
    if ax is None:
        _, ax = plt.subplots()
    if spec.type.shape:
        size = spec.type.shape[0]
        flat = column.flatten().to_numpy(zero_copy_only=False).reshape(-1, size)
        for i in range(size):
            ax.hist(flat[:, i], bins=bins, alpha=0.6, label=f"{field}[{i}]")
        ax.legend(fontsize="small")
    else:
        values = column.to_numpy(zero_copy_only=False).astype(np.float64)
        ax.hist(values, bins=bins)
    ax.set_xlabel(key)
    ax.set_ylabel("entities")
    return ax


# ------------------------------------------------------------------ animation


def _series(source: Recorder | pa.Table | Sequence[pa.Table]) -> pa.Table:
    from archetype_ecs.recorder import Recorder

    if isinstance(source, Recorder):
        return source.to_arrow()
    if isinstance(source, pa.Table):
        if "frame" not in source.column_names:
            raise ValueError(
                "animate_positions: the table has no 'frame' column; pass a "
                "Recorder, its to_arrow() table, or a list of per-frame snapshots"
            )
        return source
    parts = [
        t.append_column("frame", pa.array(np.full(t.num_rows, i, dtype=np.int64)))
        for i, t in enumerate(source)
    ]
    if not parts:
        raise ValueError("animate_positions: no frames given")
    return pa.concat_tables(parts, promote_options="default")


def _numpy(table: pa.Table, name: str) -> np.ndarray[Any, Any]:
    if name not in table.column_names:
        raise KeyError(
            f"animate_positions: no column {name!r}; columns are {table.column_names}"
        )
    return np.asarray(table.column(name).to_numpy())


def animate_positions(
    source: Recorder | pa.Table | Sequence[pa.Table],
    *,
    x: str = "Position.x",
    y: str = "Position.y",
    color: str | None = None,
    interval: int = 50,
    max_agents: int = 5_000,
    size: float = 4.0,
) -> FuncAnimation:
    """A 2D scatter animation of agent positions over recorded frames.

    Parameters
    ----------
    source
        A :class:`~archetype_ecs.recorder.Recorder`, its ``to_arrow()`` table (a
        ``frame`` column plus fields), or a list of per-frame snapshots such as
        :func:`to_arrow` returns (frames numbered 0, 1, ...).
    x, y
        Column names of the coordinates.
    color
        Optional column that colors the points (a numeric field).
    interval
        Milliseconds between frames when played.
    max_agents
        Draw at most this many agents (the lowest entity ids): animations embed
        every frame, so keep them moderate.
    size
        Marker size.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        Show it with :func:`animation_html` (or ``IPython.display.HTML``), save it
        with :func:`save_gif`. Its figure is closed, so notebooks do not also show
        a still image.

    Raises
    ------
    KeyError
        When a named column is missing.
    ImportError
        When matplotlib is not installed (the message names the ``analysis`` extra).

    Notes
    -----
    Rows are grouped by frame with one sort; the loop runs over frames, never
    over entities.

    Examples
    --------
    >>> import pyarrow as pa
    >>> snaps = [pa.table({"Position.x": [0.0, 1.0], "Position.y": [0.0, 0.5]}),
    ...          pa.table({"Position.x": [0.5, 1.5], "Position.y": [0.1, 0.6]})]
    >>> anim = animate_positions(snaps)
    >>> "<script" in animation_html(anim)
    True
    """
    try:
        import matplotlib.pyplot as plt
        from matplotlib.animation import FuncAnimation
    except ImportError as exc:
        raise _missing("matplotlib", "animate_positions") from exc
    table = _series(source)
    frame, xs, ys = (_numpy(table, n) for n in ("frame", x, y))
    cs = None if color is None else _numpy(table, color)
    keep = _agent_subset(table, max_agents)
    order = np.argsort(frame[keep], kind="stable")
    frame, xs, ys = frame[keep][order], xs[keep][order], ys[keep][order]
    cs = None if cs is None else cs[keep][order]
    numbers, starts = np.unique(frame, return_index=True)
    ends = np.append(starts[1:], len(frame))
    fig, ax = plt.subplots()
    scat = ax.scatter(xs[: ends[0]], ys[: ends[0]], s=size, c=_head(cs, ends))
    ax.set_xlim(*_limits(xs))
    ax.set_ylim(*_limits(ys))
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    title = ax.set_title(f"frame {numbers[0]}" if len(numbers) else "no frames")

    def draw(i: int) -> tuple[Any, ...]:
        a, b = starts[i], ends[i]
        scat.set_offsets(np.column_stack([xs[a:b], ys[a:b]]))
        if cs is not None:
            scat.set_array(cs[a:b])
        title.set_text(f"frame {numbers[i]}")
        return (scat, title)

    anim = FuncAnimation(
        fig, draw, frames=len(numbers), interval=interval, cache_frame_data=False
    )
    plt.close(fig)
    return anim


def _agent_subset(table: pa.Table, max_agents: int) -> np.ndarray[Any, Any]:
    if ENTITY_COLUMN not in table.column_names:
        return np.ones(table.num_rows, dtype=np.bool_)
    ents = np.asarray(table.column(ENTITY_COLUMN).to_numpy())
    chosen = np.unique(ents)[:max_agents]
    return np.isin(ents, chosen)


def _head(cs: np.ndarray[Any, Any] | None, ends: np.ndarray[Any, Any]) -> Any:
    return None if cs is None else cs[: ends[0]]


def _limits(values: np.ndarray[Any, Any]) -> tuple[float, float]:
    if not len(values):
        return 0.0, 1.0
    lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
    pad = (hi - lo) * 0.05 or 1.0
    return lo - pad, hi + pad


def animation_html(anim: FuncAnimation) -> str:
    """The animation as a self-contained HTML / JavaScript player (``to_jshtml``).

    Examples
    --------
    >>> import pyarrow as pa
    >>> anim = animate_positions([pa.table({"Position.x": [0.0], "Position.y": [1.0]})])
    >>> animation_html(anim).count("<img") <= 1
    True
    """
    return str(anim.to_jshtml())


def save_gif(anim: FuncAnimation, path: str | Path, *, fps: int = 10) -> Path:
    """Save the animation as an animated GIF with matplotlib's Pillow writer.

    Raises
    ------
    ImportError
        When Pillow is not available (it comes with matplotlib).

    Examples
    --------
    >>> import tempfile, pathlib, pyarrow as pa
    >>> anim = animate_positions([pa.table({"Position.x": [0.0], "Position.y": [1.0]})])
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     out = save_gif(anim, pathlib.Path(tmp) / "agents.gif")
    ...     out.stat().st_size > 0
    True
    """
    from matplotlib.animation import PillowWriter

    if not PillowWriter.isAvailable():
        raise _missing("Pillow", "save_gif")
    target = Path(path)
    anim.save(str(target), writer=PillowWriter(fps=fps))
    return target
