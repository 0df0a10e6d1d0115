//! The Lua scripts Redis runs atomically. Time is Redis's own (`TIME`), so replicas
//! whose clocks differ still agree.

/// GCRA over every key of one request, as governor does it locally: a key's value is
/// its theoretical arrival time in µs; the first request finds `now + period` (a full
/// bucket); a request is admitted when `now ≥ tat − tau`, and then `tat` moves to
/// `max(tat, now) + period`. ARGV holds `period, tau` (µs) per key. Returns, per key,
/// 0 when admitted, else the µs until it would be. A key expires once its bucket is
/// full again, so idle keys cost Redis nothing.
pub const GCRA: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local out = {}
for i, key in ipairs(KEYS) do
  local period = tonumber(ARGV[2 * i - 1])
  local tau = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key)) or (now + period)
  local earliest = tat - tau
  if now < earliest then
    out[i] = earliest - now
  else
    local nxt = math.max(tat, now) + period
    redis.call('SET', key, string.format('%d', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
    out[i] = 0
  end
end
return out
"#;

/// Country hopping: KEYS[1] is a hash of country → when last seen (s). ARGV: the
/// country, the window (s), and 1 to record or 0 to peek. Drops countries older than
/// the window and returns how many remain, this one included. The key expires a
/// window after its last record.
pub const HOPS: &str = r#"
local now = tonumber(redis.call('TIME')[1])
local window = tonumber(ARGV[2])
local record = ARGV[3] == '1'
if record then redis.call('HSET', KEYS[1], ARGV[1], now) end
local all = redis.call('HGETALL', KEYS[1])
local n, seen = 0, false
for i = 1, #all, 2 do
  if now - tonumber(all[i + 1]) <= window then
    n = n + 1
    if all[i] == ARGV[1] then seen = true end
  elseif record then
    redis.call('HDEL', KEYS[1], all[i])
  end
end
if record then
  redis.call('EXPIRE', KEYS[1], window + 1)
elseif not seen then
  n = n + 1
end
return n
"#;
