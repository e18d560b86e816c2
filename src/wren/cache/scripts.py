"""The Lua script of the batched read: stamps and values of many entries in one round trip."""

from __future__ import annotations

# KEYS[1]   the epoch key; KEYS[2..n] the generation keys of the entries asked for
# ARGV[1]   the value key prefix of their kind; ARGV[2] a fresh random token, used for
#           an epoch or generation key that does not exist (never seen, expired, evicted);
#           ARGV[3] the generation keys' TTL in ms; ARGV[4..] the user ids, as in KEYS
# Returns stamp1, value1, stamp2, value2, ... (a missing value is nil).
# Run atomically, so a read never interleaves with a generation bump: the stamp it
# returns is the current one, and the value is the one stored under that stamp.
READ = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[2]
  redis.call('SET', KEYS[1], epoch)
end
local out = {}
for i = 2, #KEYS do
  local gen = redis.call('GET', KEYS[i])
  if not gen then
    gen = ARGV[2]
    redis.call('SET', KEYS[i], gen, 'PX', ARGV[3])
  end
  local stamp = epoch .. '.' .. gen
  out[#out + 1] = stamp
  out[#out + 1] = redis.call('GET', ARGV[1] .. ARGV[i + 2] .. ':' .. stamp)
end
return out
"""
