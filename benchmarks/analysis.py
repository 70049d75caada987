"""analysis: entity state as Arrow / DuckDB / pandas, and the recorder's cost per frame.

The world: N entities with ``Position(x, y: f32)``, ``Velocity(dx, dy: f32)`` and
``Team(team: i32)`` (16 teams), split evenly across 4 archetypes by the tags ``TagA``
/ ``TagB`` ({}, {A}, {B}, {A, B}).

Variants, in three groups (one scenario, so no common baseline; compare within a group)

*to_arrow* (N = 10^5, 10^6)

* ``to_arrow``: ``world.to_arrow(Position, Velocity)``: one ``pyarrow.Table`` of
  entity + 4 fields, 4 chunks. Setup checks that every chunk's buffers are the
  archetype columns themselves (same addresses): no column is copied.
* ``arrow_floor``: ``pa.Table.from_batches`` of 4 batches built from 5 existing numpy
  arrays each (zero-copy): the floor for assembling such a table.

*aggregate*: per team, ``count(*)``, mean ``x`` and max ``y`` (N = 10^5, 10^6)

* ``agg_pandas``: ``df.groupby("Team.team").agg(...)`` on a pandas copy made in
  setup (``world.to_pandas(Position, Team)``).
* ``agg_pandas_copy``: the same, with the copy made in the timed call.
* ``agg_duckdb_sql``: ``world.sql("SELECT team, count(*), avg(x), max(y) FROM Position
  JOIN Team USING (entity) GROUP BY team")``: registers the component views on a new
  connection, joins and aggregates.
* ``agg_duckdb_conn``: the same SQL on a connection from ``analysis.connect(world)``
  made once in setup.
* ``agg_duckdb_arrow``: DuckDB over the zero-copy ``world.to_arrow(Position, Team)``
  table registered once in setup (no join): the same data layout as the pandas copy.

*recorder* (N = 10^5 only): a kernel system moves every entity each frame.

* ``frame``: ``world.step()``.
* ``frame_recorded``: ``world.step()`` then a ``Recorder(world, [Position,
  Velocity], every=1, max_frames=8)`` snapshot (ring buffer: memory stays bounded).
* ``record_only``: ``recorder.record()`` alone: one snapshot.

The recorder's overhead per frame is ``frame_recorded - frame``.

Target: ``to_arrow`` assembles 10^6 entities in <= 2 ms (<= 2 ns per entity).
"""

from typing import Any, ClassVar

import numpy as np
from numba import njit

from benchmarks._ecs import ecs
from benchmarks._runner import PerUnitTarget, Scenario, SkipVariant, Target

DT = np.float32(1.0 / 60.0)
TEAMS = 16
RECORDER_MAX_N = 10**5
AGG_SQL = (
    "SELECT t.team, count(*) AS n, avg(p.x) AS mean_x, max(p.y) AS max_y "
    "FROM Position p JOIN Team t USING (entity) GROUP BY t.team"
)
ARROW_SQL = (
    'SELECT "Team.team" AS team, count(*) AS n, avg("Position.x") AS mean_x, '
    'max("Position.y") AS max_y FROM agents GROUP BY 1'
)


@njit(cache=True)
def move(x, y, dx, dy, dt):  # type: ignore[no-untyped-def]
    for i in range(x.shape[0]):
        x[i] += dx[i] * dt
        y[i] += dy[i] * dt


_TEAM: list[Any] = []


def _team_component() -> Any:
    """The ``Team`` component, declared on first use (see ``benchmarks._ecs``)."""
    if not _TEAM:
        ae = ecs().ae

        @ae.component
        class Team:
            team: ae.i32 = 0

        _TEAM.append(Team)
    return _TEAM[0]


def _buffer_addresses(column: Any) -> set[int]:
    return {b.address for chunk in column.chunks for b in chunk.buffers() if b}


