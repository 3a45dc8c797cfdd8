"""Deduplication of the registry and linkage of outside lists (Splink), review queue, merges."""
