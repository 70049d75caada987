"""Typed event queues: columnar, double-buffered messages between systems (pull).

An ``@event`` type is declared like a component; its :class:`EventQueue` keeps the
events of this frame and the last one, and each :class:`EventReader` remembers what it
has read. Not to be confused with observers (push, fired at sync points). One
:class:`Events` registry hangs off each world as ``world.events``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar, cast, overload

import numpy as np
import pyarrow as pa

from archetype_ecs.component import ComponentSchema, FieldSpec, component
from archetype_ecs.errors import E_DUPLICATE_NAME, E_LENGTH, SchemaError, coded
from archetype_ecs.schema import ENTITY_METADATA

__all__ = [
    "EventBatch",
    "EventQueue",
    "EventReader",
    "Events",
    "event",
    "event_schema",
    "is_event",
]

T = TypeVar("T", bound=type)
Array = np.ndarray[Any, Any]

MIN_CAPACITY = 16
SEQUENCE_COLUMN = "sequence"
FRAME_COLUMN = "frame"


@overload
def event(cls: T, /) -> T: ...
@overload
def event(*, name: str | None = None, version: int = 1) -> Callable[[T], T]: ...
def event(
    cls: T | None = None, /, *, name: str | None = None, version: int = 1
) -> T | Callable[[T], T]:
    """Declare an event type from a class with annotated fields.

    The declaration is the one of :func:`~archetype_ecs.component.component`:
    annotations are field types (``EntityRef`` included), class attributes are the
    defaults; a class without fields is a signal-only event.

    Parameters
    ----------
    cls
        The class.
    name
        Event name used in column names (default: the class name).
    version
        Schema version, for migrations.

    Returns
    -------
    type
        The class, now a slotted dataclass with ``__ecs_schema__`` and
        ``__ecs_event__ = True``.

    Raises
    ------
    SchemaError
        When an annotation is not a field type or a default does not fit its field.

    Examples
    --------
    >>> from archetype_ecs.schema import EntityRef, f32
    >>> @event
    ... class Damage:
    ...     target: EntityRef = 0
    ...     amount: f32 = 0.0
    >>> Damage(target=7, amount=2.5)
    Damage(target=7, amount=2.5)
    >>> is_event(Damage)
    True
    """

    def wrap(c: T) -> T:
        dc: Any = component(name=name, version=version)(c)
        dc.__ecs_event__ = True
        return cast(T, dc)

    if cls is None:
        return wrap
    return wrap(cls)


def is_event(obj: object) -> bool:
    """True when ``obj`` is an event class declared with ``@event``.

    Examples
    --------
    >>> @event
    ... class Ping:
    ...     pass
    >>> is_event(Ping), is_event(Ping()), is_event(int)
    (True, False, False)
    """
    return (
        isinstance(obj, type)
        and obj.__dict__.get("__ecs_event__") is True
        and isinstance(obj.__dict__.get("__ecs_schema__"), ComponentSchema)
    )


def event_schema(obj: object, where: str = "") -> ComponentSchema:
    """The schema of an event class or instance.

    Parameters
    ----------
    obj
        An ``@event`` class or an instance of one.
    where
        Context for the error message.

    Returns
    -------
    ComponentSchema
        The event's fields.

    Raises
    ------
    SchemaError
        When ``obj`` is not an ``@event`` class or instance (a ``@component`` is not
        an event).

    Examples
    --------
    >>> from archetype_ecs.schema import f32
    >>> @event
    ... class Hit:
    ...     amount: f32 = 1.0
    >>> event_schema(Hit).field_names()
    ['amount']
    """
    cls = obj if isinstance(obj, type) else type(obj)
    if is_event(cls):
        schema: ComponentSchema = cls.__dict__["__ecs_schema__"]
        return schema
    at = f" in {where}" if where else ""
    what = cls.__qualname__ if obj is cls else f"a {cls.__qualname__} instance"
    kind = "a component" if "__ecs_schema__" in cls.__dict__ else "not an event type"
    raise SchemaError(
        f"{what} is {kind}, expected an event type{at}; declare the class with "
        "@event (from archetype_ecs.events) and pass the class or an instance"
    )


class EventBatch(dict[str, Array]):
    """Columns of some events: field name -> array, plus their sequence and frame.

    A ``dict`` of field arrays (``batch["amount"]``), so ``len(batch)`` counts fields;
    the number of events is ``batch.count``. ``batch.sequence`` and ``batch.frame``
    hold each event's sequence number and the frame it was sent in.
    """

    __slots__ = ("count", "frame", "sequence")

    def __init__(
        self, columns: dict[str, Array], sequence: Array, frame: Array
    ) -> None:
        super().__init__(columns)
        self.sequence = sequence
        self.frame = frame
        self.count = len(sequence)

    def __repr__(self) -> str:
        return f"<EventBatch count={self.count} fields={list(self)}>"


class EventQueue:
    """The buffered events of one type, stored as columns.

    Events sent during frame N can be read during frames N and N + 1; ``update()``
    (called by the world at the end of every frame) drops the older half. Each event
    gets the next sequence number of the queue (0, 1, 2 ...).

    Parameters
    ----------
    event_type
        An ``@event`` class.
    frame
        Number of the current frame (``Events`` passes its own, so queues created
        late agree with the others); ``update()`` adds one.

    Raises
    ------
    SchemaError
        When ``event_type`` is not an ``@event`` class.

    Examples
    --------
    >>> import numpy as np
    >>> from archetype_ecs.schema import f32
    >>> @event
    ... class Noise:
    ...     level: f32 = 0.0
    >>> q = EventQueue(Noise)
    >>> q.send(Noise(1.0))
    >>> q.send_batch({"level": np.array([2.0, 3.0])})
    >>> len(q), q.next_sequence
    (3, 3)
    >>> q.update(); len(q)  # frame 0 ends: its events stay one more frame
    3
    >>> q.update(); len(q)  # frame 1 ends: frame 0's events are dropped
    0

    Notes
    -----
    Storage is one numpy array per field, grown by amortized doubling. ``update()``
    moves the surviving (newer) events to the front: O(events of the last frame).
    Sending and reading are serialized by a lock, so systems on several threads may
    share a queue.
    """

    # Invariant: row i holds sequence number `start_sequence + i`, for i < len;
    # rows with sequence >= `_boundary` were sent in the current frame.

    def __init__(self, event_type: type, *, frame: int = 0) -> None:
        self.schema = event_schema(event_type, "EventQueue")
        self.event_type: type = self.schema.cls
        self.frame = frame
        self.start_sequence = 0
        self._boundary = 0
        self._len = 0
        self._capacity = 0
        self._frames: Array = np.empty(0, dtype=np.int64)
        self._cols: dict[str, Array] = {
            f.name: np.empty((0, *f.type.shape), dtype=f.type.dtype)
            for f in self.schema.fields
        }
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        """The event type's name."""
        return self.schema.name

    @property
    def next_sequence(self) -> int:
        """The sequence number the next sent event will get (= events ever sent)."""
        return self.start_sequence + self._len

    def __len__(self) -> int:
        return self._len

    def __repr__(self) -> str:
        return (
            f"<EventQueue {self.name} buffered={self._len} frame={self.frame} "
            f"next_sequence={self.next_sequence}>"
        )

    def nbytes(self) -> int:
        """Bytes allocated for the buffered columns (capacity, not just events)."""
        return self._frames.nbytes + sum(a.nbytes for a in self._cols.values())

    # ------------------------------------------------------------------ sending

    def send(self, instance: object) -> None:
        """Send one event.

        Parameters
        ----------
        instance
            An instance of this queue's event type.

        Raises
        ------
        SchemaError
            When ``instance`` is not of the queue's event type, or [E0003] / [E0004]
            when a value does not fit its field. Nothing is sent then.

        Examples
        --------
        >>> from archetype_ecs.schema import i32
        >>> @event
        ... class Score:
        ...     points: i32 = 0
        >>> q = EventQueue(Score)
        >>> q.send(Score(10))
        >>> q.to_arrow().column("Score.points").to_pylist()
        [10]
        """
        if not isinstance(instance, self.event_type):
            raise SchemaError(
                f"EventQueue[{self.name}].send: got {type(instance).__name__} "
                f"({instance!r}); send a {self.name}(...) instance, or use the "
                f"queue of {type(instance).__name__}"
            )
        self._append(1, self.schema.columns_of(instance))

    def send_batch(self, values: object = None, n: int | None = None) -> None:
        """Send many events at once, from columns.

        Parameters
        ----------
        values
            A dict of field name -> array-like (missing fields take their defaults),
            an instance (broadcast to ``n`` events), ``None`` (``n`` events with
            default values), for a one-field event the array itself, or an Arrow
            table / record batch with columns named ``"<field>"`` or
            ``"<Event>.<field>"`` (``sequence`` and ``frame`` columns, as written by
            :meth:`to_arrow`, are ignored).
        n
            Number of events; needed when no value is an array.

        Raises
        ------
        SchemaError
            [E0003] wrong dtype, [E0004] wrong shape, [E0005] unknown field,
            [E0009] columns of different lengths or ``n`` missing. Nothing is sent
            then.

        Examples
        --------
        >>> import numpy as np
        >>> from archetype_ecs.schema import f32, i32
        >>> @event
        ... class Spark:
        ...     x: f32 = 0.0
        ...     power: i32 = 1
        >>> q = EventQueue(Spark)
        >>> q.send_batch({"x": np.arange(3)})
        >>> q.send_batch(Spark(9.0, 2), n=2)
        >>> q.to_arrow().column("Spark.power").to_pylist()
        [1, 1, 1, 2, 2]
        """
        if isinstance(values, pa.Table | pa.RecordBatch):
            values = self._arrow_values(values)
        rows, cols = self.schema.coerce(values, n)
        if rows is None:  # no array among the values and no n
            raise SchemaError(
                coded(
                    E_LENGTH,
                    f"EventQueue[{self.name}].send_batch: cannot tell how many events "
                    "to send from defaults or one instance; pass n=, or use send()",
                )
            )
        self._append(rows, cols)

    def _arrow_values(self, data: pa.Table | pa.RecordBatch) -> dict[str, Any]:
        prefix = f"{self.name}."
        fields = set(self.schema.field_names())
        out: dict[str, Any] = {}
        for col in data.column_names:
            key = col.removeprefix(prefix)
            if key in (SEQUENCE_COLUMN, FRAME_COLUMN) and key not in fields:
                continue
            out[key] = data.column(col)
        return out

    def _reserve(self, need: int) -> None:
        if need <= self._capacity:
            return
        self._resize(max(need, 2 * self._capacity, MIN_CAPACITY))

    def _resize(self, cap: int) -> None:
        n = self._len
        frames = np.empty(cap, dtype=np.int64)
        frames[:n] = self._frames[:n]
        self._frames = frames
        for f in self.schema.fields:
            arr = np.empty((cap, *f.type.shape), dtype=f.type.dtype)
            arr[:n] = self._cols[f.name][:n]
            self._cols[f.name] = arr
        self._capacity = cap

    def _append(self, rows: int, cols: dict[str, Array]) -> None:
        if rows == 0:
            return
        with self._lock:
            start = self._len
            self._reserve(start + rows)
            for fname, arr in cols.items():
                self._cols[fname][start : start + rows] = arr
            self._frames[start : start + rows] = self.frame
            self._len = start + rows

    # --------------------------------------------------------------- lifecycle

    def update(self) -> None:
        """End the current frame: drop the events sent in the frame before it.

        Notes
        -----
        Called once per frame by the world (``world.events.update_all()``).
        Invalidates views returned by ``read(copy=False)``. O(events of the frame
        that just ended); storage shrinks when it is 8 times larger than needed.
        """
        with self._lock:
            drop = self._boundary - self.start_sequence
            keep = self._len - drop
            if drop:
                for arr in (self._frames, *self._cols.values()):
                    arr[:keep] = arr[drop : self._len]  # numpy handles the overlap
            self._len = keep
            self.start_sequence = self._boundary
            self._boundary = self.next_sequence
            self.frame += 1
            if self._capacity >= 8 * max(keep, MIN_CAPACITY):
                self._resize(max(2 * keep, MIN_CAPACITY))

    def clear(self) -> None:
        """Drop every buffered event now (readers count them as missed if unread)."""
        with self._lock:
            self.start_sequence = self._boundary = self.next_sequence
            self._len = 0

    # ----------------------------------------------------------------- reading

    def _slice(self, first_sequence: int, *, copy: bool) -> EventBatch:
        """Events from ``first_sequence`` on; caller holds the lock."""
        lo = max(first_sequence - self.start_sequence, 0)
        hi = self._len

        def cut(arr: Array) -> Array:
            part = arr[lo:hi]
            return part.copy() if copy else part

        seq = np.arange(
            self.start_sequence + lo, self.start_sequence + hi, dtype=np.int64
        )
        return EventBatch(
            {name: cut(arr) for name, arr in self._cols.items()},
            seq,
            cut(self._frames),
        )

    def reader(self, *, skip_buffered: bool = False) -> EventReader:
        """A new reader of this queue.

        Parameters
        ----------
        skip_buffered
            Start after the events buffered now (default: they count as unread).

        Returns
        -------
        EventReader
            Its cursor is independent of every other reader's.

        Examples
        --------
        >>> @event
        ... class Tick:
        ...     pass
        >>> q = EventQueue(Tick)
        >>> q.send(Tick())
        >>> len(q.reader()), len(q.reader(skip_buffered=True))
        (1, 0)
        """
        return EventReader(self, self.next_sequence if skip_buffered else None)

    def to_arrow(self) -> pa.Table:
        """The buffered events as an Arrow table (a copy).

        Returns
        -------
        pyarrow.Table
            Columns ``sequence`` (int64), ``frame`` (int64), then one column per
            field named ``"<Event>.<field>"`` (vectors as fixed-size lists,
            ``EntityRef`` fields as uint64 with entity metadata), in send order.

        Examples
        --------
        >>> from archetype_ecs.schema import f32
        >>> @event
        ... class Shot:
        ...     angle: f32 = 0.0
        >>> q = EventQueue(Shot)
        >>> q.send(Shot(0.5))
        >>> q.to_arrow().column_names
        ['sequence', 'frame', 'Shot.angle']
        """
        with self._lock:
            batch = self._slice(self.start_sequence, copy=True)
        arrays = [pa.array(batch.sequence), pa.array(batch.frame)]
        fields = [
            pa.field(SEQUENCE_COLUMN, pa.int64(), nullable=False),
            pa.field(FRAME_COLUMN, pa.int64(), nullable=False),
        ]
        for f in self.schema.fields:
            arrays.append(_arrow_array(batch[f.name], f))
            fields.append(
                pa.field(
                    f"{self.name}.{f.name}",
                    f.type.arrow_type,
                    nullable=False,
                    metadata=ENTITY_METADATA if f.type.is_entity else None,
                )
            )
        return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _arrow_array(values: Array, f: FieldSpec) -> pa.Array:
    if f.type.shape:
        flat = pa.array(values.reshape(-1), type=f.type.arrow_type.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, f.type.shape[0])
    return pa.array(values, type=f.type.arrow_type)