class Analysis(Scenario):
    params = (10**5, 10**6)
    targets: ClassVar[dict[str, list[Target]]] = {
        "to_arrow": [
            PerUnitTarget(min_n=10**6, max_n=10**6, max_seconds=2e-9, unit="entity")
        ],
    }
    variant_max_n: ClassVar[dict[str, int]] = {
        "frame": RECORDER_MAX_N,
        "frame_recorded": RECORDER_MAX_N,
        "record_only": RECORDER_MAX_N,
    }
    notes = (
        "three groups (to_arrow, aggregate, recorder): compare within a group; "
        "recorder overhead = frame_recorded - frame; recorder only at N = 1e5"
    )

    def setup(self, n: int) -> None:
        rng = np.random.default_rng(8)
        self.x = rng.random(n, dtype=np.float32)
        self.y = rng.random(n, dtype=np.float32)
        self.dx = rng.random(n, dtype=np.float32) - np.float32(0.5)
        self.dy = rng.random(n, dtype=np.float32) - np.float32(0.5)
        self.team = rng.integers(0, TEAMS, n).astype(np.int32)
        move(self.x[:8], self.y[:8], self.dx[:8], self.dy[:8], DT)  # compile

    # -- the world -------------------------------------------------------------
    def _world(self, n: int) -> Any:
        if hasattr(self, "world"):
            return self.world
        e = ecs()
        team_cls = _team_component()
        self.e, self.Team = e, team_cls
        world = e.World()
        tag_a, tag_b = e.tags[0], e.tags[1]
        for k, tags in enumerate(([], [tag_a], [tag_b], [tag_a, tag_b])):
            sl = slice(k * n // 4, (k + 1) * n // 4)
            world.spawn_batch(
                {
                    e.Position: {"x": self.x[sl], "y": self.y[sl]},
                    e.Velocity: {"dx": self.dx[sl], "dy": self.dy[sl]},
                    team_cls: {"team": self.team[sl]},
                    **dict.fromkeys(tags),
                }
            )
        if len(world.archetypes_info()) != 4 or len(world) != n:
            raise RuntimeError("analysis benchmark: expected 4 archetypes of N rows")
        self.world = world
        return world

    def _analysis(self) -> Any:
        """``archetype_ecs.analysis``, or skip the variant without the extra."""
        import importlib.util

        missing = [
            m for m in ("pandas", "duckdb") if importlib.util.find_spec(m) is None
        ]
        if missing:
            raise SkipVariant(f"needs the analysis extra ({', '.join(missing)})")
        from archetype_ecs import analysis

        return analysis

    # -- to_arrow ----------------------------------------------------------------
    def setup_to_arrow(self, n: int) -> None:
        world = self._world(n)
        e = self.e
        table = world.to_arrow(e.Position, e.Velocity)
        keys = ("entity", "Position.x", "Position.y", "Velocity.dx", "Velocity.dy")
        live = {
            t.column(key).__array_interface__["data"][0]
            for t in world.tables
            if t.len
            for key in keys
        }
        used: set[int] = set()
        for name in table.column_names:
            used |= _buffer_addresses(table.column(name))
        copied = used - live
        if table.num_rows != n or table.column("Position.x").num_chunks != 4:
            raise RuntimeError(
                f"to_arrow: {table.num_rows} rows in "
                f"{table.column('Position.x').num_chunks} chunks, expected {n} in 4"
            )
        if copied:
            raise RuntimeError(
                f"to_arrow copied columns: {len(copied)} buffers are not archetype "
                "columns"
            )

    def time_to_arrow(self, n: int) -> None:
        e = self.e
        self.out = self.world.to_arrow(e.Position, e.Velocity)

    def setup_arrow_floor(self, n: int) -> None:
        import pyarrow as pa

        self.pa = pa
        ids = np.arange(n, dtype=np.uint64)
        cols = [ids, self.x, self.y, self.dx, self.dy]
        self.parts = [
            [c[k * n // 4 : (k + 1) * n // 4] for c in cols] for k in range(4)
        ]
        self.schema = pa.schema(
            [
                ("entity", pa.uint64()),
                *[
                    (name, pa.float32())
                    for name in (
                        "Position.x",
                        "Position.y",
                        "Velocity.dx",
                        "Velocity.dy",
                    )
                ],
            ]
        )

    def time_arrow_floor(self, n: int) -> None:
        pa = self.pa
        batches = [
            pa.RecordBatch.from_arrays([pa.array(c) for c in part], schema=self.schema)
            for part in self.parts
        ]
        self.out = pa.Table.from_batches(batches, schema=self.schema)

    # -- aggregate ---------------------------------------------------------------
    def setup_agg_pandas(self, n: int) -> None:
        self._analysis()
        world = self._world(n)
        self.df = world.to_pandas(self.e.Position, self.Team)

    def time_agg_pandas(self, n: int) -> None:
        self.out = self.df.groupby("Team.team").agg(
            n=("Position.x", "size"),
            mean_x=("Position.x", "mean"),
            max_y=("Position.y", "max"),
        )

    def setup_agg_pandas_copy(self, n: int) -> None:
        self._analysis()
        self._world(n)

    def time_agg_pandas_copy(self, n: int) -> None:
        df = self.world.to_pandas(self.e.Position, self.Team)
        self.out = df.groupby("Team.team").agg(
            n=("Position.x", "size"),
            mean_x=("Position.x", "mean"),
            max_y=("Position.y", "max"),
        )

    def setup_agg_duckdb_sql(self, n: int) -> None:
        self._analysis()
        world = self._world(n)
        got = world.sql(AGG_SQL)
        if got.num_rows != TEAMS or sum(got["n"].to_pylist()) != n:
            raise RuntimeError(f"agg_duckdb_sql: unexpected result {got}")

    def time_agg_duckdb_sql(self, n: int) -> None:
        self.out = self.world.sql(AGG_SQL)

    def setup_agg_duckdb_conn(self, n: int) -> None:
        analysis = self._analysis()
        self.con = analysis.connect(self._world(n))

    def time_agg_duckdb_conn(self, n: int) -> None:
        self.out = self.con.sql(AGG_SQL).fetchall()

    def setup_agg_duckdb_arrow(self, n: int) -> None:
        analysis = self._analysis()
        world = self._world(n)
        self.arrow_con = analysis.connect(world)
        self.agents = world.to_arrow(self.e.Position, self.Team)
        self.arrow_con.register("agents", self.agents)

    def time_agg_duckdb_arrow(self, n: int) -> None:
        self.out = self.arrow_con.sql(ARROW_SQL).fetchall()

    # -- recorder ----------------------------------------------------------------
    def _frame_world(self, n: int) -> Any:
        world = self._world(n)
        if not getattr(self, "_moving", False):
            e = self.e
            world.add_system(
                e.ae.system(
                    query=[e.Position, e.Velocity], writes=[e.Position], args=(DT,)
                )(move)
            )
            self._moving = True
        return world

    def setup_frame(self, n: int) -> None:
        self._frame_world(n)

    def time_frame(self, n: int) -> None:
        self.world.step()

    def setup_frame_recorded(self, n: int) -> None:
        from archetype_ecs.recorder import Recorder

        world = self._frame_world(n)
        e = self.e
        self.rec = Recorder(
            world, [e.Position, e.Velocity], every=1, max_frames=8, attach=False
        )

    def time_frame_recorded(self, n: int) -> None:
        self.world.step()
        self.rec.on_frame_end(self.world)

    def setup_record_only(self, n: int) -> None:
        from archetype_ecs.recorder import Recorder

        world = self._frame_world(n)
        e = self.e
        self.rec_only = Recorder(
            world, [e.Position, e.Velocity], every=1, max_frames=8, attach=False
        )

    def time_record_only(self, n: int) -> None:
        self.rec_only.record()

    def teardown(self, n: int) -> None:
        for name in ("con", "arrow_con"):
            con = getattr(self, name, None)
            if con is not None:
                con.close()
        world = getattr(self, "world", None)
        if world is not None:
            world.close()
