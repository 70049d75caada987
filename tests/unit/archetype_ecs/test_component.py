# No `from __future__ import annotations` here on purpose: this module declares
# components with real annotation objects; the string form is tested through a
# synthetic module below (and every other unit test module uses it).
import dataclasses
import sys
import types

import numpy as np
import pytest

from archetype_ecs import (
    ComponentNotRegisteredError,
    ComponentSchema,
    SchemaError,
    component,
    is_component,
    schema_of,
)
from archetype_ecs.component import Components, ComponentView
from archetype_ecs.schema import EntityRef, bool_, f32, f64, i32, i64, u8


@component
class Position:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class Heading:
    v: f32[3]


@component
class Frozen:
    pass


@component(name="Hp", version=3)
class Health:
    value: i32 = 100


@component
class Mixed:
    count: int
    ratio: float = 0.5
    flag: bool = True
    target: EntityRef = 0
    small: u8 = 7


def test_component_becomes_a_slotted_dataclass_with_defaults():
    assert dataclasses.is_dataclass(Position)
    assert Position() == Position(0.0, 0.0)
    assert Position(1.0) == Position(x=1.0, y=0.0)
    assert repr(Position(1.0)) == "Position(x=1.0, y=0.0)"
    assert not hasattr(Position(), "__dict__")


def test_field_without_default_takes_zero_of_its_type():
    assert Heading() == Heading((0.0, 0.0, 0.0))
    assert Mixed().count == 0


def test_vector_default_list_is_stored_as_tuple():
    @component
    class Dir:
        v: f32[2] = [1.0, 0.0]  # noqa: RUF012 - a list default is the point here

    assert schema_of(Dir).fields[0].default == (1.0, 0.0)
    assert Dir().v == (1.0, 0.0)


def test_schema_lists_fields_in_declaration_order():
    s = schema_of(Mixed)
    assert s.field_names() == ["count", "ratio", "flag", "target", "small"]
    assert [f.type for f in s.fields] == [i64, f64, bool_, EntityRef, u8]
    assert [f.default for f in s.fields] == [0, 0.5, True, 0, 7]
    assert s.column_keys() == (
        "Mixed.count",
        "Mixed.ratio",
        "Mixed.flag",
        "Mixed.target",
        "Mixed.small",
    )


def test_builtin_annotations_map_to_widest_column_types():
    s = schema_of(Mixed)
    assert s.fields[0].type.dtype == np.int64
    assert s.fields[1].type.dtype == np.float64
    assert s.fields[2].type.dtype == np.bool_


def test_class_without_fields_is_a_tag():
    s = schema_of(Frozen)
    assert s.is_tag
    assert s.fields == ()
    assert s.column_keys() == ()
    assert not schema_of(Position).is_tag


def test_name_and_version_options_set_schema_name_and_columns():
    s = schema_of(Health)
    assert s.name == "Hp"
    assert s.version == 3
    assert s.column_keys() == ("Hp.value",)
    assert repr(s) == "<component Hp(value: i32) v3>"
    assert Health.__name__ == "Health"


def test_schema_repr_shows_fields_and_version():
    assert repr(schema_of(Heading)) == "<component Heading(v: f32[3]) v1>"


def test_schema_is_reachable_from_class_and_instance():
    assert isinstance(Position.__ecs_schema__, ComponentSchema)
    assert schema_of(Position) is Position.__ecs_schema__
    assert schema_of(Position(1, 2)) is Position.__ecs_schema__
    assert schema_of(Position).cls is Position


def test_is_component_is_true_only_for_component_classes():
    assert is_component(Position)
    assert is_component(Frozen)
    assert not is_component(Position())
    assert not is_component(int)
    assert not is_component("Position")

    class Plain:
        x: float = 0.0

    assert not is_component(Plain)


@pytest.mark.parametrize("obj", [int, 3, "Position", object()])
def test_schema_of_non_component_raises_e0002_naming_where(obj, raises_coded):
    with raises_coded(ComponentNotRegisteredError, "E0002", repr(obj), "in spawn"):
        schema_of(obj, "spawn")


