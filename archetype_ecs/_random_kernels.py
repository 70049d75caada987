"""Numba kernels of the counter-based random streams, each with a NumPy ``_reference`` twin.

Public names are re-exported by :mod:`archetype_ecs.random`, which explains the design;
the twins define the semantics and tests compare kernel and twin bit for bit.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from archetype_ecs._jit import njit

__all__ = [
    "bernoulli",
    "bernoulli_batch",
    "bernoulli_batch_reference",
    "integers",
    "integers_batch",
    "integers_batch_reference",
    "normal",
    "normal_batch",
    "normal_batch_reference",
    "random_u64",
    "random_u64_batch",
    "random_u64_batch_reference",
    "uniform",
    "uniform_batch",
    "uniform_batch_reference",
]

Array = np.ndarray[Any, Any]

# SplitMix64: the golden-ratio increment and Stafford's "Mix13" finalizer constants.
GAMMA = np.uint64(0x9E3779B97F4A7C15)
MIX1 = np.uint64(0xBF58476D1CE4E5B9)
MIX2 = np.uint64(0x94D049BB133111EB)
# Initial chain state: the first SHA-512 IV word (fractional part of sqrt(2)).
IV = np.uint64(0x6A09E667F3BCC909)
S11 = np.uint64(11)
S27 = np.uint64(27)
S30 = np.uint64(30)
S31 = np.uint64(31)
S32 = np.uint64(32)
LOW32 = np.uint64(0xFFFF_FFFF)
TWO_M53 = 2.0**-53
TWO_PI = 2.0 * math.pi
_MASK64 = (1 << 64) - 1


@njit
def _mix(z: Any) -> Any:
    """SplitMix64 finalizer: a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> S30)) * MIX1
    z = (z ^ (z >> S27)) * MIX2
    return z ^ (z >> S31)


@njit
def _absorb(h: Any, key: Any) -> Any:
    """Fold one key into the chain state; for a fixed ``h`` this is a bijection of key."""
    return _mix(h + np.uint64(key) * GAMMA)


@njit
def _prefix(seed: Any, stream: Any, tick: Any, counter: Any) -> Any:
    """Chain state of the keys shared by a whole batch (everything but the entity)."""
    h = _absorb(IV, seed)
    h = _absorb(h, stream)
    h = _absorb(h, tick)
    return _absorb(h, counter)


@njit
def _word(state: Any, lane: int) -> Any:
    """Word ``lane`` of an entity's chain state; lane 0 is ``random_u64``.

    Box-Muller and rejection sampling read later lanes of the same key, never other
    counters, so a draw uses exactly one counter.
    """
    return _mix(state + np.uint64(lane) * GAMMA)


@njit
def _unit(w: Any) -> float:
    """The top 53 bits of ``w`` as a float64 in [0, 1)."""
    return float(w >> S11) * TWO_M53


@njit
def _box_muller(state: Any) -> float:
    u1 = (float(_word(state, 0) >> S11) + 1.0) * TWO_M53  # (0, 1]: log is finite
    u2 = _unit(_word(state, 1))
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(TWO_PI * u2)


@njit
def _mulhilo(a: Any, b: Any) -> tuple[Any, Any]:
    """The 128-bit product ``a * b`` as (high, low) uint64 halves."""
    a0, a1 = a & LOW32, a >> S32
    b0, b1 = b & LOW32, b >> S32
    p01, p10 = a0 * b1, a1 * b0
    mid = ((a0 * b0) >> S32) + (p01 & LOW32) + (p10 & LOW32)  # < 2**34: no overflow
    hi = a1 * b1 + (p01 >> S32) + (p10 >> S32) + (mid >> S32)
    return hi, a * b


@njit
def _lemire(state: Any, span: Any) -> Any:
    """Unbiased offset in [0, span) by Lemire's multiply-shift with rejection."""
    hi, lo = _mulhilo(_word(state, 0), span)
    if lo < span:  # only then can the draw fall in the biased zone
        threshold = (np.uint64(0) - span) % span  # 2**64 mod span
        lane = 1
        while lo < threshold:
            hi, lo = _mulhilo(_word(state, lane), span)
            lane += 1
    return hi


