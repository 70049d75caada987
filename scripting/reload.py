"""Hot reload: watch script files, validate each change, swap it in between frames.

A :class:`HotReloader` watches the folders of the files it tracks with a watchdog
``Observer``. Three threads take part, and only the main one touches the world:

1. the **observer thread** turns file-system events into "this path changed at t"
   (modified and closed events of an in-place write, the destination of a moved event
   for editors that save through a temporary file, created and deleted events);
2. the **reload thread** waits until a path has been quiet for the debounce window
   (or has kept changing for ``max_delay``), reads it, skips it when its content
   hash did not change, and *validates* the new version away from the running one:
   a fresh Lua sandbox or Python namespace compiles it and runs its top level, its
   header is parsed and checked against the running version's, and its optional
   ``self_test()`` must pass; a module of Numba systems is imported as a fresh
   module object and its kernels compiled for the signatures the running ones use;
   a behavior tree is parsed, checked against the leaf registry, compiled and warmed.
   It reads registries (component names, leaf definitions), never storage;
3. the **main thread** swaps validated versions in at the next sync point: the
   reloader is a ``world.frame_end_hooks`` entry, so a swap happens after the last
   phase of a frame and before the next one starts, never mid-frame (or call
   :meth:`HotReloader.apply` yourself between steps).

A swap keeps the script's ``state`` (the same Lua table / Python dict), runs the new
top level in a *fresh* environment (functions and globals deleted from the file are
gone, unlike ``importlib.reload``), then calls the script's optional
``on_reload(old)`` with the old version's module-level data. If validation or the
swap fails, the running version stays, and the error is recorded with the file and
line. Every outcome lands in :attr:`HotReloader.history` (also as an Arrow table).
See ``docs/hot-reload.md``.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import re
import sys
import threading
import time
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import pyarrow as pa
from watchdog.events import (
    EVENT_TYPE_CLOSED,
    EVENT_TYPE_CREATED,
    EVENT_TYPE_DELETED,
    EVENT_TYPE_MODIFIED,
    EVENT_TYPE_MOVED,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from archetype_ecs.component import schema_of
from archetype_ecs.errors import EcsError
from archetype_ecs.resources import Time
from archetype_ecs.system import System
from archetype_ecs.world import World
from scripting.api import Permissions, parse_header
from scripting.engine import Script, ScriptEngine
from scripting.errors import ScriptError
from scripting.isolated import IsolatedPythonScript
from scripting.lua import LuaSandbox
from scripting.python import PythonScript

__all__ = [
    "DEFAULT_DEBOUNCE",
    "HotReloader",
    "ReloadError",
    "ReloadRecord",
    "ReloadTarget",
    "Swap",
    "error_line",
]

_SUFFIXES = (".lua", ".py")

DEFAULT_DEBOUNCE = 0.05
"""Seconds a path must stay quiet before it is reloaded (editors' save bursts last
a few milliseconds; the end-to-end latency target is 300 ms)."""

Swap = Callable[[], str]
"""Applies a validated version on the main thread at a sync point; returns a note."""

_HISTORY_SCHEMA = pa.schema(
    [
        ("time", pa.float64()),
        ("file", pa.string()),
        ("kind", pa.string()),
        ("hash", pa.string()),
        ("outcome", pa.string()),
        ("error", pa.string()),
        ("line", pa.int64()),
        ("frame", pa.int64()),
        ("latency_ms", pa.float64()),
        ("detail", pa.string()),
    ]
)


class ReloadError(EcsError, ValueError):
    """A hot-reload request cannot be honored (bad path, untracked script, ...)."""


@dataclass(frozen=True)
class ReloadRecord:
    """One reload outcome.

    Attributes
    ----------
    time
        Unix time (seconds) when the outcome was decided.
    file
        The file's absolute path.
    kind
        ``"lua"``, ``"python"``, ``"systems"`` or ``"tree"``.
    hash
        SHA-256 (hex) of the content seen; empty for a deleted file.
    outcome
        ``"reloaded"`` (the new version runs), ``"failed"`` (it was refused or its
        swap failed: the old version keeps running), ``"skipped"`` (same content as
        last time), ``"deleted"`` (file gone, last version keeps running) or
        ``"disabled"`` (file gone, ``on_delete="disable"``) or ``"superseded"`` (a
        valid version replaced by a newer one before its swap: it never ran).
    error
        The error message for ``"failed"``.
    line
        The line the error points at, when known.
    frame
        ``Time.frame`` of the frame after which the swap happened (-1: no swap).
    latency_ms
        From the last file event of the burst to the outcome.
    detail
        A note from the swap (e.g. agents kept / reset for a tree).
    """

    time: float
    file: str
    kind: str
    hash: str
    outcome: str
    error: str = ""
    line: int | None = None
    frame: int = -1
    latency_ms: float = 0.0
    detail: str = ""


class ReloadTarget(Protocol):
    """What the reloader needs from one watched file (scripts, trees, modules).

    ``validate`` runs on the reload thread: it must not touch the world's storage.
    It raises on an invalid version (the error is recorded with its line) and
    returns the :data:`Swap` that the main thread calls at the next sync point.
    ``disable`` returns the swap that turns the running version off (for deleted
    files with ``on_delete="disable"``).
    """

    kind: str

    def validate(self, path: Path, text: str) -> Swap:
        """Check ``text`` as the next version of ``path``; return its swap."""
        ...

    def disable(self) -> Swap:
        """The swap that stops the running version (its file was deleted)."""
        ...


def _stamp(path: Path) -> tuple[int, int, int] | None:
    """``(mtime_ns, size, inode)`` of a file, or None when it does not exist."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_mtime_ns, st.st_size, st.st_ino)


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def error_line(exc: BaseException, path: Path, text: str = "") -> int | None:
    """The line of ``path`` an error points at, when it can be found.

    Looks at ``exc.line`` (script errors), ``lineno`` (syntax and JSON errors, also
    on the cause), the traceback frames in ``path``, then ``File "...", line N`` or
    ``name:N:`` in the message (Numba typing errors, Lua messages), and last, for
    "name 'x' is not defined" (a Numba typing error without a location), the first
    line of ``text`` using that name.
    """
    line = getattr(exc, "line", None)
    if isinstance(line, int):
        return line
    for e in (exc, exc.__cause__, exc.__context__):
        if isinstance(e, SyntaxError) and e.lineno is not None:
            return e.lineno
        lineno = getattr(e, "lineno", None)
        if isinstance(lineno, int):
            return lineno
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if Path(f.filename).name == path.name
    ]
    if frames and frames[-1].lineno is not None:
        return frames[-1].lineno
    msg = str(exc)
    m = re.search(r'File "[^"]*' + re.escape(path.name) + r'", line (\d+)', msg)
    m = m or re.search(re.escape(path.name) + r":(\d+)", msg)
    if m:
        return int(m.group(1))
    m = re.search(r"name '(\w+)' is not defined", msg)
    if m and text:
        word = re.compile(r"\b" + re.escape(m.group(1)) + r"\b")
        for no, line_text in enumerate(text.splitlines(), 1):
            if word.search(line_text):
                return no
    return None


