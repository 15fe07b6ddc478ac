//! The Lua scripts that make each store operation atomic.
//!
//! Every script touches the keys of one account only. `KEYS[1]` (and, for
//! the failure scripts, `KEYS[2]`) are the account's v2 keys, which share a
//! hash slot. The keys after them are the account's legacy v1 keys, passed
//! only while [`write_legacy_v1`](crate::RedisStoreBuilder::write_legacy_v1)
//! is on; each script checks `#KEYS` to know whether it has them.
//!
//! Times are taken from Redis `TIME` inside the scripts, never from the
//! calling process's clock.

use redis::Script;

/// Redis ≤ 4 needs effect replication for scripts that write after reading
/// `TIME`; later versions always replicate effects (the call is then a
/// no-op or absent).
const PRELUDE: &str = r"
if redis.replicate_commands then redis.replicate_commands() end
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function int(n)
  return string.format('%d', n)
end
";

/// The stored session with the most recent generation: `{gen, value, pttl}`
/// or nil. KEYS: v2 session[, v1 session]. A v1 session of a higher
/// generation than the v2 one (or with no v2 one) is adopted: copied into
/// the v2 key with the TTL it has left.
const LOAD: &str = r"
local s = redis.call('HMGET', KEYS[1], 'gen', 'value')
local g, v = s[1], s[2]
local ttl = redis.call('PTTL', KEYS[1])
if KEYS[2] then
  local l = redis.call('HMGET', KEYS[2], 'gen', 'value')
  local lg = tonumber(l[1])
  if lg and l[2] and (not (g and v) or lg > (tonumber(g) or -1)) then
    local lttl = redis.call('PTTL', KEYS[2])
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], 'gen', l[1], 'value', l[2])
    if lttl > 0 then redis.call('PEXPIRE', KEYS[1], lttl) end
    g, v, ttl = l[1], l[2], lttl
  end
end
if not (g and v) then return false end
return {g, v, ttl}
";

/// Fenced save. KEYS: v2 session[, v1 session]. ARGV: generation, value,
/// TTL in ms (-1: none; 0: already expired, so only deleted). Stores (in
/// every key) unless one holds a higher generation; returns 1 if it did.
const SAVE: &str = r"
local gen = tonumber(ARGV[1])
for i = 1, #KEYS do
  local current = tonumber(redis.call('HGET', KEYS[i], 'gen'))
  if current and current > gen then return 0 end
end
local ttl = tonumber(ARGV[3])
for i = 1, #KEYS do
  redis.call('DEL', KEYS[i])
  if ttl ~= 0 then
    redis.call('HSET', KEYS[i], 'gen', ARGV[1], 'value', ARGV[2])
    if ttl > 0 then redis.call('PEXPIRE', KEYS[i], ttl) end
  end
end
return 1
";

/// KEYS: v2 session[, v1 session]. Deletes each whose generation is still
/// ARGV[1] (each, when ARGV[1] is empty); returns how many it deleted.
const REMOVE: &str = r"
local removed = 0
for i = 1, #KEYS do
  if ARGV[1] == '' then
    removed = removed + redis.call('DEL', KEYS[i])
  elseif redis.call('HGET', KEYS[i], 'gen') == ARGV[1] then
    removed = removed + redis.call('DEL', KEYS[i])
  end
end
return removed
";

/// KEYS: v2 session[, v1 session]. Sets the TTL (ARGV[2] ms) of each whose
/// generation is still ARGV[1]; returns how many it extended.
const TOUCH: &str = r"
local touched = 0
for i = 1, #KEYS do
  if redis.call('HGET', KEYS[i], 'gen') == ARGV[1] then
    touched = touched + redis.call('PEXPIRE', KEYS[i], ARGV[2])
  end
end
return touched
";

/// KEYS: v2 generation[, v1 generation]. ARGV: TTL of the counter in ms.
/// INCR, above the v1 counter too, floored at the server clock in
/// microseconds so generations keep growing even when Redis loses its data
/// (they would go backwards only with more than one login per
/// microsecond). Both counters are left at the new value, with the TTL.
const NEXT_GENERATION: &str = r"
local g = redis.call('INCR', KEYS[1])
if KEYS[2] then
  local legacy = tonumber(redis.call('GET', KEYS[2]))
  if legacy and legacy >= g then g = legacy + 1 end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
if g < now then g = now end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], int(g), 'PX', ARGV[1])
end
return g
";