def test_subclass_of_component_is_not_a_component_until_decorated():
    class Sub(Position):
        pass

    assert not is_component(Sub)
    with pytest.raises(ComponentNotRegisteredError, match=r"\[E0002\]"):
        schema_of(Sub)


# String annotations (from __future__ import annotations)

_FUTURE_SOURCE = """
from __future__ import annotations
from archetype_ecs import component, f32, i32, EntityRef

Vec3 = f32[3]

@component
class Body:
    pos: Vec3
    mass: f32 = 1.0
    parent: EntityRef = 0
    hp: i32 = 5
    count: int = 2
"""


def _load_module(name, source, monkeypatch):
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    exec(compile(source, f"<{name}>", "exec"), module.__dict__)
    return module


def test_string_annotations_resolve_in_module_and_field_type_scope(monkeypatch):
    mod = _load_module("_unit_future_components", _FUTURE_SOURCE, monkeypatch)
    s = schema_of(mod.Body)
    assert [(f.name, repr(f.type)) for f in s.fields] == [
        ("pos", "f32[3]"),
        ("mass", "f32"),
        ("parent", "EntityRef"),
        ("hp", "i32"),
        ("count", "i64"),
    ]
    assert mod.Body().pos == (0.0, 0.0, 0.0)


def test_field_types_resolve_without_importing_them(monkeypatch):
    source = (
        "from __future__ import annotations\n"
        "from archetype_ecs import component\n"
        "@component\n"
        "class Lean:\n"
        "    a: u16 = 1\n"
        "    b: f64[2]\n"
    )
    mod = _load_module("_unit_lean_components", source, monkeypatch)
    assert [repr(f.type) for f in schema_of(mod.Lean).fields] == ["u16", "f64[2]"]


def test_unresolvable_string_annotation_names_class_and_field():
    with pytest.raises(
        SchemaError, match=r"Ghost\.x: cannot resolve annotation 'Nope'"
    ):

        @component
        class Ghost:
            x: "Nope" = 0  # noqa: F821 - unresolvable on purpose


# Bad declarations


@pytest.mark.parametrize("ann", [str, list, np.float32, complex, "str"])
def test_non_field_type_annotation_is_rejected_naming_component_and_field(ann):
    with pytest.raises(SchemaError, match=r"Bad\.x: annotation .* is not a field type"):

        @component
        class Bad:
            __annotations__ = {"x": ann}
            x = 0


@pytest.mark.parametrize(
    ("ftype", "default", "code"),
    [
        (i32, 1.5, "E0003"),  # float into int
        (i32, "a", "E0003"),  # string
        (u8, 300, "E0003"),  # overflow
        (u8, -1, "E0003"),
        (bool_, 2, "E0003"),
        (EntityRef, 1.0, "E0003"),
        (f32[3], (1.0, 2.0), "E0004"),  # wrong vector size
        (f32, (1.0, 2.0), "E0004"),  # vector into scalar
    ],
)
def test_bad_default_is_rejected_at_declaration(ftype, default, code, raises_coded):
    with raises_coded(SchemaError, code, "Bad.x (default)"):

        @component
        class Bad:
            __annotations__ = {"x": ftype}
            x = default


# ComponentSchema.coerce / columns_of


def test_columns_of_validates_an_instance_into_one_row_columns():
    cols = schema_of(Position).columns_of(Position(1.5, 2.5))
    assert set(cols) == {"x", "y"}
    assert cols["x"].dtype == np.float32
    np.testing.assert_array_equal(cols["x"], [1.5])


def test_columns_of_rejects_bad_instance_values_with_e0003(raises_coded):
    with raises_coded(SchemaError, "E0003", "Hp.value"):
        schema_of(Health).columns_of(Health(value=2.5))


def test_coerce_none_gives_defaults_for_n_rows():
    n, cols = schema_of(Health).coerce(None, 3)
    assert n == 3
    np.testing.assert_array_equal(cols["value"], [100, 100, 100])


