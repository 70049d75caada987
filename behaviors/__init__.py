"""Behavior trees compiled to one vectorized tick over all agents (filled by issue #5)."""

__all__: list[str] = []