/// KEYS: v2 lock[, v1 lock]. ARGV: token, lease in ms. Takes every lock key
/// when all are free; returns 1 if it did.
const TRY_LOCK: &str = r"
for i = 1, #KEYS do
  if redis.call('EXISTS', KEYS[i]) == 1 then return 0 end
end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], ARGV[1], 'PX', ARGV[2])
end
return 1
";

/// KEYS: v2 lock[, v1 lock]. ARGV: token, lease in ms. If the v2 lock still
/// holds the token, sets its lease (and the v1 lock's, taking the v1 lock
/// again if it is free); returns 1 if it did.
const EXTEND_LOCK: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if KEYS[2] then
  local legacy = redis.call('GET', KEYS[2])
  if legacy == ARGV[1] then
    redis.call('PEXPIRE', KEYS[2], ARGV[2])
  elseif not legacy then
    redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
  end
end
return 1
";

/// KEYS: v2 lock[, v1 lock]. Deletes each that still holds the token
/// ARGV[1].
const UNLOCK: &str = r"
local released = 0
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    released = released + redis.call('DEL', KEYS[i])
  end
end
return released
";

/// Shared by the failure scripts. KEYS: failures (sorted set: one member
/// per failure, score = its time in ms), pinned (sorted set: member
/// `<id>:<count>`, score = when it stops counting, in ms)[, v1 failures
/// counter, v1 mirror (hash: `exp` = the v1 counter's expiry in ms when this
/// store last added to it, `n` = how many of its failures this store added
/// in that v1 window)].
const FAILURE_FUNCTIONS: &str = r"
-- Whether two expiry times (ms, -1 for none) name the same v1 window. They
-- are exact with PEXPIRETIME (Redis 7); before it, TIME + PTTL may differ by
-- a millisecond or two between calls. (A mismatch only makes the store
-- count its own failures in the v1 counter twice: too many, never too few.)
local function same_window(a, b)
  if a == nil or b == nil then return false end
  if a < 0 or b < 0 then return a == b end
  return math.abs(a - b) <= 3
end

-- When `key` expires (ms, Redis clock; -1: no TTL), given its PTTL.
local function expiry(key, now, pttl)
  if pttl < 0 then return pttl end
  local exact = redis.pcall('PEXPIRETIME', key)
  if type(exact) == 'number' and exact >= 0 then return exact end
  return now + pttl
end

-- The v1 counter: its count, its TTL (ms; -1 none), its expiry time and how
-- many of its failures this store added in its current window.
local function legacy_state(now)
  local c = tonumber(redis.call('GET', KEYS[3])) or 0
  if c <= 0 then return 0, -2, -2, 0 end
  local pttl = redis.call('PTTL', KEYS[3])
  local exp = expiry(KEYS[3], now, pttl)
  local m = redis.call('HMGET', KEYS[4], 'exp', 'n')
  local mirrored = 0
  if same_window(tonumber(m[1]), exp) then
    mirrored = tonumber(m[2]) or 0
    exp = tonumber(m[1])
  end
  return c, pttl, exp, mirrored
end

-- Records that this store added `n` failures to the v1 counter, which now
-- has `pttl` ms left, in the window whose expiry is `exp`. The record
-- outlives the counter by a second, so it is never missing while the
-- counter is there.
local function mirror(exp, pttl, n)
  redis.call('HSET', KEYS[4], 'exp', int(exp), 'n', n)
  redis.call('PEXPIRE', KEYS[4], math.max(1, pttl) + 1000)
end

