from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from archetype_ecs import SchemaError
from archetype_ecs.schema import (
    FIELD_TYPES,
    EntityRef,
    bool_,
    coerce_column,
    f32,
    f64,
    field_type_of,
    i8,
    i16,
    i32,
    i64,
    u8,
    u16,
    u32,
    u64,
)

SCALARS = [
    (bool_, np.bool_, pa.bool_()),
    (i8, np.int8, pa.int8()),
    (i16, np.int16, pa.int16()),
    (i32, np.int32, pa.int32()),
    (i64, np.int64, pa.int64()),
    (u8, np.uint8, pa.uint8()),
    (u16, np.uint16, pa.uint16()),
    (u32, np.uint32, pa.uint32()),
    (u64, np.uint64, pa.uint64()),
    (f32, np.float32, pa.float32()),
    (f64, np.float64, pa.float64()),
]


@pytest.mark.parametrize(("ftype", "dtype", "arrow"), SCALARS, ids=lambda v: str(v))
def test_scalar_field_type_maps_to_dtype_and_arrow_type(ftype, dtype, arrow):
    assert ftype.dtype == np.dtype(dtype)
    assert ftype.shape == ()
    assert ftype.arrow_type == arrow
    assert not ftype.is_entity
    assert FIELD_TYPES[ftype.name] is ftype


@pytest.mark.parametrize(("ftype", "dtype", "arrow"), SCALARS, ids=lambda v: str(v))
def test_scalar_default_value_is_python_zero_of_the_dtype(ftype, dtype, arrow):
    zero = ftype.default_value()
    assert zero == 0
    assert type(zero) is type(np.dtype(dtype).type(0).item())


@pytest.mark.parametrize(("ftype", "dtype", "arrow"), SCALARS, ids=lambda v: str(v))
def test_vector_field_maps_to_n_by_k_column_and_fixed_size_list(ftype, dtype, arrow):
    vec = ftype[3]
    assert vec.shape == (3,)
    assert vec.dtype == np.dtype(dtype)
    assert vec.arrow_type == pa.list_(arrow, 3)
    assert isinstance(vec.arrow_type, pa.FixedSizeListType)
    assert vec.default_value() == (0, 0, 0)
    col = coerce_column(np.zeros((4, 3)).astype(dtype), vec, 4, "V.v")
    assert col.shape == (4, 3)


def test_entity_ref_is_uint64_with_entity_flag():
    assert EntityRef.dtype == np.uint64
    assert EntityRef.is_entity
    assert EntityRef.arrow_type == pa.uint64()
    assert EntityRef.default_value() == 0


def test_vector_repr_equality_and_hash():
    assert repr(f32[3]) == "f32[3]"
    assert repr(f32) == "f32"
    assert f32[3] == f32[3]
    assert f32[3] != f32[4]
    assert f32[3] != f64[3]
    assert hash(f32[3]) == hash(f32[3])
    assert f32 == f32


def test_nested_vector_is_rejected():
    with pytest.raises(SchemaError, match=r"already a vector"):
        f32[3][2]


@pytest.mark.parametrize("size", [0, -1, 2.0, True, "3", np.int64(3)])
def test_vector_size_must_be_a_positive_python_int(size):
    with pytest.raises(SchemaError, match=r"vector size must be a positive int"):
        f32[size]


@pytest.mark.parametrize(("ann", "expected"), [(int, i64), (float, f64), (bool, bool_)])
def test_builtin_annotations_map_to_widest_types(ann, expected):
    assert field_type_of(ann, "C.x") is expected


@pytest.mark.parametrize("ann", [str, list, np.float32, "f32", None])
def test_non_field_type_annotation_is_rejected_naming_where(ann):
    with pytest.raises(SchemaError, match=r"C\.x: annotation .* is not a field type"):
        field_type_of(ann, "C.x")


# coerce_column


def test_coerce_broadcasts_one_value_to_n_rows():
    col = coerce_column(2.5, f32, 4, "P.x")
    assert col.dtype == np.float32
    np.testing.assert_array_equal(col, [2.5] * 4)


def test_coerce_broadcasts_one_vector_to_n_rows():
    col = coerce_column([1, 2, 3], f32[3], 2, "H.v")
    assert col.shape == (2, 3)
    np.testing.assert_array_equal(col, [[1, 2, 3], [1, 2, 3]])


def test_coerce_one_value_without_n_is_a_shape_error(raises_coded):
    with raises_coded(SchemaError, "E0004", "P.x"):
        coerce_column(1.0, f32, None, "P.x")


def test_coerce_takes_length_from_value_when_n_is_none():
    assert coerce_column([1, 2, 3], i32, None, "M.m").shape == (3,)


