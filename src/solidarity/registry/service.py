"""Rules of the registry domain. Services flush; the entry point commits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy.orm import Session

from solidarity.errors import ValidationFailed
from solidarity.registry.models import Area, AreaLevel
from solidarity.registry.repository import AreaRepository


def load_areas(
    session: Session, rows: Iterable[Mapping[str, str]], *, actor: str = "system"
) -> int:
    """Create or rename areas from rows of code, name, level, level_name, parent_code.

    Parents must come before children (or already exist). Codes are stable: an
    existing code keeps its id and only its name changes.

    Returns:
        The number of areas created.
    """
    repo = AreaRepository(session)
    known = {a.code: a for a in repo.list()}
    levels = {lv.level: lv for lv in repo.levels()}
    created = 0
    errors: list[dict[str, object]] = []
    for number, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        parent_code = (row.get("parent_code") or "").strip()
        level_text = str(row.get("level") or "").strip()
        if not code or not level_text.isdigit():
            errors.append(
                {"row": number, "field": "code/level", "message": "code and level are required"}
            )
            continue
        level = int(level_text)
        parent = known.get(parent_code) if parent_code else None
        if parent_code and parent is None:
            errors.append(
                {
                    "row": number,
                    "field": "parent_code",
                    "value": parent_code,
                    "message": "unknown parent area (list parents before children)",
                }
            )
            continue
        if (parent is None and level != 0) or (parent is not None and parent.level != level - 1):
            errors.append(
                {
                    "row": number,
                    "field": "level",
                    "value": level_text,
                    "message": "level must be one below the parent's (0 at the top)",
                }
            )
            continue
        if level not in levels:
            levels[level] = AreaLevel(level=level, name=row.get("level_name") or f"level {level}")
            session.add(levels[level])
        if code in known:
            known[code].name = row.get("name") or code
            continue
        area = Area(
            code=code,
            name=row.get("name") or code,
            level=level,
            parent_id=parent.id if parent else None,
            path=(parent.path if parent else "/") + code + "/",
            created_by=actor,
            updated_by=actor,
        )
        session.add(area)
        session.flush()
        known[code] = area
        created += 1
    if errors:
        raise ValidationFailed(f"{len(errors)} area row(s) refused", errors)
    session.flush()
    return created