@njit
def random_u64(seed: int, stream: int, entity: int, tick: int, counter: int) -> int:
    """A uniformly distributed 64-bit word keyed by five integers.

    The keys are folded into a SplitMix64 chain (``seed, stream, tick, counter``, then
    ``entity``), so the result depends only on the keys, never on call order.

    Parameters
    ----------
    seed
        World seed (see :class:`archetype_ecs.random.Rng`).
    stream
        Stream id, usually ``stream_id(system_name)``.
    entity
        Entity id (the full 64-bit id, so a reused slot gets fresh numbers).
    tick
        Frame or tick number.
    counter
        Draw number within one (seed, stream, entity, tick): use a distinct counter
        for each random quantity a system needs.

    Returns
    -------
    numpy.uint64
        The random word.

    Notes
    -----
    O(1): five SplitMix64 rounds plus one output round. Each round adds
    ``key * golden gamma`` to the state and applies the Mix13 finalizer (a bijection),
    so along any single key the words form a SplitMix64 sequence, which passes
    BigCrush. Not cryptographically secure. Keys are taken modulo ``2**64``; pass
    non-negative integers.

    Nothing advances: the same keys give the same word. Two systems that must not
    correlate take different streams; a system that needs several quantities per
    entity and tick gives each its own ``counter``.

    Examples
    --------
    >>> a = random_u64(7, 1, 42, 0, 0)
    >>> a == random_u64(7, 1, 42, 0, 0)
    True
    >>> a == random_u64(7, 1, 42, 1, 0)  # next tick: a new number
    False
    """
    state = _absorb(_prefix(seed, stream, tick, counter), entity)
    return _word(state, 0)  # type: ignore[no-any-return] # njit helpers are untyped


@njit
def uniform(seed: int, stream: int, entity: int, tick: int, counter: int) -> float:
    """A float64 uniform on [0, 1), keyed like :func:`random_u64`.

    Parameters
    ----------
    seed, stream, entity, tick, counter
        The keys, as in :func:`random_u64`.

    Returns
    -------
    float
        ``(random_u64(...) >> 11) * 2**-53``: every multiple of ``2**-53`` in [0, 1)
        with equal probability.

    Examples
    --------
    >>> u = uniform(7, 1, 42, 0, 0)
    >>> 0.0 <= u < 1.0
    True
    >>> u == (int(random_u64(7, 1, 42, 0, 0)) >> 11) * 2.0**-53
    True
    """
    return _unit(random_u64(seed, stream, entity, tick, counter))  # type: ignore[no-any-return] # njit helpers are untyped


@njit
def normal(seed: int, stream: int, entity: int, tick: int, counter: int) -> float:
    """A standard normal float64, keyed like :func:`random_u64`.

    Parameters
    ----------
    seed, stream, entity, tick, counter
        The keys, as in :func:`random_u64`.

    Returns
    -------
    float
        ``sqrt(-2 log u1) * cos(2 pi u2)`` (Box-Muller), with ``u1`` in (0, 1] from
        word 0 of the key (the :func:`random_u64` word) and ``u2`` from word 1.

    Notes
    -----
    Uses ``log``, ``sqrt`` and ``cos`` of the platform math library, so the last bit
    may differ between platforms; the integer and uniform draws are bit-exact
    everywhere.

    Examples
    --------
    >>> z = normal(7, 1, 42, 0, 0)
    >>> z == normal(7, 1, 42, 0, 0)
    True
    >>> abs(z) < 9.0  # |z| is at most sqrt(-2 log 2**-53), about 8.57
    True
    """
    state = _absorb(_prefix(seed, stream, tick, counter), entity)
    return _box_muller(state)  # type: ignore[no-any-return] # njit helpers are untyped


@njit
def integers(
    lo: int, hi: int, seed: int, stream: int, entity: int, tick: int, counter: int
) -> int:
    """An int64 uniform on ``[lo, hi)`` without modulo bias, keyed like :func:`random_u64`.

    Parameters
    ----------
    lo, hi
        Bounds, int64, ``lo < hi``; ``hi`` is excluded.
    seed, stream, entity, tick, counter
        The keys, as in :func:`random_u64`.

    Returns
    -------
    int
        ``lo + (w * (hi - lo) >> 64)`` for the first word ``w`` of the key whose low
        product half clears Lemire's threshold ``2**64 mod (hi - lo)``.

    Raises
    ------
    ValueError
        When ``hi <= lo``.

    Notes
    -----
    Lemire's nearly divisionless method: the first try uses the :func:`random_u64`
    word; a rejected try (probability below ``(hi - lo) / 2**64``) takes the next
    word of the same key, so the counter is never consumed. O(1) expected.

    Examples
    --------
    >>> k = integers(0, 6, 7, 1, 42, 0, 0)
    >>> 0 <= k < 6
    True
    >>> int(integers(-3, -2, 7, 1, 42, 0, 0))  # a one-value range
    -3
    """
    if hi <= lo:
        raise ValueError("integers: need lo < hi")
    span = np.uint64(hi - lo)  # wraps to the true width when hi - lo > 2**63 - 1
    state = _absorb(_prefix(seed, stream, tick, counter), entity)
    return lo + np.int64(_lemire(state, span))  # type: ignore[return-value] # Python int once compiled