class EventReader:
    """A cursor over one event queue: each call to :meth:`read` returns what is new.

    Get one from :meth:`Events.reader` (one per system that reads). Events that were
    dropped by ``update()`` before this reader read them are counted in
    :attr:`missed`.

    Examples
    --------
    >>> from archetype_ecs.schema import i32
    >>> @event
    ... class Msg:
    ...     code: i32 = 0
    >>> events = Events()
    >>> reader = events.reader(Msg)
    >>> events.send(Msg(1))
    >>> events.send(Msg(2))
    >>> reader.read()["code"]
    array([1, 2], dtype=int32)
    >>> len(reader)  # everything read
    0
    """

    # Invariant: `_cursor` is the sequence number of the next event to read; the
    # events between `_cursor` and `queue.start_sequence` (if any) were missed.

    def __init__(self, queue: EventQueue, cursor: int | None = None) -> None:
        self.queue = queue
        self._cursor = queue.start_sequence if cursor is None else cursor
        self._missed = 0

    @property
    def cursor(self) -> int:
        """Sequence number of the next event this reader will return."""
        return max(self._cursor, self.queue.start_sequence)

    @property
    def missed(self) -> int:
        """Events dropped from the queue before this reader read them."""
        return self._missed + max(self.queue.start_sequence - self._cursor, 0)

    def __len__(self) -> int:
        return self.queue.next_sequence - self.cursor

    def __repr__(self) -> str:
        return (
            f"<EventReader {self.queue.name} unread={len(self)} cursor={self.cursor} "
            f"missed={self.missed}>"
        )

    def _catch_up(self) -> None:
        gap = self.queue.start_sequence - self._cursor
        if gap > 0:
            self._missed += gap
            self._cursor = self.queue.start_sequence

    def read(self, *, copy: bool = True) -> EventBatch:
        """The unread events, in send order; marks them read.

        Parameters
        ----------
        copy
            Return copies (default). ``copy=False`` returns views into the queue's
            storage, valid until the next send to or ``update()`` of the queue.

        Returns
        -------
        EventBatch
            Field name -> array of the unread events; ``.count`` events, with their
            ``.sequence`` and ``.frame`` arrays.

        Examples
        --------
        >>> from archetype_ecs.schema import f32
        >>> @event
        ... class Heal:
        ...     amount: f32 = 0.0
        >>> events = Events()
        >>> r = events.reader(Heal)
        >>> events.send_batch(Heal, {"amount": [1.0, 2.0]})
        >>> batch = r.read()
        >>> batch.count, batch.sequence.tolist()
        (2, [0, 1])
        >>> r.read().count  # nothing new
        0
        """
        with self.queue._lock:
            self._catch_up()
            batch = self.queue._slice(self._cursor, copy=copy)
            self._cursor = self.queue.next_sequence
        return batch

    def peek(self, *, copy: bool = True) -> EventBatch:
        """The unread events, like :meth:`read`, without marking them read.

        Examples
        --------
        >>> @event
        ... class Beep:
        ...     pass
        >>> events = Events()
        >>> r = events.reader(Beep)
        >>> events.send(Beep())
        >>> r.peek().count, r.peek().count, r.read().count, r.peek().count
        (1, 1, 1, 0)
        """
        with self.queue._lock:
            return self.queue._slice(self.cursor, copy=copy)

    def clear(self) -> None:
        """Mark every buffered event read without returning it.

        Examples
        --------
        >>> @event
        ... class Boop:
        ...     pass
        >>> events = Events()
        >>> r = events.reader(Boop)
        >>> events.send(Boop())
        >>> r.clear(); len(r)
        0
        """
        with self.queue._lock:
            self._catch_up()
            self._cursor = self.queue.next_sequence


