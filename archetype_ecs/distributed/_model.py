"""Load a model module (the shared model protocol) by file path, module name or object.

A model module defines ``build(*, seed, threads, **params) -> World`` and optionally
``PARAMS``, ``FRAMES``, ``summary(world)`` and ``RECORD``. Ray workers receive the
model as a *spec string* (a file path or a module name) and load it themselves, so
a model object is turned into the spec it was loaded from.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from archetype_ecs.distributed.errors import SweepError

__all__ = ["load_model", "model_spec"]

_CACHE: dict[str, ModuleType] = {}


def model_spec(model: str | Path | ModuleType) -> str:
    """The string a worker loads ``model`` from: an absolute file path or a module name."""
    if isinstance(model, ModuleType):
        name = model.__name__
        if name != "__main__" and not name.startswith("_arrow_ecs_model_"):
            return name
        file = getattr(model, "__file__", None)
        if file is None:
            raise SweepError(
                f"model module {name!r} has no file and no importable name; "
                "pass its file path or an importable module name"
            )
        return str(Path(file).resolve())
    text = str(model)
    if text.endswith(".py") or "/" in text or "\\" in text:
        path = Path(text).expanduser().resolve()
        if not path.is_file():
            raise SweepError(f"model file {text!r} does not exist (resolved: {path})")
        return str(path)
    return text


def load_model(model: str | Path | ModuleType) -> ModuleType:
    """Import a model module and check it has ``build``.

    Raises
    ------
    SweepError
        When the file or module cannot be found or imported, or has no ``build``.
    """
    if isinstance(model, ModuleType):
        module = model
    else:
        spec = model_spec(model)
        module = _CACHE.get(spec) or _import(spec)
        _CACHE[spec] = module
    if not callable(getattr(module, "build", None)):
        raise SweepError(
            f"model {module.__name__!r} defines no build(*, seed, threads, **params) "
            "function; see the model protocol in docs/distributed.md"
        )
    return module


def _import(spec: str) -> ModuleType:
    if spec.endswith(".py"):
        digest = hashlib.sha1(spec.encode()).hexdigest()[:12]
        name = f"_arrow_ecs_model_{Path(spec).stem}_{digest}"
        loader_spec = importlib.util.spec_from_file_location(name, spec)
        if loader_spec is None or loader_spec.loader is None:
            raise SweepError(f"cannot load model file {spec!r} as a Python module")
        module = importlib.util.module_from_spec(loader_spec)
        # registered before exec so dataclasses / components can find their module
        sys.modules[name] = module
        try:
            loader_spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]
            raise
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        raise SweepError(
            f"model {spec!r} is neither a .py file nor an importable module ({exc})"
        ) from exc


def default_frames(module: ModuleType, frames: int | None) -> int:
    """``frames`` or the model's ``FRAMES`` (an error when neither is given)."""
    if frames is None:
        frames = getattr(module, "FRAMES", None)
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 0:
        raise SweepError(
            f"frames must be a non-negative int (got {frames!r}); pass frames= or "
            f"define FRAMES in model {module.__name__!r}"
        )
    return frames


def build_world(
    module: ModuleType, seed: int, threads: int | None, params: dict[str, Any]
) -> Any:
    """``module.build(seed=..., threads=..., **params)``."""
    return module.build(seed=seed, threads=threads, **params)
