"""The block cache: blocks come back only when nothing uses them, the cache stays
within its bound, and recycled memory (which keeps old bytes) never shows in a world."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from archetype_ecs import World, component
from archetype_ecs.blocks import MIN_BLOCK, BlockCache, blocks
from archetype_ecs.schema import f64, i64, u32
from archetype_ecs.serialization import load, save
from archetype_ecs.table import added_key, changed_key

MIB = 1 << 20


def _addr(a: np.ndarray) -> int:
    return int(a.ctypes.data)


def test_take_gives_a_writable_page_aligned_block_of_the_size_asked() -> None:
    cache = BlockCache()
    b = cache.take(3 * MIB + 5)
    assert b.dtype == np.uint8
    assert b.nbytes == 3 * MIB + 5
    assert b.flags.writeable
    assert _addr(b) % 4096 == 0
    b[:] = 7
    assert int(b.sum()) == 7 * (3 * MIB + 5)
    assert (cache.hits, cache.misses, cache.cached_bytes) == (0, 1, 0)


def test_a_block_comes_back_only_when_its_last_view_is_gone() -> None:
    cache = BlockCache()
    b = cache.take(2 * MIB)
    b[:8] = np.arange(8, dtype=np.uint8)
    col = b[:8].view(np.float64)  # a NumPy view
    buf = pa.py_buffer(b[:8])  # an Arrow buffer over it
    arr = pa.Array.from_buffers(pa.uint8(), 8, [None, buf])
    zero_copy = arr.to_numpy(zero_copy_only=True)  # a NumPy view of the Arrow one
    addr = _addr(b)
    del b, col, buf, arr
    gc.collect()
    assert cache.cached_bytes == 0  # `zero_copy` still reads the block
    other = cache.take(2 * MIB)  # so this must be new memory
    assert _addr(other) != addr
    other[:] = 0xFF
    assert zero_copy.tolist() == list(range(8))  # untouched
    del zero_copy
    assert cache.cached_bytes == 2 * MIB
    again = cache.take(2 * MIB)
    assert _addr(again) == addr
    assert cache.hits == 1


def test_a_request_takes_a_cached_block_at_most_a_quarter_larger() -> None:
    cache = BlockCache()
    big = cache.take(5 * MIB)
    del big
    assert cache.take(3 * MIB).nbytes == 3 * MIB
    assert cache.hits == 0  # 5 MiB > 1.25 * 3 MiB
    fits = cache.take(4 * MIB + 1)  # 5 MiB <= 1.25 * 5 MiB (sizes round up to MiB)
    assert fits.nbytes == 4 * MIB + 1
    assert cache.hits == 1
    assert cache.cached_bytes == 3 * MIB  # the 3 MiB block, dropped at once


def test_the_cache_keeps_at_most_max_bytes() -> None:
    cache = BlockCache(max_bytes=5 * MIB)
    held = [cache.take(2 * MIB) for _ in range(4)]
    del held
    assert cache.cached_bytes == 4 * MIB  # two of the four fit
    cache.max_bytes = 2 * MIB  # lowering the bound trims at once
    assert cache.cached_bytes == 2 * MIB
    cache.max_bytes = 0
    assert cache.cached_bytes == 0
    b = cache.take(MIB)
    del b
    assert cache.cached_bytes == 0  # off: nothing kept


def test_clear_unmaps_cached_blocks_and_leaves_blocks_in_use_alone() -> None:
    cache = BlockCache()
    used = cache.take(MIB)
    used[:] = 3
    freed = cache.take(MIB)
    del freed
    assert cache.cached_bytes == MIB
    cache.clear()
    assert cache.cached_bytes == 0
    assert int(used[-1]) == 3
    del used
    assert cache.cached_bytes == MIB


def test_a_block_freed_while_the_cache_is_busy_is_filed_afterwards() -> None:
    # a garbage collection may free a block's last view inside one of the cache's
    # own critical sections (on the thread holding its lock): that must not block
    cache = BlockCache()
    held = [cache.take(MIB)]
    done = threading.Event()

    def free_inside_the_lock() -> None:
        with cache._lock:
            held.clear()  # the finalizer runs here, the lock taken
            assert cache._returned  # queued, not filed
        done.set()

    worker = threading.Thread(target=free_inside_the_lock, daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert done.is_set(), "freeing a block inside the cache's lock deadlocked"
    assert cache.cached_bytes == MIB  # filed by the next caller


def test_clear_right_after_a_block_is_filed_does_not_raise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # a block is filed while its lease still exports the mapping; another thread may
    # clear the cache before the lease is gone: closing the mapping must wait
    class ClearAtOnce(BlockCache):
        def _give_back(self, mm):  # type: ignore[no-untyped-def]
            super()._give_back(mm)
            self.clear()

    raised: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: raised.append(u.exc_value))
    cache = ClearAtOnce()
    b = cache.take(MIB)
    del b
    assert raised == []
    assert cache.cached_bytes == 0
    again = cache.take(MIB)  # a fresh mapping; the old one went with its lease
    again[:] = 1
    assert cache.misses == 2


def test_a_kernel_refusing_huge_pages_still_gets_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import archetype_ecs.blocks as mod

    monkeypatch.setattr(mod, "_MADV_HUGEPAGE", 0x7FFF)  # advice no kernel knows
    b = BlockCache().take(8 * MIB)
    b[:] = 2
    assert int(b[-1]) == 2


def test_no_memory_for_a_block_is_a_memory_error_and_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import archetype_ecs.blocks as mod

    cache = BlockCache()
    kept = cache.take(MIB)
    del kept

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(mod.mmap, "mmap", refuse)
    with pytest.raises(MemoryError, match="cannot map a block of 8388608 bytes"):
        cache.take(8 * MIB)
    assert cache.cached_bytes == MIB  # the cached block is still there
    assert cache.take(MIB).nbytes == MIB  # and still served


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.take(MIN_BLOCK - 1), "blocks start at"),
        (lambda c: setattr(c, "max_bytes", -1), "must be an int >= 0"),
        (lambda c: setattr(c, "max_bytes", 1.5), "must be an int >= 0"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(call, message) -> None:  # type: ignore[no-untyped-def]
    cache = BlockCache(max_bytes=8 * MIB)
    b = cache.take(MIB)
    del b
    with pytest.raises(ValueError, match=message):
        call(cache)
    assert (cache.max_bytes, cache.cached_bytes) == (8 * MIB, MIB)


@pytest.mark.parametrize(
    ("value", "ok"), [("0", True), ("1048576", True), ("lots", False), ("-1", False)]
)
def test_the_environment_variable_sets_the_bound(value: str, ok: bool) -> None:
    env = {**os.environ, "ARROW_ECS_BLOCK_CACHE": value}
    code = "from archetype_ecs.blocks import blocks; print(blocks.max_bytes)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == value
    else:
        assert out.returncode != 0
        assert "ARROW_ECS_BLOCK_CACHE" in out.stderr
        assert "bytes >= 0" in out.stderr


def test_threads_taking_and_dropping_never_share_a_block() -> None:
    cache = BlockCache(max_bytes=16 * MIB)
    errors: list[str] = []
    start = threading.Barrier(4)

    def work(k: int) -> None:
        start.wait()
        for i in range(60):
            b = cache.take((1 + (i + k) % 3) * MIB)
            b[:] = k
            b[::4096] = k  # touch every page again, then check nobody else wrote
            if np.any(b != k):
                errors.append(f"thread {k}: block shared at round {i}")
            del b

    pool = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors
    assert cache.hits > 0
    assert cache.cached_bytes <= 16 * MIB


# ------------------------------------------------- recycled memory in a world


@component
class Big:
    a: f64 = 0.0
    b: i64 = 0
    c: u32 = 0


def _poison() -> None:
    """Fill the process cache with blocks full of 0xAB of many sizes (and nothing
    else: what earlier tests left there could fill it up)."""
    blocks.clear()
    assert blocks.max_bytes >= 128 * MIB
    held = [blocks.take(s * MIB) for s in (1, 2, 3, 4, 6, 8, 12, 16) for _ in range(2)]
    for h in held:
        h[:] = 0xAB
    del held


def _contents(w: World) -> dict[str, np.ndarray]:
    t = w.query(Big).to_arrow().sort_by("entity")
    return {k: t[k].to_numpy() for k in t.column_names}


def _ticks_clean(w: World) -> bool:
    """No live row's added / changed tick holds the poison."""
    for table in w.tables:
        keys = table.keys
        for key in (added_key("Big"), changed_key("Big")):
            if key in keys and np.any(table.column(key)[: len(table)] == POISON):
                return False
    return True


