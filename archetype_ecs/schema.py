"""Field types of components: each maps to one numpy dtype, one shape and one Arrow type.

Field types are written in a component's annotations: ``x: f32``, ``heading: f32[3]``,
``target: EntityRef``. This module also validates and casts user values to a field's
column dtype (the one place that decides what "wrong dtype" and "wrong shape" mean).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from archetype_ecs.errors import E_DTYPE, E_LENGTH, E_SHAPE, SchemaError, coded

__all__ = [
    "FIELD_TYPES",
    "EntityRef",
    "FieldType",
    "bool_",
    "coerce_column",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "u8",
    "u16",
    "u32",
    "u64",
]

ENTITY_METADATA = {b"arrow_ecs.type": b"entity"}


class FieldType:
    """A component field's storage type: numpy dtype, per-row shape, Arrow type.

    Index a scalar type to get a fixed-size vector type: ``f32[3]`` stores an
    ``(n, 3)`` float32 column and maps to Arrow ``fixed_size_list<float>[3]``.

    Examples
    --------
    >>> f32[3]
    f32[3]
    >>> f32[3].arrow_type
    FixedSizeListType(fixed_size_list<item: float>[3])
    """

    __slots__ = ("dtype", "is_entity", "name", "shape")

    def __init__(
        self,
        name: str,
        dtype: np.dtype[Any],
        shape: tuple[int, ...] = (),
        *,
        is_entity: bool = False,
    ) -> None:
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.is_entity = is_entity

    def __getitem__(self, size: int) -> FieldType:
        if self.shape:
            raise SchemaError(
                f"field type {self!r} is already a vector; nested vectors are not "
                "supported: use a wider vector (e.g. f32[6]) or two fields"
            )
        if type(size) is not int or size < 1:
            raise SchemaError(
                f"vector size must be a positive int, got {size!r} in {self.name}[...]"
            )
        return FieldType(self.name, self.dtype, (size,), is_entity=self.is_entity)

    def __repr__(self) -> str:
        if self.shape:
            return f"{self.name}[{self.shape[0]}]"
        return self.name

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, FieldType)
            and self.name == other.name
            and self.shape == other.shape
        )

    def __hash__(self) -> int:
        return hash((self.name, self.shape))

    @property
    def arrow_type(self) -> pa.DataType:
        """The Arrow type of one value of this field."""
        scalar = pa.from_numpy_dtype(self.dtype)
        if self.shape:
            return pa.list_(scalar, self.shape[0])
        return scalar

    def default_value(self) -> Any:
        """The zero value of this field (used when a declaration gives no default)."""
        if self.shape:
            return tuple(self.dtype.type(0).item() for _ in range(self.shape[0]))
        return self.dtype.type(0).item()


def _scalar(name: str, dtype: type[np.generic]) -> FieldType:
    return FieldType(name, np.dtype(dtype))


bool_ = _scalar("bool_", np.bool_)
i8 = _scalar("i8", np.int8)
i16 = _scalar("i16", np.int16)
i32 = _scalar("i32", np.int32)
i64 = _scalar("i64", np.int64)
u8 = _scalar("u8", np.uint8)
u16 = _scalar("u16", np.uint16)
u32 = _scalar("u32", np.uint32)
u64 = _scalar("u64", np.uint64)
f32 = _scalar("f32", np.float32)
f64 = _scalar("f64", np.float64)
EntityRef = FieldType("EntityRef", np.dtype(np.uint64), is_entity=True)
"""A reference to another entity, stored as its 64-bit id (0 is the null entity)."""

FIELD_TYPES: dict[str, FieldType] = {
    t.name: t
    for t in (bool_, i8, i16, i32, i64, u8, u16, u32, u64, f32, f64, EntityRef)
}

# Python builtins accepted as annotations, mapped to the widest natural column type.
_BUILTIN_ALIASES: dict[object, FieldType] = {bool: bool_, int: i64, float: f64}


def field_type_of(annotation: object, where: str) -> FieldType:
    """Resolve an annotation (a FieldType or ``int`` / ``float`` / ``bool``)."""
    if isinstance(annotation, FieldType):
        return annotation
    if annotation in _BUILTIN_ALIASES:
        return _BUILTIN_ALIASES[annotation]
    raise SchemaError(
        f"{where}: annotation {annotation!r} is not a field type; use one of "
        f"{', '.join(FIELD_TYPES)} (or int / float / bool), e.g. `x: f32` or `v: f32[3]`"
    )


def _check_int_range(
    arr: np.ndarray[Any, Any], target: np.dtype[Any], where: str
) -> None:
    if arr.size == 0:
        return
    info = np.iinfo(target)
    lo, hi = arr.min(), arr.max()
    if lo < info.min or hi > info.max:
        raise SchemaError(
            coded(
                E_DTYPE,
                f"{where}: values {lo}..{hi} do not fit {target} "
                f"(range {info.min}..{info.max}); clip them or declare a wider field",
            )
        )


def _cast(
    arr: np.ndarray[Any, Any], ftype: FieldType, where: str
) -> np.ndarray[Any, Any]:
    target = ftype.dtype
    src = arr.dtype
    if src == target:
        return arr
    kind_ok = {
        "b": src.kind == "b",
        "i": src.kind in "iub",
        "u": src.kind in "iub",
        "f": src.kind in "iubf",
    }[target.kind]
    if ftype.is_entity:
        kind_ok = src.kind in "iu"
    if not kind_ok:
        raise SchemaError(
            coded(
                E_DTYPE,
                f"{where}: got values of dtype {src}, field type is {ftype!r} "
                f"({target}); convert explicitly (e.g. arr.astype(np.{target}))"
                " if the loss is intended",
            )
        )
    if target.kind in "iu" and src.kind in "iu":
        _check_int_range(arr, target, where)
    if target.kind == "f" and src.kind == "f" and target.itemsize < src.itemsize:
        with np.errstate(over="ignore"):
            out = arr.astype(target)
        overflow = np.isinf(out) & np.isfinite(arr)
        if overflow.any():
            bad = arr[overflow].reshape(-1)[0]
            raise SchemaError(
                coded(
                    E_DTYPE,
                    f"{where}: value {bad} does not fit {target} (it would become "
                    "inf); scale it, or declare the field f64",
                )
            )
        return out
    return arr.astype(target)


def _all_python_ints(value: list[Any] | tuple[Any, ...]) -> bool:
    for v in value:
        if isinstance(v, list | tuple):
            if not _all_python_ints(v):
                return False
        elif not isinstance(v, int | np.integer) or isinstance(v, bool):
            return False
    return True


def _exact_ints(
    value: list[Any] | tuple[Any, ...], ftype: FieldType, where: str
) -> np.ndarray[Any, Any]:
    info = np.iinfo(ftype.dtype)
    flat = np.asarray(value, dtype=object).reshape(-1)
    if any(int(v) < info.min or int(v) > info.max for v in flat):
        raise SchemaError(
            coded(
                E_DTYPE,
                f"{where}: values do not fit {ftype.dtype} (range {info.min}..{info.max})",
            )
        )
    return np.array(value, dtype=object).astype(ftype.dtype)


def coerce_column(
    value: Any,
    ftype: FieldType,
    n: int | None,
    where: str,
) -> np.ndarray[Any, Any]:
    """Validate ``value`` against ``ftype`` and return an array of ``n`` rows.

    A single value (scalar, or one vector for vector fields) broadcasts to ``n`` rows.

    Parameters
    ----------
    value
        Scalar, sequence, numpy array or pyarrow array.
    ftype
        The field's type.
    n
        Number of rows wanted; ``None`` takes the length of ``value``.
    where
        Context for error messages, e.g. ``"Position.x"``.

    Returns
    -------
    numpy.ndarray
        Shape ``(n, *ftype.shape)`` with dtype ``ftype.dtype`` (may share memory
        with ``value`` when no cast is needed).

    Raises
    ------
    SchemaError
        [E0003] when the dtype cannot hold the values without loss of kind (float
        into int, int into bool, strings, objects) or the ints overflow; [E0004]
        when the shape is neither one value nor ``(n, *shape)``.
    """
    if isinstance(value, pa.ChunkedArray):
        value = value.combine_chunks()
    if isinstance(value, pa.Array):
        nulls = value.null_count
        if isinstance(value, pa.FixedSizeListArray):
            nulls += value.flatten().null_count
        if nulls:
            raise SchemaError(
                coded(
                    E_DTYPE,
                    f"{where}: the Arrow column has {nulls} null values; component "
                    "fields cannot be null: fill them (pyarrow.compute.fill_null) or "
                    "drop those rows first",
                )
            )
    if isinstance(value, pa.FixedSizeListArray):
        size = value.type.list_size
        value = value.flatten().to_numpy(zero_copy_only=False).reshape(-1, size)
    elif isinstance(value, pa.Array):
        value = value.to_numpy(zero_copy_only=False)
    arr = np.asarray(value)
    if (
        arr.dtype.kind == "f"
        and ftype.dtype.kind in "iu"
        and isinstance(value, list | tuple)
        and _all_python_ints(value)
    ):
        # numpy turns ints that do not all fit int64 (e.g. [2**64 - 1, 1]) into
        # float64; convert them exactly instead (a slow path for Python lists).
        arr = _exact_ints(value, ftype, where)
    if arr.dtype.kind not in "biuf":
        raise SchemaError(
            coded(
                E_DTYPE,
                f"{where}: got values of dtype {arr.dtype} ({type(value).__name__}); "
                f"field type {ftype!r} needs numbers of dtype {ftype.dtype}",
            )
        )
    arr = _cast(arr, ftype, where)
    shape = ftype.shape
    if arr.shape == shape:  # one value: broadcast
        if n is None:
            raise SchemaError(
                coded(
                    E_SHAPE,
                    f"{where}: got one value where a column was expected; "
                    "pass an array or give n=",
                )
            )
        return np.broadcast_to(arr, (n, *shape))
    if arr.ndim != 1 + len(shape) or arr.shape[1:] != shape:
        want = f"(n, {shape[0]})" if shape else "(n,)"
        raise SchemaError(
            coded(
                E_SHAPE,
                f"{where}: got an array of shape {arr.shape}, field type {ftype!r} "
                f"needs shape {want} or a single value",
            )
        )
    if n is not None and arr.shape[0] != n:
        raise SchemaError(
            coded(
                E_LENGTH,
                f"{where}: got {arr.shape[0]} rows, expected {n}; every column of "
                "one batch must have the same length",
            )
        )
    return arr