def _message(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    notes = getattr(exc, "__notes__", None)
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return text


@dataclass
class _Pending:
    path: str
    hash: str
    swap: Swap
    event_time: float
    text: str = ""


@dataclass
class _Tracked:
    target: ReloadTarget
    hash: str  # of the last content seen (whatever its outcome)
    waited_empty: bool = False  # an empty read was put off once already


_CHANGES = frozenset(
    {
        EVENT_TYPE_MODIFIED,
        EVENT_TYPE_CLOSED,  # close after writing: the writer is done
        EVENT_TYPE_CREATED,
        EVENT_TYPE_DELETED,
        EVENT_TYPE_MOVED,
    }
)


class _Handler(FileSystemEventHandler):
    """Observer-thread side: every event on a tracked path marks it dirty."""

    def __init__(self, reloader: HotReloader) -> None:
        self.reloader = reloader

    def on_any_event(self, event: FileSystemEvent) -> None:
        # Reads (ours included) raise opened / closed-without-write events: not changes.
        if event.is_directory or event.event_type not in _CHANGES:
            return
        kind = event.event_type
        src = event.src_path
        self.reloader._touch(src if isinstance(src, str) else src.decode(), kind)
        dest = getattr(event, "dest_path", "")
        if dest:  # atomic save: the target arrives as the move's destination
            self.reloader._touch(dest if isinstance(dest, str) else dest.decode(), kind)


class HotReloader:
    """Watch script, tree and system files; swap validated versions between frames.

    Parameters
    ----------
    world
        The world whose frames are the sync points (the reloader adds itself to
        ``world.frame_end_hooks``).
    engine
        The script engine of the Lua / Python scripts (needed by
        :meth:`watch_script`).
    debounce
        Seconds a file must stay quiet before it is reloaded: events of one save
        (two modified events of an in-place write, delete + create, temp file +
        rename) are coalesced into one reload.
    max_delay
        A file that keeps changing is reloaded anyway after this many seconds.
    on_delete
        ``"keep"`` (default): a deleted file's last version keeps running (the
        deletion is recorded; a file that comes back reloads). ``"disable"``: the
        script is disabled (its system's runs are skipped) until the file returns.
    self_test
        Name of the optional function a new version must pass before it goes live.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from archetype_ecs import World
    >>> from scripting import ScriptEngine
    >>> w = World()
    >>> eng = ScriptEngine(w)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "hello.lua").write_text("function run(b) state.v = 1 end")
    >>> with HotReloader(w, eng) as reloader:
    ...     sc = reloader.watch_script(folder / "hello.lua")
    ...     w.add_system(eng.system(sc))
    ...     w.step()
    ...     print([pathlib.Path(p).name for p in reloader.files], reloader.history)
    ['hello.lua'] []
    """

    def __init__(
        self,
        world: World,
        engine: ScriptEngine | None = None,
        *,
        debounce: float = DEFAULT_DEBOUNCE,
        max_delay: float = 1.0,
        on_delete: Literal["keep", "disable"] = "keep",
        self_test: str = "self_test",
    ) -> None:
        if debounce < 0 or max_delay < debounce:
            raise ReloadError(
                f"debounce={debounce} / max_delay={max_delay}: need 0 <= debounce "
                "<= max_delay (seconds)"
            )
        if on_delete not in ("keep", "disable"):
            raise ReloadError(f"on_delete={on_delete!r}: use 'keep' or 'disable'")
        self.world = world
        self.engine = engine
        self.debounce = debounce
        self.max_delay = max_delay
        self.on_delete = on_delete
        self.self_test = self_test
        self.history: list[ReloadRecord] = []
        self._tracked: dict[str, _Tracked] = {}
        # path -> [first event, last event, a writer may still have it open]
        self._dirty: dict[str, list[Any]] = {}
        self._close_events = False  # the observer reports close-after-write
        self._busy = 0  # paths the reload thread is reading / validating
        self._pending: dict[str, _Pending] = {}
        self._cond = threading.Condition()
        self._dirs: set[str] = set()
        self._folders: dict[str, dict[str, Any]] = {}  # folder -> system options
        self._observer: Any = Observer()
        self._observer.daemon = True
        self._observer.start()
        self._closed = False
        self._thread = threading.Thread(
            target=self._loop, name="arrow-ecs-hot-reload", daemon=True
        )
        self._thread.start()
        world.frame_end_hooks.append(self._frame_end)

    # ---------------------------------------------------------------- tracking

    def watch_script(self, path: str | Path, *, name: str | None = None) -> Script:
        """Load a Lua / Python script file into the engine and track it.

        Returns the loaded :class:`~scripting.engine.Script` (add its system with
        ``engine.system(script)``). Later versions of the file swap in between
        frames; the system keeps its name and declared access.

        Raises
        ------
        ReloadError
            Without an engine, or for a missing file.
        ScriptError
            When the first version does not load (nothing is tracked then).
        """
        engine = self._need_engine("watch_script")
        p = self._existing(path)
        script = engine.load(p, name=name)
        target = _ScriptTarget(self, script.name)
        self.track(p, target, p.read_bytes())
        return script

    def watch_folder(
        self, folder: str | Path, *, add: bool = True, **options: Any
    ) -> list[Script]:
        """Load every ``.lua`` / ``.py`` script of a folder, and every one added later.

        Each script is tracked like :meth:`watch_script`; with ``add`` its system
        (``engine.system(script, **options)``) is added to the world. A script file
        that appears in the folder later is validated like a new version and, when
        valid, loaded and its system added at the next sync point. Names starting
        with a dot (editors' temporary files) are ignored. Scripts are named after
        their file name.

        Returns
        -------
        list of Script
            The scripts loaded now, in file-name order.

        Raises
        ------
        ReloadError
            Without an engine, or when ``folder`` is not a directory.
        ScriptError
            When a script of the folder does not load (the ones before it are
            loaded and tracked; fix the file and call again).
        """
        engine = self._need_engine("watch_folder")
        d = Path(folder).resolve()
        if not d.is_dir():
            raise ReloadError(f"{d}: not a directory; create the script folder first")
        out = []
        for p in sorted(d.iterdir()):
            if p.suffix not in _SUFFIXES or p.name.startswith(".") or not p.is_file():
                continue
            if str(p) in self._tracked:
                continue
            script = self.watch_script(p)
            if add:
                self.world.add_system(engine.system(script, **options))
            out.append(script)
        with self._cond:
            self._folders[str(d)] = {"add": add, **options}
        if str(d) not in self._dirs:
            self._dirs.add(str(d))
            self._observer.schedule(_Handler(self), str(d), recursive=False)
        return out

    def watch_systems(self, path: str | Path, *, add: bool = True) -> list[System]:
        """Import a module of systems from its file, add them, and track the file.

        Every module-level :class:`~archetype_ecs.system.System` (or the module's
        ``SYSTEMS`` list) is one system. A new version is imported as a fresh module,
        its kernels compiled for the signatures the running ones were compiled for,
        and each system swapped in place in the schedule (same name; run state kept).
        Systems new in the file are added; systems gone from it keep running.

        Raises
        ------
        ReloadError
            For a missing file, or a module that defines no system.
        Exception
            Whatever importing the first version raises.
        """
        p = self._existing(path)
        target = _SystemsTarget(self, p)
        systems = target.load_first(add=add)
        self.track(p, target, p.read_bytes())
        return systems

    def track(self, path: str | Path, target: ReloadTarget, content: bytes) -> None:
        """Track ``path`` with a custom target (e.g. ``behaviors.reload``'s trees).

        ``content`` is the version already running (its hash is the baseline).
        """
        p = Path(path).resolve()
        key = str(p)
        with self._cond:
            self._tracked[key] = _Tracked(target, _digest(content))
        folder = str(p.parent)
        if folder not in self._dirs:
            self._dirs.add(folder)
            self._observer.schedule(_Handler(self), folder, recursive=False)

    def _need_engine(self, what: str) -> ScriptEngine:
        if self.engine is None:
            raise ReloadError(
                f"{what} needs a script engine: HotReloader(world, engine)"
            )
        return self.engine

    @staticmethod
    def _existing(path: str | Path) -> Path:
        p = Path(path).resolve()
        if not p.is_file():
            raise ReloadError(
                f"{p}: no such file; create it first (the reloader watches files "
                "that exist and follows them through saves, renames and deletes)"
            )
        return p

    @property
    def files(self) -> list[str]:
        """The tracked files (absolute paths)."""
        return sorted(self._tracked)

    # ---------------------------------------------------------------- threads

    def _touch(self, path: str, kind: str = EVENT_TYPE_MODIFIED) -> None:
        key = str(Path(path).resolve())
        now = time.monotonic()
        with self._cond:
            if kind == EVENT_TYPE_CLOSED:
                self._close_events = True
            if key not in self._tracked and not self._adopt(key):
                return
            self._tracked[key].waited_empty = False  # a writer is at work again
            entry = self._dirty.setdefault(key, [now, now, False])
            entry[1] = now
            # A modified / created file may still be open for writing (an in-place
            # save truncates first): wait for its close-after-write event.
            entry[2] = kind in (EVENT_TYPE_MODIFIED, EVENT_TYPE_CREATED)
            self._cond.notify_all()

    def _adopt(self, key: str) -> bool:
        """Track a new script file that appeared in a watched folder (lock held)."""
        p = Path(key)
        options = self._folders.get(str(p.parent))
        if options is None or p.name.startswith(".") or p.suffix not in _SUFFIXES:
            return False
        self._tracked[key] = _Tracked(_NewScriptTarget(self, p, options), "")
        return True

    def _due(self, now: float) -> tuple[list[tuple[str, float]], float | None]:
        due: list[tuple[str, float]] = []
        wait: float | None = None
        for key, (first, last, writing) in list(self._dirty.items()):
            quiet = last + self.debounce
            if writing and self._close_events:
                quiet = first + self.max_delay  # unless the writer closes it first
            ready_at = min(quiet, first + self.max_delay)
            if now >= ready_at:
                due.append((key, last))
                del self._dirty[key]
            else:
                left = ready_at - now
                wait = left if wait is None else min(wait, left)
        return due, wait

    def _loop(self) -> None:
        while True:
            with self._cond:
                if self._closed:
                    return
                due, wait = self._due(time.monotonic())
                if not due:
                    self._cond.wait(wait)
                    continue
                self._busy = len(due)
            for key, last in due:
                try:
                    self._process(key, last)
                except Exception as exc:  # a bug must not kill the watcher
                    self._add(self._rec(key, "?", "", "failed", exc, last))
                finally:
                    with self._cond:
                        self._busy -= 1

    def _process(self, key: str, last: float) -> None:
        with self._cond:
            tracked = self._tracked.get(key)
        if tracked is None:
            return
        target = tracked.target
        path = Path(key)
        stamp = _stamp(path)
        try:
            data: bytes | None = path.read_bytes()
        except FileNotFoundError:
            data = None
        if data is None:
            if self._changed_since(key, stamp):
                return  # it came back: its own events follow
            tracked.hash = ""
            if self.on_delete == "disable":
                self._queue(_Pending(key, "", target.disable(), last))
            else:
                self._add(self._rec(key, target.kind, "", "deleted", None, last))
            return
        if not data and not tracked.waited_empty:
            # Most likely an in-place save caught between its truncation and its
            # write (the events lag by a few ms): wait for the writer's close (or
            # max_delay) before taking an empty file for a new version.
            tracked.waited_empty = True
            with self._cond:
                now = time.monotonic()
                self._dirty.setdefault(key, [now, now, True])
                self._cond.notify_all()
            return
        tracked.waited_empty = False
        digest = _digest(data)
        if digest == tracked.hash:
            if not self._changed_since(key, stamp):
                self._add(self._rec(key, target.kind, digest, "skipped", None, last))
            return
        previous, tracked.hash = tracked.hash, digest
        text = data.decode("utf-8", errors="replace")
        error: Exception | None = None
        try:
            swap = target.validate(path, text)
        except Exception as exc:
            error = exc
        if self._changed_since(key, stamp):
            # A writer started again while we read or validated (its events lag
            # the write by a few ms): what we read may be a truncated file. Drop
            # it; the newer version's events bring it back here.
            tracked.hash = previous
            return
        if error is not None:
            self._add(self._rec(key, target.kind, digest, "failed", error, last, text))
            return
        self._queue(_Pending(key, digest, swap, last, text))

    def _changed_since(self, key: str, stamp: tuple[int, int, int] | None) -> bool:
        """True when ``key`` got new events or another size / mtime / inode."""
        with self._cond:
            if key in self._dirty:
                return True
        return _stamp(Path(key)) != stamp

    def _queue(self, pending: _Pending) -> None:
        with self._cond:
            older = self._pending.get(pending.path)
            self._pending[pending.path] = pending  # a newer version supersedes
        if older is not None:
            kind = self._tracked[older.path].target.kind
            self._add(
                self._rec(
                    older.path, kind, older.hash, "superseded", None, older.event_time
                )
            )

    # ---------------------------------------------------------------- main thread

    def _frame_end(self, world: World) -> None:
        self.apply()

    def apply(self) -> list[ReloadRecord]:
        """Swap in every validated version now (call between frames).

        The world calls it after each frame (``world.frame_end_hooks``). Returns the
        records of this call's swaps.
        """
        with self._cond:
            if not self._pending:
                return []
            todo = list(self._pending.values())
            self._pending.clear()
        frame = self.world.resource(Time).frame
        out = []
        for p in todo:
            kind = self._tracked[p.path].target.kind
            try:
                detail = p.swap()
            except Exception as exc:
                rec = self._rec(
                    p.path, kind, p.hash, "failed", exc, p.event_time, p.text
                )
            else:
                outcome = "disabled" if not p.hash else "reloaded"
                rec = dataclasses.replace(
                    self._rec(p.path, kind, p.hash, outcome, None, p.event_time),
                    frame=frame,
                    detail=detail,
                )
            self._add(rec)
            out.append(rec)
        return out

    def _rec(
        self,
        key: str,
        kind: str,
        digest: str,
        outcome: str,
        exc: BaseException | None,
        last: float,
        text: str = "",
    ) -> ReloadRecord:
        return ReloadRecord(
            time=time.time(),
            file=key,
            kind=kind,
            hash=digest,
            outcome=outcome,
            error=_message(exc) if exc is not None else "",
            line=error_line(exc, Path(key), text) if exc is not None else None,
            latency_ms=(time.monotonic() - last) * 1e3,
        )

    def _add(self, rec: ReloadRecord) -> None:
        with self._cond:
            self.history.append(rec)
            self._cond.notify_all()

    # ---------------------------------------------------------------- reporting

    def history_table(self) -> pa.Table:
        """The reload history as an Arrow table (one row per :class:`ReloadRecord`)."""
        with self._cond:
            rows = [dataclasses.asdict(r) for r in self.history]
        return pa.Table.from_pylist(rows, schema=_HISTORY_SCHEMA)

    def records(self, path: str | Path) -> list[ReloadRecord]:
        """The history of one file."""
        key = str(Path(path).resolve())
        with self._cond:
            return [r for r in self.history if r.file == key]

    @property
    def pending(self) -> list[str]:
        """Files whose validated new version waits for the next sync point."""
        with self._cond:
            return sorted(self._pending)

    def is_idle(self) -> bool:
        """True when no change is waiting for its debounce, validation or swap."""
        with self._cond:
            return not self._dirty and not self._pending and not self._busy

    def close(self) -> None:
        """Stop watching (joins the observer and reload threads; drops pending swaps)."""
        if self._closed:
            return
        with self._cond:
            self._closed = True
            self._pending.clear()
            self._cond.notify_all()
        self._observer.stop()
        self._observer.join()
        self._thread.join()
        if self._frame_end in self.world.frame_end_hooks:
            self.world.frame_end_hooks.remove(self._frame_end)

    def __enter__(self) -> HotReloader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<HotReloader: {len(self._tracked)} files, {len(self.history)} records, "
            f"debounce {self.debounce * 1e3:.0f} ms>"
        )


