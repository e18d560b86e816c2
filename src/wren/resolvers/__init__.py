"""Thin field resolvers: parse arguments, call loaders, hand rows to the schema's types."""
