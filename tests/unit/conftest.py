"""Shared fixtures of the unit tier: world snapshots and coded-error assertions."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from archetype_ecs import World


def _table_state(table: Any) -> dict[str, Any]:
    return {
        "id": table.id,
        "components": table.names,
        "len": table.len,
        "batch": table.batch().to_pydict(),
    }


def _world_state(world: World) -> dict[str, Any]:
    index = world.entities
    size = index.size
    return {
        "len": len(world),
        "archetypes_info": world.archetypes_info(),
        "tables": [_table_state(t) for t in world.tables],
        "index.size": size,
        "index.alive_count": index.alive_count,
        "index.generation": index.generation[:size].tolist(),
        "index.table": index.table[:size].tolist(),
        "index.row": index.row[:size].tolist(),
        "index.free_list": index.free_list().tolist(),
        "resources": dict(world._resources),
    }


@pytest.fixture
def world_state() -> Callable[[World], dict[str, Any]]:
    """A full, comparable snapshot of a world: compare before / after a failed call.

    Covers ``len(world)``, ``archetypes_info()``, every table's ``batch()`` contents
    (empty tables included, so a stray new archetype shows), the entity index arrays
    and the free list.
    """
    return _world_state


@contextmanager
def _raises_coded(
    exc_type: type[BaseException], code: str, *where: str
) -> Iterator[pytest.ExceptionInfo[BaseException]]:
    with pytest.raises(exc_type) as info:
        yield info
    message = str(info.value)
    assert message.startswith(f"[{code}] "), message
    assert f"docs/errors/{code}.md" in message, message
    for fragment in where:
        assert re.search(re.escape(fragment), message), (fragment, message)


@pytest.fixture
def raises_coded() -> Callable[..., Any]:
    """``with raises_coded(SchemaError, "E0003", "Pos.x"):`` checks type, code, where.

    The message must start with ``[<code>]``, point at the docs page and contain every
    ``where`` fragment (entity label, component, field ...).
    """
    return _raises_coded