-- {count, ms until the count drops (-1: never)} for the last `window` ms.
local function count(now, window)
  local from = '(' .. int(now - window)
  local c = redis.call('ZCOUNT', KEYS[1], from, '+inf')
  local resets = -1
  local function leaves(left)
    if resets < 0 or left < resets then resets = left end
  end
  if c > 0 then
    local oldest = redis.call('ZRANGEBYSCORE', KEYS[1], from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
    leaves(tonumber(oldest[2]) + window - now)
  end
  local pinned = redis.call('ZRANGEBYSCORE', KEYS[2], '(' .. int(now), '+inf', 'WITHSCORES')
  for i = 1, #pinned, 2 do
    local n = tonumber(string.match(pinned[i], ':(%d+)$')) or 0
    if n > 0 then
      c = c + n
      leaves(tonumber(pinned[i + 1]) - now)
    end
  end
  if KEYS[3] then
    -- Failures old processes added to the v1 counter count until it
    -- expires; the ones this store added are already in the sorted set.
    local legacy, pttl, _, mirrored = legacy_state(now)
    local extra = legacy - mirrored
    if extra > 0 then
      c = c + extra
      if pttl >= 0 then leaves(pttl) end
    end
  end
  return {c, resets}
end
";

/// ARGV: window ms.
const FAILURES: &str = r"
return count(now_ms(), tonumber(ARGV[1]))
";

/// ARGV: window ms, ago ms, member id, horizon ms. Adds a failure at
/// now - ago, drops the ones older than the horizon, keeps the set for the
/// horizon; with the v1 keys, also counts it in the v1 counter (a fixed
/// window of `window`, started by its first failure, as v1 processes do).
const RECORD_FAILURE: &str = r"
local now = now_ms()
local window = tonumber(ARGV[1])
local horizon = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], int(now - tonumber(ARGV[2])), ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', int(now - horizon))
redis.call('PEXPIRE', KEYS[1], horizon)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now))
if KEYS[3] then
  local _, _, exp, mirrored = legacy_state(now)
  local c = redis.call('INCR', KEYS[3])
  local pttl = redis.call('PTTL', KEYS[3])
  if c == 1 or pttl < 0 then
    redis.call('PEXPIRE', KEYS[3], window)
    pttl = window
  end
  local new_exp = expiry(KEYS[3], now, pttl)
  if not same_window(exp, new_exp) then
    exp = new_exp
    mirrored = 0
  end
  mirror(exp, pttl, mirrored + 1)
end
return count(now, window)
";

/// ARGV: count, ttl ms, member id. Pins `count` failures until
/// now + ttl; with the v1 keys, adds them to the v1 counter too and makes it
/// last at least as long.
const SET_FAILURES: &str = r"
local now = now_ms()
local n = tonumber(ARGV[1])
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[2], int(now + ttl), ARGV[3] .. ':' .. ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', int(now))
local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', KEYS[2], math.max(1, tonumber(last[2]) - now))
if KEYS[3] then
  local c, pttl, _, mirrored = legacy_state(now)
  local keep = math.max(pttl, ttl)
  redis.call('SET', KEYS[3], int(c + n), 'PX', int(keep))
  mirror(expiry(KEYS[3], now, keep), keep, mirrored + n)
end
return 1
";

/// Deletes every key given (an account's failures, in every format).
const RESET_FAILURES: &str = r"
return redis.call('DEL', unpack(KEYS))
";

/// The value of KEYS[1], or nil.
const GET: &str = r"
return redis.call('GET', KEYS[1])
";

/// Sets KEYS[1] to ARGV[1] for ARGV[2] ms.
const SET_PX: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Deletes KEYS[1] if it holds ARGV[1]; returns whether it did.
const DELETE_IF_EQUAL: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// The compiled scripts of a store.
pub(crate) struct Scripts {
    pub(crate) load: Script,
    pub(crate) save: Script,
    pub(crate) remove: Script,
    pub(crate) touch: Script,
    pub(crate) next_generation: Script,
    pub(crate) try_lock: Script,
    pub(crate) extend_lock: Script,
    pub(crate) unlock: Script,
    pub(crate) failures: Script,
    pub(crate) record_failure: Script,
    pub(crate) set_failures: Script,
    pub(crate) reset_failures: Script,
    pub(crate) get: Script,
    pub(crate) set_px: Script,
    pub(crate) delete_if_equal: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        let plain = |body: &str| Script::new(&format!("{PRELUDE}{body}"));
        let failure = |body: &str| Script::new(&format!("{PRELUDE}{FAILURE_FUNCTIONS}{body}"));
        Self {
            load: plain(LOAD),
            save: plain(SAVE),
            remove: plain(REMOVE),
            touch: plain(TOUCH),
            next_generation: plain(NEXT_GENERATION),
            try_lock: plain(TRY_LOCK),
            extend_lock: plain(EXTEND_LOCK),
            unlock: plain(UNLOCK),
            failures: failure(FAILURES),
            record_failure: failure(RECORD_FAILURE),
            set_failures: failure(SET_FAILURES),
            reset_failures: plain(RESET_FAILURES),
            get: Script::new(GET),
            set_px: Script::new(SET_PX),
            delete_if_equal: Script::new(DELETE_IF_EQUAL),
        }
    }
}
