"""A full disk is recognised behind whatever wraps it, on both databases and on files."""

from __future__ import annotations

import errno
import sqlite3

import psycopg
from sqlalchemy.exc import OperationalError

from solidarity.db.storage_full import is_storage_full


def test_sqlite_full_is_recognised_through_sqlalchemy() -> None:
    wrapped = OperationalError(
        "INSERT ...", {}, sqlite3.OperationalError("database or disk is full")
    )
    assert is_storage_full(wrapped)


def test_postgresql_disk_full_is_recognised_by_its_sqlstate() -> None:
    wrapped = OperationalError("INSERT ...", {}, psycopg.errors.DiskFull("could not extend file"))
    assert is_storage_full(wrapped)


def test_a_report_file_that_cannot_be_written_is_recognised() -> None:
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError as exc:
            raise RuntimeError("could not write the error report") from exc
    except RuntimeError as outer:
        assert is_storage_full(outer)


def test_other_errors_are_not_taken_for_a_full_disk() -> None:
    assert not is_storage_full(sqlite3.OperationalError("database is locked"))
    assert not is_storage_full(OSError(errno.EACCES, "Permission denied"))
    assert not is_storage_full(ValueError("bad value"))
