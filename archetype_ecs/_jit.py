"""The only numba import: a lazy ``njit`` wrapper with the on-disk cache on.

Kernels decorated here compile on first call (never at import). Setting
``NUMBA_DISABLE_JIT=1`` runs them as plain Python, for coverage and readable tracebacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba

__all__ = ["kernel_threads", "limit_kernel_threads", "njit", "prange"]

F = TypeVar("F", bound=Callable[..., Any])

prange = numba.prange


def njit(fn: F | None = None, *, parallel: bool = False, nogil: bool = True) -> Any:
    """Compile ``fn`` lazily with ``cache=True`` and ``nogil=True``.

    Parameters
    ----------
    fn
        The function to compile; omit to use as ``@njit(parallel=True)``.
    parallel
        Enable ``prange`` parallel loops.
    nogil
        Release the GIL while the kernel runs (default on, so systems can run in
        parallel threads).

    Returns
    -------
    numba.core.registry.CPUDispatcher or decorator
        The dispatcher compiles on first call per signature. Functions defined
        where Numba cannot cache (``exec``, some REPLs) compile without the cache.
    """

    def wrap(f: F) -> Any:
        try:
            return numba.njit(cache=True, parallel=parallel, nogil=nogil)(f)
        except RuntimeError as exc:  # no file to cache next to (exec, some REPLs)
            if "cannot cache" not in str(exc):
                raise
            return numba.njit(cache=False, parallel=parallel, nogil=nogil)(f)

    if fn is None:
        return wrap
    return wrap(fn)


def limit_kernel_threads(n: int) -> None:
    """Cap the threads ``prange`` loops use on the calling thread (Numba's mask).

    Deterministic worlds call this with 1 so parallel reductions inside kernels
    cannot change floating-point summation order between runs.
    """
    most = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined] # set at import
    numba.set_num_threads(max(1, min(n, most)))


def kernel_threads() -> int:
    """The number of threads ``prange`` loops use on the calling thread."""
    return int(numba.get_num_threads())