def test_coerce_instance_broadcasts_to_n_rows():
    n, cols = schema_of(Position).coerce(Position(1, 2), 4)
    assert n == 4
    np.testing.assert_array_equal(cols["y"], [2, 2, 2, 2])


def test_coerce_dict_fills_missing_fields_with_defaults_and_infers_n():
    n, cols = schema_of(Position).coerce({"x": [1.0, 2.0]}, None)
    assert n == 2
    np.testing.assert_array_equal(cols["x"], [1, 2])
    np.testing.assert_array_equal(cols["y"], [0, 0])


def test_coerce_bare_array_for_one_field_component():
    n, cols = schema_of(Health).coerce(np.array([1, 2, 3]), None)
    assert n == 3
    assert cols["value"].dtype == np.int32


def test_coerce_bare_array_for_multi_field_component_is_rejected():
    with pytest.raises(SchemaError, match=r"values for Position must be None"):
        schema_of(Position).coerce(np.array([1.0, 2.0]), None)


def test_coerce_unknown_field_raises_e0005_naming_component_and_field(raises_coded):
    with raises_coded(SchemaError, "E0005", "Position", "['z']"):
        schema_of(Position).coerce({"x": [1.0], "z": [2.0]}, None)


def test_coerce_mismatched_field_lengths_raise_e0009(raises_coded):
    with raises_coded(SchemaError, "E0009", "Position.y"):
        schema_of(Position).coerce({"x": [1.0, 2.0], "y": [1.0]}, None)


# Components registry


def test_registry_numbers_components_densely_in_order_of_first_use():
    reg = Components()
    assert reg.id_of(Health) == 0
    assert reg.id_of(Position(1, 2)) == 1  # instances resolve to their class
    assert reg.id_of(Health) == 0
    assert len(reg) == 2
    assert [s.name for s in reg] == ["Hp", "Position"]
    assert reg.by_name("Hp") == 0
    assert reg.by_name("Health") is None


def test_registry_rejects_non_component_with_e0002(raises_coded):
    reg = Components()
    with raises_coded(ComponentNotRegisteredError, "E0002", "'oops'", "in query"):
        reg.id_of("oops", "query")
    assert len(reg) == 0


def test_registry_rejects_two_classes_with_one_name_with_e0010(raises_coded):
    def make():
        @component
        class Position:
            z: f32 = 0.0

        return Position

    reg = Components()
    reg.id_of(Position)
    with raises_coded(SchemaError, "E0010", "'Position'", "name=..."):
        reg.id_of(make())
    assert len(reg) == 1


def test_name_option_resolves_a_name_collision():
    @component(name="Position2")
    class Position:
        z: f32 = 0.0

    reg = Components()
    reg.id_of(globals()["Position"])
    assert reg.id_of(Position) == 1


# ComponentView


def _view(xs, ys):
    return schema_of(Position).view_type(xs, ys)


def test_view_fields_are_the_given_arrays():
    xs, ys = np.zeros(3, np.float32), np.ones(3, np.float32)
    view = _view(xs, ys)
    assert isinstance(view, ComponentView)
    assert view.x is xs
    assert view.y is ys
    assert len(view) == 2
    a, b = view
    assert a is xs
    assert b is ys
    assert repr(view) == "<PositionView fields=['x', 'y'] rows=3>"


def test_assigning_a_view_field_writes_into_the_array():
    xs, ys = np.zeros(3, np.float32), np.ones(3, np.float32)
    view = _view(xs, ys)
    view.x = 5.0
    view.y += np.float32(1.0)
    assert view.x is xs
    np.testing.assert_array_equal(xs, [5, 5, 5])
    np.testing.assert_array_equal(ys, [2, 2, 2])


def test_assigning_an_unknown_view_field_raises_attribute_error():
    view = _view(np.zeros(1, np.float32), np.zeros(1, np.float32))
    with pytest.raises(AttributeError, match=r"PositionView has no field 'z'"):
        view.z = 1.0


def test_tag_view_is_empty():
    view = schema_of(Frozen).view_type()
    assert len(view) == 0
    assert list(view) == []