def test_coerce_same_dtype_shares_memory():
    arr = np.arange(5, dtype=np.float32)
    assert np.shares_memory(coerce_column(arr, f32, 5, "P.x"), arr)


@pytest.mark.parametrize(
    ("values", "ftype"),
    [
        (np.array([1, 2], dtype=np.int64), f32),
        (np.array([True, False]), i8),
        (np.array([1, 2], dtype=np.uint8), i16),
        (np.array([1, 2], dtype=np.int32), u64),
        (np.array([1.5, 2.5], dtype=np.float32), f64),
        (np.array([7, 8], dtype=np.int64), EntityRef),
        (np.array([7, 8], dtype=np.uint32), EntityRef),
    ],
)
def test_coerce_accepts_lossless_kinds(values, ftype):
    col = coerce_column(values, ftype, 2, "C.x")
    assert col.dtype == ftype.dtype
    np.testing.assert_array_equal(col, values.astype(ftype.dtype))


@pytest.mark.parametrize(
    ("values", "ftype"),
    [
        ([1.5, 2.0], i32),  # float into int
        ([1.0, 2.0], u8),
        ([1, 0], bool_),  # int into bool
        ([1.0], bool_),
        ([1.0, 2.0], EntityRef),  # float into entity
        ([True], EntityRef),
        (["a", "b"], f32),  # strings
        ([b"a"], i32),
        ([object()], f64),
        ([1 + 2j], f64),
    ],
)
def test_coerce_rejects_lossy_kinds_with_e0003_naming_field(
    values, ftype, raises_coded
):
    with raises_coded(SchemaError, "E0003", "C.x"):
        coerce_column(values, ftype, len(values), "C.x")


@pytest.mark.parametrize(
    ("values", "ftype"),
    [
        ([128], i8),
        ([-129], i8),
        ([256], u8),
        ([-1], u8),
        ([-1], u64),
        ([2**31], i32),
        ([2**32], u32),
        ([-1], EntityRef),
        (np.array([2**63], dtype=np.uint64), i64),
    ],
)
def test_coerce_rejects_int_overflow_with_e0003(values, ftype, raises_coded):
    with raises_coded(SchemaError, "E0003", "C.x", "do not fit"):
        coerce_column(values, ftype, 1, "C.x")


def test_coerce_accepts_ints_at_the_range_edges():
    col = coerce_column([-128, 127], i8, 2, "C.x")
    np.testing.assert_array_equal(col, [-128, 127])
    col = coerce_column(np.array([0, 2**64 - 1], dtype=np.uint64), u64, 2, "C.x")
    assert int(col[1]) == 2**64 - 1


@pytest.mark.parametrize(
    ("values", "ftype"),
    [
        (np.zeros((2, 2)), f32),  # 2-d into scalar field
        (np.zeros((2, 4)), f32[3]),  # wrong vector size
        (np.zeros(2), f32[3]),  # flat into vector field
        (np.zeros((2, 3, 1)), f32[3]),
    ],
)
def test_coerce_rejects_wrong_shape_with_e0004(values, ftype, raises_coded):
    with raises_coded(SchemaError, "E0004", "C.x", str(values.shape)):
        coerce_column(values, ftype, 2, "C.x")


def test_coerce_rejects_wrong_row_count_with_e0009(raises_coded):
    with raises_coded(SchemaError, "E0009", "C.x", "got 3 rows, expected 2"):
        coerce_column([1.0, 2.0, 3.0], f32, 2, "C.x")


def test_coerce_accepts_arrow_arrays():
    col = coerce_column(pa.array([1, 2, 3], type=pa.int16()), i32, 3, "C.x")
    assert col.dtype == np.int32
    np.testing.assert_array_equal(col, [1, 2, 3])


def test_coerce_accepts_chunked_arrays():
    chunked = pa.chunked_array([[1.0, 2.0], [3.0]], type=pa.float64())
    np.testing.assert_array_equal(coerce_column(chunked, f64, 3, "C.x"), [1, 2, 3])


def test_coerce_accepts_arrow_fixed_size_list_as_vector_column():
    arr = pa.array([[1, 2, 3], [4, 5, 6]], type=pa.list_(pa.float32(), 3))
    col = coerce_column(arr, f32[3], 2, "H.v")
    assert col.shape == (2, 3)
    np.testing.assert_array_equal(col, [[1, 2, 3], [4, 5, 6]])


def test_coerce_rejects_arrow_strings_with_e0003(raises_coded):
    with raises_coded(SchemaError, "E0003", "C.x"):
        coerce_column(pa.array(["a"]), f32, 1, "C.x")
