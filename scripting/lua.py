"""The Lua sandbox: one lupa (Lua 5.4) runtime per script, locked down before any script runs.

This is the only module that imports ``lupa``. Scripts never see a Python object: data
crosses as packed little-endian number blobs (one crossing per batch), commands come
back the same way, and error objects are turned into strings by trusted Lua code before
the host touches them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from lupa import lua54

from scripting.errors import (
    PermissionDenied,
    SandboxViolation,
    ScriptError,
    ScriptMemoryError,
    ScriptTimeout,
)

__all__ = ["LuaLimits", "LuaSandbox", "RawCommand"]


@dataclass(frozen=True)
class LuaLimits:
    """Resource limits of one Lua sandbox (defaults in ``docs/scripting.md``)."""

    instructions: int = 10_000_000
    """VM instructions per call, counted over the call and every coroutine it makes.

    0 turns the budget off: only for trusted scripts and for measuring its cost."""
    max_memory: int = 64 << 20
    """Bytes the whole runtime may allocate (lupa ``max_memory``)."""
    max_string: int = 1 << 20
    """Largest result of ``string.rep`` / ``table.concat`` (bytes)."""
    max_items: int = 1 << 22
    """Most items ``table.concat`` / ``table.move`` take in one call."""
    pattern_budget: float = 1e8
    """``(len(subject)+1) ** (quantifiers+1)`` cap for pattern functions."""
    max_commands: int = 100_000
    """Most commands one call may record."""
    max_logs: int = 100
    """Most ``print`` / ``ecs.log`` lines kept per call."""


@dataclass(frozen=True)
class RawCommand:
    """One command recorded by a script: packed columns, decoded by the engine."""

    op: str
    component: str
    entities: bytes
    n: int
    layout: str
    values: bytes


_ERRORS: dict[str, type[ScriptError]] = {
    "timeout": ScriptTimeout,
    "violation": SandboxViolation,
    "denied": PermissionDenied,
    "memory": ScriptMemoryError,
    "error": ScriptError,
}


def _refuse(obj: object, attr: object, *_setting: object) -> object:
    raise AttributeError("Python objects are not reachable from scripts")


def _text(v: object) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return "" if v is None else str(v)


_PRELUDE = r"""
-- Trusted setup run once per runtime, before any script code; returns the host API.
local cfg = ...
local sethook, traceback = debug.sethook, debug.traceback
local co_create, co_resume, co_status = coroutine.create, coroutine.resume, coroutine.status
local pcall, xpcall, error, type, select = pcall, xpcall, error, type, select
local rawget, rawset, rawlen, setmetatable = rawget, rawset, rawlen, setmetatable
local tostring, pairs, load = tostring, pairs, load
local s_rep, s_pack, s_unpack, s_sub, s_byte = string.rep, string.pack, string.unpack, string.sub, string.byte
local s_find, s_match, s_gmatch, s_gsub = string.find, string.match, string.gmatch, string.gsub
local s_format = string.format
local t_concat, t_unpack, t_move = table.concat, table.unpack, table.move
local math_type, collectgarbage = math.type, collectgarbage

local STEP = 1000
local budget, used = cfg.budget, 0
local fatal_kind, fatal_msg = nil, nil
local counts = {violation = 0, denied = 0}
local protected = setmetatable({}, {__mode = "k"})

local function fail(kind, msg)
  if not fatal_kind then fatal_kind, fatal_msg = kind, msg end
  if counts[kind] then counts[kind] = counts[kind] + 1 end
  error(msg, 3)
end
local function violation(what) fail("violation", "sandbox violation: " .. what .. " is not available in scripts") end

local function charge(n)
  used = used + n
  if fatal_kind or used > budget then
    if not fatal_kind then
      fatal_kind, fatal_msg = "timeout", "instruction budget of " .. budget .. " exceeded"
    end
    error(fatal_msg, 0)
  end
end
local function hook() charge(STEP) end

