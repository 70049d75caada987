"""Components shared by the scripting tests."""

from __future__ import annotations

from archetype_ecs import component, f32, i64


@component
class SPos:
    x: f32 = 0.0
    y: f32 = 0.0


@component
class SVel:
    dx: f32 = 0.0
    dy: f32 = 0.0


@component
class SHp:
    v: i64 = 0


@component
class SFrozen:
    pass
