"""arrow-ecs fixtures shared by the scenarios, imported lazily.

The components are declared on first use so that the baseline halves of every
scenario still run (and the ECS variants are reported as skipped) when
``archetype_ecs`` cannot be imported.

No ``from __future__ import annotations`` here: the component fields must be
real annotations, not strings naming a function-local module.
"""

import functools
from types import SimpleNamespace

from benchmarks._runner import SkipVariant


@functools.cache
def _load() -> SimpleNamespace:
    import archetype_ecs as ae

    @ae.component
    class Position:
        x: ae.f32 = 0.0
        y: ae.f32 = 0.0

    @ae.component
    class Velocity:
        dx: ae.f32 = 0.0
        dy: ae.f32 = 0.0

    @ae.component
    class Tag:
        pass

    # Six tag components: the 2**6 subsets give 64 archetypes in iter_frag.
    @ae.component
    class TagA:
        pass

    @ae.component
    class TagB:
        pass

    @ae.component
    class TagC:
        pass

    @ae.component
    class TagD:
        pass

    @ae.component
    class TagE:
        pass

    @ae.component
    class TagF:
        pass

    tags = [TagA, TagB, TagC, TagD, TagE, TagF]

    return SimpleNamespace(
        ae=ae,
        World=ae.World,
        CommandBuffer=ae.CommandBuffer,
        Position=Position,
        Velocity=Velocity,
        Tag=Tag,
        tags=tuple(tags),
    )


def ecs() -> SimpleNamespace:
    """The arrow-ecs module and the benchmark components, or skip the variant."""
    try:
        return _load()
    except Exception as exc:
        msg = f"archetype_ecs unavailable ({type(exc).__name__}: {exc})"
        raise SkipVariant(msg) from exc
