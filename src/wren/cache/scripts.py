"""The Lua script of the batched read: stamps and values of many entries in one round trip."""

from __future__ import annotations

# KEYS      the epoch keys of the slot groups read (on a Redis Cluster: exactly one)
# ARGV[1]   a fresh random token, used for an epoch or generation key that does not exist
#           (never seen, expired, evicted); ARGV[2] the generation keys' TTL in ms;
#           then one block of four per (slot group, kind) read: the index in KEYS of the
#           group's epoch, the group's generation key prefix of the kind, its value key
#           prefix, and the user ids, comma-separated (one argument: building and sending
#           50 keys and 50 ids was most of a warm read's client-side cost)
# Returns stamp1, value1, stamp2, value2, ... block after block, in the order of the ids
# (a missing value is nil).
# Run atomically, so a read never interleaves with a generation bump: the stamp it
# returns is the current one, and the value is the one stored under that stamp. Every
# key a block builds carries the hash tag of its group's epoch key (cache/keys.py), so on
# a Redis Cluster the script stays within the slot it was sent to.
READ = """
local epochs = {}
for i = 1, #KEYS do
  local epoch = redis.call('GET', KEYS[i])
  if not epoch then
    epoch = ARGV[1]
    redis.call('SET', KEYS[i], epoch)
  end
  epochs[i] = epoch
end
local out = {}
for b = 3, #ARGV, 4 do
  local epoch = epochs[tonumber(ARGV[b])]
  for id in string.gmatch(ARGV[b + 3], '%d+') do
    local gkey = ARGV[b + 1] .. id
    local gen = redis.call('GET', gkey)
    if not gen then
      gen = ARGV[1]
      redis.call('SET', gkey, gen, 'PX', ARGV[2])
    end
    local stamp = epoch .. '.' .. gen
    out[#out + 1] = stamp
    out[#out + 1] = redis.call('GET', ARGV[b + 2] .. id .. ':' .. stamp)
  end
end
return out
"""
