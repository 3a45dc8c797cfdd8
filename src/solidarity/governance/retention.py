"""Retention periods per record type, and anonymising what is past them. Flush, never commit.

The periods are data (``retention.yaml`` beside this module, or the file named by
``SOLIDARITY_RETENTION_FILE``). Applying them anonymises through the same code as
an erasure request, and writes one ``retention.applied`` entry per record type to
the audit trail naming the records handled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from sqlalchemy.orm import Session

from solidarity.config import get_settings
from solidarity.errors import SolidarityError
from solidarity.governance import audit
from solidarity.governance.erasure import erase
from solidarity.governance.repository import RetentionRepository
from solidarity.registry import erasure as registry_erasure
from solidarity.registry.erasure import ErasureSubject

DEFAULT_FILE = Path(__file__).with_name("retention.yaml")
RECORD_TYPES = (
    "person_left",
    "household_closed",
    "change_request_payload",
    "auth_session",
    "audit_entry",
)
_PERIOD = re.compile(r"^(\d+)([ymd])$")


class RetentionConfigError(SolidarityError):
    """The retention file is malformed."""

    exit_code = 2


@dataclass(frozen=True)
class RetentionRule:
    """How long one record type is kept and what happens after."""

    record_type: str
    period: str | None
    action: str
    applies_to: str

    def cutoff(self, now: datetime) -> datetime | None:
        """Records last changed before this instant are past retention (``None``: kept)."""
        if self.period is None:
            return None
        match = _PERIOD.match(self.period)
        assert match is not None  # checked on load
        count, unit = int(match.group(1)), match.group(2)
        if unit == "d":
            return now - timedelta(days=count)
        if unit == "m":
            return now - timedelta(days=30 * count)
        try:
            return now.replace(year=now.year - count)
        except ValueError:  # 29 February
            return now.replace(year=now.year - count, day=28)


def load_rules(path: Path | None = None) -> dict[str, RetentionRule]:
    """The retention rules of the deployment.

    Raises:
        RetentionConfigError: Naming the file, the record type and what is wrong.
    """
    source = path or get_settings().retention_file or DEFAULT_FILE
    try:
        data = yaml.safe_load(Path(source).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise RetentionConfigError(f"{source}: cannot read the retention file: {exc}") from None
    types = data.get("record_types")
    if not isinstance(types, dict):
        raise RetentionConfigError(f"{source}: expected a 'record_types' mapping")
    rules = {}
    for name, spec in types.items():
        where = f"{source}: record_types.{name}"
        if name not in RECORD_TYPES:
            raise RetentionConfigError(
                f"{where}: unknown record type; use {', '.join(RECORD_TYPES)}"
            )
        period = spec.get("period") if isinstance(spec, dict) else None
        if period is not None and not _PERIOD.match(str(period)):
            raise RetentionConfigError(f"{where}.period: {period!r} is not like 10y, 6m or 90d")
        action = spec.get("action", "anonymise") if isinstance(spec, dict) else "keep"
        rules[name] = RetentionRule(
            name,
            None if period is None else str(period),
            str(action),
            str(spec.get("applies_to", "")) if isinstance(spec, dict) else "",
        )
    return rules


@dataclass
class RetentionOutcome:
    """What is (or was) past retention for one record type."""

    record_type: str
    period: str | None
    cutoff: datetime | None
    ids: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def apply(
    session: Session,
    *,
    actor: str,
    dry_run: bool = True,
    now: datetime | None = None,
    limit: int = 10_000,
    rules: dict[str, RetentionRule] | None = None,
) -> list[RetentionOutcome]:
    """List (``dry_run``) or anonymise the records past retention, at most ``limit`` per type.

    Args:
        session: The unit of work.
        actor: Who runs it (kept in the audit trail).
        dry_run: Only list what is due.
        now: The moment to judge from (default: now).
        limit: Records handled per type in one run (run again for the rest).
        rules: The rules (default: :func:`load_rules`).
    """
    now = now or datetime.now(UTC)
    rules = rules if rules is not None else load_rules()
    outcomes = []
    for name in RECORD_TYPES:
        rule = rules.get(name)
        if rule is None:
            continue
        cutoff = rule.cutoff(now)
        outcome = RetentionOutcome(name, rule.period, cutoff)
        outcomes.append(outcome)
        if cutoff is None or rule.action == "keep":
            continue
        if name == "person_left":
            due = registry_erasure.persons_past_retention(session, cutoff, limit)
            outcome.ids = [str(i) for i in due]
            if not dry_run and due:
                outcome.rows = erase(session, registry_erasure.subject_of_persons(session, due))
        elif name == "household_closed":
            closed = registry_erasure.households_past_retention(session, cutoff, limit)
            outcome.ids = [str(i) for i in closed]
            if not dry_run and closed:
                subject = ErasureSubject([], closed, related_household_ids=closed)
                registry_erasure.add_addresses(session, subject)
                outcome.rows = erase(session, subject)
        elif name == "change_request_payload":
            requests = registry_erasure.change_requests_past_retention(session, cutoff, limit)
            outcome.ids = [str(r.id) for r in requests]
            if not dry_run:
                changed = sum(registry_erasure.scrub_payload_of(r) for r in requests)
                outcome.rows = {"change_request": changed}
        elif name == "auth_session":
            repo = RetentionRepository(session)
            sessions = list(repo.sessions_ended_before(cutoff))[:limit]
            outcome.ids = [str(s.id) for s in sessions]
            if not dry_run:
                repo.delete(sessions)
                outcome.rows = {"auth_session": len(sessions)}
        if not dry_run and outcome.ids:
            audit.record(
                session,
                actor=actor,
                action="retention.applied",
                object_type=name,
                details={
                    "period": rule.period,
                    "cutoff": cutoff.isoformat(),
                    "ids": outcome.ids,
                    "rows": outcome.rows,
                },
            )
    session.flush()
    return outcomes
