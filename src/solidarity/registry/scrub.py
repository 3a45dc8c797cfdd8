"""Removing an erased person from stored JSON bodies and from files (CSV, Parquet, JSON, XML).

Other domains keep copies of person data outside the registry tables: DCI
message bodies, job parameters and results, import uploads, reports and
rejected-row files, payroll files. Their erasers (registered in
``governance.erasure.ERASERS``) call these helpers with the
:class:`~solidarity.registry.erasure.ErasureSubject`, whose values were read
through the ORM (decrypted), so matching works whether the registry stores
them encrypted or not.

JSON: a *record of the subject* is a dict with a personal key (a name, phone,
birth date or identifier key) whose own values (or personal sub-values) hold one
of the subject's identifier values, phones or full names, its given and family
name together, or its id (``person_id`` or an ``@person`` identifier). Its
personal keys are replaced by ``[erased]`` (a birth date becomes 1 January of
its year); the subject's identifier values, phones and full names are then
replaced wherever else they appear. Other people's records are left alone.

Files: a row of the subject (same test on its cells) has its personal columns
blanked; the subject's values are replaced in every other cell; every other row
is kept as it was. Files are rewritten next to themselves and renamed into place.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import polars as pl
from sqlalchemy import ColumnElement, String, cast, false, or_

from solidarity.registry.erasure import ErasureSubject, scrub_text, scrub_values
from solidarity.registry.repository import ERASED

_PERSONAL_PARTS = ("name", "phone", "mobile", "msisdn", "birth", "dob", "identifier", "email")
_NOT_PERSONAL = ("filename", "file_name", "identifier_type", "id_type", "type")
_ID_KEYS = ("person_id", "personid", "person")
_DATE = re.compile(r"^(\d{4})-\d{2}-\d{2}")
#: File suffixes rewritten; others are left alone (and reported by the caller if it wants).
FILE_SUFFIXES = (".csv", ".parquet", ".json", ".xml", ".txt")


def is_personal_key(key: str) -> bool:
    """Whether a JSON key or column header names a person's name, contact, birth or identifier."""
    k = key.lower().replace("-", "_").replace(" ", "_")
    if k in _NOT_PERSONAL or k.endswith("_type"):
        return False
    return any(part in k for part in _PERSONAL_PARTS) or k in ("nid", "national_id", "id_number")


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str):
        yield value.strip()


def _matches(strings: set[str], subject: ErasureSubject) -> bool:
    if any(s and any(v in s for v in subject.values) for s in strings):
        return True
    return any(g in strings and f in strings for g, f in subject.name_pairs)


def _id_match(key: str, value: Any, subject: ErasureSubject) -> bool:
    if key.lower().replace("_", "") not in ("personid", "person"):
        return False
    return str(value).strip() in {str(i) for i in subject.person_ids}


def _reported_value(record: dict[str, Any], subject: ErasureSubject) -> bool:
    """An error-report entry (``column``, ``value``) quoting a name or value of the subject."""
    column, value = record.get("column"), record.get("value")
    if not isinstance(column, str) or not isinstance(value, str) or not is_personal_key(column):
        return False
    return value.strip() in subject.values | subject.name_parts


def _is_subject_record(record: dict[str, Any], subject: ErasureSubject) -> bool:
    if _reported_value(record, subject):
        return True
    personal = [k for k in record if isinstance(k, str) and is_personal_key(k)]
    if not personal:
        return False
    strings: set[str] = set()
    for key, value in record.items():
        if _id_match(str(key), value, subject):
            return True
        if isinstance(value, str):
            strings.add(value.strip())
        elif str(key) in personal:
            strings.update(_strings(value))
            if _person_identifier(value, subject):
                return True
    return _matches(strings, subject)


def _person_identifier(value: Any, subject: ErasureSubject) -> bool:
    """An ``{"identifier_type": "@person", "identifier_value": "12"}`` naming the subject."""
    items = value if isinstance(value, list) else [value]
    ids = {str(i) for i in subject.person_ids}
    for item in items:
        if isinstance(item, dict):
            kinds = {str(v) for k, v in item.items() if str(k).endswith("type")}
            values = {str(v) for k, v in item.items() if str(k).endswith("value")}
            if "@person" in kinds and values & ids:
                return True
    return False


