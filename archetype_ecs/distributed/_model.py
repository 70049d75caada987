"""Models for Ray workers: the runner's model loading, plus the spec a worker loads.

Models follow the shared model protocol and are loaded with
:func:`archetype_ecs.runner.load_model`. Ray workers receive a model as a *spec
string* and load it themselves: the module name for an importable module, else the
absolute path of its file (which must be readable on every node: local runs always
are; on a cluster, ship the file with Ray's ``runtime_env`` or use a package).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

from archetype_ecs.runner import Model
from archetype_ecs.runner import load_model as _load_model

__all__ = ["load_model", "model_spec"]

_CACHE: dict[str, Model] = {}


def load_model(model: str | Path | ModuleType | Model) -> Model:
    """The :class:`~archetype_ecs.runner.Model` of a file path, module name or module.

    Raises
    ------
    archetype_ecs.runner.ModelError
        When nothing is found, importing fails, or ``build`` is missing.
    """
    if isinstance(model, Model):
        return model
    if isinstance(model, str) and model in _CACHE:
        return _CACHE[model]
    loaded = _load_model(model)
    if isinstance(model, str):
        _CACHE[model] = loaded
    return loaded


def model_spec(model: str | Path | ModuleType | Model) -> str:
    """What a worker passes to :func:`load_model` to get the same model."""
    m = load_model(model)
    module = m.module
    loose = hasattr(module, "__arrow_ecs_mtime__") or module.__name__ == "__main__"
    if loose and m.file is not None:
        return m.file
    return module.__name__
