"""Deterministic random numbers: counter-based streams keyed by (seed, stream, entity, tick).

A draw is a pure function of its keys, so results never depend on iteration order,
threads or archetype layout. Hold one :class:`Rng` per world as a resource; inside
Numba kernels call the scalar functions (:func:`uniform`, :func:`normal`, ...) directly.
"""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from archetype_ecs._random_kernels import (
    bernoulli,
    bernoulli_batch,
    integers,
    integers_batch,
    normal,
    normal_batch,
    random_u64,
    random_u64_batch,
    uniform,
    uniform_batch,
)

__all__ = [
    "Rng",
    "bernoulli",
    "bernoulli_batch",
    "integers",
    "integers_batch",
    "normal",
    "normal_batch",
    "random_u64",
    "random_u64_batch",
    "stream_id",
    "uniform",
    "uniform_batch",
]

Array = np.ndarray[Any, Any]

_KEY_LIMIT = 1 << 64
_STREAM_PERSON = b"arrow-ecs/stream"  # blake2b personalization: 16 bytes at most


def stream_id(name: str) -> int:
    """A stable 63-bit stream id for a system or stream name.

    Parameters
    ----------
    name
        Any string; usually the system's name.

    Returns
    -------
    int
        The first 8 bytes of the personalized BLAKE2b digest of the UTF-8 name
        (little-endian), top bit cleared, so it fits int64: Numba then types it
        like the other keys instead of as uint64 (int64 mixed with uint64 becomes
        float64 in Numba).

    Raises
    ------
    TypeError
        When ``name`` is not a ``str``.

    Notes
    -----
    Independent of registration order, process and ``PYTHONHASHSEED``: the same name
    gives the same id on every run and machine.

    Examples
    --------
    >>> stream_id("move") == stream_id("move")
    True
    >>> stream_id("move") != stream_id("wander")
    True
    >>> 0 <= stream_id("move") < 2**63
    True
    """
    if not isinstance(name, str):
        raise TypeError(f"stream_id takes a str name, got {type(name).__name__}")
    digest = hashlib.blake2b(
        name.encode("utf-8"), digest_size=8, person=_STREAM_PERSON
    ).digest()
    return int.from_bytes(digest, "little") >> 1


