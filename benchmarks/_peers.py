"""Peer-library fixtures (esper) shared by the scenarios.

esper is a pure-Python ECS (entity -> dict of component instances); it is the
"idiomatic Python ECS" reference point.  It keeps its state in module globals,
so every scenario switches to its own esper world and clears it.
"""

from __future__ import annotations

from typing import Any

from benchmarks._runner import SkipVariant

# esper costs ~1 us per entity per operation: larger N would only waste time
ESPER_MAX_N = 10**5


class EPosition:
    __slots__ = ("x", "y")

    def __init__(self, x: float = 0.0, y: float = 0.0) -> None:
        self.x = x
        self.y = y


class EVelocity:
    __slots__ = ("dx", "dy")

    def __init__(self, dx: float = 0.0, dy: float = 0.0) -> None:
        self.dx = dx
        self.dy = dy


class ETag:
    __slots__ = ()


def esper_world(name: str) -> Any:
    """Switch esper to a fresh world called ``name`` and return the module."""
    try:
        import esper
    except ImportError as exc:  # pragma: no cover - esper is a dev dependency
        raise SkipVariant(f"esper not installed ({exc})") from exc
    esper.switch_world(name)
    esper.clear_database()
    return esper


def esper_spawn(
    esper: Any, xs: list[float], ys: list[float], dxs: list[float], dys: list[float]
) -> list[int]:
    create = esper.create_entity
    return [
        create(EPosition(x, y), EVelocity(dx, dy))
        for x, y, dx, dy in zip(xs, ys, dxs, dys, strict=True)
    ]
