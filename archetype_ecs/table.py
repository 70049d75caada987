"""ArchetypeTable: the Arrow-backed columns of every entity with one component set.

Each field is one contiguous, 64-byte-aligned ``pyarrow`` buffer with a writable numpy
view over it; rows are dense (swap-remove on delete) and grow by amortized doubling.
``table.batch()`` is a zero-copy ``pyarrow.RecordBatch`` of the live rows.

Lifetime: views and batches are valid until the next structural change of the table
(append, remove, growth); ``table.version`` counts those changes.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

import numpy as np
import pyarrow as pa

from archetype_ecs.blocks import MIN_BLOCK, blocks
from archetype_ecs.component import ComponentId, ComponentSchema, ComponentView
from archetype_ecs.errors import InternalError
from archetype_ecs.schema import ENTITY_METADATA

__all__ = ["ENTITY_COLUMN", "ArchetypeTable", "added_key", "changed_key"]

ENTITY_COLUMN = "entity"
MIN_CAPACITY = 16

Array = np.ndarray[Any, Any]


def added_key(name: str) -> str:
    """Internal column holding the tick at which a component was added, per row."""
    return f"{name}#added"


def changed_key(name: str) -> str:
    """Internal column holding the tick at which a component last changed, per row."""
    return f"{name}#changed"


class _ColumnSpec:
    __slots__ = ("arrow_type", "dtype", "is_entity", "row_items", "shape")

    def __init__(
        self,
        dtype: np.dtype[Any],
        shape: tuple[int, ...],
        arrow_type: pa.DataType,
        *,
        is_entity: bool = False,
    ) -> None:
        self.dtype = dtype
        self.shape = shape
        self.arrow_type = arrow_type
        self.is_entity = is_entity
        self.row_items = shape[0] if shape else 1

    def nbytes(self, rows: int) -> int:
        return rows * self.dtype.itemsize * self.row_items


def _tick_specs(name: str) -> dict[str, _ColumnSpec]:
    tick = _ColumnSpec(np.dtype(np.uint32), (), pa.uint32())
    return {added_key(name): tick, changed_key(name): tick}


_ALIGN = 64  # Arrow's recommended buffer alignment


def allocate_slab(specs: dict[str, _ColumnSpec], capacity: int) -> Slab:
    """Every column of a table at ``capacity`` rows, carved from few allocations.

    Columns are packed, in order, into blocks of up to 16 MiB (a larger column gets
    a block of its own). A block of a few megabytes gets transparent huge pages
    where a small column on its own would not, so filling a fresh table page-faults
    far less. Blocks of 1 MiB and more come from the process's
    :data:`archetype_ecs.blocks.blocks` cache, which keeps the memory of blocks no
    longer used: a table that is dropped and rebuilt -- a load after a load, a
    restore, a growth -- writes into warm pages instead of making the kernel zero
    fresh ones (a 10^6-row load in the benchmark runner: 79 page faults instead of
    about 3,800). Smaller blocks come from NumPy. Each column starts on a 64-byte
    boundary; its Arrow buffer is a zero-copy slice that keeps its block alive. The
    unused rows hold whatever the memory held.
    """
    out: dict[str, tuple[pa.Buffer, Array]] = {}
    group: list[tuple[str, _ColumnSpec, int]] = []  # (key, spec, offset)
    total = 0
    for key, spec in specs.items():
        size = -(-max(spec.nbytes(capacity), 1) // _ALIGN) * _ALIGN
        if group and total + size > _BLOCK:
            _carve(group, total, capacity, out)
            group, total = [], 0
        group.append((key, spec, total))
        total += size
    _carve(group, total, capacity, out)
    return out


_BLOCK = 16 << 20  # bytes per block at most, unless one column is larger


def _carve(
    group: list[tuple[str, Any, int]], total: int, capacity: int, out: Slab
) -> None:
    size = total + _ALIGN
    block = blocks.take(size) if size >= MIN_BLOCK else np.empty(size, np.uint8)
    base = -block.ctypes.data % _ALIGN
    for key, spec, offset in group:
        start = base + offset
        nbytes = spec.nbytes(capacity)
        # (at least one byte: NumPy leaves an empty slice's pointer at the block's)
        raw = block[start : start + max(nbytes, 1)]
        arr = raw[:nbytes].view(spec.dtype).reshape(capacity, *spec.shape)
        out[key] = (pa.py_buffer(raw), arr)


def column_specs(
    schemas: Iterable[ComponentSchema], tracked: Container[str] = ()
) -> dict[str, _ColumnSpec]:
    """The columns of a table of these components (in order), the entity column first.

    ``tracked`` names the components whose added / changed ticks are stored.
    """
    specs: dict[str, _ColumnSpec] = {
        ENTITY_COLUMN: _ColumnSpec(np.dtype(np.uint64), (), pa.uint64(), is_entity=True)
    }
    for s in schemas:
        for f in s.fields:
            specs[f"{s.name}.{f.name}"] = _ColumnSpec(
                f.type.dtype,
                f.type.shape,
                f.type.arrow_type,
                is_entity=f.type.is_entity,
            )
        if s.name in tracked:
            specs.update(_tick_specs(s.name))
    return specs


Slab = dict[str, tuple[pa.Buffer, Array]]


class ArchetypeTable:
    """Columns of one archetype (a sorted set of component ids).

    Invariant: ``columns[ENTITY_COLUMN][:len]`` holds the id of the entity at each row,
    and every column has the same capacity.
    """

    def __init__(
        self,
        table_id: int,
        components: tuple[ComponentId, ...],
        schemas: dict[ComponentId, ComponentSchema],
        tracked: frozenset[ComponentId] = frozenset(),
    ) -> None:
        self.id = table_id
        self.components = components
        self.component_set = frozenset(components)
        self.schemas = schemas
        self.len = 0
        self.capacity = 0
        self.version = 0
        self._specs = column_specs(
            [schemas[c] for c in components],
            {schemas[c].name for c in components if c in tracked},
        )
        self._bufs: dict[str, pa.Buffer] = {}
        self._cols: dict[str, Array] = {}
        self._view_cache: dict[ComponentId, ComponentView] = {}
        self._view_version = -1
        self._arrow_cache: dict[str, pa.Array] = {}
        self._arrow_version = -1
        for key, (buf, arr) in allocate_slab(self._specs, 0).items():
            self._bufs[key], self._cols[key] = buf, arr  # empty until the first append

    @property
    def keys(self) -> tuple[str, ...]:
        """All column keys, the entity column first."""
        return tuple(self._specs)

    @property
    def names(self) -> tuple[str, ...]:
        """Component names of this archetype, in component-id order."""
        return tuple(self.schemas[c].name for c in self.components)

    def __len__(self) -> int:
        return self.len

    def reserve(self, rows: int) -> None:
        """Make room for ``rows`` rows in all, without changing any (a structural
        change when it has to grow: views are invalidated).

        Raises
        ------
        MemoryError
            When the memory cannot be had; the table is then unchanged.
        """
        if rows <= self.capacity:
            return
        cap = max(rows, 2 * self.capacity, MIN_CAPACITY)
        for key, (buf, arr) in allocate_slab(self._specs, cap).items():
            if self.len:
                arr[: self.len] = self._cols[key][: self.len]
            self._bufs[key], self._cols[key] = buf, arr
        self.capacity = cap
        self.version += 1

    def adopt(self, slab: Slab, n: int) -> bool:
        """Take ``slab`` as this empty table's storage, its first ``n`` rows filled.

        ``slab`` comes from :func:`allocate_slab` over this table's columns (it may
        be filled outside the world, on other threads, then handed over without a
        copy). Returns False, changing nothing, when the table is not empty or the
        slab's columns differ from the table's.

        Notes
        -----
        Structural change: invalidates views.
        """
        if self.len or slab.keys() != self._specs.keys():
            return False
        arrays = [slab[k][1] for k in self._specs]
        cap = len(arrays[0])
        for spec, arr in zip(self._specs.values(), arrays, strict=True):
            if arr.dtype != spec.dtype or arr.shape != (cap, *spec.shape):
                return False
        if n > cap:
            return False
        for key in self._specs:
            self._bufs[key], self._cols[key] = slab[key]
        self.capacity = cap
        self.len = n
        self.version += 1
        return True

    def add_tick_columns(self, cid: ComponentId, tick: int) -> None:
        """Start change tracking of one component: its rows count as added at ``tick``.

        Notes
        -----
        Structural change (new columns): invalidates views.
        """
        fresh = {
            key: spec
            for key, spec in _tick_specs(self.schemas[cid].name).items()
            if key not in self._specs
        }
        for key, (buf, arr) in allocate_slab(fresh, self.capacity).items():
            self._specs[key] = fresh[key]
            self._bufs[key], self._cols[key] = buf, arr
            arr[: self.len] = tick
        self.version += 1

    def column(self, key: str) -> Array:
        """Writable numpy view of the live rows of one column."""
        return self._cols[key][: self.len]

    @property
    def entities(self) -> Array:
        """Entity ids of the live rows (a view)."""
        return self._cols[ENTITY_COLUMN][: self.len]

    def component_view(self, cid: ComponentId) -> ComponentView:
        """The component's field views as its ``<Name>View`` object (cached)."""
        if self._view_version != self.version:
            self._view_cache.clear()
            self._view_version = self.version
        view = self._view_cache.get(cid)
        if view is None:
            s = self.schemas[cid]
            view = s.view_type(*(self.column(k) for k in s.column_keys()))
            self._view_cache[cid] = view
        return view

    def append(self, values: dict[str, Array]) -> int:
        """Append rows; ``values`` must hold every column key. Returns the first row.

        Notes
        -----
        Structural change: invalidates views. O(rows) copy, amortized growth.
        """
        n = len(values[ENTITY_COLUMN])
        if values.keys() != self._specs.keys():
            missing = set(self._specs) ^ set(values)
            raise InternalError(f"table {self.id} append: column mismatch {missing}")
        start = self.len
        self.reserve(start + n)
        for key, arr in values.items():
            self._cols[key][start : start + n] = arr
        self.len = start + n
        self.version += 1
        return start

    def gather(
        self, rows: Array, keys: tuple[str, ...] | None = None
    ) -> dict[str, Array]:
        """Copies of ``rows`` of the given columns (default: all)."""
        return {k: self._cols[k][rows] for k in (keys or self.keys)}

    def swap_remove(self, rows: Array) -> tuple[Array, Array]:
        """Remove sorted unique ``rows``; fill the holes with rows from the end.

        Returns
        -------
        (moved_from, moved_to)
            The rows that moved to keep the table dense, so the caller can update the
            entity index.

        Notes
        -----
        Structural change: invalidates views. O(k log k) on the removed rows plus
        O(k) copies per column, whatever the table size.
        """
        n, k = self.len, len(rows)
        new_n = n - k
        holes = rows[rows < new_n]
        in_tail = rows[rows >= new_n] - new_n
        keep = np.ones(k, dtype=np.bool_)
        keep[in_tail] = False
        movers = np.arange(new_n, n, dtype=np.int64)[keep]
        if len(holes):
            for col in self._cols.values():
                col[holes] = col[movers]
        self.len = new_n
        self.version += 1
        return movers, holes

    def nbytes(self) -> int:
        """Bytes allocated for this table's columns (capacity, not just live rows)."""
        return sum(b.size for b in self._bufs.values())

    def _arrow_column(self, key: str) -> pa.Array:
        spec = self._specs[key]
        n = self.len
        if spec.dtype == np.bool_:  # Arrow booleans are bit-packed: O(n) conversion
            flat = pa.array(self._cols[key][:n].reshape(-1), type=pa.bool_())
            if spec.shape:
                return pa.FixedSizeListArray.from_arrays(flat, spec.shape[0])
            return flat
        if self._arrow_version != self.version:
            self._arrow_cache.clear()
            self._arrow_version = self.version
        cached = self._arrow_cache.get(key)
        if cached is not None:
            return cached
        buf = self._bufs[key]
        if spec.shape:
            size = spec.shape[0]
            child = pa.Array.from_buffers(
                spec.arrow_type.value_type, n * size, [None, buf]
            )
            arr = pa.FixedSizeListArray.from_arrays(child, size)
        else:
            arr = pa.Array.from_buffers(spec.arrow_type, n, [None, buf])
        self._arrow_cache[key] = arr
        return arr

    def arrow_field(self, key: str) -> pa.Field:
        """The Arrow field of a column (entity columns carry metadata)."""
        spec = self._specs[key]
        return pa.field(
            key,
            spec.arrow_type,
            nullable=False,
            metadata=ENTITY_METADATA if spec.is_entity else None,
        )

    def batch(
        self, components: tuple[ComponentId, ...] | None = None
    ) -> pa.RecordBatch:
        """Zero-copy ``RecordBatch`` of the live rows: ``entity`` then every field.

        Parameters
        ----------
        components
            Restrict to these components' fields (default: all of the table's).

        Notes
        -----
        Zero-copy except bool fields (Arrow packs booleans into bits: O(rows)).
        Valid until the next structural change of this table.
        """
        keys = [ENTITY_COLUMN]
        for cid in components if components is not None else self.components:
            keys.extend(self.schemas[cid].column_keys())
        return pa.RecordBatch.from_arrays(
            [self._arrow_column(k) for k in keys],
            schema=pa.schema([self.arrow_field(k) for k in keys]),
        )

    def __repr__(self) -> str:
        return f"<ArchetypeTable {self.id} [{', '.join(self.names)}] rows={self.len}>"
