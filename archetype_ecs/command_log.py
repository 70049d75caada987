"""Command log: every command run a world applies, recorded as Arrow columns.

``CommandLog.attach(world)`` records each applied run (frame, sequence number,
source, op, entity ids, field columns per component) with no Python object per entity;
``save`` / ``load`` store it as Arrow IPC files plus a JSON manifest; :func:`replay`
re-applies it onto the run's start state to reproduce the run (``until_frame=``).

Replay reproduces exactly what went through commands. In-place writes (kernel systems,
query views) are not commands: record those components with ``snapshot=`` (their
columns at the end of every frame), or keep such changes out of replayed runs.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from archetype_ecs.commands import Op
from archetype_ecs.component import ComponentId, ComponentSchema, schema_of
from archetype_ecs.entity import Entity
from archetype_ecs.errors import (
    EcsError,
    InternalError,
    ReplayDivergenceError,
    SchemaError,
    SerializationError,
)
from archetype_ecs.resources import Time
from archetype_ecs.schema import ENTITY_METADATA, FIELD_TYPES, FieldType
from archetype_ecs.system import system
from archetype_ecs.table import ENTITY_COLUMN

if TYPE_CHECKING:
    from archetype_ecs.world import World

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "SNAPSHOT_PHASE",
    "SNAPSHOT_SOURCE",
    "CommandLog",
    "ReplayDivergenceError",
    "ReplayReport",
    "replay",
]

Array = np.ndarray[Any, Any]

FORMAT = "arrow-ecs/command-log"
FORMAT_VERSION = 1
SNAPSHOT_PHASE = "command_log"
SNAPSHOT_SOURCE = "snapshot"

MANIFEST = "manifest.json"
RECORDS_FILE = "records.arrow"
ENTITIES_FILE = "entities.arrow"

_OP_NAMES = tuple(op.name.lower() for op in Op)
_MAX_LISTED = 3


@dataclass(frozen=True)
class ReplayReport:
    """What :func:`replay` did.

    Attributes
    ----------
    records
        Number of logged runs applied.
    entities
        Entity commands applied (the sum of the runs' lengths).
    from_frame, to_frame
        The world's ``Time.frame`` before and after.
    next_seq
        Sequence number of the first record not applied (``None`` at the log's end).
    """

    records: int
    entities: int
    from_frame: int
    to_frame: int
    next_seq: int | None


@dataclass(frozen=True)
class _Component:
    """A component as the log knows it: name, version, field types, maybe the class."""

    name: str
    version: int
    fields: tuple[tuple[str, FieldType], ...]
    cls: type | None = None

    @classmethod
    def of(cls, schema: ComponentSchema) -> _Component:
        fields = tuple((f.name, f.type) for f in schema.fields)
        return cls(schema.name, schema.version, fields, schema.cls)

    def matches(self, schema: ComponentSchema) -> bool:
        return self.fields == tuple((f.name, f.type) for f in schema.fields)

    def describe(self) -> str:
        return ", ".join(f"{n}: {t!r}" for n, t in self.fields) or "tag"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "fields": [
                {"name": n, "type": t.name, "shape": list(t.shape)}
                for n, t in self.fields
            ],
        }

    @classmethod
    def from_json(cls, data: Any, where: Path) -> _Component:
        try:
            fields = []
            for f in data["fields"]:
                ftype = FIELD_TYPES[str(f["type"])]
                shape = tuple(int(s) for s in f["shape"])
                fields.append((str(f["name"]), ftype[shape[0]] if shape else ftype))
            return cls(str(data["name"]), int(data["version"]), tuple(fields))
        except (KeyError, TypeError, ValueError, IndexError, SchemaError) as exc:
            raise SerializationError(
                f"{where}: malformed component entry {data!r} ({exc!r}); the "
                "manifest is corrupt: save the log again"
            ) from None


@dataclass(frozen=True, slots=True)
class _Record:
    """One applied command run. ``values`` holds only components with written fields."""

    seq: int
    frame: int
    source: str
    op: Op
    ids: Array
    components: tuple[str, ...]
    values: dict[str, dict[str, Array]]

    def field_keys(self) -> list[str]:
        return [f"{c}.{f}" for c, cols in self.values.items() for f in cols]

    def label(self) -> str:
        return (
            f"record seq {self.seq} (frame {self.frame}, {self.op.name.lower()} of "
            f"{len(self.ids)} entities by {self.source!r})"
        )


class CommandLog:
    """Records every command run a world applies; saves, loads and replays it.

    Implements the world's ``CommandSink``: attach it with
    ``CommandLog.attach(world)`` (or ``world.command_log = CommandLog(world)``).
    Each applied run becomes one record: a sequence number, the frame
    (``Time.frame``), the source (the buffer's name: the system, ``"observers"``
    ...), the op, the real entity ids that took effect and, per component, the field
    columns aligned with those ids. Arrays are copied once; there is no Python
    object per entity.

    Parameters
    ----------
    world
        The world whose ``Time.frame`` stamps the records.
    max_frames
        Keep only the records of the last ``max_frames`` frames (bounded memory).
        A log that dropped frames can be inspected, and replayed onto a state saved
        at or after the last dropped frame, but not from its start.
    snapshot
        Components whose columns are recorded at the end of every frame (as a
        ``set`` of every entity carrying them, source ``"snapshot"``): needed for
        components that systems write in place, which are not commands. Adds a
        last phase ``"command_log"`` to the schedule with one exclusive system.

    Raises
    ------
    SchemaError
        When a ``snapshot`` component is a tag (tags have no values).

    See Also
    --------
    replay : re-apply a log onto the start state.

    Notes
    -----
    Cost per applied run: one copy of its ids and values, O(rows). With
    ``snapshot=``, O(entities carrying those components) per frame.

    Examples
    --------
    >>> import numpy as np
    >>> from archetype_ecs import CommandBuffer, World, component, f32
    >>> @component
    ... class Hp:
    ...     value: f32 = 10.0
    >>> world = World()
    >>> log = CommandLog.attach(world)
    >>> cmd = CommandBuffer("spawner")
    >>> _ = cmd.spawn_batch({Hp: {"value": np.array([1.0, 2.0])}})
    >>> _ = world.apply(cmd)
    >>> log.to_arrow().select(["seq", "op", "entity", "component"]).to_pylist()[0]
    {'seq': 0, 'op': 'spawn', 'entity': 4294967296, 'component': 'Hp'}
    >>> log.values(Hp).column("value").to_pylist()
    [1.0, 2.0]
    """

    def __init__(
        self,
        world: World,
        *,
        max_frames: int | None = None,
        snapshot: Sequence[type] = (),
    ) -> None:
        if max_frames is not None and max_frames < 1:
            raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
        self._world: World | None = world
        self._attached = True
        self.max_frames = max_frames
        self.start_frame = world.resource(Time).frame
        self._end_frame = self.start_frame
        self._records: collections.deque[_Record] = collections.deque()
        self._catalog: dict[str, _Component] = {}
        self._next_seq = 0
        self._dropped_through: int | None = None
        classes = tuple(schema_of(c, "CommandLog(snapshot=)") for c in snapshot)
        tags = [s.name for s in classes if s.is_tag]
        if tags:
            raise SchemaError(
                f"CommandLog(snapshot=): {tags} are tags (no fields, nothing to "
                "snapshot); inserting and removing tags goes through commands already"
            )
        self.snapshot_components = tuple(s.name for s in classes)
        if classes:
            self._install_snapshot(world, tuple(s.cls for s in classes))

    @classmethod
    def attach(
        cls,
        world: World,
        *,
        max_frames: int | None = None,
        snapshot: Sequence[type] = (),
    ) -> CommandLog:
        """Create a log and make it the world's ``command_log``.

        Parameters
        ----------
        world, max_frames, snapshot
            As for :class:`CommandLog`.

        Returns
        -------
        CommandLog
            The attached log; records start now (``log.start_frame``).

        Raises
        ------
        ValueError
            When the world already has a command log (detach it first).
        """
        if world.command_log is not None:
            raise ValueError(
                f"this world already records into {world.command_log!r}; call its "
                "detach() (or set world.command_log = None) first"
            )
        log = cls(world, max_frames=max_frames, snapshot=snapshot)
        world.command_log = log
        return log

    def detach(self) -> None:
        """Stop recording: the world's ``command_log`` is reset, ``end_frame`` frozen."""
        world = self._world
        if world is not None and self._attached:
            self._end_frame = world.resource(Time).frame
            if world.command_log is self:
                world.command_log = None
        self._attached = False

    # ------------------------------------------------------------------ recording

    def record(
        self,
        source: str,
        op: Op,
        ids: Array,
        values: Mapping[type, Mapping[str, Array]],
    ) -> None:
        """Record one applied command run (called by the world; see ``CommandSink``).

        Parameters
        ----------
        source
            The command buffer's name.
        op
            The command kind.
        ids
            The real entity ids that took effect.
        values
            Component class -> field -> column aligned with ``ids`` (empty field
            dicts name components without values: removals and tags).

        Raises
        ------
        EcsError
            When the log was loaded from disk (a loaded log is read-only).
        """
        if not len(ids):
            return
        world = self._live_world("record")
        # Spawn values are fresh copies (World.get_batch); everything else may be a
        # caller's array that changes later, so it is copied here.
        copy = op is not Op.SPAWN
        self._append(world, source, Op(op), ids, values, copy=copy)

    def _append(
        self,
        world: World,
        source: str,
        op: Op,
        ids: Array,
        values: Mapping[type, Mapping[str, Array]],
        *,
        copy: bool,
    ) -> None:
        frame = world.resource(Time).frame
        names: list[str] = []
        cols: dict[str, dict[str, Array]] = {}
        for cls, fields in values.items():
            name = self._register(world, cls)
            names.append(name)
            if fields:
                cols[name] = {
                    f: (np.array(a) if copy else np.asarray(a))
                    for f, a in fields.items()
                }
        rec = _Record(
            self._next_seq,
            frame,
            source,
            op,
            np.array(ids, dtype=np.uint64),
            tuple(names),
            cols,
        )
        self._next_seq += 1
        self._records.append(rec)
        self._trim(frame)

    def _register(self, world: World, cls: type) -> str:
        s = schema_of(cls)
        if s.name not in self._catalog:
            # Keep the recording world's registration order, so a replay can
            # register components in the same order (same ids, same column order).
            for known in world.components:
                self._catalog.setdefault(known.name, _Component.of(known))
            self._catalog.setdefault(s.name, _Component.of(s))
        return s.name

    def _trim(self, frame: int) -> None:
        if self.max_frames is None:
            return
        limit = frame - self.max_frames
        records = self._records
        while records and records[0].frame <= limit:
            dropped = records.popleft()
            self._dropped_through = max(self._dropped_through or 0, dropped.frame)

    def _live_world(self, what: str) -> World:
        if self._world is None:
            raise EcsError(
                f"CommandLog.{what}: this log was loaded from disk and is read-only; "
                "attach a new log to record (CommandLog.attach(world))"
            )
        return self._world

    def snapshot(self, *components: type) -> None:
        """Record the current columns of ``components`` as ``set`` records.

        One record per component (source ``"snapshot"``), over every entity that
        carries it, in table order. Replaying it writes those values back, which
        reproduces in-place writes (kernels, query views) made before this call.

        Parameters
        ----------
        *components
            Components with fields.

        Notes
        -----
        O(entities carrying them) copy. With ``CommandLog(snapshot=...)`` this runs
        at the end of every frame.

        Examples
        --------
        >>> from archetype_ecs import World, component, f32
        >>> @component
        ... class Heat:
        ...     t: f32 = 20.0
        >>> world = World()
        >>> log = CommandLog.attach(world)
        >>> _ = world.spawn_batch({Heat: None}, n=2)  # direct: not logged
        >>> for _, heat in world.query(Heat):
        ...     heat.t += 1.0  # in place: not logged
        >>> log.snapshot(Heat)
        >>> log.values(Heat).column("t").to_pylist()
        [21.0, 21.0]
        """
        world = self._live_world("snapshot")
        for c in components:
            s = schema_of(c, "CommandLog.snapshot")
            cid = world.components.id_of(s.cls)
            tables = [t for t in world.tables if cid in t.component_set and t.len]
            if s.is_tag or not tables:
                continue
            ids = np.concatenate([t._cols[ENTITY_COLUMN][: t.len] for t in tables])
            cols = {
                f.name: np.concatenate(
                    [t._cols[f"{s.name}.{f.name}"][: t.len] for t in tables]
                )
                for f in s.fields
            }
            self._append(world, SNAPSHOT_SOURCE, Op.SET, ids, {s.cls: cols}, copy=False)

    def _install_snapshot(self, world: World, classes: tuple[type, ...]) -> None:
        schedule = world.schedule
        if SNAPSHOT_PHASE not in schedule.phases:
            schedule.add_phase(SNAPSHOT_PHASE)
        taken = sum(1 for s in schedule.systems if s.phase == SNAPSHOT_PHASE)
        name = "command_log.snapshot" + (f".{taken}" if taken else "")
        log = self

        def take_snapshot(w: World) -> None:
            if w.command_log is not log:
                return
            if w.schedule.phases[-1] != SNAPSHOT_PHASE:
                raise EcsError(
                    f"CommandLog snapshots must run last in the frame, but phase "
                    f"{w.schedule.phases[-1]!r} now runs after {SNAPSHOT_PHASE!r}; "
                    f"add phases with before={SNAPSHOT_PHASE!r}, or before attaching "
                    "the log"
                )
            log.snapshot(*classes)

        world.add_system(
            system(take_snapshot, name=name, phase=SNAPSHOT_PHASE, exclusive=True)
        )

    # ------------------------------------------------------------------ inspection

    @property
    def world(self) -> World | None:
        """The world this log records (``None`` for a loaded log)."""
        return self._world

    @property
    def end_frame(self) -> int:
        """The last frame covered: the world's current frame while attached."""
        if self._world is not None and self._attached:
            return self._world.resource(Time).frame
        return self._end_frame

    @property
    def first_frame(self) -> int | None:
        """Frame of the oldest record kept (``None`` when empty)."""
        return self._records[0].frame if self._records else None

    @property
    def dropped_through(self) -> int | None:
        """Last frame whose records ``max_frames`` dropped (``None``: nothing dropped)."""
        return self._dropped_through

    @property
    def components(self) -> tuple[str, ...]:
        """Names of the components the log knows, in the recording world's order."""
        return tuple(self._catalog)

    @property
    def nbytes(self) -> int:
        """Bytes held by the recorded ids and values."""
        return sum(
            r.ids.nbytes + sum(a.nbytes for c in r.values.values() for a in c.values())
            for r in self._records
        )

    def __len__(self) -> int:
        """Number of records (applied command runs) kept."""
        return len(self._records)

    def __repr__(self) -> str:
        frames = (
            f"frames {self.first_frame}..{self.end_frame}" if self._records else "empty"
        )
        return f"<CommandLog {len(self)} records, {frames}, {len(self._catalog)} components>"

    def records(self) -> pa.Table:
        """One row per record: ``seq, frame, source, op, length, components, fields``.

        ``components`` lists the component names of the run (for a spawn: the
        archetype; for a remove: the removed ones); ``fields`` the written columns
        as ``"<Component>.<field>"`` (a partial ``set`` names only some fields).
        """
        recs = list(self._records)
        sources = _Dictionary()
        return pa.table(
            {
                "seq": pa.array([r.seq for r in recs], pa.uint64()),
                "frame": pa.array([r.frame for r in recs], pa.int64()),
                "source": sources.array([r.source for r in recs]),
                "op": _op_array(np.array([int(r.op) for r in recs], np.int32)),
                "length": pa.array([len(r.ids) for r in recs], pa.int64()),
                "components": pa.array(
                    [list(r.components) for r in recs], pa.list_(pa.string())
                ),
                "fields": pa.array(
                    [r.field_keys() for r in recs], pa.list_(pa.string())
                ),
            }
        )

    def entities(self) -> pa.Table:
        """One row per record row: ``seq, row, entity`` (row = position in the run)."""
        recs = list(self._records)
        lengths = np.array([len(r.ids) for r in recs], dtype=np.int64)
        seqs = np.array([r.seq for r in recs], dtype=np.uint64)
        ids = _cat([r.ids for r in recs], np.uint64)
        return pa.Table.from_arrays(
            [
                pa.array(np.repeat(seqs, lengths), pa.uint64()),
                pa.array(_aranges(lengths), pa.int64()),
                pa.array(ids, pa.uint64()),
            ],
            schema=pa.schema(
                [
                    ("seq", pa.uint64()),
                    ("row", pa.int64()),
                    pa.field(ENTITY_COLUMN, pa.uint64(), metadata=ENTITY_METADATA),
                ]
            ),
        )

    def to_arrow(self) -> pa.Table:
        """The whole log as one long table, one row per (record, row, component).

        Columns ``seq, frame, source, op, row, entity, component``; ``component`` is
        null for despawns. Field values are in :meth:`values`, joinable on
        ``(seq, row)``.

        Notes
        -----
        O(total rows) copy; ``source``, ``op`` and ``component`` are dictionary
        encoded.
        """
        recs = list(self._records)
        names = {n: i for i, n in enumerate(self._catalog)}
        sources = _Dictionary()
        src_codes = np.array([sources.code(r.source) for r in recs], dtype=np.int32)
        per_entity = np.array([max(1, len(r.components)) for r in recs], np.int64)
        lengths = np.array([len(r.ids) for r in recs], dtype=np.int64)
        reps = lengths * per_entity
        comp_parts = [
            np.tile(
                np.array([names[c] for c in r.components] or [-1], dtype=np.int32),
                len(r.ids),
            )
            for r in recs
        ]
        comp = _cat(comp_parts, np.int32)
        frames = np.array([r.frame for r in recs], dtype=np.int64)
        ops = np.array([int(r.op) for r in recs], dtype=np.int32)
        rows = _aranges(lengths)
        ids = _cat([r.ids for r in recs], np.uint64)
        expand = np.repeat(per_entity, lengths)
        return pa.Table.from_arrays(
            [
                pa.array(
                    np.repeat(np.array([r.seq for r in recs], np.uint64), reps),
                    pa.uint64(),
                ),
                pa.array(np.repeat(frames, reps), pa.int64()),
                sources.encode(np.repeat(src_codes, reps)),
                _op_array(np.repeat(ops, reps)),
                pa.array(np.repeat(rows, expand), pa.int64()),
                pa.array(np.repeat(ids, expand), pa.uint64()),
                pa.DictionaryArray.from_arrays(
                    pa.array(comp, pa.int32(), mask=comp < 0),
                    pa.array(list(names), pa.string()),
                ),
            ],
            schema=pa.schema(
                [
                    ("seq", pa.uint64()),
                    ("frame", pa.int64()),
                    ("source", pa.dictionary(pa.int32(), pa.string())),
                    ("op", pa.dictionary(pa.int32(), pa.string())),
                    ("row", pa.int64()),
                    pa.field(ENTITY_COLUMN, pa.uint64(), metadata=ENTITY_METADATA),
                    ("component", pa.dictionary(pa.int32(), pa.string())),
                ]
            ),
        )

    def values(self, component: type | str) -> pa.Table:
        """The logged field values of one component: ``seq, row, entity, <fields>``.

        One row per entity of each record that wrote the component's fields (spawn,
        insert, set), joinable with :meth:`to_arrow` on ``(seq, row)``. A field a
        partial ``set`` did not write is null.

        Parameters
        ----------
        component
            The component class or its name.

        Raises
        ------
        KeyError
            When the log never met the component.
        """
        name = component if isinstance(component, str) else schema_of(component).name
        entry = self._catalog.get(name)
        if entry is None:
            raise KeyError(
                f"the command log has no component {name!r}; it knows "
                f"{list(self._catalog)}"
            )
        recs = [r for r in self._records if name in r.values]
        lengths = np.array([len(r.ids) for r in recs], dtype=np.int64)
        arrays: list[pa.Array] = [
            pa.array(
                np.repeat(np.array([r.seq for r in recs], np.uint64), lengths),
                pa.uint64(),
            ),
            pa.array(_aranges(lengths), pa.int64()),
            pa.array(_cat([r.ids for r in recs], np.uint64), pa.uint64()),
        ]
        fields = [
            pa.field("seq", pa.uint64()),
            pa.field("row", pa.int64()),
            pa.field(ENTITY_COLUMN, pa.uint64(), metadata=ENTITY_METADATA),
        ]
        for fname, ftype in entry.fields:
            arrays.append(_field_column(recs, name, fname, ftype))
            meta = ENTITY_METADATA if ftype.is_entity else None
            fields.append(pa.field(fname, ftype.arrow_type, metadata=meta))
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))

    def _between(self, start: int, stop: int) -> list[_Record]:
        """The records a replay from frame ``start`` to ``stop`` applies."""
        if start < self.start_frame:
            raise SerializationError(
                f"the world is at frame {start} but the command log starts at frame "
                f"{self.start_frame}; replay onto the state the world had when the log "
                "was attached (or a state saved later in the run)"
            )
        dropped = self._dropped_through
        if dropped is not None and start < dropped:
            raise SerializationError(
                f"the command log dropped the records of frames up to {dropped} "
                f"(max_frames={self.max_frames}), and the world is at frame {start}; "
                f"replay onto a state saved at frame {dropped} or later"
            )
        # Records made at the attach frame (commands applied before the first step)
        # belong to the run only when replaying from the attach state.
        with_start = start == self.start_frame and dropped is None
        return [
            r
            for r in self._records
            if (r.frame > start or (with_start and r.frame == start))
            and r.frame <= stop
        ]

    # ------------------------------------------------------------------ save / load

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the log to the directory ``path`` (Arrow IPC files + manifest.json).

        Files: ``records.arrow`` (:meth:`records`), ``entities.arrow``
        (:meth:`entities`), one ``values-<i>.arrow`` per component with values
        (:meth:`values`) and ``manifest.json`` (format version, frames, component
        schemas, file checksums).

        Returns
        -------
        pathlib.Path
            The directory written.

        Raises
        ------
        FileExistsError
            When ``path`` exists and is not a saved command log (it is never
            overwritten then).

        Notes
        -----
        Atomic: everything is written and fsynced in a temporary directory next to
        ``path``, then renamed into place. Replacing an existing log takes two
        renames; a crash between them leaves both versions beside ``path``, never a
        half-written log.
        """
        target = Path(path)
        if target.exists() and not (target / MANIFEST).is_file():
            raise FileExistsError(
                f"{target} exists and is not a saved command log (no {MANIFEST}); "
                "choose another path or remove it"
            )
        files: dict[str, bytes] = {
            RECORDS_FILE: _ipc_bytes(self.records()),
            ENTITIES_FILE: _ipc_bytes(self.entities()),
        }
        with_values = {n for r in self._records for n in r.values}
        values_files: dict[str, str] = {}
        for i, name in enumerate(n for n in self._catalog if n in with_values):
            values_files[name] = f"values-{i}.arrow"
            files[values_files[name]] = _ipc_bytes(self.values(name))
        manifest = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "dropped_through": self._dropped_through,
            "next_seq": self._next_seq,
            "max_frames": self.max_frames,
            "snapshot": list(self.snapshot_components),
            "components": [c.to_json() for c in self._catalog.values()],
            "values": values_files,
            "sha256": {k: hashlib.sha256(v).hexdigest() for k, v in files.items()},
        }
        files[MANIFEST] = json.dumps(manifest, indent=1).encode()
        _write_dir_atomic(target, files)
        return target

    @classmethod
    def load(
        cls, path: str | os.PathLike[str], *, components: Iterable[type] = ()
    ) -> CommandLog:
        """Read a log written by :meth:`save` (read-only: inspect and replay it).

        Parameters
        ----------
        path
            The directory.
        components
            Component classes to register in a world that lacks them at replay
            (matched by name; their fields must match the log's).

        Returns
        -------
        CommandLog
            A detached log.

        Raises
        ------
        SerializationError
            When a file is missing, corrupt (checksum, Arrow structure), of another
            format version, or inconsistent; the message names the file. Also when a
            class in ``components`` has other fields than the logged component.

        Examples
        --------
        >>> import tempfile
        >>> from pathlib import Path
        >>> from archetype_ecs import CommandBuffer, World, component
        >>> @component
        ... class Flag:
        ...     pass
        >>> world = World()
        >>> log = CommandLog.attach(world)
        >>> cmd = CommandBuffer("flags")
        >>> _ = cmd.spawn_batch({Flag: None}, n=2)
        >>> _ = world.apply(cmd)
        >>> path = log.save(Path(tempfile.mkdtemp()) / "run.log")
        >>> sorted(p.name for p in path.iterdir())
        ['entities.arrow', 'manifest.json', 'records.arrow']
        >>> CommandLog.load(path).records().column("op").to_pylist()
        ['spawn']
        """
        root = Path(path)
        manifest = _read_manifest(root)
        catalog = _read_catalog(manifest, root / MANIFEST, components)
        blobs = _read_files(root, manifest)
        log = cls.__new__(cls)
        log._world = None
        log._attached = False
        log.max_frames = _opt_int(manifest, "max_frames", root / MANIFEST)
        log.start_frame = _int(manifest, "start_frame", root / MANIFEST)
        log._end_frame = _int(manifest, "end_frame", root / MANIFEST)
        log._dropped_through = _opt_int(manifest, "dropped_through", root / MANIFEST)
        log._next_seq = _int(manifest, "next_seq", root / MANIFEST)
        snapshot = manifest.get("snapshot", [])
        if not isinstance(snapshot, list):
            raise _corrupt(root / MANIFEST, "'snapshot' must be a list of names")
        log.snapshot_components = tuple(str(s) for s in snapshot)
        log._catalog = catalog
        log._records = collections.deque(
            _Decoder(root, manifest, catalog, blobs).records()
        )
        return log


# ---------------------------------------------------------------------- replay


def replay(
    world: World, log: CommandLog, until_frame: int | None = None
) -> ReplayReport:
    """Re-apply a logged run onto ``world``, frame by frame.

    ``world`` must hold the state the run had at its ``Time.frame``: the state the
    log was attached to (``log.start_frame``), or a state saved later in the run
    (then only the later frames are applied). Records apply in sequence order
    through the world's bulk internals; ``Time.frame`` (and ``elapsed``) follow the
    logged frames, and end at ``until_frame``. Replaying again from there continues.

    Parameters
    ----------
    world
        The target world, holding the run's state at its current frame (same
        entity index and free list), with the same despawn hooks installed.
    log
        A recorded or loaded :class:`CommandLog`.
    until_frame
        Stop after the records of this frame (default: ``log.end_frame``).

    Returns
    -------
    ReplayReport
        Records and entities applied, frames, the next sequence number.

    Raises
    ------
    ReplayDivergenceError
        When a replayed spawn gets other ids than logged, or a record names
        entities that are not alive (or lack the component it sets): the world is
        not the logged run's state. The message names the record's ``seq``; the
        world then holds the state up to the record before it.
    SerializationError
        Before any change, when the log's components are missing from the world or
        have other fields, or when the records needed were dropped (``max_frames``)
        or start after the world's frame.
    ValueError
        When ``until_frame`` is before the world's frame or after ``log.end_frame``.

    Notes
    -----
    Observers fire as they did in the run (caches they keep, such as a hierarchy
    index, stay right), but the commands they record are dropped: those were logged
    as records of their own (source ``"observers"``) and replay in order. Replay
    records nothing into ``world.command_log``. Change ticks, events and resources
    other than ``Time`` are not part of the log.

    Examples
    --------
    >>> from archetype_ecs import CommandBuffer, World, component, i32
    >>> @component
    ... class Coins:
    ...     n: i32 = 0
    >>> def start() -> World:
    ...     w = World()
    ...     w.spawn_batch({Coins: None}, n=3)
    ...     return w
    >>> world = start()
    >>> log = CommandLog.attach(world)
    >>> for frame in range(4):
    ...     world.step()
    ...     cmd = CommandBuffer("pay")
    ...     cmd.set_batch(world.query(Coins).to_arrow()["entity"], Coins, [frame] * 3)
    ...     _ = world.apply(cmd)
    >>> again = start()
    >>> replay(again, log, until_frame=2)
    ReplayReport(records=2, entities=6, from_frame=0, to_frame=2, next_seq=2)
    >>> again.get_batch(again.query(Coins).to_arrow()["entity"], Coins)["n"]
    array([1, 1, 1], dtype=int32)
    >>> replay(again, log).to_frame
    4
    """
    world._check_not_iterating("replay")
    clock = world.resource(Time)
    start = clock.frame
    stop = log.end_frame if until_frame is None else int(until_frame)
    if not start <= stop <= log.end_frame:
        raise ValueError(
            f"replay(until_frame={until_frame}): the world is at frame {start} and "
            f"the log ends at frame {log.end_frame}; pick a frame in between"
        )
    records = log._between(start, stop)
    cids = _resolve_components(world, log, records)
    entities = 0
    try:
        for rec in records:
            if rec.frame != clock.frame:
                _set_frame(clock, rec.frame)
            _apply_record(world, rec, cids)
            entities += len(rec.ids)
            _drop_observer_commands(world)
            world._checked()  # sanitize checks, when on
    finally:
        _drop_observer_commands(world)
    _set_frame(clock, stop)
    after = [r.seq for r in log._records if r.frame > stop]
    return ReplayReport(
        len(records), entities, start, stop, after[0] if after else None
    )


def _drop_observer_commands(world: World) -> None:
    """Forget what observers recorded: the log holds those runs as records."""
    world._observer_cmds = None
    world._observer_names = []


def _set_frame(clock: Time, frame: int) -> None:
    clock.frame = frame
    clock.elapsed = frame * clock.dt


def _resolve_components(
    world: World, log: CommandLog, records: list[_Record]
) -> dict[str, ComponentId]:
    """Component ids of the log's components in ``world`` (checked, then registered)."""
    used = {c for r in records for c in r.components}
    problems: list[str] = []
    register: list[type] = []
    for name, entry in log._catalog.items():
        cid = world.components.by_name(name)
        if cid is not None:
            schema = world.components.schemas[cid]
            if name in used and not entry.matches(schema):
                problems.append(
                    f"{name} was logged with fields ({entry.describe()}) but the "
                    f"world's {name} has ({_Component.of(schema).describe()})"
                )
        elif entry.cls is not None:
            register.append(entry.cls)
        elif name in used:
            problems.append(
                f"{name} is not registered in the world and the log has no class for "
                "it; pass it in CommandLog.load(path, components=[...]) or register "
                "it with world.component_id(cls)"
            )
    if problems:
        raise SerializationError(
            "cannot replay the command log: " + "; ".join(problems)
        )
    for cls in register:  # the recording world's order: same ids, same columns
        world.components.id_of(cls, "replay")
    out: dict[str, ComponentId] = {}
    for name in log._catalog:
        cid = world.components.by_name(name)
        if cid is not None:
            out[name] = cid
    return out


