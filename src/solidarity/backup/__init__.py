"""Backups of the whole database with a manifest, restore into an empty database, verification."""
