"""The Redis cache of the expensive fields (User.stats, User.recommendedUsers).

client.py the Redis client; keys.py every name Wren uses in Redis (the cache's keys,
persisted documents, event channels); codec.py the values; store.py every Redis call,
behind breaker.py; loader.py the cached DataLoader (with flight.py for single-flight);
fields.py the cached fields of a request; counters.py and extension.py what a request's
cache did; invalidation.py what writes call after their commit.
"""