def _next_spawn_ids(world: World, n: int) -> Array:
    """The ids ``EntityIndex.spawn`` will hand out next (recycled LIFO, then fresh)."""
    return world.entities.peek_spawn(n)


def _divergence(rec: _Record, what: str) -> ReplayDivergenceError:
    return ReplayDivergenceError(
        f"replay diverged at {rec.label()}: {what}. The world is not the logged "
        "run's state: replay onto the exact state the run had at that frame (same "
        "entity index and free list, same despawn hooks); the world now holds the "
        "state up to the previous record"
    )


def _labels(ids: Array) -> str:
    shown = ", ".join(Entity(int(e)).label() for e in ids[:_MAX_LISTED])
    more = f" (and {len(ids) - _MAX_LISTED} more)" if len(ids) > _MAX_LISTED else ""
    return shown + more


def _apply_record(world: World, rec: _Record, cids: dict[str, ComponentId]) -> None:
    ids = rec.ids
    if rec.op is Op.SPAWN:
        expected = _next_spawn_ids(world, len(ids))
        if not np.array_equal(expected, ids):
            wrong = ids != expected
            raise _divergence(
                rec,
                f"the spawn would get ids {_labels(expected[wrong])} where the log "
                f"has {_labels(ids[wrong])}",
            )
        comps = {cids[c]: rec.values.get(c, {}) for c in rec.components}
        got = world._spawn(len(ids), comps, emit=False)
        if not np.array_equal(got, ids):
            raise InternalError(
                f"replayed spawn ids differ from the predicted ones ({rec.label()})"
            )
        return
    alive = world.entities.is_alive_batch(ids)
    if not alive.all():
        dead = ids[~alive]
        why = world.entities.describe_dead(int(dead[0]))
        raise _divergence(
            rec,
            f"{len(dead)} of {len(ids)} entities are not alive ({_labels(dead)}: {why})",
        )
    if rec.op is Op.DESPAWN:
        if world.despawn_hooks and len(ids) > 1:
            # As World.apply does: one id at a time, in order, so a cascade frees
            # slots in the same order and later ids it removed are skipped.
            for i in range(len(ids)):
                if world.entities.is_alive(int(ids[i])):
                    world._despawn(ids[i : i + 1])
        else:
            world._despawn(ids)
    elif rec.op is Op.REMOVE:
        world._move(ids, {}, frozenset(cids[c] for c in rec.components))
    elif rec.op is Op.INSERT:
        add = {cids[c]: rec.values.get(c, {}) for c in rec.components}
        world._move(ids, add, frozenset())
    else:
        for name, cols in rec.values.items():
            _require_component(world, rec, ids, cids[name], name)
            world._set_cols(ids, cids[name], cols)


