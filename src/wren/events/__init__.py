"""Events that subscriptions push: published on Redis after a commit, heard by every process.

channels.py names the channels and encodes the messages (ids only); hub.py is the one
pub/sub connection of a process and its local subscribers; bus.py is what mutations and
subscription resolvers call.
"""
