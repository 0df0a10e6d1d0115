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

/// Hopping and spread: each KEYS[i] is a hash of value (a country, a network) → when
/// last seen (s). ARGV[1] is 1 to record or 0 to peek; then, per key, the value, the
/// window (s) and the most values a key keeps. Drops values older than the window,
/// then (recording) the oldest beyond the most kept, never this request's; returns per
/// key how many remain, this one included. A key expires a window after its last
/// record.
pub const HOPS: &str = r#"
local now = tonumber(redis.call('TIME')[1])
local record = ARGV[1] == '1'
local out = {}
for i, key in ipairs(KEYS) do
  local value = ARGV[3 * i - 1]
  local window = tonumber(ARGV[3 * i])
  local keep = tonumber(ARGV[3 * i + 1])
  if record then redis.call('HSET', key, value, now) end
  local all = redis.call('HGETALL', key)
  local live, seen = {}, false
  for j = 1, #all, 2 do
    local t = tonumber(all[j + 1])
    if now - t <= window then
      if all[j] == value then seen = true else live[#live + 1] = {all[j], t} end
    elseif record then
      redis.call('HDEL', key, all[j])
    end
  end
  local n = #live + 1
  if record then
    if n > keep then
      table.sort(live, function(a, b) return a[2] < b[2] end)
      for j = 1, n - keep do redis.call('HDEL', key, live[j][1]) end
      n = keep
    end
    redis.call('EXPIRE', key, window + 1)
  end
  out[i] = n
end
return out
"#;