def _require_component(
    world: World, rec: _Record, ids: Array, cid: ComponentId, name: str
) -> None:
    tabs, _ = world.entities.locate_batch(ids)
    has = np.array([cid in t.component_set for t in world.tables], dtype=np.bool_)
    lacking = ~has[tabs]
    if lacking.any():
        raise _divergence(
            rec, f"entities {_labels(ids[lacking])} have no {name} to set"
        )


# ------------------------------------------------------------------ arrow helpers


class _Dictionary:
    """Builds a dictionary-encoded string column (codes in order of first use)."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, value: str) -> int:
        return self.codes.setdefault(value, len(self.codes))

    def encode(self, codes: Array) -> pa.DictionaryArray:
        return pa.DictionaryArray.from_arrays(
            pa.array(codes, pa.int32()), pa.array(list(self.codes), pa.string())
        )

    def array(self, values: list[str]) -> pa.DictionaryArray:
        return self.encode(np.array([self.code(v) for v in values], dtype=np.int32))


def _op_array(codes: Array) -> pa.DictionaryArray:
    return pa.DictionaryArray.from_arrays(
        pa.array(codes, pa.int32()), pa.array(list(_OP_NAMES), pa.string())
    )


def _cat(parts: list[Array], dtype: type[np.generic]) -> Array:
    out: Array = np.concatenate(parts) if parts else np.empty(0, dtype=dtype)
    return out


def _aranges(lengths: Array) -> Array:
    """``concatenate([arange(n) for n in lengths])`` without a Python loop."""
    total = int(lengths.sum()) if len(lengths) else 0
    starts = np.cumsum(lengths) - lengths
    out: Array = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
    return out


def _field_column(
    recs: list[_Record], name: str, fname: str, ftype: FieldType
) -> pa.Array:
    parts: list[Array] = []
    missing: list[Array] = []
    for r in recs:
        col = r.values[name].get(fname)
        n = len(r.ids)
        if col is None:
            parts.append(np.zeros((n, *ftype.shape), dtype=ftype.dtype))
            missing.append(np.ones(n, dtype=np.bool_))
        else:
            parts.append(np.asarray(col, dtype=ftype.dtype).reshape(n, *ftype.shape))
            missing.append(np.zeros(n, dtype=np.bool_))
    values = _cat(parts, ftype.dtype.type).reshape(-1, *ftype.shape)
    mask = _cat(missing, np.bool_)
    if not ftype.shape:
        return pa.array(values, ftype.arrow_type, mask=mask if mask.any() else None)
    flat = pa.array(values.reshape(-1), pa.from_numpy_dtype(ftype.dtype))
    return pa.FixedSizeListArray.from_arrays(
        flat, ftype.shape[0], mask=pa.array(mask) if mask.any() else None
    )


def _to_numpy(column: pa.ChunkedArray | pa.Array, ftype: FieldType) -> Array:
    """A field column as numpy (nulls become zeros), shape ``(n, *ftype.shape)``."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if ftype.shape:
        size = ftype.shape[0]
        arr = arr.values.slice(arr.offset * size, len(arr) * size)
    if arr.null_count:
        arr = pc.fill_null(arr, pa.scalar(ftype.dtype.type(0).item(), arr.type))
    out = np.asarray(arr.to_numpy(zero_copy_only=False), dtype=ftype.dtype)
    return out.reshape(-1, *ftype.shape)


