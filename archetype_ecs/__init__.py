"""arrow-ecs: a data-oriented archetype Entity-Component-System for Python.

Entities with the same component set live in one archetype table whose columns are
Apache Arrow buffers; Numba kernels run over those columns in place; structural
changes are recorded in command buffers and applied in bulk.
"""

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
from archetype_ecs.query import QueryState
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
    "schema_of",
    "u8",
    "u16",
    "u32",
    "u64",
]

__version__ = "0.1.0"
