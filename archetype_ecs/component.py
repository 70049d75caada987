"""Component declaration (``@component``), component schemas and the per-world registry.

A component is a class whose annotations are field types (``x: f32``); a class with
no fields is a tag. ``@component`` turns it into a slotted dataclass and attaches a
:class:`ComponentSchema`. Each :class:`~archetype_ecs.world.World` numbers the
components it meets in its :class:`Components` registry (ids are per world, stable in
order of first use).
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple, NewType, TypeVar, cast, overload

import numpy as np

from archetype_ecs.errors import (
    E_DUPLICATE_NAME,
    E_NOT_A_COMPONENT,
    ComponentNotRegisteredError,
    SchemaError,
    coded,
)
from archetype_ecs.schema import FieldType, coerce_column, field_type_of

__all__ = [
    "ComponentId",
    "ComponentSchema",
    "ComponentView",
    "Components",
    "FieldSpec",
    "component",
    "is_component",
    "schema_of",
]

ComponentId = NewType("ComponentId", int)

T = TypeVar("T", bound=type)


class FieldSpec(NamedTuple):
    """One field of a component: name, type and default value."""

    name: str
    type: FieldType
    default: Any


class ComponentView:
    """Writable numpy views of one component's fields in one archetype table.

    Fields are attributes (``pos.x``). Assigning to a field writes *into* the
    column (``pos.x = 0`` and ``pos.x += vel.dx`` both update storage in place);
    iterating yields the field arrays in declaration order, so ``x, y = pos`` works.
    Valid until the next structural change of the table.
    """

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __init__(self, *arrays: np.ndarray[Any, Any]) -> None:
        for name, arr in zip(self._fields, arrays, strict=True):
            object.__setattr__(self, name, arr)

    def __setattr__(self, name: str, value: object) -> None:
        if name not in self._fields:
            raise AttributeError(
                f"{type(self).__name__} has no field {name!r}; fields: {list(self._fields)}"
            )
        current = getattr(self, name)
        if value is not current:
            current[...] = value

    def __iter__(self) -> Iterator[np.ndarray[Any, Any]]:
        return (getattr(self, n) for n in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        rows = len(getattr(self, self._fields[0])) if self._fields else 0
        return f"<{type(self).__name__} fields={list(self._fields)} rows={rows}>"


class ComponentSchema:
    """The contract of one component type: its name, version and fields.

    Reached as ``schema_of(Position)`` or ``Position.__ecs_schema__``.
    """

    __slots__ = ("_defaults", "cls", "fields", "name", "version", "view_type")

    def __init__(
        self, cls: type, name: str, fields: tuple[FieldSpec, ...], version: int
    ) -> None:
        self.cls = cls
        self.name = name
        self.fields = fields
        self.version = version
        # each field's default, checked and cast once (broadcast per use)
        self._defaults: dict[str, np.ndarray[Any, Any]] = {}
        self.view_type: type[ComponentView] = type(
            f"{name}View",
            (ComponentView,),
            {
                "__slots__": tuple(f.name for f in fields),
                "_fields": tuple(f.name for f in fields),
            },
        )

    @property
    def is_tag(self) -> bool:
        """True when the component has no fields."""
        return not self.fields

    def column_keys(self) -> tuple[str, ...]:
        """Column names of the fields, ``"<Component>.<field>"``."""
        return tuple(f"{self.name}.{f.name}" for f in self.fields)

    def columns_of(self, instance: object) -> dict[str, np.ndarray[Any, Any]]:
        """Validate an instance's values; one-row arrays keyed by field name."""
        return {
            f.name: coerce_column(
                [getattr(instance, f.name)], f.type, 1, f"{self.name}.{f.name}"
            )
            for f in self.fields
        }

    def coerce(
        self, values: object, n: int | None
    ) -> tuple[int | None, dict[str, np.ndarray[Any, Any]]]:
        """Validate batch values for this component.

        ``values`` is ``None`` (defaults / tag), an instance (broadcast), a mapping of
        field name to array-like (missing fields take their defaults), or, for a
        one-field component, the array itself. Returns the row count (if known) and
        full columns keyed by field name.
        """
        if values is None:
            given: dict[str, Any] = {}
        elif isinstance(values, self.cls):
            given = {f.name: getattr(values, f.name) for f in self.fields}
            return n, self._broadcast(given, n)
        elif isinstance(values, dict):
            given = dict(values)
        elif len(self.fields) == 1:
            given = {self.fields[0].name: values}
        else:
            raise SchemaError(
                f"values for {self.name} must be None, a {self.name}(...) instance or "
                f"a dict of field -> array (fields: {self.field_names()}), got "
                f"{type(values).__name__}"
            )
        unknown = set(given) - {f.name for f in self.fields}
        if unknown:
            from archetype_ecs.errors import E_UNKNOWN_FIELD

            raise SchemaError(
                coded(
                    E_UNKNOWN_FIELD,
                    f"{self.name} has no field(s) {sorted(unknown)}; its fields are "
                    f"{self.field_names()}",
                )
            )
        out: dict[str, np.ndarray[Any, Any]] = {}
        for f in self.fields:
            if f.name in given:
                arr = coerce_column(given[f.name], f.type, n, f"{self.name}.{f.name}")
                n = arr.shape[0]
                out[f.name] = arr
        for f in self.fields:
            if f.name not in out:
                out[f.name] = self._default_column(f, n)
        return n, out

    def _broadcast(
        self, given: dict[str, Any], n: int | None
    ) -> dict[str, np.ndarray[Any, Any]]:
        rows = 1 if n is None else n
        return {
            f.name: coerce_column(given[f.name], f.type, rows, f"{self.name}.{f.name}")
            for f in self.fields
        }

    def _default_column(self, f: FieldSpec, n: int | None) -> np.ndarray[Any, Any]:
        rows = 1 if n is None else n
        one = self._defaults.get(f.name)
        if one is None:
            one = coerce_column(f.default, f.type, 1, f"{self.name}.{f.name}")[0]
            self._defaults[f.name] = one
        return np.broadcast_to(one, (rows, *f.type.shape))

    def field_names(self) -> list[str]:
        """Names of the fields in declaration order."""
        return [f.name for f in self.fields]

    def __repr__(self) -> str:
        body = ", ".join(f"{f.name}: {f.type!r}" for f in self.fields)
        return f"<component {self.name}({body}) v{self.version}>"


