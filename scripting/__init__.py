"""Lua and Python scripts that read views and record commands (filled by issue #6)."""

__all__: list[str] = []
