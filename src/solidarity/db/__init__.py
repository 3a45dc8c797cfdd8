"""Database layer: engine, unit of work, declarative base and migrations."""

from solidarity.db.base import Base, TimestampedMixin, VersionedMixin
from solidarity.db.engine import get_engine, make_engine, unit_of_work

__all__ = [
    "Base",
    "TimestampedMixin",
    "VersionedMixin",
    "get_engine",
    "make_engine",
    "unit_of_work",
]