# ------------------------------------------------------------------- scripts


def _lua_call(rt: LuaSandbox, fn: Any, *args: Any) -> Any:
    """Run a Lua function under the sandbox's instruction budget (first result)."""
    return rt._run(lambda: rt._host.run(rt.limits.instructions, fn, *args))


_LUA_OLD_DATA = """
return function(env)
  local skip = {string = true, table = true, math = true, utf8 = true, os = true,
                coroutine = true, ecs = true, _G = true, _VERSION = true}
  local out = {}
  for k, v in next, env do
    if type(v) ~= "function" and not skip[k] then out[k] = v end
  end
  return out
end
"""


def _py_old_data(globs: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in globs.items()
        if not k.startswith("__")
        and not isinstance(v, types.FunctionType | types.ModuleType | type)
    }


def _checked_header(engine: ScriptEngine, name: str, text: str) -> Permissions:
    """The header's permissions; every name it uses must be known to the engine."""
    perms = parse_header(text, name)
    for comp in perms.readable():
        engine.component(comp, name)
    for res in perms.resources:
        engine.resource_type(res, name)
    for ev in perms.events:
        engine.event_type(ev, name)
    return perms


ENTRY_POINTS = ("run", "tick")
"""Functions a new version must keep when the running one defines them (the entries
systems and behavior leaves call): a file read while an editor truncates it, or an
empty save, would otherwise go live and fail every frame."""


