"""Leaf definitions (``@leaf``) and the per-world ``LeafRegistry`` that trees name them in.

A leaf is a Numba function ``f(i, *fields, *resource_values, *params)``: ``i`` is the
agent's row in its archetype's columns, ``fields`` are the columns of the components
the leaf declares (``reads`` first, then ``writes`` not already read, fields in
declaration order), ``resource_values`` are the declared resource attributes (scalars,
read once per tick: the global blackboard), and ``params`` are the node's parameters
in the order the leaf declares them. A condition
returns a bool; an action returns a status (1 SUCCESS, 2 FAILURE, 3 RUNNING).
The declared components are the agent's blackboard: they feed the tick system's
declared access, so the scheduler sees a behavior tick's conflicts like any system's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from archetype_ecs.component import schema_of
from behaviors.tree import TreeError

if TYPE_CHECKING:
    from archetype_ecs.world import World

__all__ = ["REQUIRED", "LeafDef", "LeafRegistry", "leaf"]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()
"""Default of a parameter that every node using the leaf must give."""


@dataclass(frozen=True, eq=False)
class LeafDef:
    """A registered leaf: its function, kind, declared components and parameters."""

    name: str
    fn: Any
    kind: str  # "condition" | "action"
    reads: tuple[type, ...] = ()
    writes: tuple[type, ...] = ()
    params: tuple[tuple[str, Any], ...] = ()
    resources: tuple[tuple[type, tuple[str, ...]], ...] = ()
    batched: bool = False  # a plain-Python batched leaf (the slow path)
    doc: str = field(default="")

    @property
    def components(self) -> tuple[type, ...]:
        """The components whose fields the leaf gets: reads, then new writes."""
        out = list(self.reads)
        out += [c for c in self.writes if c not in out]
        return tuple(out)

    def resolve_params(self, given: Mapping[str, Any], where: str) -> tuple[Any, ...]:
        """The parameter values in declaration order, defaults filled in.

        Raises
        ------
        TreeError
            When a parameter is unknown, missing, or not an int / float / bool.
        """
        names = [p for p, _ in self.params]
        unknown = sorted(set(given) - set(names))
        if unknown:
            raise TreeError(
                f"{where}: leaf {self.name!r} has no parameter(s) {unknown}; its "
                f"parameters are {names}"
            )
        out = []
        for p, default in self.params:
            v = given.get(p, default)
            if v is REQUIRED:
                raise TreeError(
                    f"{where}: leaf {self.name!r} needs parameter {p!r}; give it as "
                    f"{self.kind.title()}({self.name!r}, {p}=...)"
                )
            if not isinstance(v, bool | int | float) or (
                isinstance(v, float) and not math.isfinite(v)
            ):
                raise TreeError(
                    f"{where}: parameter {p}={v!r} of leaf {self.name!r} is a "
                    f"{type(v).__name__}; leaf parameters are int, float (finite) or bool"
                )
            out.append(v)
        return tuple(out)


def _param_spec(
    params: Iterable[str] | Mapping[str, Any],
) -> tuple[tuple[str, Any], ...]:
    if isinstance(params, Mapping):
        return tuple(params.items())
    return tuple((p, REQUIRED) for p in params)


def leaf(
    name: str,
    *,
    kind: str,
    reads: Iterable[type] = (),
    writes: Iterable[type] = (),
    params: Iterable[str] | Mapping[str, Any] = (),
    resources: Mapping[type, Iterable[str]] | None = None,
    batched: bool = False,
) -> Callable[[Any], LeafDef]:
    """Declare a leaf around an ``@njit`` function ``f(i, *fields, *params)``.

    Parameters
    ----------
    name
        The name trees use (``Condition("near", radius=2.0)``).
    kind
        ``"condition"`` (returns bool) or ``"action"`` (returns a status).
    reads, writes
        Components the leaf reads / writes (its blackboard). Read columns are
        read-only views: writing one fails to compile.
    params
        Parameter names (all required) or a mapping name -> default
        (:data:`REQUIRED` for none).
    resources
        Resource attributes the leaf reads, ``{Weather: ["temperature"]}``: passed
        as scalars after the fields (numbers or bools, read once per tick). The
        tick system declares these resources as read.
    batched
        The function is plain Python ``f(rows, *fields, *params) -> statuses`` called
        once per tick with every agent that reached the leaf (the slow path; see
        ``docs/behaviors.md``).

    Returns
    -------
    callable
        A decorator returning a :class:`LeafDef`; register it with
        ``LeafRegistry.of(world).register(...)``.

    Examples
    --------
    >>> from archetype_ecs import njit
    >>> @leaf("always", kind="action")
    ... @njit
    ... def always(i):
    ...     return 1
    >>> always.name, always.kind
    ('always', 'action')
    """
    if kind not in ("condition", "action"):
        raise TreeError(
            f"leaf {name!r}: kind must be 'condition' or 'action', got {kind!r}"
        )
    for c in (*reads, *writes):
        schema_of(c, f"leaf {name!r}")

    def wrap(fn: Any) -> LeafDef:
        return LeafDef(
            name=name,
            fn=fn,
            kind=kind,
            reads=tuple(reads),
            writes=tuple(writes),
            params=_param_spec(params),
            resources=tuple((r, tuple(a)) for r, a in (resources or {}).items()),
            batched=batched,
            doc=str(getattr(fn, "__doc__", "") or ""),
        )

    return wrap


class LeafRegistry:
    """The leaves trees of one world may use, by name (a world resource).

    It also caches the tick kernels generated for trees over these leaves.

    Examples
    --------
    >>> from archetype_ecs import World
    >>> reg = LeafRegistry.of(World())
    >>> len(reg)
    0
    """

    def __init__(self) -> None:
        self._defs: dict[str, LeafDef] = {}
        self.kernels: dict[tuple[object, ...], Any] = {}

    @classmethod
    def of(cls, world: World) -> LeafRegistry:
        """The world's registry, inserted as a resource on first use."""
        reg = world.get_resource(cls)
        if reg is None:
            reg = cls()
            world.insert_resource(reg)
        return reg

    def register(self, *defs: LeafDef) -> None:
        """Add leaves; a name registered twice must be the same definition."""
        for d in defs:
            old = self._defs.get(d.name)
            if old is not None and old is not d:
                raise TreeError(
                    f"leaf {d.name!r} is already registered with another function "
                    f"({old.fn!r}); give the new one another name"
                )
            self._defs[d.name] = d

    def get(self, name: str) -> LeafDef | None:
        """The leaf registered as ``name``, or ``None``."""
        return self._defs.get(name)

    def lookup(self, name: str, where: str) -> LeafDef:
        """The leaf ``name``; raises TreeError naming close matches when unknown."""
        d = self._defs.get(name)
        if d is None:
            import difflib

            close = difflib.get_close_matches(name, list(self._defs), n=3)
            hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
            raise TreeError(
                f"{where}: unknown leaf {name!r}{hint}; registered leaves: "
                f"{sorted(self._defs)}; register it with LeafRegistry.of(world)."
                "register(...)"
            )
        return d

    def __contains__(self, name: object) -> bool:
        return name in self._defs

    def __len__(self) -> int:
        return len(self._defs)

    def names(self) -> list[str]:
        """Registered leaf names, sorted."""
        return sorted(self._defs)