def _resolve_annotations(cls: type) -> dict[str, object]:
    raw = inspect.get_annotations(cls)
    module = sys.modules.get(cls.__module__)
    namespace = dict(vars(module)) if module is not None else {}
    namespace.update(vars(cls))
    out: dict[str, object] = {}
    for name, ann in raw.items():
        if isinstance(ann, str):
            from archetype_ecs import schema as _schema

            scope = {**vars(_schema), **namespace}
            try:
                ann = eval(ann, scope)
            except Exception as exc:
                raise SchemaError(
                    f"{cls.__qualname__}.{name}: cannot resolve annotation {ann!r} "
                    f"({exc}); import the field type into the module"
                ) from exc
        out[name] = ann
    return out


def _build_schema(cls: type, name: str, version: int) -> tuple[FieldSpec, ...]:
    fields = []
    for fname, ann in _resolve_annotations(cls).items():
        ftype = field_type_of(ann, f"{name}.{fname}")
        default = cls.__dict__.get(fname, ftype.default_value())
        if isinstance(default, list | np.ndarray):
            default = tuple(np.asarray(default).tolist())
        # Validate the default now so a bad declaration fails at import, and keep
        # it as the stored value would read back (e.g. (0, 0, 1) -> (0.0, 0.0, 1.0)).
        col = coerce_column([default], ftype, 1, f"{name}.{fname} (default)")
        value = col[0]
        default = tuple(value.tolist()) if ftype.shape else value.item()
        fields.append(FieldSpec(fname, ftype, default))
    return tuple(fields)