def _key(what: str, value: int) -> np.uint64:
    """``value`` as a uint64 key, checked first so a bad key never reaches a kernel."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{what} must be an int, got {type(value).__name__}")
    if not 0 <= int(value) < _KEY_LIMIT:
        raise ValueError(f"{what} must be in [0, 2**64), got {int(value)}")
    return np.uint64(int(value))


def _entity_ids(entities: Any) -> tuple[Array, tuple[int, ...]]:
    """Entity ids as a contiguous uint64 vector, plus the shape to give results."""
    ids = np.asarray(entities)
    if ids.size and ids.dtype.kind not in "iu":
        raise TypeError(
            f"entities must be integer entity ids, got an array of dtype {ids.dtype}; "
            "pass ids such as query entities or world.spawn_batch(...) results"
        )
    flat = np.ascontiguousarray(ids.reshape(-1).astype(np.uint64, copy=False))
    return flat, ids.shape


class Rng:
    """The world's random-number resource: a seed plus counter-based draws.

    Every method is a pure function of ``(seed, stream, entity, tick, counter)``:
    calling it twice, in another order, on a permuted entity array or in another
    process gives the same numbers.

    Parameters
    ----------
    seed
        The world seed, an int in ``[0, 2**64)``.

    Raises
    ------
    ValueError
        When ``seed`` is outside ``[0, 2**64)``.
    TypeError
        When ``seed`` is not an int.

    See Also
    --------
    stream_id : how a stream name becomes a key.
    uniform : the scalar draw to call inside a Numba kernel.

    Notes
    -----
    ``stream`` arguments take a name (hashed with :func:`stream_id`) or an int id.
    ``entities`` takes entity ids of any integer array shape; results have the same
    shape. Each method is one O(n) kernel call.

    Examples
    --------
    >>> from archetype_ecs.random import Rng
    >>> rng = Rng(seed=7)
    >>> ids = np.array([5, 6, 7], dtype=np.uint64)
    >>> u = rng.uniform("wander", ids, tick=0)
    >>> u.shape, bool(((0.0 <= u) & (u < 1.0)).all())
    ((3,), True)

    The same keys give the same numbers, in any entity order:

    >>> bool((rng.uniform("wander", ids[::-1], tick=0) == u[::-1]).all())
    True

    A new tick or counter gives new numbers:

    >>> bool((rng.uniform("wander", ids, tick=1) != u).all())
    True
    """

    __slots__ = ("_seed",)

    def __init__(self, seed: int = 0) -> None:
        _key("seed", seed)
        self._seed = int(seed)

    @property
    def seed(self) -> int:
        """The world seed (read-only).

        Examples
        --------
        >>> Rng(7).seed
        7
        """
        return self._seed

    def __repr__(self) -> str:
        return f"Rng(seed={self._seed})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Rng) and other._seed == self._seed

    def __hash__(self) -> int:
        return hash((Rng, self._seed))

    def stream(self, name: str) -> int:
        """The stream id of ``name``; same as :func:`stream_id`, for any seed.

        Parameters
        ----------
        name
            A system or stream name.

        Returns
        -------
        int
            A 63-bit id to pass to kernels as their ``stream`` key.

        Examples
        --------
        >>> Rng(7).stream("move") == stream_id("move")
        True
        """
        return stream_id(name)

    def _keys(
        self, stream: int | str, tick: int, counter: int
    ) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
        sid = stream_id(stream) if isinstance(stream, str) else stream
        return (
            np.uint64(self._seed),
            _key("stream", sid),
            _key("tick", tick),
            _key("counter", counter),
        )

    def random_u64(
        self, stream: int | str, entities: Any, tick: int, counter: int = 0
    ) -> Array:
        """Uniform 64-bit words, one per entity.

        Parameters
        ----------
        stream
            Stream name or id.
        entities
            Entity ids (any integer array shape).
        tick
            Tick number, ``>= 0``.
        counter
            Draw number within the tick, ``>= 0``.

        Returns
        -------
        numpy.ndarray
            uint64, shaped like ``entities``.

        Raises
        ------
        TypeError
            When ``entities`` is not integer, or a key is not an int.
        ValueError
            When a key is outside ``[0, 2**64)``.

        Examples
        --------
        >>> Rng(7).random_u64("s", [5, 6], tick=0).dtype
        dtype('uint64')
        """
        ids, shape = _entity_ids(entities)
        out = np.empty(ids.shape[0], dtype=np.uint64)
        seed, sid, t, c = self._keys(stream, tick, counter)
        with np.errstate(over="ignore"):  # wrapping is intended (NUMBA_DISABLE_JIT)
            random_u64_batch(seed, sid, ids, t, c, out)
        return out.reshape(shape)

    def uniform(
        self, stream: int | str, entities: Any, tick: int, counter: int = 0
    ) -> Array:
        """Uniform float64 on [0, 1), one per entity (53 random bits each).

        Parameters
        ----------
        stream, entities, tick, counter
            As in :meth:`random_u64`.

        Returns
        -------
        numpy.ndarray
            float64, shaped like ``entities``.

        Examples
        --------
        >>> rng = Rng(7)
        >>> a = rng.uniform("s", [5, 6], tick=3)
        >>> b = rng.uniform("s", [5, 6], tick=3, counter=1)  # a second quantity
        >>> bool((a != b).all())
        True
        """
        ids, shape = _entity_ids(entities)
        out = np.empty(ids.shape[0], dtype=np.float64)
        seed, sid, t, c = self._keys(stream, tick, counter)
        with np.errstate(over="ignore"):  # wrapping is intended (NUMBA_DISABLE_JIT)
            uniform_batch(seed, sid, ids, t, c, out)
        return out.reshape(shape)

    def normal(
        self, stream: int | str, entities: Any, tick: int, counter: int = 0
    ) -> Array:
        """Standard normal float64, one per entity (Box-Muller).

        Parameters
        ----------
        stream, entities, tick, counter
            As in :meth:`random_u64`.

        Returns
        -------
        numpy.ndarray
            float64, shaped like ``entities``; scale and shift it yourself
            (``mu + sigma * z``).

        Examples
        --------
        >>> z = Rng(7).normal("jitter", np.arange(1, 10_001), tick=0)
        >>> bool(abs(z.mean()) < 0.05), bool(abs(z.std() - 1.0) < 0.05)
        (True, True)
        """
        ids, shape = _entity_ids(entities)
        out = np.empty(ids.shape[0], dtype=np.float64)
        seed, sid, t, c = self._keys(stream, tick, counter)
        with np.errstate(over="ignore"):  # wrapping is intended (NUMBA_DISABLE_JIT)
            normal_batch(seed, sid, ids, t, c, out)
        return out.reshape(shape)

    def integers(
        self,
        lo: int,
        hi: int,
        stream: int | str,
        entities: Any,
        tick: int,
        counter: int = 0,
    ) -> Array:
        """Unbiased int64 on ``[lo, hi)``, one per entity (Lemire's method).

        Parameters
        ----------
        lo, hi
            int64 bounds, ``lo < hi``; ``hi`` is excluded.
        stream, entities, tick, counter
            As in :meth:`random_u64`.

        Returns
        -------
        numpy.ndarray
            int64, shaped like ``entities``.

        Raises
        ------
        ValueError
            When ``hi <= lo``, a bound does not fit int64, or a key is out of range.

        Examples
        --------
        >>> k = Rng(7).integers(1, 7, "dice", np.arange(1, 1001), tick=0)
        >>> sorted(set(k.tolist()))
        [1, 2, 3, 4, 5, 6]
        """
        for what, bound in (("lo", lo), ("hi", hi)):
            if not -(2**63) <= int(bound) < 2**63:
                raise ValueError(f"{what} must fit int64, got {int(bound)}")
        if hi <= lo:
            raise ValueError(f"integers needs lo < hi, got lo={lo}, hi={hi}")
        ids, shape = _entity_ids(entities)
        out = np.empty(ids.shape[0], dtype=np.int64)
        seed, sid, t, c = self._keys(stream, tick, counter)
        with np.errstate(over="ignore"):  # wrapping is intended (NUMBA_DISABLE_JIT)
            integers_batch(np.int64(lo), np.int64(hi), seed, sid, ids, t, c, out)
        return out.reshape(shape)

    def bernoulli(
        self, p: float, stream: int | str, entities: Any, tick: int, counter: int = 0
    ) -> Array:
        """True with probability ``p``, one per entity.

        Parameters
        ----------
        p
            Probability; ``p <= 0`` gives all False, ``p >= 1`` all True.
        stream, entities, tick, counter
            As in :meth:`random_u64`.

        Returns
        -------
        numpy.ndarray
            bool, shaped like ``entities``; ``uniform(...) < p`` with the same keys.

        Examples
        --------
        >>> hits = Rng(7).bernoulli(0.25, "spawn", np.arange(1, 10_001), tick=0)
        >>> bool(0.23 < hits.mean() < 0.27)
        True
        """
        ids, shape = _entity_ids(entities)
        out = np.empty(ids.shape[0], dtype=np.bool_)
        seed, sid, t, c = self._keys(stream, tick, counter)
        with np.errstate(over="ignore"):  # wrapping is intended (NUMBA_DISABLE_JIT)
            bernoulli_batch(float(p), seed, sid, ids, t, c, out)
        return out.reshape(shape)