-- The hook every call and coroutine gets. Host devtools (scripting.debugger /
-- scripting.profiler, through host.devtools) may swap in one combined hook that
-- also charges the budget; scripts can neither see nor change this slot.
local slot = {fn = hook, mask = "", count = STEP, always = false}
local function install(co)
  if budget <= 0 and not slot.always then return end
  if co then sethook(co, slot.fn, slot.mask, slot.count)
  else sethook(slot.fn, slot.mask, slot.count) end
end

local function guard(ok, ...)
  if fatal_kind then error(fatal_msg, 0) end
  if not ok and (...) == "not enough memory" then
    fatal_kind, fatal_msg = "memory", "memory limit exceeded"
    error(fatal_msg, 0)
  end
  return ok, ...
end
local function safe_pcall(f, ...) return guard(pcall(f, ...)) end
local function safe_xpcall(f, h, ...)
  return guard(xpcall(f, function(e)
    if fatal_kind then return e end
    return h(e)
  end, ...))
end

local function new_co(f)
  local co = co_create(f)
  install(co)
  return co
end
local function resume(co, ...) return guard(co_resume(co, ...)) end
local function wrap(f)
  local co = new_co(f)
  return function(...)
    local function pass(ok, ...)
      if not ok then error((...), 0) end
      return ...
    end
    return pass(resume(co, ...))
  end
end

-- size limits on C functions that run long on big inputs
local MAX_STRING, MAX_ITEMS, PATTERN_BUDGET = cfg.max_string, cfg.max_items, cfg.pattern_budget
local function tooBig(what, n, limit)
  fail("memory", what .. " would produce " .. n .. " (limit " .. limit .. ")")
end
local function rep(s, n, sep)
  s = tostring(s); sep = sep and tostring(sep) or ""
  if type(n) ~= "number" then error("bad argument #2 to 'rep' (number expected)", 2) end
  local total = #s * n + #sep * (n - 1)
  if total > MAX_STRING then tooBig("string.rep", total .. " bytes", MAX_STRING) end
  return s_rep(s, n, sep)
end
local function concat(t, sep, i, j)
  sep = sep or ""; i = i or 1; j = j or #t
  if j - i + 1 > MAX_ITEMS then tooBig("table.concat", (j - i + 1) .. " items", MAX_ITEMS) end
  local total = 0
  for k = i, j do
    local v = rawget(t, k)
    if type(v) == "string" then total = total + #v else total = total + 24 end
  end
  total = total + #tostring(sep) * (j - i)
  if total > MAX_STRING then tooBig("table.concat", total .. " bytes", MAX_STRING) end
  return t_concat(t, sep, i, j)
end
local function move(a1, f, e, t, a2)
  if e - f + 1 > MAX_ITEMS then tooBig("table.move", (e - f + 1) .. " items", MAX_ITEMS) end
  return t_move(a1, f, e, t, a2)
