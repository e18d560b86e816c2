"""The Lua script of the batched read: stamps and values of many entries in one round trip."""

from __future__ import annotations

# KEYS[1]   the epoch key
# ARGV[1]   a fresh random token, used for an epoch or generation key that does not exist
#           (never seen, expired, evicted); ARGV[2] the generation keys' TTL in ms;
#           then one group of three per kind read: the generation key prefix of the kind,
#           its value key prefix, and the user ids, comma-separated (one argument: building
#           and sending 50 keys and 50 ids was most of a warm read's client-side cost)
# Returns stamp1, value1, stamp2, value2, ... group after group, in the order of the ids
# (a missing value is nil).
# Run atomically, so a read never interleaves with a generation bump: the stamp it
# returns is the current one, and the value is the one stored under that stamp.
READ = """
local epoch = redis.call('GET', KEYS[1])
if not epoch then
  epoch = ARGV[1]
  redis.call('SET', KEYS[1], epoch)
end
local out = {}
for g = 3, #ARGV, 3 do
  for id in string.gmatch(ARGV[g + 2], '%d+') do
    local gkey = ARGV[g] .. id
    local gen = redis.call('GET', gkey)
    if not gen then
      gen = ARGV[1]
      redis.call('SET', gkey, gen, 'PX', ARGV[2])
    end
    local stamp = epoch .. '.' .. gen
    out[#out + 1] = stamp
    out[#out + 1] = redis.call('GET', ARGV[g + 1] .. id .. ':' .. stamp)
  end
end
return out
"""
