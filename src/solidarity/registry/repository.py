"""Queries of the registry domain (the only module here that builds SELECTs)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from solidarity.registry.models import Area, AreaLevel


class AreaRepository:
    """Areas and their hierarchy."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def by_code(self, code: str) -> Area | None:
        """The area with ``code``, if any."""
        return self.session.scalar(select(Area).where(Area.code == code))

    def codes_to_ids(self) -> dict[str, int]:
        """Every area code mapped to its id."""
        return {code: id_ for code, id_ in self.session.execute(select(Area.code, Area.id))}

    def subtree_ids(self, code: str) -> list[int]:
        """Ids of the area ``code`` and all its descendants."""
        area = self.by_code(code)
        if area is None:
            return []
        rows = self.session.scalars(select(Area.id).where(Area.path.startswith(area.path)))
        return list(rows)

    def list(self, parent_code: str | None = None, level: int | None = None) -> Sequence[Area]:
        """Areas, optionally the children of one area or those of one level."""
        query = select(Area).order_by(Area.path)
        if parent_code is not None:
            parent = self.by_code(parent_code)
            query = query.where(Area.parent_id == (parent.id if parent else -1))
        if level is not None:
            query = query.where(Area.level == level)
        return self.session.scalars(query).all()

    def levels(self) -> Sequence[AreaLevel]:
        """The configured levels, top first."""
        return self.session.scalars(select(AreaLevel).order_by(AreaLevel.level)).all()
