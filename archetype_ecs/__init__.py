"""arrow-ecs: a data-oriented archetype Entity-Component-System for Python.

Entities with the same component set live in one archetype table whose columns are
Apache Arrow buffers; Numba kernels run over those columns in place; structural
changes are recorded in command buffers and applied in bulk.
"""

from typing import TYPE_CHECKING

from archetype_ecs._jit import njit, prange
from archetype_ecs.archetype import ArchetypeInfo
from archetype_ecs.commands import ApplyReport, CommandBuffer
from archetype_ecs.component import ComponentSchema, component, is_component, schema_of
from archetype_ecs.entity import NULL_ENTITY, Entity
from archetype_ecs.errors import (
    ComponentNotRegisteredError,
    EcsError,
    EntityNotAliveError,
    MissingComponentError,
    ResourceNotFoundError,
    SchemaError,
    StructuralChangeError,
)
from archetype_ecs.events import event
from archetype_ecs.observers import Trigger, on_add, on_remove, on_set
from archetype_ecs.query import QueryState
from archetype_ecs.random import Rng
from archetype_ecs.recorder import Recorder
from archetype_ecs.resources import Time
from archetype_ecs.schedule import Schedule
from archetype_ecs.system import System, SystemContext, every, resource_equals, system

if TYPE_CHECKING:
    # For type checkers a field annotation is the Python type of one value, so
    # `x: f32 = 0.0` type-checks in user code. At run time these are FieldType
    # objects (see archetype_ecs.schema), which is what @component reads.
    from typing import TypeAlias

    bool_: TypeAlias = bool
    i8: TypeAlias = int
    i16: TypeAlias = int
    i32: TypeAlias = int
    i64: TypeAlias = int
    u8: TypeAlias = int
    u16: TypeAlias = int
    u32: TypeAlias = int
    u64: TypeAlias = int
    f32: TypeAlias = float
    f64: TypeAlias = float
    EntityRef: TypeAlias = int
else:
    from archetype_ecs.schema import (
        EntityRef,
        bool_,
        f32,
        f64,
        i8,
        i16,
        i32,
        i64,
        u8,
        u16,
        u32,
        u64,
    )
from archetype_ecs.table import ArchetypeTable
from archetype_ecs.world import World

__all__ = [
    "Recorder",
    "Rng",
    "Schedule",
    "System",
    "SystemContext",
    "Time",
    "event",
    "every",
    "resource_equals",
    "system",
    "NULL_ENTITY",
    "ApplyReport",
    "ArchetypeInfo",
    "ArchetypeTable",
    "CommandBuffer",
    "ComponentNotRegisteredError",
    "ComponentSchema",
    "EcsError",
    "Entity",
    "EntityNotAliveError",
    "EntityRef",
    "MissingComponentError",
    "QueryState",
    "ResourceNotFoundError",
    "SchemaError",
    "Trigger",
    "StructuralChangeError",
    "World",
    "bool_",
    "component",
    "f32",
    "f64",
    "i8",
    "i16",
    "i32",
    "i64",
    "is_component",
    "njit",
    "on_add",
    "on_remove",
    "on_set",
    "prange",
    "schema_of",
    "u8",
    "u16",
    "u32",
    "u64",
]

__version__ = "0.1.0"
