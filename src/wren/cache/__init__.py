"""The Redis cache: client, key builders, and the cached-field mechanism."""
