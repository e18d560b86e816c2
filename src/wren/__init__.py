"""Wren: a GraphQL API for a social publishing platform."""

__version__ = "0.1.0"
