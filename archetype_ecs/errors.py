"""The exception tree of arrow-ecs and its stable error codes.

Every message says what happened, where, and what to do. The ten most common user
mistakes carry a stable code (``[E0001]`` ...) that points at ``docs/errors/E00NN.md``.
"""

from __future__ import annotations

__all__ = [
    "DOCS_URL",
    "ISSUES_URL",
    "AccessConflictError",
    "ComponentNotRegisteredError",
    "EcsError",
    "EntityNotAliveError",
    "InternalError",
    "MissingComponentError",
    "ObserverCascadeError",
    "QueryFilterError",
    "ReplayDivergenceError",
    "ResourceNotFoundError",
    "ScheduleCycleError",
    "SchemaError",
    "SerializationError",
    "StructuralChangeError",
    "UndeclaredAccessError",
    "coded",
]

DOCS_URL = "docs/errors"
ISSUES_URL = "the arrow-ecs issue tracker"

# Stable codes of the most common mistakes; tests assert on them.
E_NOT_ALIVE = "E0001"
E_NOT_A_COMPONENT = "E0002"
E_DTYPE = "E0003"
E_SHAPE = "E0004"
E_UNKNOWN_FIELD = "E0005"
E_MISSING_COMPONENT = "E0006"
E_STRUCTURAL = "E0007"
E_RESOURCE = "E0008"
E_LENGTH = "E0009"
E_DUPLICATE_NAME = "E0010"
E_UNDECLARED = "E0011"
E_CYCLE = "E0012"


def coded(code: str, message: str) -> str:
    """Return ``message`` framed with its stable error code and docs page.

    Parameters
    ----------
    code
        A code such as ``"E0001"``.
    message
        What happened, where, and what to do.

    Returns
    -------
    str
        ``"[E0001] <message> (see docs/errors/E0001.md)"``.

    Examples
    --------
    >>> coded("E0001", "entity 3v1 is not alive")
    '[E0001] entity 3v1 is not alive (see docs/errors/E0001.md)'
    """
    return f"[{code}] {message} (see {DOCS_URL}/{code}.md)"


class EcsError(Exception):
    """Base class of every error arrow-ecs raises on purpose."""


class EntityNotAliveError(EcsError, LookupError):
    """An entity id names a despawned (or never spawned) entity."""


class ComponentNotRegisteredError(EcsError, LookupError):
    """A value or type used as a component is not a declared component."""


class MissingComponentError(EcsError, LookupError):
    """An entity is alive but does not carry the requested component."""


class ResourceNotFoundError(EcsError, LookupError):
    """A resource type was requested that the world does not hold."""


class SchemaError(EcsError, TypeError):
    """A component declaration or value does not fit its schema (dtype, shape, field)."""


class StructuralChangeError(EcsError, RuntimeError):
    """A structural change was attempted while storage is being iterated."""


class QueryFilterError(EcsError, RuntimeError):
    """A change-filtered query was used without a reference tick."""


class UndeclaredAccessError(EcsError, RuntimeError):
    """A system touched a component, resource or event it did not declare."""


class ObserverCascadeError(EcsError, RuntimeError):
    """Observers kept triggering each other past the cascade bound."""


class AccessConflictError(EcsError, RuntimeError):
    """Two systems' declared accesses conflict without an ordering between them."""


class ScheduleCycleError(EcsError, RuntimeError):
    """``before`` / ``after`` constraints form a cycle."""


class SerializationError(EcsError, ValueError):
    """A save is corrupt, truncated or does not match the world's schemas."""


class ReplayDivergenceError(SerializationError):
    """Replaying a command log met a world that does not match the logged run."""


class InternalError(EcsError, AssertionError):
    """An internal invariant failed; this is a bug in arrow-ecs."""

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}; this is a bug, please report it at {ISSUES_URL}")
