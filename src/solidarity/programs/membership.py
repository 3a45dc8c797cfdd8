"""How a merge of duplicate persons moves programme memberships (and how unmerge restores them).

Enrolments belong to households. When deduplication merges a person whose
household is left with no active member, that household was the duplicate
registration: its enrolments follow the survivor's household. Where the survivor's
household is already in the same programme, the duplicate enrolment exits with
reason "duplicate registration" instead (one household, one enrolment). The token
returned lists every change so that an unmerge puts each enrolment back.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from solidarity.programs.models import Enrolment

DUPLICATE = "duplicate registration (merged)"


class ProgrammeMemberships:
    """The programmes domain's membership mover for linkage merges."""

    def move(
        self,
        session: Session,
        *,
        merged_person_id: int,
        survivor_person_id: int,
        merged_household_id: int,
        survivor_household_id: int,
        merged_household_emptied: bool,
    ) -> Any:
        """Move or close the emptied household's enrolments; return what changed."""
        del merged_person_id, survivor_person_id
        if not merged_household_emptied or merged_household_id == survivor_household_id:
            return []
        survivor_programmes = set(
            session.scalars(
                select(Enrolment.programme_id).where(
                    Enrolment.household_id == survivor_household_id
                )
            )
        )
        changes: list[dict[str, Any]] = []
        for enrolment in session.scalars(
            select(Enrolment).where(Enrolment.household_id == merged_household_id)
        ):
            before = {
                "id": enrolment.id,
                "household_id": enrolment.household_id,
                "status": enrolment.status,
                "exited_on": enrolment.exited_on.isoformat() if enrolment.exited_on else None,
                "exit_reason": enrolment.exit_reason,
            }
            if enrolment.programme_id in survivor_programmes:
                if enrolment.status != "exited":
                    enrolment.status = "exited"
                    enrolment.exited_on = date.today()
                    enrolment.exit_reason = DUPLICATE
            else:
                enrolment.household_id = survivor_household_id
            changes.append(before)
        session.flush()
        return changes

    def restore(self, session: Session, token: Any) -> None:
        """Put every enrolment the merge changed back as it was."""
        for before in token or []:
            enrolment = session.get(Enrolment, before["id"])
            if enrolment is None:
                continue
            enrolment.household_id = before["household_id"]
            enrolment.status = before["status"]
            enrolment.exited_on = (
                date.fromisoformat(before["exited_on"]) if before["exited_on"] else None
            )
            enrolment.exit_reason = before["exit_reason"]
        session.flush()