def _entries(rt: LuaSandbox | PythonScript) -> set[str]:
    """The :data:`ENTRY_POINTS` a loaded runtime defines as functions."""
    if isinstance(rt, PythonScript):
        return {n for n in ENTRY_POINTS if callable(rt._globals.get(n))}
    kind = rt._rt.execute(b"return function(env, k) return type(rawget(env, k)) end")
    return {n for n in ENTRY_POINTS if kind(rt._env, n.encode()) == b"function"}


def _validate_fresh(
    engine: ScriptEngine,
    name: str,
    kind: str,
    text: str,
    perms: Permissions,
    reloader: HotReloader,
    keep: set[str] = frozenset(),  # type: ignore[assignment] # read-only default
) -> set[str]:
    """Compile and run ``text`` in a fresh sandbox / namespace, check that it still
    defines the entry points in ``keep``, run its self-test; returns its entries."""
    test_name = reloader.self_test
    rt: LuaSandbox | PythonScript
    if kind == "lua":
        box = LuaSandbox(name, engine.limits)
        engine._configure_lua(box, perms)
        box.load(text)  # compiles and runs the top level
        rt = box
    else:
        rt = PythonScript(name, engine._code_cache)
        rt.load(text)
    entries = _entries(rt)
    missing = sorted(keep - entries)
    if missing:
        raise ScriptError(
            name,
            f"the new version no longer defines {', '.join(m + '()' for m in missing)}, "
            "which the running version defines and its system or leaf calls (an "
            "empty or half-written file looks like this); keep the function",
        )
    if isinstance(rt, LuaSandbox):
        test = rt._env[test_name.encode()]
        if test is not None and _lua_call(rt, test) is False:
            raise ScriptError(name, f"{test_name}() returned false")
    else:
        py_test = rt._globals.get(test_name)
        if callable(py_test) and rt._guarded(py_test) is False:
            raise ScriptError(name, f"{test_name}() returned False")
    return entries