end
local function check_pattern(name, s, p)
  s, p = tostring(s), tostring(p)
  if #p > 256 then fail("memory", name .. ": pattern longer than 256 characters") end
  local q, i, n = 0, 1, #p
  while i <= n do
    local c = s_sub(p, i, i)
    if c == "%" then i = i + 1
    elseif c == "[" then
      i = i + 1
      if s_sub(p, i, i) == "^" then i = i + 1 end
      if s_sub(p, i, i) == "]" then i = i + 1 end
      while i <= n and s_sub(p, i, i) ~= "]" do
        if s_sub(p, i, i) == "%" then i = i + 1 end
        i = i + 1
      end
    elseif c == "*" or c == "+" or c == "-" or c == "?" then q = q + 1 end
    i = i + 1
  end
  local cost = (#s + 1) ^ (q + 1)
  if cost > PATTERN_BUDGET then
    fail("memory", name .. ": pattern with " .. q .. " quantifiers over " .. #s
      .. " characters exceeds the pattern budget " .. PATTERN_BUDGET)
  end
end
local function find(s, p, init, plain)
  if not plain then check_pattern("string.find", s, p) end
  return s_find(s, p, init, plain)
end
local function match(s, p, init) check_pattern("string.match", s, p); return s_match(s, p, init) end
local function gmatch(s, p, init) check_pattern("string.gmatch", s, p); return s_gmatch(s, p, init) end
local function gsub(s, p, r, n)
  check_pattern("string.gsub", s, p)
  local out, k = s_gsub(s, p, r, n)
  return out, k
end

local function locked(backing, name, forbidden)
  local proxy = {}
  protected[proxy] = true
  return setmetatable(proxy, {
    __index = function(_, k)
      local v = backing[k]
      if v ~= nil then return v end
      if forbidden[k] then violation(name .. "." .. tostring(k)) end
      return nil
    end,
    __newindex = function(_, k) violation("changing " .. name .. "." .. tostring(k)) end,
    __metatable = false,
  })
end
local function copy(src, keys)
  local t = {}
  for k in keys:gmatch("%S+") do t[k] = src[k] end
  return t
end

local string_t = copy(string, "byte char format len lower reverse sub upper pack packsize unpack")
string_t.rep, string_t.find, string_t.match, string_t.gmatch, string_t.gsub = rep, find, match, gmatch, gsub
setmetatable(string_t, {__index = function(_, k)
  if k == "dump" then violation("string.dump") end
end, __metatable = false})
local smt = getmetatable("")
smt.__index = string_t
smt.__metatable = false

local function safe_setmetatable(t, mt)
  if protected[t] then violation("setmetatable on a protected table") end
  if type(mt) == "table" and rawget(mt, "__gc") ~= nil then violation("__gc finalizers") end
  local ok, r = pcall(setmetatable, t, mt)
  if not ok then error((s_gsub(tostring(r), "^prelude:%d+: ", "")), 2) end
  return r
end
local function safe_rawset(t, k, v)
  if protected[t] then violation("rawset on a protected table") end
  return rawset(t, k, v)
end
local function safe_rawget(t, k)
  if protected[t] then violation("rawget on a protected table") end
  return rawget(t, k)
end
local function safe_collectgarbage(opt, ...)
  if opt == nil or opt == "count" or opt == "collect" or opt == "step" or opt == "isrunning" then
    return collectgarbage(opt, ...)
  end
  violation('collectgarbage("' .. tostring(opt) .. '")')
end

local FORBIDDEN_GLOBALS = {}
for k in ("load loadstring dofile loadfile require debug io package python module setfenv getfenv newproxy _HOST"):gmatch("%S+") do
  FORBIDDEN_GLOBALS[k] = true
end
local FORBIDDEN_OS = {}
for k in ("execute exit getenv remove rename tmpname setlocale date difftime"):gmatch("%S+") do FORBIDDEN_OS[k] = true end

local logs = {}
local MAX_LOGS = cfg.max_logs

local host = {}

function host.print(...)
  if #logs < MAX_LOGS then
    local parts = {}
    for i = 1, select("#", ...) do
      local v = select(i, ...)
      parts[i] = (type(v) == "string" or math_type(v)) and tostring(v) or type(v)
    end
    logs[#logs + 1] = s_sub(t_concat(parts, "\t"), 1, 1000)
end
  end

function host.new_env(api)
  local env = copy(_G, "assert error ipairs next pairs select tonumber tostring type rawequal rawlen getmetatable _VERSION")
  env.pcall, env.xpcall = safe_pcall, safe_xpcall
  env.setmetatable, env.rawset, env.rawget = safe_setmetatable, safe_rawset, safe_rawget
  env.collectgarbage = safe_collectgarbage
  env.print = host.print
  env.string = locked(string_t, "string", {dump = true})
  local tbl = copy(table, "insert remove sort pack unpack")
  tbl.concat, tbl.move = concat, move
  env.table = tbl
  env.math = copy(math, "abs ceil cos deg exp floor fmod huge log max maxinteger min mininteger modf pi rad random randomseed sin sqrt tan tointeger type ult atan asin acos")
  env.utf8 = copy(utf8, "char charpattern codes codepoint len offset")
  env.os = locked({clock = os.clock, time = os.time}, "os", FORBIDDEN_OS)
  env.coroutine = locked({
    create = new_co, resume = resume, wrap = wrap, status = co_status,
    yield = coroutine.yield, isyieldable = coroutine.isyieldable, running = coroutine.running,
  }, "coroutine", {close = false})
  env.ecs = api and locked(api, "ecs", {}) or nil
  env.state = {}
  env._G = env
  setmetatable(env, {
    __index = function(_, k)
      if FORBIDDEN_GLOBALS[k] then violation(tostring(k)) end
      return nil
    end,
    __metatable = false,
  })
  return env
end

function host.compile(src, name, env)
  local f, e = load(src, "=" .. name, "t", env)
  return f or false, e or ""
end

-- run fn(...) under the instruction budget; returns ok, kind, msg, traceback, results
-- (the handler and the result filter are shared, not new closures per call)
local run_tb = ""
local function run_handler(e)
  sethook()
  local msg
  if fatal_kind then msg = fatal_msg
  elseif type(e) == "string" then msg = e
  elseif math_type(e) then msg = tostring(e)
  else msg = "(error object is a " .. type(e) .. " value)" end
  run_tb = traceback(msg, 2)
  return msg
end
local function run_pass(ok, ...)
  sethook()
  if ok then return true, "", "", "", ... end
  local msg = fatal_msg or (...)
  local kind = fatal_kind or (msg == "not enough memory" and "memory") or "error"
  return false, kind, msg, run_tb
end
function host.run(limit, fn, ...)
  budget, used, fatal_kind, fatal_msg = limit, 0, nil, nil
  run_tb = ""
  install()
  return run_pass(xpcall(fn, run_handler, ...))
end

function host.counts() return counts.violation, counts.denied, used end

function host.take_logs()
  local out = t_concat(logs, "\n")
  logs = {}
  return out
end

-- numbers <-> packed little-endian blobs (one host crossing per batch)
local CHUNK = 4096
function host.unpack_column(blob, fmt, n, pos)
  pos = pos or 1
  if n <= CHUNK then  -- one unpack; drop the next position it returns last
    local t = {s_unpack("<" .. s_rep(fmt, n), blob, pos)}
    t[n + 1] = nil
    return t
  end
  local t, i = {}, 0
  while i < n do
    local k = n - i
    if k > CHUNK then k = CHUNK end
    local vals = {s_unpack("<" .. s_rep(fmt, k), blob, pos)}
    pos = vals[k + 1]
    t_move(vals, 1, k, i + 1, t)
    i = i + k
  end
  return t
end

function host.pack_column(t, fmt, n, what)
  local parts, i = {}, 0
  while i < n do
    local k = n - i
    if k > CHUNK then k = CHUNK end
    for j = i + 1, i + k do
      local v = rawget(t, j)
      if not math_type(v) then
        if type(v) == "boolean" then rawset(t, j, v and 1 or 0)
        else error(what .. ": value " .. j .. " is a " .. type(v) .. ", expected a number", 0) end
      elseif fmt == "j" and math_type(v) == "float" then
        if v ~= v // 1 then error(what .. ": value " .. j .. " is not an integer", 0) end
        rawset(t, j, v // 1)
      end
    end
    parts[#parts + 1] = s_pack("<" .. s_rep(fmt, k), t_unpack(t, i + 1, i + k))
    i = i + k
  end
  return t_concat(parts)
end

host.fail = fail

-- Trusted host tooling (debugger, profiler): a chunk loaded with the real globals
-- (debug included) and handed the hook slot. Only Python can call this.
function host.devtools(src, name)
  local f = assert(load(src, "=" .. name, "t", _G))
  return f({
    slot = slot, charge = charge, STEP = STEP, hook = hook,
    budget = function() return budget end,
    fatal = function() return fatal_kind, fatal_msg end,
    set_fatal = function(k, m) fatal_kind, fatal_msg = k, m end,
    counts = counts, is_protected = function(t) return protected[t] == true end,
    api = host.api(),
  })
end

-- the script API (ecs.*): checks permissions, records commands as packed columns
local perm = {reads = {}, writes = {}, resources = {}, events = {}, spawn = false, despawn = false}
local schema = {}      -- component name -> {field names..., fmt = {field -> "d"|"j"}}
local cmds = {}
local resources = {}
local function names(s)
  local t = {}
  for k in s:gmatch("[^%s,]+") do t[k] = true end
  return t
end
local function denied(op, need)
  fail("denied", "permission denied: " .. op .. " needs '" .. need .. "' in the script header")
end
local function need_write(op, comp)
  if type(comp) ~= "string" then error(op .. ": component name must be a string", 3) end
  if not perm.writes[comp] then denied(op .. "(" .. comp .. ")", "writes: " .. comp) end
  return schema[comp]
end
local function ids(op, e)
  if math_type(e) == "integer" then return s_pack("<j", e), 1 end
  if type(e) ~= "table" then error(op .. ": entities must be an integer or an array of integers", 3) end
  local n = rawlen(e)
  return host.pack_column(e, "j", n, op), n
end
local function columns(op, s, values, n)
  local lay, blobs = {}, {}
  if values == nil then return "", "" end
  if type(values) ~= "table" then error(op .. ": values must be a table of field = value(s)", 3) end
  for _, f in ipairs(s.fields) do
    local v = rawget(values, f)
    if v ~= nil then
      local col = v
      if type(v) ~= "table" then
        col = {}
        for i = 1, n do col[i] = v end
      elseif rawlen(v) ~= n then
        error(op .. ": field " .. f .. " has " .. rawlen(v) .. " values for " .. n .. " entities", 3)
      end
      lay[#lay + 1] = f .. "=" .. s.fmt[f]
      blobs[#blobs + 1] = host.pack_column(col, s.fmt[f], n, op .. " " .. f)
    end
  end
  for k in pairs(values) do
    if type(k) ~= "string" or not s.fmt[k] then
      error(op .. ": component has no field " .. tostring(k), 3)
    end
  end
  return t_concat(lay, ","), t_concat(blobs)
end
local function record(op, comp, ents, n, lay, blob)
  if #cmds >= cfg.max_commands then fail("memory", "more than " .. cfg.max_commands .. " commands in one call") end
  cmds[#cmds + 1] = {op, comp, ents, n, lay, blob}
end

function host.configure(reads, writes, res, spawn, despawn, schema_str, events)
  perm.reads, perm.writes, perm.resources = names(reads), names(writes), names(res)
  perm.events = names(events)
  perm.spawn, perm.despawn = spawn, despawn
  for part in schema_str:gmatch("[^;]+") do
    local name, rest = s_match(part, "^([^:]+):(.*)$")
    local s = {fields = {}, fmt = {}}
    for f, fmt in rest:gmatch("([^,=]+)=(%a)") do
      s.fields[#s.fields + 1] = f
      s.fmt[f] = fmt
    end
    schema[name] = s
  end
end

local api = {}
function api.resource(name)
  if not perm.resources[name] then denied("resource(" .. tostring(name) .. ")", "resources: " .. tostring(name)) end
  local r, out = resources[name], {}
  if r then for k, v in pairs(r) do out[k] = v end end
  return out
end
function api.set_batch(ents, comp, values)
  local s = need_write("set_batch", comp)
  local blob, n = ids("set_batch", ents)
  local lay, vals = columns("set_batch", s, values, n)
  record("set", comp, blob, n, lay, vals)
end
function api.set(e, comp, values)
  if math_type(e) ~= "integer" then error("set: entity must be an integer", 2) end
  api.set_batch(e, comp, values)
end
function api.insert(ents, comp, values)
  local s = need_write("insert", comp)
  local blob, n = ids("insert", ents)
  local lay, vals = columns("insert", s, values, n)
  record("insert", comp, blob, n, lay, vals)
end
function api.remove(ents, comp)
  need_write("remove", comp)
  local blob, n = ids("remove", ents)
  record("remove", comp, blob, n, "", "")
end
function api.despawn(ents)
  if not perm.despawn then denied("despawn", "despawn: yes") end
  local blob, n = ids("despawn", ents)
  record("despawn", "", blob, n, "", "")
end
api.despawn_batch = api.despawn
function api.spawn(comps, n)
  if not perm.spawn then denied("spawn", "spawn: yes") end
  n = n or 1
  if math_type(n) ~= "integer" or n < 1 then error("spawn: n must be a positive integer", 2) end
  if type(comps) ~= "table" then error("spawn: pass a table of component name = {field = value(s)}", 2) end
  local first = true
  for comp, values in pairs(comps) do
    local s = need_write("spawn", comp)
    if not s then error("spawn: unknown component " .. tostring(comp), 2) end
    local lay, vals = columns("spawn", s, values ~= true and values or nil, n)
    record(first and "spawn" or "spawn+", comp, "", n, lay, vals)
    first = false
  end
end
function api.emit(name, values, n)
  if type(name) ~= "string" or not perm.events[name] then
    denied("emit(" .. tostring(name) .. ")", "events: " .. tostring(name))
  end
  if n == nil then
    n = 1
    if type(values) == "table" then
      for _, v in pairs(values) do
        if type(v) == "table" then n = rawlen(v) break end
      end
    end
  end
  if math_type(n) ~= "integer" or n < 0 then error("emit: n must be a non-negative integer", 2) end
  local lay, vals = columns("emit", schema[name], values, n)
  record("emit", name, "", n, lay, vals)
end
function api.log(...) return host.print(...) end

function host.api() return api end
function host.set_resource(name, layout, blob)
  local r = {}
  local pos = 1
  for f, fmt in layout:gmatch("([^,=]+)=(%a)") do
    r[f], pos = s_unpack("<" .. fmt, blob, pos)
  end
  resources[name] = r
end
-- batch makers, one per layout ("entity=j,Pos.x=d"), cached: a system calls with
-- the same layout every frame. A maker is generated code that builds the batch in
-- one table constructor per table ({n = n, entity = ..., Pos = {x = ...}}): filling
-- empty tables key by key would rehash them as they grow. No locals (a function has
-- at most 200): each column is unpacked right where the constructor stores it.
local layouts, n_layouts = {}, 0
local function batch_maker(layout)
  local full, empty = {}, {}  -- constructor entries for n > 0 / n == 0
  local comps, fields = {}, {}
  local i = 0
  for key, fmt in s_gmatch(layout, "([^,=]+)=(%a)") do
    local col = s_format("u(blob, %q, n, %d * n * 8 + 1)", fmt, i)
    i = i + 1
    local comp, f = s_match(key, "^([^.]+)%.(.+)$")
    if comp then
      if not fields[comp] then fields[comp] = {{}, {}}; comps[#comps + 1] = comp end
      local fs = fields[comp]
      fs[1][#fs[1] + 1] = s_format("[%q] = %s", f, col)
      fs[2][#fs[2] + 1] = s_format("[%q] = {}", f)
    else
      full[#full + 1] = s_format("[%q] = %s", key, col)
      empty[#empty + 1] = s_format("[%q] = {}", key)
    end
  end
  for _, comp in ipairs(comps) do
    local fs = fields[comp]
    full[#full + 1] = s_format("[%q] = {%s}", comp, t_concat(fs[1], ", "))
    empty[#empty + 1] = s_format("[%q] = {%s}", comp, t_concat(fs[2], ", "))
  end
  local src = s_format(
    "local u = ...\nreturn function(n, blob)\nif n > 0 then return {n = n, %s} end\n"
      .. "return {n = n, %s}\nend",
    t_concat(full, ", "), t_concat(empty, ", ")
  )
  local make = assert(load(src, "=batch", "t", {}))(host.unpack_column)
  if n_layouts >= 64 then layouts, n_layouts = {}, 0 end
  layouts[layout], n_layouts = make, n_layouts + 1
  return make
end
function host.make_batch(n, layout, blob)
  return (layouts[layout] or batch_maker(layout))(n, blob)
end
function host.call_entry(env, entry, batch, want)
  local fn = rawget(env, entry)
  if type(fn) ~= "function" then error("the script defines no function '" .. entry .. "'", 0) end
  local r = fn(batch)
  if want > 0 then
    if type(r) ~= "table" then error(entry .. " must return an array of " .. want .. " statuses", 0) end
    if rawlen(r) ~= want then error(entry .. " returned " .. rawlen(r) .. " statuses for " .. want .. " agents", 0) end
    return host.pack_column(r, "j", want, entry .. " result")
  end
  return ""
end
-- the counters as last returned by call_all: a call that changed none of them,
-- logged nothing and succeeded returns two values only (each costs a conversion)
local told_violation, told_denied = 0, 0
function host.call_all(limit, env, entry, n, layout, blob, want)
  local batch = host.make_batch(n, layout, blob)
  local ok, kind, msg, tb, res = host.run(limit, host.call_entry, env, entry, batch, want)
  local v, d = counts.violation, counts.denied
  if ok and #logs == 0 and v == told_violation and d == told_denied then
    return res or "", #cmds
  end
  told_violation, told_denied = v, d
  local out = ""
  if #logs > 0 then out = host.take_logs() end
  return res or "", #cmds, ok, kind, msg, tb, v, d, out
end

function host.take_commands()
  local out = cmds
  cmds = {}
  return out, #out
end
function host.command(list, i)
  local c = list[i]
  return c[1], c[2], c[3], c[4], c[5], c[6]
end

return host
"""


class LuaSandbox:
    """One script's Lua runtime: allow-listed environment, limits, compile cache.

    Parameters
    ----------
    name
        The script name (used in errors and Lua chunk names).
    limits
        Resource limits; see :class:`LuaLimits`.

    Examples
    --------
    >>> box = LuaSandbox("demo")
    >>> box.load("function run(b) state.n = (state.n or 0) + b.n end")
    True
    >>> box.call("run", 3, "", b"")
    b''
    """

    def __init__(self, name: str, limits: LuaLimits | None = None) -> None:
        self.name = name
        self.limits = limits or LuaLimits()
        self.compiles = 0
        self.violations = 0
        self.refusals = 0
        self.logs: list[str] = []
        lim = self.limits
        self._rt = lua54.LuaRuntime(
            register_eval=False,
            register_builtins=False,
            unpack_returned_tuples=True,
            attribute_filter=_refuse,
            max_memory=lim.max_memory,
            encoding=None,
        )
        make = self._rt.execute(
            "return function(cfg, src) return load(src, '=prelude')(cfg) end"
        )
        cfg = self._rt.table_from(
            {
                b"budget": lim.instructions,
                b"max_string": lim.max_string,
                b"max_items": lim.max_items,
                b"pattern_budget": lim.pattern_budget,
                b"max_commands": lim.max_commands,
                b"max_logs": lim.max_logs,
            }
        )
        self._host = make(cfg, _PRELUDE.encode())
        self._hash = ""
        self._env: Any = None
        self._encoded: dict[str, bytes] = {}  # entry / layout strings as Lua bytes
        self._call_all = self._host.call_all
        self._pending = 0
        self.configure("", "", "", spawn=False, despawn=False, schema="")

    def configure(
        self,
        reads: str,
        writes: str,
        resources: str,
        *,
        spawn: bool,
        despawn: bool,
        schema: str,
        events: str = "",
    ) -> None:
        """Install the permission set and the component schema (``Name:f=d,g=j;...``)."""
        self._host.configure(
            reads.encode(),
            writes.encode(),
            resources.encode(),
            spawn,
            despawn,
            schema.encode(),
            events.encode(),
        )

    def load(self, source: str) -> bool:
        """Compile and run the script's top level; False when the content is unchanged.

        The environment (globals and ``state``) is kept across reloads.

        Raises
        ------
        ScriptError
            On a syntax error or an error in the top-level code (then nothing changes).
        """
        digest = hashlib.sha256(source.encode()).hexdigest()
        if digest == self._hash:
            return False
        env = (
            self._env if self._env is not None else self._host.new_env(self._host.api())
        )
        fn, err = self._host.compile(source.encode(), self.name.encode(), env)
        if not fn:
            raise self._error("error", _text(err), "")
        self.compiles += 1
        self._run(lambda: self._host.run(self.limits.instructions, fn))
        self._env, self._hash = env, digest
        return True

    def set_resource(self, name: str, layout: str, blob: bytes) -> None:
        """Make a resource's numeric fields readable through ``ecs.resource(name)``."""
        self._host.set_resource(name.encode(), layout.encode(), blob)

    def call(
        self, entry: str, n: int, layout: str, blob: bytes, *, statuses: int = 0
    ) -> bytes:
        """Call ``entry(batch)`` under the limits; packed int64 statuses if asked.

        Raises
        ------
        ScriptError
            Or a subclass (timeout, memory, violation, permission) naming the line.
        """
        if self._env is None:
            raise ScriptError(self.name, "no script loaded")
        enc = self._encoded
        e = enc.get(entry) or enc.setdefault(entry, entry.encode())
        lay = enc.get(layout) or enc.setdefault(layout, layout.encode())
        if len(enc) > 256:
            enc.clear()
        try:
            res = self._call_all(
                self.limits.instructions, self._env, e, n, lay, blob, statuses
            )
        except lua54.LuaMemoryError as exc:
            self._take_counts()
            self._pending = 1  # drop whatever the failed call recorded
            raise ScriptMemoryError(
                self.name, f"memory limit exceeded ({exc})"
            ) from None
        except lua54.LuaError as exc:  # in host code around the script's call
            self._take_counts()
            self._pending = 1
            raise ScriptError(
                self.name, f"Lua error outside the script: {exc}"
            ) from None
        if len(res) == 2:  # it succeeded, logged nothing, moved no counter
            out, self._pending = res
            return out  # type: ignore[no-any-return]
        out, self._pending, ok, kind, msg, tb, self.violations, self.refusals, logs = (
            res  # Lua integers arrive as Python ints
        )
        if logs:
            self.logs.extend(_text(logs).split("\n"))
            del self.logs[: -self.limits.max_logs]
        if not ok:
            raise self._error(_text(kind), _text(msg), _text(tb))
        return out if isinstance(out, bytes) else b""

    def take_commands(self) -> list[RawCommand]:
        """The commands recorded since the last take, in order."""
        if not self._pending:
            return []
        self._pending = 0
        lst, count = self._host.take_commands()
        out = []
        for i in range(1, int(count) + 1):
            op, comp, ents, n, lay, vals = self._host.command(lst, i)
            out.append(
                RawCommand(
                    _text(op),
                    _text(comp),
                    bytes(ents or b""),
                    int(n),
                    _text(lay),
                    bytes(vals or b""),
                )
            )
        return out

    @property
    def env(self) -> Any:
        """The script's Lua environment (globals and ``state``); None before a load.

        For host tooling only: never hand it to other scripts.
        """
        return self._env

    def table(self, items: Any) -> Any:
        """A new Lua table in this runtime from a Python list or dict (host use)."""
        return self._rt.table_from(items)

    def load_devtools(self, source: str, name: str) -> Any:
        """Run trusted host tooling with the real Lua globals (``debug`` included).

        The chunk gets the runtime's hook slot and budget accounting and returns its
        API to the host (see :mod:`scripting.debugger`, :mod:`scripting.profiler`).
        Scripts can reach neither the chunk nor what it returns.
        """
        return self._host.devtools(source.encode(), name.encode())

    def memory_used(self) -> int:
        """Bytes the runtime holds now."""
        return int(self._rt.get_memory_used())

    def _run(self, go: Any) -> Any:
        try:
            res = go()
        except lua54.LuaMemoryError as exc:
            self._take_counts()
            raise ScriptMemoryError(
                self.name, f"memory limit exceeded ({exc})"
            ) from None
        except lua54.LuaError as exc:
            self._take_counts()
            raise ScriptError(
                self.name, f"Lua error outside the script: {exc}"
            ) from None
        self._take_counts()
        ok, kind, msg, tb, *rest = res
        if not ok:
            raise self._error(_text(kind), _text(msg), _text(tb))
        return rest[0] if rest else None

    def _take_counts(self) -> None:
        v, d, _used = self._host.counts()
        self.violations, self.refusals = int(v), int(d)
        logs = _text(self._host.take_logs())
        if logs:
            self.logs.extend(logs.split("\n"))
            del self.logs[: -self.limits.max_logs]

    def _error(self, kind: str, msg: str, tb: str) -> ScriptError:
        pat = re.compile(re.escape(self.name) + r":(\d+):")
        m = pat.search(msg) or pat.search(tb)
        line = int(m.group(1)) if m else None
        msg = pat.sub("", msg, count=1).strip() if m and pat.match(msg) else msg
        return _ERRORS.get(kind, ScriptError)(self.name, msg, line, tb)
