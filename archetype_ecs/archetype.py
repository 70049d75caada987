"""Archetypes: sorted component-id sets, each owning one table, with cached transitions.

``Archetypes`` is the world's registry: it finds or creates the archetype of a
component set and caches the add / remove edges between archetypes, so moving many
entities by one component costs one dict lookup per source archetype.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from archetype_ecs.component import ComponentId, Components
from archetype_ecs.table import ArchetypeTable

__all__ = ["ArchetypeInfo", "Archetypes"]


class ArchetypeInfo(NamedTuple):
    """One line of ``world.archetypes_info()``: id, component names, entity count."""

    id: int
    components: tuple[str, ...]
    rows: int


class Archetypes:
    """Registry of archetypes; archetype id == table id.

    Invariant: ``tables[i].components`` is sorted and unique across ``tables``.
    """

    def __init__(self, components: Components) -> None:
        self._components = components
        self.tables: list[ArchetypeTable] = []
        self._by_set: dict[tuple[ComponentId, ...], int] = {}
        self._edges: dict[
            tuple[int, frozenset[ComponentId], frozenset[ComponentId]], int
        ] = {}
        self.get_or_create(())  # the empty archetype is table 0

    def get_or_create(self, components: Iterable[ComponentId]) -> ArchetypeTable:
        """The table of exactly this component set (created on first use)."""
        key = tuple(sorted(set(components)))
        tid = self._by_set.get(key)
        if tid is None:
            tid = len(self.tables)
            schemas = {c: self._components.schemas[c] for c in key}
            tracked = frozenset(self._components.tracked)
            self.tables.append(ArchetypeTable(tid, key, schemas, tracked))
            self._by_set[key] = tid
        return self.tables[tid]

    def transition(
        self,
        table_id: int,
        add: frozenset[ComponentId],
        remove: frozenset[ComponentId],
    ) -> ArchetypeTable:
        """The table reached from ``table_id`` by adding then removing components."""
        edge = (table_id, add, remove)
        tid = self._edges.get(edge)
        if tid is None:
            comps = (self.tables[table_id].component_set | add) - remove
            tid = self.get_or_create(comps).id
            self._edges[edge] = tid
        return self.tables[tid]

    def __len__(self) -> int:
        return len(self.tables)

    def info(self) -> list[ArchetypeInfo]:
        """Id, component names and row count of every archetype."""
        return [ArchetypeInfo(t.id, t.names, t.len) for t in self.tables]