class _ScriptTarget:
    """A Lua or trusted-Python script of the engine, tracked by its file."""

    def __init__(self, reloader: HotReloader, name: str) -> None:
        self.reloader = reloader
        self.name = name
        engine = reloader._need_engine("a script target")
        script = engine.scripts[name]
        if isinstance(script.runtime, IsolatedPythonScript):
            raise ReloadError(
                f"script {name!r} runs isolated; hot reload covers Lua and trusted "
                "Python scripts (reload isolated ones with engine.load(...))"
            )
        self.kind = script.language
        assert isinstance(script.runtime, LuaSandbox | PythonScript)
        self.entries = _entries(script.runtime)

    @property
    def engine(self) -> ScriptEngine:
        return self.reloader._need_engine("a script target")

    def _perms(self, text: str) -> Permissions:
        engine = self.engine
        perms = _checked_header(engine, self.name, text)
        live = engine.scripts[self.name].perms
        wider = [
            f"{key}: {', '.join(extra)}"
            for key, extra in (
                ("reads", set(perms.readable()) - set(live.readable())),
                ("writes", set(perms.writes) - set(live.writes)),
                ("resources", set(perms.resources) - set(live.resources)),
                ("events", set(perms.events) - set(live.events)),
                ("spawn", {"yes"} if perms.spawn and not live.spawn else set()),
                ("despawn", {"yes"} if perms.despawn and not live.despawn else set()),
            )
            if extra
        ]
        if wider:
            raise ScriptError(
                self.name,
                f"the new header grants more than the running version ({'; '.join(wider)}); "
                "a system's declared access cannot widen while it runs: register the "
                "script's system again (engine.system) to use the new header",
                1,
            )
        return perms

    def validate(self, path: Path, text: str) -> Swap:
        perms = self._perms(text)
        entries = _validate_fresh(
            self.engine, self.name, self.kind, text, perms, self.reloader, self.entries
        )

        def swap() -> str:
            note = self._swap(text, perms)
            self.entries = entries
            return note

        return swap

    def _swap(self, text: str, perms: Permissions) -> str:
        engine = self.engine
        old = engine.scripts[self.name]
        rt: LuaSandbox | PythonScript
        if isinstance(old.runtime, LuaSandbox):
            rt = self._swap_lua(old.runtime, text, perms)
        else:
            assert isinstance(old.runtime, PythonScript)
            rt = self._swap_python(old.runtime, text)
        new = Script(self.name, old.language, text, perms, rt)
        new.stats, new.logs = old.stats, old.logs
        new.stats.disabled, new.stats.consecutive_failures = False, 0
        engine.scripts[self.name] = new
        return ""

    def _swap_lua(self, rt: LuaSandbox, text: str, perms: Permissions) -> LuaSandbox:
        host = rt._host
        env = host.new_env(host.api())
        old_env = rt._env
        env[b"state"] = old_env[b"state"]  # the same table: state survives
        fn, err = host.compile(text.encode(), self.name.encode(), env)
        if not fn:
            raise rt._error("error", err.decode(errors="replace"), "")
        _lua_call(rt, fn)
        hook = env[b"on_reload"]
        if hook is not None:
            old_data = rt._rt.execute(_LUA_OLD_DATA.encode())(old_env)
            _lua_call(rt, hook, old_data)
        self.engine._configure_lua(rt, perms)
        rt._env, rt._hash = env, _digest(text.encode())
        rt.compiles += 1
        return rt

    def _swap_python(self, rt: PythonScript, text: str) -> PythonScript:
        # The same PythonScript object (debugger / profiler hooks and references
        # stay valid) gets a fresh namespace whose ``state`` is the running one.
        old_globals, old_hash = rt._globals, rt._hash
        fresh = PythonScript(self.name, self.engine._code_cache)._globals
        fresh["state"] = rt.state
        rt._globals, rt._hash = fresh, ""
        try:
            rt.load(text)
            hook = fresh.get("on_reload")
            if callable(hook):
                data = _py_old_data(old_globals)
                rt._guarded(rt._hooked(lambda: hook(data)))
        except BaseException:
            rt._globals, rt._hash = old_globals, old_hash
            raise
        return rt

    def disable(self) -> Swap:
        def off() -> str:
            self.engine.scripts[self.name].stats.disabled = True
            return "script disabled until its file returns"

        return off


