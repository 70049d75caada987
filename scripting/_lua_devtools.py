"""Host-side Lua tooling shared by the debugger and the profiler: one combined hook.

The chunk below runs inside a script's lupa runtime with the real globals (``debug``
included), loaded through the sandbox's trusted ``host.devtools``; scripts never see it.
It swaps the runtime's hook slot for one function that charges the instruction budget
on count events (exactly as the sandbox's own hook does), samples lines for the
profiler, counts calls, and stops on breakpoints and steps on line events. When neither
the debugger nor the profiler needs it, the slot goes back to the plain budget hook.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

from scripting.lua import LuaSandbox

__all__ = ["LuaDevtools", "lua_value"]

_CHUNK = r"""
local I = ...
local slot, charge = I.slot, I.charge
local getinfo, getlocal, setlocal = debug.getinfo, debug.getlocal, debug.setlocal
local getupvalue, setupvalue, sethook = debug.getupvalue, debug.setupvalue, debug.sethook
local running, co_create, co_resume = coroutine.running, coroutine.create, coroutine.resume
local type, next, pairs, ipairs, rawget, rawset, tostring, load = type, next, pairs, ipairs, rawget, rawset, tostring, load
local setmetatable, math_type, s_sub, error, select = setmetatable, math.type, string.sub, error, select

local D = {}
local SRC = nil          -- chunk source of the script ("=name")
local ENV = nil          -- the script's environment (globals, state)
local bps = {}           -- line -> true | compiled condition
local nbps = 0
local stepping = nil     -- nil | "into" | "over" | "out"
local step_depth, step_co = 0, nil
local on_stop = nil      -- host callback(kind, line, note) -> action
local prof, every = false, I.STEP
local calls, names = {}, {}
local s_line, s_self, s_incl, s_call = {}, {}, {}, {}
local nsamples = 0
local stop_co = nil      -- the thread stopped in (for inspection)
local MAIN = running()
local dhook, gethook = nil, debug.gethook

-- Frame levels are only stable when the inspected thread is not the running one,
-- so every frame access runs through inspect(): on the stopped thread itself it
-- moves to a helper coroutine. Levels are then absolute, found by locating dhook.
local function inspect(fn, ...)
  if stop_co ~= running() then return fn(...) end
  local co = co_create(fn)
  local function pass(ok, ...)
    if not ok then error((...), 0) end
    return ...
  end
  return pass(co_resume(co, ...))
end
local function base(co)
  for l = 0, 250 do
    local info = getinfo(co, l, "f")
    if not info then return nil end
    if info.func == dhook then return l + 1 end
  end
  return nil