@njit
def bernoulli(
    p: float, seed: int, stream: int, entity: int, tick: int, counter: int
) -> bool:
    """True with probability ``p``, keyed like :func:`random_u64`.

    Parameters
    ----------
    p
        Probability; ``p <= 0`` (or NaN) gives always False, ``p >= 1`` always True.
    seed, stream, entity, tick, counter
        The keys, as in :func:`random_u64`.

    Returns
    -------
    bool
        ``uniform(...) < p``: draws with the same keys and a larger ``p`` are True
        whenever the smaller one is (coupled thresholds).

    Examples
    --------
    >>> bool(bernoulli(1.0, 7, 1, 42, 0, 0)), bool(bernoulli(0.0, 7, 1, 42, 0, 0))
    (True, False)
    """
    return uniform(seed, stream, entity, tick, counter) < p  # type: ignore[no-any-return] # numba bool


@njit
def _check_out(entities: Array, out: Array) -> None:
    if out.shape[0] != entities.shape[0]:
        raise ValueError("out must have the same length as entities")


@njit
def random_u64_batch(
    seed: int, stream: int, entities: Array, tick: int, counter: int, out: Array
) -> None:
    """Write :func:`random_u64` of each entity into ``out`` (uint64, same length).

    Notes
    -----
    O(n); the keys other than the entity are folded once per call.

    Examples
    --------
    >>> ids = np.array([5, 6], dtype=np.uint64)
    >>> out = np.empty(2, dtype=np.uint64)
    >>> random_u64_batch(7, 1, ids, 0, 0, out)
    >>> bool(out[1] == random_u64(7, 1, 6, 0, 0))
    True
    """
    _check_out(entities, out)
    prefix = _prefix(seed, stream, tick, counter)
    for i in range(entities.shape[0]):
        out[i] = _word(_absorb(prefix, entities[i]), 0)


@njit
def uniform_batch(
    seed: int, stream: int, entities: Array, tick: int, counter: int, out: Array
) -> None:
    """Write :func:`uniform` of each entity into ``out`` (float64, same length).

    Examples
    --------
    >>> ids = np.array([5, 6], dtype=np.uint64)
    >>> out = np.empty(2)
    >>> uniform_batch(7, 1, ids, 0, 0, out)
    >>> bool(out[1] == uniform(7, 1, 6, 0, 0))
    True
    """
    _check_out(entities, out)
    prefix = _prefix(seed, stream, tick, counter)
    for i in range(entities.shape[0]):
        out[i] = _unit(_word(_absorb(prefix, entities[i]), 0))


@njit
def normal_batch(
    seed: int, stream: int, entities: Array, tick: int, counter: int, out: Array
) -> None:
    """Write :func:`normal` of each entity into ``out`` (float64, same length).

    Examples
    --------
    >>> ids = np.array([5, 6], dtype=np.uint64)
    >>> out = np.empty(2)
    >>> normal_batch(7, 1, ids, 0, 0, out)
    >>> bool(out[1] == normal(7, 1, 6, 0, 0))
    True
    """
    _check_out(entities, out)
    prefix = _prefix(seed, stream, tick, counter)
    for i in range(entities.shape[0]):
        out[i] = _box_muller(_absorb(prefix, entities[i]))


@njit
def integers_batch(
    lo: int,
    hi: int,
    seed: int,
    stream: int,
    entities: Array,
    tick: int,
    counter: int,
    out: Array,
) -> None:
    """Write :func:`integers` of each entity into ``out`` (int64, same length).

    Raises
    ------
    ValueError
        When ``hi <= lo`` or the lengths differ.

    Examples
    --------
    >>> ids = np.array([5, 6], dtype=np.uint64)
    >>> out = np.empty(2, dtype=np.int64)
    >>> integers_batch(0, 10, 7, 1, ids, 0, 0, out)
    >>> bool(out[1] == integers(0, 10, 7, 1, 6, 0, 0))
    True
    """
    if hi <= lo:
        raise ValueError("integers: need lo < hi")
    _check_out(entities, out)
    span = np.uint64(hi - lo)
    prefix = _prefix(seed, stream, tick, counter)
    for i in range(entities.shape[0]):
        out[i] = lo + np.int64(_lemire(_absorb(prefix, entities[i]), span))