def _blank(key: str, value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _blank(str(k), v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank(key, v) for v in value]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and ("birth" in key.lower() or "dob" in key.lower()):
        found = _DATE.match(value)
        return f"{found.group(1)}-01-01" if found else ERASED
    if isinstance(value, str) and key.lower().endswith("_type"):
        return value
    return ERASED if isinstance(value, str) else None


def _walk(value: Any, subject: ErasureSubject) -> Any:
    if isinstance(value, list):
        return [_walk(v, subject) for v in value]
    if not isinstance(value, dict):
        return value
    if _is_subject_record(value, subject):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if isinstance(key, str) and is_personal_key(key):
                out[key] = _blank(key, item)
            elif isinstance(item, str):
                out[key] = scrub_text(item, subject)
            else:
                out[key] = _walk(item, subject)
        return out
    return {k: _walk(v, subject) for k, v in value.items()}


def scrub_json(value: Any, subject: ErasureSubject) -> Any:
    """A JSON value with the subject's records scrubbed and its values replaced elsewhere."""
    return scrub_values(_walk(value, subject), subject)


def scrub_linked_json(value: Any, subject: ErasureSubject) -> Any:
    """Like :func:`scrub_json` for a body known to be about the subject (linked by its id).

    Its top-level personal keys go whatever they hold (a name alone is enough).
    """
    if not isinstance(value, dict) or not subject.person_ids:
        return scrub_json(value, subject)
    scrubbed = scrub_json({"person_id": subject.person_ids[0], **value}, subject)
    if "person_id" in value:
        scrubbed["person_id"] = value["person_id"]
    else:
        scrubbed.pop("person_id", None)
    return scrubbed


def mentions(text: str | None, subject: ErasureSubject) -> bool:
    """Whether free text holds one of the subject's identifier values, phones or full names."""
    return bool(text) and any(v in (text or "") for v in subject.values)


def needles(subject: ErasureSubject) -> list[str]:
    """Strings whose presence marks a stored body as possibly about the subject.

    Identifier values, phones, full names and name parts, each also as JSON
    escapes it (a database may store JSON ASCII-escaped).
    """
    found: set[str] = set()
    for value in subject.values | subject.name_parts:
        found.add(value)
        found.add(json.dumps(value)[1:-1])
    return sorted(found)


def contains_any(column: Any, strings: Iterable[str]) -> ColumnElement[bool]:
    """SQL: the column (JSON or text, read as text) contains one of ``strings``."""
    text = cast(column, String)
    terms = [
        text.like(
            "%" + s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%", escape="\\"
        )
        for s in strings
    ]
    return or_(*terms) if terms else false()


# Files ---------------------------------------------------------------------------------------


def _row_is_subject(row: dict[str, Any], subject: ErasureSubject) -> bool:
    strings = {str(v).strip() for v in row.values() if v is not None}
    if any(_id_match(str(k), v, subject) for k, v in row.items() if v is not None):
        return True
    if strings & subject.values or _reported_value(row, subject):
        return True
    return any(g in strings and f in strings for g, f in subject.name_pairs)


def _scrub_row(row: dict[str, Any], subject: ErasureSubject) -> tuple[dict[str, Any], bool]:
    """The row scrubbed, and whether it was a row of the subject."""
    if _row_is_subject(row, subject):
        out: dict[str, Any] = {}
        for key, cell in row.items():
            text = None if cell is None else str(cell)
            if is_personal_key(str(key)) or (text and text != scrub_text(text, subject)):
                out[key] = None
            else:
                out[key] = cell
        return out, True
    return {k: scrub_values(v, subject) if isinstance(v, str) else v for k, v in row.items()}, False


def _replace(path: Path, write: Any) -> None:
    partial = path.with_name(f".{path.name}.erasing")
    write(partial)
    os.replace(partial, path)


def _scrub_csv(path: Path, subject: ErasureSubject) -> int:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        header = list(reader.fieldnames or [])
        rows = list(reader)
    scrubbed, hits = [], 0
    for row in rows:
        new, was = _scrub_row(row, subject)
        hits += was
        scrubbed.append({k: ("" if v is None else v) for k, v in new.items()})
    if scrubbed == rows:
        return 0

    def write(target: Path) -> None:
        with target.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(scrubbed)

    _replace(path, write)
    return max(hits, 1)


def _scrub_parquet(path: Path, subject: ErasureSubject) -> int:
    frame = pl.read_parquet(path)
    if not _parquet_candidates(frame, subject):
        return 0
    rows = frame.to_dicts()
    scrubbed, hits = [], 0
    for row in rows:
        new, was = _scrub_row(row, subject)
        hits += was
        scrubbed.append(new)
    if scrubbed == rows:
        return 0
    _replace(path, lambda target: pl.DataFrame(scrubbed, schema=frame.schema).write_parquet(target))
    return max(hits, 1)


def _scrub_json_file(path: Path, subject: ErasureSubject) -> int:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return _scrub_text_file(path, subject)
    scrubbed = scrub_json(data, subject)
    if scrubbed == data:
        return 0
    _replace(
        path,
        lambda target: target.write_text(
            json.dumps(scrubbed, indent=1, default=str, ensure_ascii=False), encoding="utf-8"
        ),
    )
    return 1


def _scrub_text_file(path: Path, subject: ErasureSubject, *, xml: bool = False) -> int:
    text = path.read_text(encoding="utf-8")
    new = text
    for value in sorted(subject.values, key=len, reverse=True):
        new = new.replace(escape(value) if xml else value, ERASED)
        new = new.replace(value, ERASED)
    if new == text:
        return 0
    _replace(path, lambda target: target.write_text(new, encoding="utf-8"))
    return 1


def _may_mention(path: Path, subject: ErasureSubject) -> bool:
    data = path.read_bytes()
    return any(n.encode("utf-8") in data for n in needles(subject))


def _parquet_candidates(frame: pl.DataFrame, subject: ErasureSubject) -> bool:
    texts = [c for c, t in frame.schema.items() if t == pl.String]
    values = sorted(subject.values | subject.name_parts)
    if not texts or not values:
        return False
    full = sorted(subject.values)
    hit = pl.any_horizontal(
        [
            pl.col(c).is_in(values) | (pl.col(c).str.contains_any(full) if full else pl.lit(False))
            for c in texts
        ]
    )
    return frame.select(hit.any()).item() is True


def scrub_file(path: Path, subject: ErasureSubject) -> int:
    """Rewrite one file without the subject's data; rows (or 1 for a whole file) changed.

    Raises:
        OSError: The file cannot be read or replaced (the caller's transaction is rolled back).
    """
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json", ".xml", ".txt") and not _may_mention(path, subject):
        return 0  # a quick byte scan spares parsing files that cannot hold the person
    if suffix == ".csv":
        return _scrub_csv(path, subject)
    if suffix == ".parquet":
        return _scrub_parquet(path, subject)
    if suffix == ".json":
        return _scrub_json_file(path, subject)
    if suffix in (".xml", ".txt"):
        return _scrub_text_file(path, subject, xml=suffix == ".xml")
    return 0


def files_under(roots: Iterable[Path], *, skip: Iterable[Path] = ()) -> list[Path]:
    """Rewritable files under ``roots`` (recursively), none under ``skip``."""
    skipped = [s.resolve() for s in skip]
    found: set[Path] = set()
    for root in roots:
        if not root.is_dir():
            continue
        for path in root.rglob("*"):
            resolved = path.resolve()
            if (
                path.is_file()
                and path.suffix.lower() in FILE_SUFFIXES
                and not path.name.startswith(".")
                and not any(resolved.is_relative_to(s) for s in skipped)
            ):
                found.add(resolved)
    return sorted(found)