end
local function script_levels()
  local co = stop_co
  local b = base(co)
  local out = {}
  if not b then return out end
  local l = b
  while true do
    local info = getinfo(co, l, "S")
    if not info then break end
    if info.source == SRC then out[#out + 1] = l end
    l = l + 1
  end
  return out
end
local function depth() return #script_levels() end

local function fname(info)
  if info.what == "main" then return "<main>" end
  if ENV then
    for k, v in next, ENV do
      if v == info.func and type(k) == "string" then return k end
    end
  end
  return info.name or ("<function:" .. info.linedefined .. ">")
end

-- plain copies of values (raw access only: no metamethod of the script runs)
local function snap(v, d)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return v end
  if t == "nil" then return nil end
  if t == "table" then
    if I.is_protected(v) then return "<table (read-only API)>" end
    if d <= 0 then return "<table>" end
    local out, n = {}, 0
    for k, x in next, v do
      n = n + 1
      if n > 200 then out["..."] = "(more items)" break end
      local kk = k
      if type(k) ~= "string" and not math_type(k) then kk = "<" .. type(k) .. ">" end
      local sv = snap(x, d - 1)
      if sv == nil then sv = "<nil>" end
      out[kk] = sv
    end
    return out
  end
  if t == "function" then
    local i = getinfo(v, "S")
    if i.source == SRC then return "<function " .. fname({func = v, what = i.what, linedefined = i.linedefined}) .. " line " .. i.linedefined .. ">" end
    return "<function (builtin)>"
  end
  return "<" .. t .. ">"
end

-- locals and upvalues of one frame: values, plus where to write them back
local function frame_vars(co, level)
  local vals, loc, up = {}, {}, {}
  local i = 1
  while true do
    local name, v = getlocal(co, level, i)
    if not name then break end
    if s_sub(name, 1, 1) ~= "(" then vals[name] = {v}; loc[name] = i end
    i = i + 1
  end
  local f = getinfo(co, level, "f").func
  local ups = {}
  local j = 1
  while true do
    local name, v = getupvalue(f, j)
    if not name then break end
    if name ~= "_ENV" then
      ups[name] = {v}
      if not vals[name] then vals[name] = {v}; up[name] = j end
    end
    j = j + 1
  end
  return vals, loc, up, f, ups
end

local function proxy(co, level)
  local vals, loc, up, f = frame_vars(co, level)
  return setmetatable({}, {
    __index = function(_, k)
      local b = vals[k]
      if b then return b[1] end
      return rawget(ENV, k)
    end,
    __newindex = function(_, k, v)
      if loc[k] then setlocal(co, level, loc[k], v); vals[k] = {v}
      elseif up[k] then setupvalue(f, up[k], v); vals[k] = {v}
      else rawset(ENV, k, v) end
    end,
  })
end

-- run host code (conditions, eval) in a fresh coroutine with its own count limit
local EVAL_LIMIT = 1000000
local function limited(fn)
  local k0, m0 = I.fatal()
  local v0, d0 = I.counts.violation, I.counts.denied
  local co = co_create(fn)
  sethook(co, function() error("evaluation stopped after " .. EVAL_LIMIT .. " instructions", 0) end, "", EVAL_LIMIT)
  local ok, r = co_resume(co)
  I.set_fatal(k0, m0)
  I.counts.violation, I.counts.denied = v0, d0
  if not ok then
    if type(r) ~= "string" then r = "(error object is a " .. type(r) .. " value)" end
    return false, r
  end
  return true, r
end

local function compile_expr(src, env)
  local f = load("return " .. src, "=eval", "t", env)
  if f then return f end
  local g, e = load(src, "=eval", "t", env)
  return g, e
end

local function cond_true(bp)
  local env = proxy(stop_co, script_levels()[1])
  local f, e = compile_expr(bp, env)
  if not f then return true, "condition does not compile: " .. tostring(e) end
  local ok, r = limited(f)
  if not ok then return true, "condition raised: " .. r end
  return r ~= nil and r ~= false, ""
end

local function stop(kind, line, note)
  stop_co = running()
  local h, m, c
  if stop_co ~= MAIN then  -- host inspection runs on the main thread: no hook there
    h, m, c = gethook(MAIN)
    sethook(MAIN)
  end
  local ok, action = pcall(on_stop, kind, line, note or "")
  if stop_co ~= MAIN and h then sethook(MAIN, h, m, c) end
  if ok and (action == "into" or action == "over" or action == "out") then
    stepping = action
    step_co = stop_co
    step_depth = inspect(depth)
  else
    stepping = nil
  end
  stop_co = nil
end

local function sample()
  nsamples = nsamples + 1
  local first = true
  local seen = {}
  for l = 3, 64 do
    local info = getinfo(l, "Sl")
    if not info then break end
    if info.source == SRC then
      local key = info.linedefined
      if first then
        s_line[info.currentline] = (s_line[info.currentline] or 0) + 1
        s_self[key] = (s_self[key] or 0) + 1
        s_call[key] = (s_call[key] or 0) + 1
        first = false
      end
      if not seen[key] then
        seen[key] = true
        s_incl[key] = (s_incl[key] or 0) + 1
      end
    end
  end
  if first then
    s_self[-1] = (s_self[-1] or 0) + 1
    s_call[-1] = (s_call[-1] or 0) + 1
  end
end

-- Lua drops a count event whose period ends inside a hook, so with line or call
-- events the count hook alone can miss a loop entirely (seen with one-line loops).
-- Line and call events therefore also charge one instruction each (in blocks of
-- 256): the budget stays a bound that stops every loop, approximate while the
-- devtools are on.
local nev = 0
local function charge_events()
  nev = 0
  if I.budget() > 0 and not I.fatal() then charge(256) end
end
dhook = function(ev, line)
  if ev == "line" then
    nev = nev + 1
    if nev >= 256 then charge_events() end
    local bp = bps[line]
    if bp == nil and stepping == nil then return end
    local info = getinfo(2, "S")
    if info.source ~= SRC then return end
    if bp ~= nil then
      if bp == true then stop("breakpoint", line) return end
      stop_co = running()
      local hit, note = inspect(cond_true, bp)
      stop_co = nil
      if hit then stop("breakpoint", line, note) return end
    end
    if stepping == "into" then stop("step", line) return end
    if stepping ~= nil and running() == step_co then
      stop_co = step_co
      local d = inspect(depth)
      stop_co = nil
      if d < step_depth or (stepping == "over" and d <= step_depth) then
        stop("step", line)
        return
      end
    end
  elseif ev == "count" then
    if I.budget() > 0 then charge(slot.count) end
    if prof then sample() end
  else -- "call" / "tail call"
    nev = nev + 1
    if nev >= 256 then charge_events() end
    local info = getinfo(2, "S")
    if info.source == SRC then
      local key = info.linedefined
      local c = calls[key]
      if c == nil then
        c = 0
        names[key] = getinfo(2, "n").name or false
      end
      calls[key] = c + 1
    end
  end
end

-- While line or call events are on, the ecs.* API (trusted code, e.g. packing a
-- column element by element) runs with them off: breakpoints and call counts are
-- only about the script, and this keeps their cost to the script's own code.
-- (Count events stay on: the budget and the samples go on inside the API.)
local API, originals = I.api, nil
local function restore(co, h, m, c, ok, ...)
  sethook(co, h, m, c)
  if not ok then error((...), 0) end
  return ...
end
local function quiet(f)
  return function(...)
    local co = running()
    local h, m, c = gethook(co)
    if h ~= dhook then return f(...) end
    sethook(co, h, (m:gsub("[lc]", "")), c)
    return restore(co, h, m, c, pcall(f, ...))
  end
end
local function quiet_api(on)
  if on and not originals then
    originals = {}
    for k, f in next, API do
      if type(f) == "function" then originals[k] = f; API[k] = quiet(f) end
    end
  elseif not on and originals then
    for k, f in next, originals do API[k] = f end
    originals = nil
  end
end

local function refresh()
  if nbps == 0 and stepping == nil and not prof then
    slot.fn, slot.mask, slot.count, slot.always = I.hook, "", I.STEP, false
    quiet_api(false)
    return
  end
  slot.fn = dhook
  local lines = nbps > 0 or stepping ~= nil
  slot.mask = lines and "l" or ""
  quiet_api(lines or prof)
  if prof then slot.mask = slot.mask .. "c" end
  slot.count = prof and every or I.STEP
  slot.always = true
end

function D.attach(src, env, cb)
  SRC, ENV, on_stop = src, env, cb
end
function D.set_env(env) ENV = env end
function D.set_breakpoints(lines, conds)
  bps, nbps = {}, 0
  for i = 1, #lines do
    local c = conds[i]
    if c == "" then bps[lines[i]] = true else bps[lines[i]] = c end
    nbps = nbps + 1
  end
  refresh()
end
function D.clear_stepping() stepping = nil; refresh() end
function D.profile(on, n)
  prof = on
  if n and n > 0 then every = n end
  refresh()
end
function D.reset_profile()
  calls, names, s_line, s_self, s_incl, s_call, nsamples = {}, {}, {}, {}, {}, {}, 0
end
function D.take_call_samples()
  local out = s_call
  s_call = {}
  return out
end
function D.profile_data()
  local fnames = {}
  for k, v in next, names do if v then fnames[k] = v end end
  if ENV then
    for k, v in next, ENV do
      if type(v) == "function" and type(k) == "string" then
        local i = getinfo(v, "S")
        if i.source == SRC then fnames[i.linedefined] = k end
      end
    end
  end
  return calls, s_self, s_incl, s_line, nsamples, fnames
end

-- inspection while stopped (called by the host from inside on_stop)
local function stack()
  local out = {}
  for _, l in ipairs(script_levels()) do
    local info = getinfo(stop_co, l, "Slnf")
    out[#out + 1] = {fname(info), info.short_src, info.currentline, info.linedefined}
  end
  return out
end
local function stopped()
  if not stop_co then error("the script is not stopped", 0) end
end
function D.stack() stopped() return inspect(stack) end
local function level_of(k)
  local lv = script_levels()[k + 1]
  if not lv then error("no script frame " .. k .. " (the stack has " .. #script_levels() .. ")", 0) end
  return lv
end
local function locals(k)
  local lv = level_of(k)
  local out, i = {}, 1
  while true do
    local name, v = getlocal(stop_co, lv, i)
    if not name then break end
    if s_sub(name, 1, 1) ~= "(" then
      local sv = snap(v, 3)
      if sv == nil then sv = "<nil>" end
      out[#out + 1] = {name, sv}
    end
    i = i + 1
  end
  return out
end
function D.locals(k) stopped() return inspect(locals, k) end
local function upvalues(k)
  local lv = level_of(k)
  local _, _, _, _, ups = frame_vars(stop_co, lv)
  local out = {}
  for name, b in pairs(ups) do
    local sv = snap(b[1], 3)
    if sv == nil then sv = "<nil>" end
    out[name] = sv
  end
  return out
end
function D.upvalues(k) stopped() return inspect(upvalues, k) end
function D.globals()
  local out = {}
  for k, v in next, ENV do
    if type(k) == "string" then out[k] = snap(v, 2) end
  end
  return out
end
function D.snapshot(v, d) return snap(v, d or 3) end
function D.state() return snap(rawget(ENV, "state"), 4) end
local function eval(src, k)
  local lv = level_of(k)
  local env = proxy(stop_co, lv)
  local f, e = compile_expr(src, env)
  if not f then return false, "does not compile: " .. tostring(e) end
  local ok, r = limited(f)
  if not ok then return false, r end
  local sv = snap(r, 3)
  if sv == nil then return true, nil, true end
  return true, sv
end
function D.eval(src, k) stopped() return inspect(eval, src, k) end
function D.hook_state() return slot.fn == I.hook, slot.mask, slot.count, slot.always end
function D.check(src)
  local f, e = compile_expr(src, {})
  if f then return true, "" end
  return false, tostring(e)
end
function D.is_stopped() return stop_co ~= nil end

return D
"""


def lua_value(v: Any) -> Any:
    """A host copy of a snapshot made by the devtools chunk (plain tables only).

    Strings arrive as bytes (the runtime has no encoding) and become ``str``; tables
    become lists when their keys are exactly ``1..n``, dicts otherwise; ``"<nil>"``
    marks a nil value in a table.
    """
    if isinstance(v, bytes):
        text = v.decode("utf-8", "replace")
        return None if text == "<nil>" else text
    if isinstance(v, bool | int | float) or v is None:
        return v
    items = [(lua_value(k), lua_value(x)) for k, x in v.items()]
    keys = [k for k, _ in items]
    if keys and all(isinstance(k, int) for k in keys):
        ordered = sorted(items, key=lambda kv: kv[0])
        if [k for k, _ in ordered] == list(range(1, len(ordered) + 1)):
            return [x for _, x in ordered]
    return dict(items)


class LuaDevtools:
    """The devtools chunk bound to one :class:`~scripting.lua.LuaSandbox`.

    One per sandbox (see :meth:`of`); the debugger and the profiler share it, so a
    script has one hook whatever is active. ``on_stop`` is the debugger's callback
    ``(kind, line, note) -> action`` (``"continue"``, ``"into"``, ``"over"``,
    ``"out"``).
    """

    _all: ClassVar[weakref.WeakKeyDictionary[LuaSandbox, LuaDevtools]] = (
        weakref.WeakKeyDictionary()
    )

    def __init__(self, box: LuaSandbox) -> None:
        self.box = box
        # Functions are looked up once: lupa's attribute access on a Lua table
        # misbehaves when made from a callback inside a script coroutine.
        table = box.load_devtools(_CHUNK, "devtools")
        self.api: Any = SimpleNamespace(
            **{bytes(k).decode(): f for k, f in table.items()}
        )
        self.on_stop: Callable[[str, int, str], str] | None = None
        self.api.attach(("=" + box.name).encode(), box.env, self._stop)

    @classmethod
    def of(cls, box: LuaSandbox) -> LuaDevtools:
        """The devtools of ``box`` (made on first use)."""
        tools = cls._all.get(box)
        if tools is None:
            tools = cls._all[box] = cls(box)
        tools.sync_env()
        return tools

    def sync_env(self) -> None:
        """Follow the script's current environment (a hot reload makes a fresh one)."""
        self.api.set_env(self.box.env)

    def _stop(self, kind: bytes, line: int, note: bytes) -> bytes:
        if self.on_stop is None:
            return b"continue"
        self.sync_env()
        return self.on_stop(
            kind.decode(), int(line), note.decode("utf-8", "replace")
        ).encode()

    def set_breakpoints(self, lines: dict[int, str]) -> None:
        """Replace the breakpoints: line -> condition source (``""`` = always)."""
        ordered = sorted(lines)
        self.api.set_breakpoints(
            self.box.table(ordered),
            self.box.table([lines[k].encode() for k in ordered]),
        )
