"""Recorder: copies chosen components (or a query's rows) every k frames into a series.

A :class:`Recorder` keeps an in-memory Arrow time series (``frame``, ``entity``, then
``<Component>.<field>`` columns) and / or writes a Parquet dataset partitioned by frame
bucket (``<path>/frame_bucket=<frame // bucket_frames>/part-*.parquet``). With
``max_frames`` the in-memory series is a ring buffer of the last N recorded frames.
Each snapshot costs one copy per column (per archetype): no Python loop over entities.

Lifetime: the world calls :meth:`Recorder.on_frame_end` after each frame (or a
``post_update`` system does); :meth:`Recorder.close` writes what is pending.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from archetype_ecs.analysis import Where, _apply_where
from archetype_ecs.query import QueryState
from archetype_ecs.resources import Time

if TYPE_CHECKING:
    import pyarrow.dataset as ds

    from archetype_ecs.world import World

__all__ = ["FRAME_COLUMN", "PARTITION_COLUMN", "Recorder"]

FRAME_COLUMN = "frame"
PARTITION_COLUMN = "frame_bucket"


def _copy(column: pa.ChunkedArray) -> pa.Array:
    """One contiguous copy of a column (never a view of the live buffers)."""
    if column.num_chunks == 0:
        return pa.array([], type=column.type)
    return pa.concat_arrays(column.chunks)


def _positive(name: str, value: object) -> int:
    if type(value) is not int or value < 1:
        raise ValueError(f"Recorder({name}={value!r}): must be a positive int")
    return value


class Recorder:
    """Record component values every ``every`` frames, in memory and / or on disk.

    Parameters
    ----------
    world
        The world to record.
    components
        Component classes (entities carrying all of them are recorded), or a
        :class:`~archetype_ecs.query.QueryState` from ``world.query(...)`` whose rows
        (with its ``without`` / ``optional`` components) are recorded.
    every
        Record frames whose number is a multiple of ``every`` (``Time.frame``).
    path
        Folder of a Parquet dataset to write, partitioned by frame bucket; it must
        not hold Parquet files yet. Default: no files.
    max_frames
        Keep only the last ``max_frames`` recorded frames in memory (a ring
        buffer); default: keep all.
    memory
        Keep the series in memory (default: True without ``path``, False with).
    where
        Row filter applied before copying, as for
        :func:`archetype_ecs.analysis.to_arrow`.
    bucket_frames
        Frames per partition folder (``frame // bucket_frames``).
    flush_rows
        Write a part file once this many rows are pending (default one million),
        so memory stays bounded while a long bucket fills.
    attach
        Register with ``world.recorders`` when the world has that list, so the
        world calls :meth:`on_frame_end` itself.

    Raises
    ------
    ValueError
        When no component is given, a parameter is out of range, or neither
        ``memory`` nor ``path`` would keep the data.
    FileExistsError
        When ``path`` already holds Parquet files.

    Notes
    -----
    A recorded frame is a copy: later changes to the world do not alter it. Memory
    use is bounded by ``max_frames`` frames plus at most ``flush_rows`` pending rows.

    Examples
    --------
    >>> from archetype_ecs import World, component, f32
    >>> @component
    ... class Pos:
    ...     x: f32 = 0.0
    >>> w = World(threads=1)
    >>> _ = w.spawn_batch({Pos: {"x": [1.0, 2.0]}})
    >>> rec = Recorder(w, [Pos], every=2, max_frames=2, attach=False)
    >>> for _ in range(6):
    ...     w.step()
    ...     rec.on_frame_end(w)
    >>> rec.frames()
    [4, 6]
    >>> rec.to_arrow().column_names
    ['frame', 'entity', 'Pos.x']
    """

    def __init__(
        self,
        world: World,
        components: Iterable[type] | QueryState = (),
        *,
        every: int = 1,
        path: str | Path | None = None,
        max_frames: int | None = None,
        memory: bool | None = None,
        where: Where = None,
        bucket_frames: int = 100,
        flush_rows: int = 1_000_000,
        attach: bool = True,
    ) -> None:
        self.world = world
        self.query = self._query_of(world, components)
        self.every = _positive("every", every)
        self.max_frames = (
            None if max_frames is None else _positive("max_frames", max_frames)
        )
        self.bucket_frames = _positive("bucket_frames", bucket_frames)
        self.flush_rows = _positive("flush_rows", flush_rows)
        self.path = None if path is None else Path(path)
        self.memory = self.path is None if memory is None else memory
        if not self.memory and self.path is None:
            raise ValueError(
                "Recorder(memory=False) without path= would keep nothing; pass "
                "path='run.parquet' or keep memory=True"
            )
        self._check_path()
        self.where = where
        self.schema = pa.schema(
            [
                pa.field(FRAME_COLUMN, pa.int64(), nullable=False),
                *self.query._arrow_schema(),
            ]
        )
        # Invariant: _frames holds (frame, snapshot) of the last max_frames records.
        self._frames: deque[tuple[int, pa.Table]] = deque(maxlen=self.max_frames)
        self._all_frames: list[int] = []
        self._pending: list[tuple[int, pa.Table]] = []
        self._pending_rows = 0
        self._files: list[Path] = []
        self._seq = itertools.count()
        self._last: int | None = None
        self.closed = False
        recorders = getattr(world, "recorders", None)
        self._attached = attach and isinstance(recorders, list)
        if self._attached:
            recorders.append(self)  # type: ignore[union-attr] # checked just above

    @staticmethod
    def _query_of(world: World, components: Iterable[type] | QueryState) -> QueryState:
        if isinstance(components, QueryState):
            if components._world is not world:
                raise ValueError("Recorder: the query belongs to another world")
            if components.is_filtered:
                raise ValueError(
                    "Recorder: a query with added= / changed= filters has no rows "
                    "outside a system; record the components and filter with where="
                )
            return components
        classes = list(components)
        if not classes:
            raise ValueError(
                "Recorder: name the components to record, e.g. "
                "Recorder(world, [Position, Velocity]), or pass world.query(...)"
            )
        return world.query(*classes)

    def _check_path(self) -> None:
        if self.path is None:
            return
        if self.path.exists() and any(self.path.rglob("*.parquet")):
            raise FileExistsError(
                f"Recorder: {self.path} already holds Parquet files; record into a "
                "new folder (or delete the old run first)"
            )

    # ---------------------------------------------------------------- recording

    def on_frame_end(self, world: World) -> None:
        """Record the current frame if its number is a multiple of ``every``.

        Called by the world after each frame (or from a ``post_update`` system).
        Does nothing once the recorder is closed, or if this frame is recorded.

        Raises
        ------
        ValueError
            When ``world`` is not the world this recorder records.
        """
        if world is not self.world:
            raise ValueError("Recorder.on_frame_end: called with another world")
        if self.closed:
            return
        frame = world.resource(Time).frame
        if frame % self.every == 0 and frame != self._last:
            self.record()

    def record(self) -> pa.Table:
        """Take one snapshot now (whatever the frame number) and store it.

        Returns
        -------
        pyarrow.Table
            The copied rows: ``frame``, ``entity``, then the fields.

        Raises
        ------
        RuntimeError
            When the recorder is closed.
        """
        if self.closed:
            raise RuntimeError("Recorder.record: the recorder is closed")
        frame = self.world.resource(Time).frame
        live = _apply_where(self.query.to_arrow(), self.where, "Recorder")
        n = live.num_rows
        cols = [pa.array(np.full(n, frame, dtype=np.int64))]
        cols.extend(_copy(c) for c in live.columns)
        snap = pa.Table.from_arrays(cols, schema=self.schema)
        self._last = frame
        self._all_frames.append(frame)
        if self.memory:
            self._frames.append((frame, snap))
        if self.path is not None:
            self._stage(frame, snap)
        return snap

    def _stage(self, frame: int, snap: pa.Table) -> None:
        bucket = frame // self.bucket_frames
        if self._pending and self._pending[0][0] // self.bucket_frames != bucket:
            self.flush()
        self._pending.append((frame, snap))
        self._pending_rows += snap.num_rows
        if self._pending_rows >= self.flush_rows:
            self.flush()

    def flush(self) -> None:
        """Write the pending frames as one Parquet part file (atomic rename)."""
        if self.path is None or not self._pending:
            return
        first = self._pending[0][0]
        table = pa.concat_tables([snap for _, snap in self._pending])
        folder = self.path / f"{PARTITION_COLUMN}={first // self.bucket_frames}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{next(self._seq):06d}-frame-{first}.parquet"
        tmp = folder / f".{name}.tmp"  # dot files are invisible to dataset readers
        try:
            pq.write_table(table, tmp)
            tmp.replace(folder / name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        self._files.append(folder / name)
        self._pending = []
        self._pending_rows = 0

    def close(self) -> None:
        """Write what is pending and stop recording (also detaches from the world)."""
        if self.closed:
            return
        self.flush()
        self.closed = True
        if self._attached:
            recorders = getattr(self.world, "recorders", [])
            if self in recorders:
                recorders.remove(self)

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ reading

    def frames(self) -> list[int]:
        """Frame numbers :meth:`to_arrow` returns, oldest first."""
        if self.memory:
            return [frame for frame, _ in self._frames]
        return list(self._all_frames)

    def to_arrow(self) -> pa.Table:
        """The recorded series: ``frame``, ``entity``, then the fields.

        From memory when ``memory`` is on (the last ``max_frames`` frames), else
        read back from the Parquet files (pending frames are written first).
        """
        if self.memory:
            snaps = [snap for _, snap in self._frames]
            return pa.concat_tables([self.schema.empty_table(), *snaps])
        self.flush()
        parts = [pq.ParquetFile(f).read() for f in self._files]
        return pa.concat_tables([self.schema.empty_table(), *parts])

    def dataset(self) -> ds.Dataset:
        """The Parquet dataset written so far (``frame_bucket`` as a partition column).

        Raises
        ------
        ValueError
            When the recorder writes no files (``path`` is None).
        """
        import pyarrow.dataset as ds

        if self.path is None:
            raise ValueError("Recorder.dataset: this recorder has no path=")
        self.flush()
        if not Path(self.path).is_dir():  # nothing written yet: an empty dataset
            return ds.dataset([], schema=self.schema, format="parquet")
        return ds.dataset(self.path, format="parquet", partitioning="hive")

    @property
    def nbytes(self) -> int:
        """Bytes held in memory: the kept frames plus the rows pending for disk."""
        held = [*self._frames, *self._pending]
        return sum(snap.nbytes for _, snap in held)

    def __len__(self) -> int:
        """Rows held in memory (all kept frames)."""
        return sum(snap.num_rows for _, snap in self._frames)

    def __repr__(self) -> str:
        where = f" path={str(self.path)!r}" if self.path is not None else ""
        ring = f" max_frames={self.max_frames}" if self.max_frames else ""
        state = " closed" if self.closed else ""
        return (
            f"<Recorder every={self.every}{ring}{where} frames={len(self._all_frames)}"
            f" rows_in_memory={len(self)}{state}>"
        )

    def _repr_html_(self) -> str:
        from archetype_ecs._html import recorder_html

        return recorder_html(self)