@njit
def bernoulli_batch(
    p: float,
    seed: int,
    stream: int,
    entities: Array,
    tick: int,
    counter: int,
    out: Array,
) -> None:
    """Write :func:`bernoulli` of each entity into ``out`` (bool, same length).

    Examples
    --------
    >>> ids = np.array([5, 6], dtype=np.uint64)
    >>> out = np.empty(2, dtype=np.bool_)
    >>> bernoulli_batch(0.5, 7, 1, ids, 0, 0, out)
    >>> bool(out[1] == bernoulli(0.5, 7, 1, 6, 0, 0))
    True
    """
    _check_out(entities, out)
    prefix = _prefix(seed, stream, tick, counter)
    for i in range(entities.shape[0]):
        out[i] = _unit(_word(_absorb(prefix, entities[i]), 0)) < p


# NumPy twins. They repeat the arithmetic on uint64 arrays (NumPy wraps integer array
# arithmetic silently); the 128-bit products of `integers` use Python ints instead, so
# the kernel's 32-bit-limb multiply is checked against exact arithmetic.


def _u64(x: Any) -> Array:
    return np.asarray(x).astype(np.uint64).reshape(-1)


def _mix_reference(z: Array) -> Array:
    z = (z ^ (z >> S30)) * MIX1
    z = (z ^ (z >> S27)) * MIX2
    return z ^ (z >> S31)  # type: ignore[no-any-return] # uint64 array


def _states_reference(
    seed: int, stream: int, entities: Array, tick: int, counter: int
) -> Array:
    h = np.full(1, IV, dtype=np.uint64)
    for key in (seed, stream, tick, counter):
        h = _mix_reference(h + _u64(key) * GAMMA)
    return _mix_reference(h + _u64(entities) * GAMMA)


def _word_reference(states: Array, lane: int) -> Array:
    step = np.uint64((lane * int(GAMMA)) & _MASK64)  # Python ints: no scalar overflow
    return _mix_reference(states + step)


def random_u64_batch_reference(
    seed: int, stream: int, entities: Array, tick: int, counter: int
) -> Array:
    """NumPy twin of :func:`random_u64_batch` (returns a new uint64 array)."""
    return _word_reference(_states_reference(seed, stream, entities, tick, counter), 0)


def uniform_batch_reference(
    seed: int, stream: int, entities: Array, tick: int, counter: int
) -> Array:
    """NumPy twin of :func:`uniform_batch` (returns a new float64 array)."""
    words = random_u64_batch_reference(seed, stream, entities, tick, counter)
    return (words >> S11).astype(np.float64) * TWO_M53


def normal_batch_reference(
    seed: int, stream: int, entities: Array, tick: int, counter: int
) -> Array:
    """NumPy twin of :func:`normal_batch` (returns a new float64 array)."""
    states = _states_reference(seed, stream, entities, tick, counter)
    u1 = ((_word_reference(states, 0) >> S11).astype(np.float64) + 1.0) * TWO_M53
    u2 = (_word_reference(states, 1) >> S11).astype(np.float64) * TWO_M53
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(TWO_PI * u2)


def integers_batch_reference(
    lo: int, hi: int, seed: int, stream: int, entities: Array, tick: int, counter: int
) -> Array:
    """NumPy twin of :func:`integers_batch` (returns a new int64 array).

    Accepts word ``lane`` of an entity when the low half of ``word * span`` is at
    least ``2**64 mod span``, trying lanes 0, 1, 2, ... in order.
    """
    if hi <= lo:
        raise ValueError("integers: need lo < hi")
    span = (int(hi) - int(lo)) & _MASK64
    threshold = (1 << 64) % span
    states = _states_reference(seed, stream, entities, tick, counter)
    result = np.empty(states.shape[0], dtype=object)
    todo = np.arange(states.shape[0])
    lane = 0
    while todo.size:
        product = _word_reference(states[todo], lane).astype(object) * span
        accept = (product & _MASK64) >= threshold
        result[todo[accept]] = int(lo) + (product[accept] >> 64)
        todo = todo[~accept]
        lane += 1
    return result.astype(np.int64)


def bernoulli_batch_reference(
    p: float, seed: int, stream: int, entities: Array, tick: int, counter: int
) -> Array:
    """NumPy twin of :func:`bernoulli_batch` (returns a new bool array)."""
    return uniform_batch_reference(seed, stream, entities, tick, counter) < p
