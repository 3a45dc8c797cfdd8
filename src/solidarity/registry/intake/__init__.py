"""Bulk intake of household and person files: read, map, validate, write in batches."""