@overload
def component(cls: T, /) -> T: ...
@overload
def component(*, name: str | None = None, version: int = 1) -> Callable[[T], T]: ...
def component(
    cls: T | None = None, /, *, name: str | None = None, version: int = 1
) -> T | Callable[[T], T]:
    """Declare a component type from a class with annotated fields.

    Parameters
    ----------
    cls
        The class; its annotations are field types (see :mod:`archetype_ecs.schema`)
        and its class attributes are the defaults.
    name
        Component name used in columns, saves and scripts (default: class name).
    version
        Schema version recorded in saves, for migrations.

    Returns
    -------
    type
        The class, now a slotted dataclass with ``__ecs_schema__``.

    Raises
    ------
    SchemaError
        When an annotation is not a field type or a default does not fit its field.

    Examples
    --------
    >>> from archetype_ecs import component, f32
    >>> @component
    ... class Position:
    ...     x: f32 = 0.0
    ...     y: f32 = 0.0
    >>> Position(1.0)
    Position(x=1.0, y=0.0)
    >>> schema_of(Position).column_keys()
    ('Position.x', 'Position.y')
    """

    def wrap(c: T) -> T:
        cname = name or c.__name__
        fields = _build_schema(c, cname, version)
        for f in fields:  # tuple defaults are fine; dataclass rejects only mutables
            setattr(c, f.name, f.default)
        dc: Any = dataclasses.dataclass(slots=True)(c)
        dc.__ecs_schema__ = ComponentSchema(dc, cname, fields, version)
        return cast(T, dc)

    if cls is None:
        return wrap
    return wrap(cls)


def is_component(obj: object) -> bool:
    """True when ``obj`` is a component class declared with ``@component``."""
    return isinstance(obj, type) and isinstance(
        obj.__dict__.get("__ecs_schema__"), ComponentSchema
    )


def schema_of(obj: object, where: str = "") -> ComponentSchema:
    """The schema of a component class or instance.

    Raises
    ------
    ComponentNotRegisteredError
        [E0002] when ``obj`` is not a ``@component`` class or instance.
    """
    cls = obj if isinstance(obj, type) else type(obj)
    schema = cls.__dict__.get("__ecs_schema__")
    if isinstance(schema, ComponentSchema):
        return schema
    at = f" in {where}" if where else ""
    raise ComponentNotRegisteredError(
        coded(
            E_NOT_A_COMPONENT,
            f"{obj!r} is not a component{at}; decorate its class with @component "
            "(and pass the class or an instance, e.g. Position or Position(1, 2))",
        )
    )


class Components:
    """A world's registry of component types: dense ids in order of first use."""

    def __init__(self) -> None:
        self._ids: dict[type, ComponentId] = {}
        self._by_name: dict[str, ComponentId] = {}
        self.schemas: list[ComponentSchema] = []
        # Components whose per-row added / changed ticks are stored (pay for use).
        self.tracked: set[ComponentId] = set()
        # Called with each newly registered schema (the world installs per-component
        # behavior here, e.g. the hierarchy for ChildOf).
        self.on_register: list[Callable[[ComponentSchema], None]] = []

    def id_of(self, obj: object, where: str = "") -> ComponentId:
        """The id of a component class or instance, registering it on first use."""
        cls = obj if isinstance(obj, type) else type(obj)
        cid = self._ids.get(cls)
        if cid is not None:
            return cid
        schema = schema_of(obj, where)
        if getattr(cls, "__ecs_event__", False):
            at = f" in {where}" if where else ""
            raise ComponentNotRegisteredError(
                coded(
                    E_NOT_A_COMPONENT,
                    f"{schema.name} is an event type, not a component{at}; send it "
                    "with ctx.send(...) / world.events.send(...) instead",
                )
            )
        if schema.name in self._by_name:
            other = self.schemas[self._by_name[schema.name]].cls
            raise SchemaError(
                coded(
                    E_DUPLICATE_NAME,
                    f"two component classes are both named {schema.name!r} "
                    f"({other.__module__}.{other.__qualname__} and "
                    f"{cls.__module__}.{cls.__qualname__}); "
                    + (
                        "the class was declared again (a re-run notebook cell?): "
                        "create a new World for the new declaration"
                        if (other.__module__, other.__qualname__)
                        == (cls.__module__, cls.__qualname__)
                        else "give one of them @component(name=...)"
                    ),
                )
            )
        cid = ComponentId(len(self.schemas))
        self._ids[cls] = cid
        self._by_name[schema.name] = cid
        self.schemas.append(schema)
        for hook in self.on_register:
            hook(schema)
        return cid

    def by_name(self, name: str) -> ComponentId | None:
        """The id of the component registered under ``name``, or ``None``."""
        return self._by_name.get(name)

    def __len__(self) -> int:
        return len(self.schemas)

    def __iter__(self) -> Iterator[ComponentSchema]:
        return iter(self.schemas)
