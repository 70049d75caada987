from __future__ import annotations

from archetype_ecs import ArchetypeInfo, component
from archetype_ecs.archetype import Archetypes
from archetype_ecs.component import Components
from archetype_ecs.schema import f32


@component
class A:
    a: f32 = 0.0


@component
class B:
    b: f32 = 0.0


@component
class C:
    pass


def _registry():
    comps = Components()
    ids = [comps.id_of(c) for c in (A, B, C)]
    return Archetypes(comps), ids


def test_empty_archetype_is_table_zero():
    arch, _ = _registry()
    assert len(arch) == 1
    assert arch.tables[0].components == ()
    assert arch.info() == [ArchetypeInfo(0, (), 0)]


def test_get_or_create_sorts_and_dedupes_component_ids():
    arch, (a, _, c) = _registry()
    t = arch.get_or_create([c, a, a])
    assert t.components == (a, c)
    assert arch.get_or_create((a, c)) is t
    assert len(arch) == 2
    assert t.id == 1


def test_transition_adds_then_removes_components():
    arch, (a, b, c) = _registry()
    ab = arch.get_or_create((a, b))
    dst = arch.transition(ab.id, frozenset({c}), frozenset({b}))
    assert dst.components == (a, c)
    assert arch.transition(ab.id, frozenset(), frozenset({c})) is ab  # absent: same


def test_transition_edges_are_cached(monkeypatch):
    arch, (a, b, _) = _registry()
    src = arch.get_or_create((a,))
    first = arch.transition(src.id, frozenset({b}), frozenset())
    calls = []
    monkeypatch.setattr(arch, "get_or_create", lambda comps: calls.append(comps))
    again = arch.transition(src.id, frozenset({b}), frozenset())
    assert again is first
    assert calls == []
    assert len(arch) == 3


def test_transition_to_existing_archetype_creates_no_table():
    arch, (a, b, _) = _registry()
    ab = arch.get_or_create((a, b))
    src = arch.get_or_create((a,))
    assert arch.transition(src.id, frozenset({b}), frozenset()) is ab
    assert len(arch) == 3


def test_info_lists_names_and_row_counts():
    arch, (a, b, _) = _registry()
    t = arch.get_or_create((b, a))
    info = arch.info()
    assert info[1] == ArchetypeInfo(t.id, ("A", "B"), 0)
    assert info[1].components == ("A", "B")
