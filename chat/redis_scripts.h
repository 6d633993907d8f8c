// The Lua scripts the backplane runs (EVALSHA after SCRIPT LOAD on every connection). Each
// runs atomically in Redis: that is what makes a room's offsets consecutive across
// instances and puts every message on the channel in offset order.
#pragma once

namespace ringws::redis_scripts {

/// KEYS: meta, stream. ARGV: channel, body, history size, history ttl (s), epoch candidate,
/// origin (us), publisher ("<instance>.<reactor>:<seq>"), meta ttl (s).
/// Numbers the message (HINCRBY), keeps it in history (XADD with MAXLEN, XTRIM by age) when
/// history is on, and PUBLISHes it with its offset and epoch; returns the offset.
inline constexpr const char* kPublish = R"lua(
local e = redis.call('HGET', KEYS[1], 'e')
if not e then
  e = ARGV[5]
  redis.call('HSET', KEYS[1], 'e', e)
end
local o = redis.call('HINCRBY', KEYS[1], 'o', 1)
redis.call('EXPIRE', KEYS[1], ARGV[8])
local n = tonumber(ARGV[3])
if n > 0 then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XADD', KEYS[2], 'MAXLEN', n, '*', 'o', o, 'b', ARGV[2])
  redis.call('XTRIM', KEYS[2], 'MINID', now - tonumber(ARGV[4]) * 1000)
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
redis.call('PUBLISH', ARGV[1], 'M' .. o .. ' ' .. e .. ' ' .. ARGV[6] .. ' ' .. ARGV[7] .. ' ' .. ARGV[2])
return o
)lua";

/// KEYS: meta. ARGV: channel, token, epoch candidate, meta ttl (s).
/// Publishes "S<token> <offset> <epoch>" on the channel: every message before it on the
/// channel has an offset <= offset, every one after it a larger one.
inline constexpr const char* kSync = R"lua(
local e = redis.call('HGET', KEYS[1], 'e')
if not e then
  e = ARGV[3]
  redis.call('HSET', KEYS[1], 'e', e, 'o', 0)
end
local o = redis.call('HGET', KEYS[1], 'o') or '0'
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('PUBLISH', ARGV[1], 'S' .. ARGV[2] .. ' ' .. o .. ' ' .. e)
return o
)lua";

/// KEYS: meta, stream. ARGV: after, history ttl (s).
/// Returns {epoch, last offset, first offset still held (last + 1 when none), then offset and
/// body of each message after `after` that is younger than the ttl}.
inline constexpr const char* kFetch = R"lua(
local e = redis.call('HGET', KEYS[1], 'e') or ''
local last = tonumber(redis.call('HGET', KEYS[1], 'o') or '0')
local t = redis.call('TIME')
local min = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - tonumber(ARGV[2]) * 1000
if min < 0 then min = 0 end
local entries = redis.call('XRANGE', KEYS[2], min, '+')
local after = tonumber(ARGV[1])
local first = last + 1
local out = {e, last, 0}
for i, entry in ipairs(entries) do
  local f = entry[2]
  local o, b
  for j = 1, #f, 2 do
    if f[j] == 'o' then o = tonumber(f[j + 1]) elseif f[j] == 'b' then b = f[j + 1] end
  end
  if o then
    if i == 1 then first = o end
    if o > after then
      out[#out + 1] = o
      out[#out + 1] = b
    end
  end
end
out[3] = first
return out
)lua";

/// KEYS: presence hash, ringws:live. ARGV: most ids to list.
/// Sums the counts of live instance reactors (their ringws:live expiry is in the future),
/// lists up to ARGV[1] ids, and deletes the fields of dead ones: {count, {ids}}.
inline constexpr const char* kPresence = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local all = redis.call('HGETALL', KEYS[1])
local max = tonumber(ARGV[1])
local count = 0
local ids = {}
for i = 1, #all, 2 do
  local until_ms = redis.call('ZSCORE', KEYS[2], all[i])
  if until_ms and tonumber(until_ms) > now then
    local first = true
    for w in string.gmatch(all[i + 1], '%S+') do
      if first then
        count = count + tonumber(w)
        first = false
      elseif #ids < max then
        ids[#ids + 1] = w
      end
    end
  else
    redis.call('HDEL', KEYS[1], all[i])
  end
end
return {count, ids}
)lua";

/// KEYS: ringws:live. ARGV: source, ttl (ms). Marks this instance reactor alive until now +
/// ttl (Redis's clock), and forgets sources dead for an hour.
inline constexpr const char* kHeartbeat = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 3600000)
return 1
)lua";

}  // namespace ringws::redis_scripts