class _NewScriptTarget:
    """A script file that appeared in a watched folder: load it, add its system."""

    def __init__(
        self, reloader: HotReloader, path: Path, options: dict[str, Any]
    ) -> None:
        self.reloader = reloader
        self.path = path
        self.options = dict(options)
        self.add = bool(self.options.pop("add", True))
        self.kind = "lua" if path.suffix == ".lua" else "python"

    def validate(self, path: Path, text: str) -> Swap:
        engine = self.reloader._need_engine("a new script")
        name = path.name
        if name in engine.scripts:
            raise ScriptError(
                name,
                "a script with this name is already loaded (scripts are named "
                "after their file): rename the file",
            )
        perms = _checked_header(engine, name, text)
        _validate_fresh(engine, name, self.kind, text, perms, self.reloader)

        def swap() -> str:
            add = self.add
            script = engine.load(text, name=name, language=self.kind)
            if add:
                self.reloader.world.add_system(engine.system(script, **self.options))
            with self.reloader._cond:
                tracked = self.reloader._tracked[str(self.path)]
                tracked.target = _ScriptTarget(self.reloader, name)
            return "new script loaded" + (", its system added" if add else "")

        return swap

    def disable(self) -> Swap:
        return lambda: "never loaded"


# ------------------------------------------------------------------- systems