def _ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_dir_atomic(target: Path, files: dict[str, bytes]) -> None:
    parent = target.parent
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    try:
        for name, data in files.items():  # manifest last: it lists the others
            with (tmp / name).open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
        _fsync_dir(tmp)
        if target.exists():
            old = parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            target.replace(old)
            tmp.replace(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.replace(target)
        _fsync_dir(parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ------------------------------------------------------------------- load helpers


def _in_field_order(
    values: dict[str, dict[str, Array]], keys: list[str]
) -> dict[str, dict[str, Array]]:
    """``values`` ordered like the record's ``"<Component>.<field>"`` keys."""
    comps = dict.fromkeys(str(k).rpartition(".")[0] for k in keys)
    return {c: values[c] for c in comps}


def _corrupt(where: Path, what: str) -> SerializationError:
    return SerializationError(
        f"{where}: {what}; the command log is corrupt or was written by another "
        "version: save it again from the run (CommandLog.save)"
    )


def _read_manifest(root: Path) -> dict[str, Any]:
    where = root / MANIFEST
    try:
        data = json.loads(where.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SerializationError(
            f"{where}: no manifest; {root} is not a saved command log "
            "(CommandLog.save writes a directory with manifest.json)"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _corrupt(where, f"unreadable manifest ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise _corrupt(where, f"not a command-log manifest (format {FORMAT!r} missing)")
    if data.get("version") != FORMAT_VERSION:
        raise SerializationError(
            f"{where}: command-log format version {data.get('version')!r}, this "
            f"arrow-ecs reads version {FORMAT_VERSION}; use the matching arrow-ecs"
        )
    return data


def _int(manifest: Mapping[str, Any], key: str, where: Path) -> int:
    value = manifest.get(key)
    if type(value) is not int:
        raise _corrupt(where, f"{key!r} must be an int, got {value!r}")
    return value


def _opt_int(manifest: Mapping[str, Any], key: str, where: Path) -> int | None:
    return None if manifest.get(key) is None else _int(manifest, key, where)


def _read_catalog(
    manifest: Mapping[str, Any], where: Path, classes: Iterable[type]
) -> dict[str, _Component]:
    entries = manifest.get("components")
    if not isinstance(entries, list):
        raise _corrupt(where, "'components' must be a list")
    catalog = {e.name: e for e in (_Component.from_json(d, where) for d in entries)}
    for c in classes:
        s = schema_of(c, "CommandLog.load(components=)")
        entry = catalog.get(s.name)
        if entry is None:
            continue
        if not entry.matches(s):
            raise SerializationError(
                f"{where}: component {s.name} was logged with fields "
                f"({entry.describe()}), but the class given has "
                f"({_Component.of(s).describe()}); pass the class the run used"
            )
        catalog[s.name] = _Component(entry.name, entry.version, entry.fields, s.cls)
    return catalog


def _read_files(root: Path, manifest: Mapping[str, Any]) -> dict[str, pa.Table]:
    sums = manifest.get("sha256")
    values = manifest.get("values")
    if not isinstance(sums, dict) or not isinstance(values, dict):
        raise _corrupt(root / MANIFEST, "'sha256' and 'values' must be objects")
    needed = {RECORDS_FILE, ENTITIES_FILE, *map(str, values.values())}
    tables: dict[str, pa.Table] = {}
    for name in sorted(needed):
        where = root / name
        if Path(name).name != name:
            raise _corrupt(root / MANIFEST, f"file name {name!r} leaves the directory")
        if name not in sums:
            raise _corrupt(root / MANIFEST, f"no checksum for file {name!r}")
        try:
            data = where.read_bytes()
        except OSError as exc:
            raise _corrupt(where, f"cannot read the file ({exc.strerror})") from None
        if hashlib.sha256(data).hexdigest() != sums[name]:
            raise _corrupt(where, "checksum mismatch (the file changed after saving)")
        try:
            tables[name] = pa.ipc.open_file(pa.py_buffer(data)).read_all()
        except (pa.ArrowException, OSError) as exc:
            raise _corrupt(where, f"not a readable Arrow IPC file ({exc})") from None
    return tables


class _Decoder:
    """Rebuilds records from the saved tables, checking that they agree."""

    def __init__(
        self,
        root: Path,
        manifest: Mapping[str, Any],
        catalog: dict[str, _Component],
        tables: dict[str, pa.Table],
    ) -> None:
        self.root = root
        self.catalog = catalog
        self.tables = tables
        self.values_files: dict[str, str] = {
            str(k): str(v) for k, v in manifest["values"].items()
        }

    def _column(self, file: str, name: str, kind: pa.DataType | None) -> pa.Array:
        table = self.tables[file]
        if name not in table.column_names:
            raise _corrupt(self.root / file, f"column {name!r} is missing")
        col = table.column(name).combine_chunks()
        if isinstance(col, pa.DictionaryArray):
            col = col.dictionary_decode()
        if kind is not None and col.type != kind:
            raise _corrupt(
                self.root / file,
                f"column {name!r} has type {col.type}, expected {kind}",
            )
        return col

    def records(self) -> list[_Record]:
        head = self._header()
        ids = self._entity_ids(head["lengths"], head["seq"])
        offsets = np.concatenate([[0], np.cumsum(head["lengths"])])
        values = self._values(head)
        out = []
        for i, seq in enumerate(head["seq"].tolist()):
            out.append(
                _Record(
                    seq,
                    int(head["frame"][i]),
                    head["source"][i],
                    Op[head["op"][i].upper()],
                    ids[offsets[i] : offsets[i + 1]],
                    tuple(head["components"][i]),
                    _in_field_order(values.get(i, {}), head["fields"][i]),
                )
            )
        return out

    def _header(self) -> dict[str, Any]:
        f = RECORDS_FILE
        where = self.root / f
        head: dict[str, Any] = {
            "seq": self._column(f, "seq", pa.uint64()).to_numpy(),
            "frame": self._column(f, "frame", pa.int64()).to_numpy(),
            "source": self._column(f, "source", pa.string()).to_pylist(),
            "op": self._column(f, "op", pa.string()).to_pylist(),
            "lengths": self._column(f, "length", pa.int64()).to_numpy(),
            "components": self._column(
                f, "components", pa.list_(pa.string())
            ).to_pylist(),
            "fields": self._column(f, "fields", pa.list_(pa.string())).to_pylist(),
        }
        n = len(head["seq"])
        if n and (
            np.any(np.diff(head["seq"].astype(np.int64)) <= 0)
            or np.any(np.diff(head["frame"]) < 0)
        ):
            raise _corrupt(where, "records are not in sequence / frame order")
        if np.any(head["lengths"] < 0):
            raise _corrupt(where, "negative record length")
        for i in range(n):
            if head["op"][i] not in _OP_NAMES or None in (
                head["source"][i],
                head["components"][i],
                head["fields"][i],
            ):
                raise _corrupt(where, f"record {i} has an unknown op or null cells")
            unknown = [c for c in head["components"][i] if c not in self.catalog]
            if unknown:
                raise _corrupt(
                    where,
                    f"record seq {head['seq'][i]} names components {unknown} absent from the manifest",
                )
        return head

    def _entity_ids(self, lengths: Array, seqs: Array) -> Array:
        f = ENTITIES_FILE
        seq = self._column(f, "seq", pa.uint64()).to_numpy()
        row = self._column(f, "row", pa.int64()).to_numpy()
        ids: Array = self._column(f, ENTITY_COLUMN, pa.uint64()).to_numpy()
        if not (
            np.array_equal(seq, np.repeat(seqs, lengths))
            and np.array_equal(row, _aranges(lengths))
        ):
            raise _corrupt(
                self.root / f, "entity rows do not match the records' lengths"
            )
        return ids

    def _values(
        self, head: Mapping[str, Any]
    ) -> dict[int, dict[str, dict[str, Array]]]:
        """Per record index: component -> field -> column."""
        written: dict[str, list[tuple[int, list[str]]]] = {}
        for i, keys in enumerate(head["fields"]):
            per: dict[str, list[str]] = {}
            for key in keys:
                comp, _, fname = str(key).rpartition(".")
                per.setdefault(comp, []).append(fname)
            op = head["op"][i]
            for comp in head["components"][i]:
                entry = self.catalog[comp]
                if op in ("spawn", "insert") and entry.fields and comp not in per:
                    raise _corrupt(
                        self.root / RECORDS_FILE,
                        f"record seq {head['seq'][i]} ({op}) has no values for {comp}",
                    )
            for comp, fnames in per.items():
                known = self.catalog[comp].fields if comp in self.catalog else ()
                if not set(fnames) <= {n for n, _ in known} or (
                    comp not in head["components"][i]
                ):
                    raise _corrupt(
                        self.root / RECORDS_FILE,
                        f"record seq {head['seq'][i]} writes unknown fields {fnames} of {comp}",
                    )
                written.setdefault(comp, []).append((i, fnames))
        out: dict[int, dict[str, dict[str, Array]]] = {}
        for comp, recs in written.items():
            self._component_values(comp, recs, head, out)
        return out

    def _component_values(
        self,
        comp: str,
        recs: list[tuple[int, list[str]]],
        head: Mapping[str, Any],
        out: dict[int, dict[str, dict[str, Array]]],
    ) -> None:
        file = self.values_files.get(comp)
        if file is None:
            raise _corrupt(
                self.root / MANIFEST, f"no values file listed for component {comp}"
            )
        where = self.root / file
        idx = np.array([i for i, _ in recs], dtype=np.int64)
        lengths = head["lengths"][idx]
        seq = self._column(file, "seq", pa.uint64()).to_numpy()
        row = self._column(file, "row", pa.int64()).to_numpy()
        if not (
            np.array_equal(seq, np.repeat(head["seq"][idx], lengths))
            and np.array_equal(row, _aranges(lengths))
        ):
            raise _corrupt(where, f"value rows of {comp} do not match the records")
        columns: dict[str, tuple[Array, Array]] = {}
        for fname, ftype in self.catalog[comp].fields:
            col = self._column(file, fname, ftype.arrow_type)
            columns[fname] = (
                _to_numpy(col, ftype),
                col.is_null().to_numpy(zero_copy_only=False),
            )
        pos = 0
        for (i, fnames), n in zip(recs, lengths.tolist(), strict=True):
            cols = {}
            for fname in fnames:
                vals, nulls = columns[fname]
                if nulls[pos : pos + n].any():
                    raise _corrupt(
                        where,
                        f"field {fname} has nulls in record seq {head['seq'][i]}, which wrote it",
                    )
                cols[fname] = vals[pos : pos + n]
            out.setdefault(i, {})[comp] = cols
            pos += n
