package redislimit

import "github.com/redis/go-redis/v9"

// reserveScript is GCRA (the generic cell rate algorithm) over two buckets
// at once, requests and tokens, so that one round trip takes both or
// neither. Each bucket is one key holding its theoretical arrival time
// (TAT, in milliseconds since 2017-01-01 on Redis's clock, so that the
// processes' clocks do not matter).
//
// Unlike redis_rate's AllowN, it reserves: a call that must wait learns how
// long and holds its place, so it needs no second round trip to ask again
// and callers are served in the order they asked. It also applies the
// corrections (usage, calls not sent) that earlier calls left pending.
//
//	KEYS[1], KEYS[2]: the request and token TAT keys
//	ARGV[1..4]: requests per minute, request burst, requests to take, requests to add (correction)
//	ARGV[5..8]: the same for tokens
//	ARGV[9]: the call cannot go before this many ms from now (a cooldown)
//	ARGV[10]: the longest wait, in ms, worth taking; negative: any
//
// It returns {taken (1 or 0), wait in µs (-1: never), bucket (1 requests, 2 tokens)}.
var reserveScript = redis.NewScript(`
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call("TIME")
local now = (tonumber(t[1]) - 1483228800) * 1000 + tonumber(t[2]) / 1000
local start = now + math.max(0, tonumber(ARGV[9]))
local maxwait = tonumber(ARGV[10])

local function load(key, rate, adj)
  local interval = 60000 / rate
  local tat = tonumber(redis.call("GET", key) or "") or now
  if tat < now then tat = now end
  if adj ~= 0 then tat = math.max(now, tat + adj * interval) end
  return tat, interval
end

local function store(key, tat)
  local ttl = math.ceil(tat - now) + 1000
  redis.call("SET", key, string.format("%.3f", tat), "PX", ttl)
end

local keys, tats, news = {}, {}, {}
local wait, reason, never = 0, 1, false
for i = 1, 2 do
  local base = (i - 1) * 4
  local rate, burst = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local n, adj = tonumber(ARGV[base + 3]), tonumber(ARGV[base + 4])
  if rate > 0 then
    local tat, interval = load(KEYS[i], rate, adj)
    keys[#keys + 1], tats[#tats + 1] = KEYS[i], tat
    if n > burst then
      never, reason = true, i
      news[#news + 1] = tat
    else
      local new = math.max(tat, start) + n * interval
      local w = math.max(start, new - burst * interval) - now
      if w > wait then wait, reason = w, i end
      news[#news + 1] = new
    end
  elseif start - now > wait then
    wait = start - now
  end
end

if never then
  for i = 1, #keys do store(keys[i], tats[i]) end
  return {0, -1, reason}
end
if maxwait >= 0 and wait > maxwait then
  for i = 1, #keys do store(keys[i], tats[i]) end
  return {0, math.ceil(wait * 1000), reason}
end
for i = 1, #keys do store(keys[i], news[i]) end
return {1, math.ceil(wait * 1000), reason}
`)
