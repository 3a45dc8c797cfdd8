"""Recognising a full disk (or a database at its size limit) behind any wrapped error.

SQLite reports ``SQLITE_FULL`` ("database or disk is full") when the file system
has no room or ``PRAGMA max_page_count`` is reached; PostgreSQL reports SQLSTATE
53100 (``disk_full``); writing a report or a rejects file fails with ``ENOSPC``.
In every case the transaction that hit it is rolled back whole, so the operator's
message can say that nothing of it was kept.
"""

from __future__ import annotations

import errno
import sqlite3

#: What a job that failed this way reports (see docs/operations.md, "Disk full").
STORAGE_FULL_MESSAGE = (
    "the database or its disk is full: the work of this attempt was rolled back and "
    "nothing of it was kept; free disk space (or raise the database size limit), then retry the job"
)
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        pending += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return seen


def is_storage_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) says the database or its disk is full."""
    for cause in _causes(exc):
        if isinstance(cause, sqlite3.Error) and (
            getattr(cause, "sqlite_errorcode", None) == _SQLITE_FULL
            or "database or disk is full" in str(cause)
        ):
            return True
        if getattr(cause, "sqlstate", None) == _PG_DISK_FULL:
            return True
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return True
    return False
