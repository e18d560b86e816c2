"""The Lua scripts: the field cache's batched read (stamps and values of many entries in one
round trip), and the response cache's lookup, store and invalidation."""

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

# The response cache (cache/responses.py). Every key a script builds carries the hash tag
# of the slot group of its KEYS, so on a Redis Cluster each call stays within one slot.

# KEYS[1] a group's generation key, KEYS[2] its clock; ARGV[1] the group's entry prefix,
# ARGV[2] the digest, ARGV[3] a fresh token (for a generation that does not exist).
# Returns {1, value} on a hit, else {0, the entry key, the clock}: the clock read before
# the answer is computed, which the store then checks.
LOOKUP = """
local gen = redis.call('GET', KEYS[1])
if not gen then
  gen = ARGV[3]
  redis.call('SET', KEYS[1], gen)
end
local key = ARGV[1] .. gen .. ':' .. ARGV[2]
local value = redis.call('GET', key)
if value then
  return {1, value}
end
return {0, key, redis.call('GET', KEYS[2]) or '0'}
"""

# KEYS[1] the group's clock; ARGV[1] the clock the lookup read, ARGV[2] the entry key,
# ARGV[3] the value, ARGV[4] its TTL in ms, ARGV[5] the group's tag prefix, ARGV[6] the
# tags, comma-separated (one argument, as the read's ids: a Timeline page has about 100).
# Stores nothing (returns 0) when an invalidation ran in the group since the lookup: the
# answer may have been computed from rows read before that write committed.
STORE = """
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then
  return 0
end
local ttl = tonumber(ARGV[4])
redis.call('SET', ARGV[2], ARGV[3], 'PX', ttl)
for name in string.gmatch(ARGV[6], '[^,]+') do
  local tag = ARGV[5] .. name
  redis.call('SADD', tag, ARGV[2])
  if redis.call('PTTL', tag) < ttl then
    redis.call('PEXPIRE', tag, ttl)
  end
end
return 1
"""

# KEYS the clocks of the groups invalidated (on a Redis Cluster: exactly one); ARGV[1]
# their number n, ARGV[2 .. n+1] their tag prefixes, then the tags. Advances each clock
# and deletes every entry holding a tag, with the tag's set. Returns the entries deleted.
INVALIDATE = """
local n = tonumber(ARGV[1])
local deleted = 0
for i = 1, n do
  redis.call('INCR', KEYS[i])
  for j = n + 2, #ARGV do
    local tag = ARGV[1 + i] .. ARGV[j]
    local members = redis.call('SMEMBERS', tag)
    for k = 1, #members, 500 do
      deleted = deleted + redis.call('DEL', unpack(members, k, math.min(k + 499, #members)))
    end
    redis.call('DEL', tag)
  end
end
return deleted
"""