class Events:
    """A world's event queues, one per event type, created on first use.

    Reached as ``world.events``. ``update_all()`` runs at the end of every frame and
    counts frames in ``events.frame`` (the frame number recorded with each event).

    Examples
    --------
    >>> from archetype_ecs.schema import EntityRef
    >>> @event
    ... class Died:
    ...     who: EntityRef = 0
    >>> events = Events()
    >>> reader = events.reader(Died)
    >>> events.send(Died(who=42))
    >>> events.update_all()  # frame 0 ends
    >>> reader.read()["who"]
    array([42], dtype=uint64)
    >>> events.update_all(); events.update_all()
    >>> len(events.queue(Died))
    0
    """

    def __init__(self) -> None:
        self._queues: dict[type, EventQueue] = {}
        self._by_name: dict[str, type] = {}
        self.frame = 0
        self._lock = threading.Lock()

    def queue(self, event_type: type) -> EventQueue:
        """The queue of ``event_type`` (created on first use).

        Raises
        ------
        SchemaError
            When ``event_type`` is not an ``@event`` class, or [E0010] when another
            event type registered here has the same name.
        """
        q = self._queues.get(event_type)
        if q is not None:
            return q
        schema = event_schema(event_type, "events.queue")
        with self._lock:
            q = self._queues.get(schema.cls)
            if q is None:
                other = self._by_name.get(schema.name)
                if other is not None:
                    raise SchemaError(
                        coded(
                            E_DUPLICATE_NAME,
                            f"two event classes are both named {schema.name!r} "
                            f"({other.__module__}.{other.__qualname__} and "
                            f"{schema.cls.__module__}.{schema.cls.__qualname__}); "
                            "give one of them @event(name=...)",
                        )
                    )
                q = EventQueue(schema.cls, frame=self.frame)
                self._queues[schema.cls] = q
                self._by_name[schema.name] = schema.cls
        return q

    def reader(self, event_type: type, *, skip_buffered: bool = False) -> EventReader:
        """A new reader of ``event_type``'s queue (see :meth:`EventQueue.reader`)."""
        return self.queue(event_type).reader(skip_buffered=skip_buffered)

    def send(self, instance: object) -> None:
        """Send one event to the queue of its type (see :meth:`EventQueue.send`)."""
        q = self._queues.get(type(instance))
        if q is None:
            q = self.queue(event_schema(instance, "events.send").cls)
        q.send(instance)

    def send_batch(
        self, event_type: type, values: object = None, n: int | None = None
    ) -> None:
        """Send many events of one type (see :meth:`EventQueue.send_batch`)."""
        self.queue(event_type).send_batch(values, n)

    def update_all(self) -> None:
        """End the frame for every queue (see :meth:`EventQueue.update`)."""
        for q in list(self._queues.values()):
            q.update()
        self.frame += 1

    def __len__(self) -> int:
        return len(self._queues)

    def __iter__(self) -> Iterator[EventQueue]:
        return iter(list(self._queues.values()))

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._queues

    def nbytes(self) -> int:
        """Bytes allocated by every queue."""
        return sum(q.nbytes() for q in self._queues.values())

    def __repr__(self) -> str:
        buffered = sum(len(q) for q in self._queues.values())
        return f"<Events queues={len(self._queues)} buffered={buffered}>"