POISON = 0xABABABAB


def test_recycled_bytes_never_show_in_a_world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tables of megabytes carved from poisoned blocks: reads, growth, despawns (rows
    moved), a save and an exact load see only what was written."""
    import archetype_ecs.blocks as mod

    # whatever the environment says; and no MADV_FREE, so that memory pressure
    # cannot zero the poison before the world gets it
    monkeypatch.setattr(blocks, "max_bytes", 256 * MIB)
    monkeypatch.setattr(mod, "_MADV_FREE", None)
    _poison()
    hits = blocks.hits
    n = 120_000  # 20 bytes a row plus two tick columns: tables of a few MiB
    w = World()
    w.track_changes(Big)
    k = np.arange(n)
    ents = np.asarray(
        w.spawn_batch(
            {
                Big: {
                    "a": k.astype(np.float64),
                    "b": k * 3,
                    "c": (k % 7).astype(np.uint32),
                }
            }
        ),
        np.uint64,
    )
    more = np.asarray(w.spawn_batch({Big: {"a": np.full(n, -1.0)}}), np.uint64)
    w.despawn_batch(ents[::2])
    assert blocks.hits > hits  # the world did take recycled blocks...
    # (the rows past len(table): capacity the world has not written yet)
    spare = [t._cols[c][len(t) :] for t in w.tables if len(t) for c in t.keys]
    assert any(np.any(c.view(np.uint8) == 0xAB) for c in spare)  # ...poisoned ones
    got = _contents(w)
    live = np.concatenate([ents[1::2], more])
    order = np.argsort(live)
    kept = k[1::2]
    assert np.array_equal(got["entity"], live[order])
    assert np.array_equal(got["Big.a"], np.concatenate([kept, np.full(n, -1)])[order])
    assert np.array_equal(got["Big.b"], np.concatenate([kept * 3, np.zeros(n)])[order])
    assert np.array_equal(got["Big.c"], np.concatenate([kept % 7, np.zeros(n)])[order])
    assert _ticks_clean(w)
    save(w, tmp_path / "s")
    del w
    _poison()
    w2 = load(tmp_path / "s", components=[Big]).world
    again = _contents(w2)
    assert all(np.array_equal(again[c], got[c]) for c in got)
    assert _ticks_clean(w2)


def test_a_spawn_the_system_has_no_memory_for_leaves_the_world_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import archetype_ecs.blocks as mod

    w = World()
    first = w.spawn_batch({Big: {"a": np.arange(10.0)}})
    before = _contents(w)

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError(12, "Cannot allocate memory")

    monkeypatch.setattr(mod.mmap, "mmap", refuse)
    blocks.clear()  # nothing cached to fall back on
    with pytest.raises(MemoryError):
        w.spawn_batch({Big: {"a": np.zeros(200_000)}})  # needs a 7 MiB block
    after = _contents(w)
    assert len(w) == len(first)
    assert all(np.array_equal(after[c], before[c]) for c in before)
    monkeypatch.undo()
    more = w.spawn_batch({Big: {"a": np.ones(3)}})
    assert len(w) == 13
    assert set(np.asarray(more, np.uint64)).isdisjoint(np.asarray(first, np.uint64))