def _import_file(path: Path, name: str) -> types.ModuleType:
    """Execute ``path`` as a fresh module ``name`` (registered only on success)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ReloadError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(name)
    sys.modules[name] = module  # dataclasses / numba look the module up while it runs
    try:
        spec.loader.exec_module(module)
    except BaseException:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
        raise
    return module


def _systems_of(module: types.ModuleType, path: Path) -> list[System]:
    listed = getattr(module, "SYSTEMS", None)
    found = (
        list(listed)
        if listed is not None
        else [v for v in vars(module).values() if isinstance(v, System)]
    )
    bad = [s for s in found if not isinstance(s, System)]
    if bad or not found:
        raise ReloadError(
            f"{path}: a systems module defines module-level systems (@system) or a "
            f"SYSTEMS list of them; found {len(found)} systems"
            + (f" and non-systems {bad[:3]!r}" if bad else "")
        )
    names = [s.name for s in found]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ReloadError(f"{path}: system names {dup} appear more than once")
    return found


_QUERY = ("query", "without", "optional", "added", "changed")


class _SystemsTarget:
    """A Python module whose module-level systems swap into the schedule."""

    kind = "systems"

    def __init__(self, reloader: HotReloader, path: Path) -> None:
        self.reloader = reloader
        self.path = path
        # one module name per file: two folders may hold files of the same name
        tag = _digest(str(path).encode())[:8]
        self.module_name = f"_arrow_ecs_hot_{path.stem}_{tag}"
        self.names: list[str] = []

    def load_first(self, *, add: bool) -> list[System]:
        module = _import_file(self.path, self.module_name)
        systems = _systems_of(module, self.path)
        self._check_components(systems)
        world = self.reloader.world
        self.names = [s.name for s in systems]
        if add:
            for s in systems:
                world.add_system(s)
        return systems

    def _check_components(self, systems: list[System]) -> None:
        reg = self.reloader.world.components
        for s in systems:
            comps = set(s.access.reads) | set(s.access.writes) | set(s.query)
            for c in comps:
                name = schema_of(c).name
                cid = reg.by_name(name)
                if cid is not None and reg.schemas[cid].cls is not c:
                    raise ReloadError(
                        f"{self.path}: system {s.name!r} uses a new class for "
                        f"component {name!r}: components declared in a reloaded "
                        "module are declared again on every reload; move the "
                        "component declarations to a module that is not reloaded"
                    )

    def validate(self, path: Path, text: str) -> Swap:
        ast.parse(text, str(path))  # a syntax error names its line before importing
        module = _import_file_fresh(path, self.module_name)
        systems = _systems_of(module, path)
        self._check_components(systems)
        world = self.reloader.world
        for s in systems:
            if s.kind != "kernel" or s.name not in world.schedule._by_name:
                continue
            live = world.schedule.system(s.name)
            same_args = all(
                getattr(live, a) == getattr(s, a) for a in (*_QUERY, "entities")
            )
            if live.kind == "kernel" and same_args and hasattr(s.fn, "compile"):
                # Compile now, for the types the world passes (same query: same
                # views). Another query compiles on its first run instead.
                for sig in list(getattr(live.fn, "signatures", ())):
                    s.fn.compile(sig)

        def swap() -> str:
            sys.modules[self.module_name] = module
            added, swapped = [], []
            for s in systems:
                if s.name in world.schedule._by_name:
                    world.replace_system(s)
                    swapped.append(s.name)
                else:
                    world.add_system(s)
                    added.append(s.name)
            kept = [n for n in self.names if n not in swapped]
            self.names = swapped + added
            parts = [f"swapped {swapped}"]
            if added:
                parts.append(f"added {added}")
            if kept:
                parts.append(f"kept (gone from the file) {kept}")
            return "; ".join(parts)

        return swap

    def disable(self) -> Swap:
        def off() -> str:
            world = self.reloader.world
            for n in self.names:
                live = world.schedule.system(n)
                live.run_if = (*live.run_if, _never)
            return f"disabled {self.names}"

        return off


def _never(world: World) -> bool:
    return False


def _import_file_fresh(path: Path, name: str) -> types.ModuleType:
    """Import a new version without registering it (the swap registers it)."""
    previous = sys.modules.get(name)
    try:
        return _import_file(path, name)
    finally:
        if previous is None:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
