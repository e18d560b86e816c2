"""Events that subscriptions push: published on Redis after a commit, heard by every process.

messages.py encodes the messages (ids only; the channels are named in cache/keys.py with
every other Redis name); hub.py is the one pub/sub connection of a process and its local
subscribers; bus.py is what mutations and subscription resolvers call.
"""
