"""Payment cycles: entitlements, approval, payroll files, reconciliation, re-issues.

Entitlements come from the benefit formula in force at the start of the cycle's
window, evaluated in bulk over the registry state of that date for the active
enrolments, with ``unmet_conditions`` taken from the compliance records of the
period. Payroll files are written from approved entitlements and are identical
when written again. A provider's reconciliation file is matched row by row and
changes nothing until the matched part is accepted.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Generator
from contextlib import closing
from datetime import UTC, date
from pathlib import Path
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from solidarity.analytics.frames import read_ahead
from solidarity.db.base import utcnow
from solidarity.errors import ConflictError, NotFoundError, PermissionDenied, ValidationFailed
from solidarity.programs import pain001
from solidarity.programs.eligibility import evaluate_population, journey_frame, rules_on
from solidarity.programs.models import (
    ComplianceRecord,
    Entitlement,
    JourneyEvent,
    PaymentCycle,
    Programme,
    ReconciliationImport,
)
from solidarity.programs.repository import ProgrammeRepository, insert_frame
from solidarity.programs.schemas import PayrollOut
from solidarity.registry.bulk import iter_with_heads, open_sealed
from solidarity.registry.models import Person

PAYMENT_STATUSES = ("paid", "failed", "unclaimed")
RECONCILIATION_COLUMNS = ("payment_reference", "status", "amount", "date", "reason")


def get_cycle(session: Session, cycle_id: int) -> PaymentCycle:
    """The cycle with ``cycle_id``.

    Raises:
        NotFoundError: No such cycle.
    """
    cycle = ProgrammeRepository(session).cycle(cycle_id)
    if cycle is None:
        raise NotFoundError(f"payment cycle {cycle_id} does not exist")
    return cycle


def create_cycle(
    session: Session,
    programme: Programme,
    period: str,
    window_start: date,
    window_end: date,
    actor: str,
) -> PaymentCycle:
    """Open a payment cycle for a period.

    Raises:
        ValidationFailed: The window ends before it starts.
        ConflictError: The programme already has a cycle for that period.
    """
    if window_end < window_start:
        raise ValidationFailed(
            "the payment window ends before it starts",
            [{"field": "window_end", "message": "must be on or after window_start"}],
        )
    repo = ProgrammeRepository(session)
    if repo.cycle_by_period(programme.id, period) is not None:
        raise ConflictError(f"'{programme.code}' already has a cycle for {period}")
    cycle = PaymentCycle(
        programme_id=programme.id,
        period=period,
        window_start=window_start,
        window_end=window_end,
        status="draft",
        entitlement_count=0,
        total_amount=0.0,
        created_by=actor,
        updated_by=actor,
    )
    return repo.add(cycle)  # type: ignore[no-any-return]


def compute_entitlements(
    session: Session, cycle: PaymentCycle, actor: str, *, reissue_failed: bool = True
) -> PaymentCycle:
    """Compute (or recompute, before approval) the entitlements of a cycle.

    Active enrolments get the benefit formula's amount (never below zero; zero
    amounts are not paid). Failed payments of earlier cycles not yet re-issued are
    added again with ``reissue_of`` pointing at the failed entitlement.

    Raises:
        ConflictError: The cycle is already approved.
        RuleVersionError: No eligibility rule in force at the window start.
    """
    if cycle.status not in ("draft", "computed"):
        raise ConflictError(f"cycle {cycle.id} is {cycle.status}: entitlements are frozen")
    programme = session.get(Programme, cycle.programme_id)
    assert programme is not None
    repo = ProgrammeRepository(session)
    repo.delete_entitlements(cycle.id)
    rules = rules_on(session, programme, cycle.window_start)
    if rules.benefit is None:
        raise ValidationFailed(
            f"'{programme.code}' has no benefit formula in force on {cycle.window_start}"
        )
    enrolled = repo.enrolment_frame(programme.id, "active")
    unmet = repo.unmet_conditions(programme.id, cycle.period)
    households, _ = evaluate_population(session, rules, unmet=unmet)
    due = (
        enrolled.select("enrolment_id", "household_id")
        .join(
            households.select("household_id", "benefit", "unmet_conditions"),
            on="household_id",
            how="inner",
        )
        .with_columns(pl.col("benefit").round(2).alias("amount"))
        .filter(pl.col("amount") > 0)
        .with_columns(pl.lit(None, dtype=pl.Int64).alias("reissue_of"))
        .select("enrolment_id", "household_id", "amount", "unmet_conditions", "reissue_of")
    )
    if reissue_failed:
        failed = repo.failed_not_reissued(programme.id, cycle.period)
        if failed.height:
            due = pl.concat(
                [
                    due,
                    failed.select(
                        pl.col("enrolment_id").cast(pl.Int64),
                        pl.col("household_id").cast(pl.Int64),
                        "amount",
                        pl.lit(0, dtype=pl.Int64).alias("unmet_conditions"),
                        pl.col("reissue_of").cast(pl.Int64),
                    ),
                ],
                how="vertical_relaxed",
            )
    conn = session.connection()
    from solidarity.registry.intake.writer import allocate_ids

    ids = allocate_ids(conn, Entitlement.__table__, due.height)  # type: ignore[arg-type]
    prefix = f"{programme.code[:12]}-{cycle.period[:7]}-"
    rows = due.with_columns(ids.alias("id")).with_columns(
        (pl.lit(prefix) + pl.col("id").cast(pl.String)).alias("payment_reference"),
        pl.lit(cycle.id).alias("cycle_id"),
        pl.lit(programme.id).alias("programme_id"),
        pl.lit("computed").alias("status"),
        pl.lit(actor).alias("created_by"),
        pl.lit(actor).alias("updated_by"),
    )
    insert_frame(session, Entitlement, rows, with_ids=False)
    repo.refresh_entitlement_statistics(rows.height)  # the payroll joins them next
    cycle.status = "computed"
    cycle.rule_version_id = rules.benefit.version.id
    cycle.entitlement_count = rows.height
    cycle.total_amount = round(float(rows["amount"].sum() or 0.0), 2)
    cycle.computed_by = actor
    cycle.updated_by = actor
    session.flush()
    return cycle


def approve_cycle(session: Session, cycle: PaymentCycle, actor: str) -> PaymentCycle:
    """Approve computed entitlements; the approver must not be who computed them.

    Raises:
        ConflictError: The cycle is not computed.
        PermissionDenied: The approver computed the entitlements.
    """
    if cycle.status != "computed":
        raise ConflictError(f"cycle {cycle.id} is {cycle.status}: only a computed cycle")
    if cycle.computed_by == actor:
        raise PermissionDenied(f"{actor} computed cycle {cycle.id}: another user must approve it")
    ProgrammeRepository(session).set_cycle_entitlement_status(cycle.id, "approved")
    cycle.status = "approved"
    cycle.approved_by = actor
    cycle.approved_at = utcnow()
    cycle.updated_by = actor
    session.flush()
    return cycle


def payroll_slices(session: Session, cycle: PaymentCycle) -> Generator[pl.DataFrame]:
    """A cycle's entitlements with their payees (:func:`open_payees`), a slice at a time.

    The database joins each entitlement to its household's head and streams
    the rows in household order, so the slices are written while the rest is
    still read. Two background threads work ahead of the caller: one reads, one
    decrypts the payees' names and phones. The session is not to be used until
    the slices are exhausted or closed.
    """
    heads = iter_with_heads(
        session.connection(),
        ProgrammeRepository(session).payroll_entitlements(cycle.id),
        "entitlement_id",
        ["given_name", "family_name", "phone"],
        pain001.SLICE_ROWS,
        {"amount": pl.Float64},
    )

    def opened() -> Generator[pl.DataFrame]:
        with closing(heads):
            for part in heads:
                yield open_payees(part)

    return read_ahead(opened(), 1)


def open_payees(frame: pl.DataFrame) -> pl.DataFrame:
    """Decrypt a slice of :func:`payroll_slices` and name its payees and accounts.

    A household without an active head is paid as "Household" to its registry
    number; one without a phone to its registry number too.
    """
    return (
        open_sealed(frame, Person)
        .with_columns(
            pl.concat_str(["given_name", "family_name"], separator=" ")
            .fill_null("Household")
            .alias("beneficiary_name"),
            pl.coalesce(pl.col("phone"), pl.format("HH{}", pl.col("household_id"))).alias(
                "account"
            ),
            pl.when(pl.col("phone").is_not_null())
            .then(pl.lit("MOBILE"))
            .otherwise(pl.lit("REGISTRY"))
            .alias("scheme"),
        )
        .drop("given_name", "family_name", "phone")
    )


def generate_payroll(
    session: Session, cycle: PaymentCycle, out_dir: Path, actor: str, *, debtor_account: str = ""
) -> PayrollOut:
    """Write the payroll CSV and pain.001 XML of an approved cycle (identical on re-runs).

    Both files are written a slice of entitlements at a time (the next slices
    read and decrypted, and the XML validated, in the background meanwhile)
    and renamed into place once complete: a crash or a failure never leaves a
    partial file.

    Raises:
        ConflictError: The cycle is not approved.
        ValidationFailed: The XML does not validate (a bug, never a partial file).
    """
    if cycle.status not in ("approved", "payroll_generated", "reconciled"):
        raise ConflictError(f"cycle {cycle.id} is {cycle.status}: approve it first")
    programme = session.get(Programme, cycle.programme_id)
    assert programme is not None
    count, cents = ProgrammeRepository(session).cycle_control_sum(cycle.id)
    if count == 0:
        raise ConflictError(f"cycle {cycle.id} has no entitlement to pay")
    created = cycle.approved_at or utcnow()
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"payroll_{programme.code}_{cycle.period}"
    csv_path = out_dir / f"{stem}.csv"
    partial_csv = csv_path.with_name(f".{csv_path.name}.partial")
    try:
        with (
            pain001.Writer(
                out_dir / f"{stem}.xml",
                f"{programme.code[:20]}-{cycle.period}"[:35],
                created.astimezone(UTC),
                cycle.window_start,
                pain001.Debtor(
                    programme.ministry or programme.name, debtor_account or programme.code
                ),
                programme.currency,
                f"{programme.name} {cycle.period}",
                count=count,
                total_cents=cents,
            ) as xml,
            partial_csv.open("wb") as csv,
            closing(payroll_slices(session, cycle)) as slices,
        ):
            for payees in slices:
                xml.add(payees)
                payees.select(
                    "payment_reference",
                    "household_id",
                    "beneficiary_name",
                    "account",
                    "scheme",
                    pl.col("amount").round(2),
                    pl.lit(programme.currency).alias("currency"),
                    pl.lit(cycle.period).alias("period"),
                ).write_csv(csv, include_header=csv.tell() == 0)
            sha256 = xml.finish()
        os.replace(partial_csv, csv_path)
    finally:
        partial_csv.unlink(missing_ok=True)
    if cycle.status == "approved":
        cycle.status = "payroll_generated"
        cycle.payroll_generated_at = utcnow()
        cycle.updated_by = actor
        ProgrammeRepository(session).set_cycle_entitlement_status(cycle.id, "sent")
        session.flush()
    return PayrollOut(
        cycle_id=cycle.id,
        csv_path=str(csv_path),
        xml_path=str(xml.path),
        transactions=count,
        total_amount=cents / 100,
        xml_sha256=sha256,
    )


def _problem(row: int, reference: str | None, kind: str, message: str) -> dict[str, Any]:
    return {"row": row, "payment_reference": reference, "problem": kind, "message": message}


def import_reconciliation(
    session: Session, cycle: PaymentCycle, filename: str, content: bytes, actor: str
) -> ReconciliationImport:
    """Match a provider's CSV to the cycle's entitlements; report, change nothing.

    Columns: ``payment_reference, status (paid|failed|unclaimed), amount, date, reason``.
    Re-importing the same file returns the earlier import.

    Raises:
        ConflictError: The cycle has no payroll yet.
        ValidationFailed: The file cannot be read or misses columns.
    """
    if cycle.status not in ("payroll_generated", "reconciled"):
        raise ConflictError(f"cycle {cycle.id} is {cycle.status}: generate the payroll first")
    sha = hashlib.sha256(content).hexdigest()
    repo = ProgrammeRepository(session)
    earlier = repo.reconciliation_by_hash(cycle.id, sha)
    if earlier is not None:
        return earlier
    try:
        rows = pl.read_csv(io.BytesIO(content), infer_schema=False)
    except Exception as exc:  # polars raises several types for unreadable CSV
        raise ValidationFailed(f"cannot read {filename}: {exc}") from exc
    missing = [c for c in RECONCILIATION_COLUMNS[:4] if c not in rows.columns]
    if missing:
        raise ValidationFailed(
            f"{filename} misses column(s) {', '.join(missing)}",
            [{"field": c, "message": "required column"} for c in missing],
        )
    if "reason" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias("reason"))
    rows = rows.with_row_index("row", offset=2).with_columns(
        pl.col("payment_reference").str.strip_chars(),
        pl.col("status").str.strip_chars().str.to_lowercase(),
        pl.col("amount").str.strip_chars().cast(pl.Float64, strict=False).alias("amount_value"),
        pl.col("date").str.strip_chars().str.to_date(strict=False).alias("date_value"),
    )
    programme = session.get(Programme, cycle.programme_id)
    assert programme is not None
    known = repo.entitlements_by_reference(
        programme.id, rows["payment_reference"].drop_nulls().unique().to_list()
    )
    by_reference = {r["payment_reference"]: r for r in known.iter_rows(named=True)}
    problems: list[dict[str, Any]] = []
    matched: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    for row in rows.iter_rows(named=True):
        line, ref = int(row["row"]), row["payment_reference"]
        if not ref:
            problems.append(_problem(line, ref, "missing_reference", "no payment reference"))
            continue
        if ref in seen:
            problems.append(
                _problem(line, ref, "duplicate_row", f"reference already on row {seen[ref]}")
            )
            continue
        seen[ref] = line
        entitlement = by_reference.get(ref)
        if entitlement is None or entitlement["cycle_id"] != cycle.id:
            problems.append(
                _problem(line, ref, "unknown_reference", "no entitlement of this cycle")
            )
            continue
        if row["status"] not in PAYMENT_STATUSES:
            problems.append(
                _problem(
                    line,
                    ref,
                    "invalid_status",
                    f"status '{row['status']}' is not paid, failed or unclaimed",
                )
            )
            continue
        if row["amount_value"] is None or row["date_value"] is None:
            problems.append(_problem(line, ref, "invalid_value", "amount or date unreadable"))
            continue
        if entitlement["status"] == "paid":
            problems.append(_problem(line, ref, "paid_twice", "already recorded as paid"))
            continue
        if row["status"] == "paid" and abs(row["amount_value"] - entitlement["amount"]) > 0.005:
            problems.append(
                _problem(
                    line,
                    ref,
                    "amount_mismatch",
                    f"paid {row['amount_value']:.2f}, entitled {entitlement['amount']:.2f}",
                )
            )
            continue
        matched.append(
            {
                "row": line,
                "entitlement_id": entitlement["entitlement_id"],
                "household_id": entitlement["household_id"],
                "payment_reference": ref,
                "status": row["status"],
                "amount": row["amount_value"],
                "date": row["date_value"].isoformat(),
                "reason": row["reason"],
            }
        )
    record = ReconciliationImport(
        cycle_id=cycle.id,
        filename=filename,
        file_sha256=sha,
        status="pending",
        rows=rows.height,
        matched=len(matched),
        discrepancies=problems,
        matched_rows=matched,
        created_by=actor,
        updated_by=actor,
    )
    return repo.add(record)  # type: ignore[no-any-return]


def accept_reconciliation(session: Session, import_id: int, actor: str) -> ReconciliationImport:
    """Apply the matched rows of an import: payment statuses and first-paid events.

    Raises:
        NotFoundError: No such import.
        ConflictError: It was already accepted.
    """
    repo = ProgrammeRepository(session)
    record = repo.reconciliation(import_id)
    if record is None:
        raise NotFoundError(f"reconciliation import {import_id} does not exist")
    if record.status == "accepted":
        raise ConflictError(f"reconciliation import {import_id} was already accepted")
    cycle = get_cycle(session, record.cycle_id)
    matched = record.matched_rows
    repo.update_entitlements(
        [
            {
                "id": m["entitlement_id"],
                "status": m["status"],
                "paid_amount": m["amount"] if m["status"] == "paid" else None,
                "paid_on": date.fromisoformat(m["date"]) if m["status"] == "paid" else None,
                "failure_reason": None if m["status"] == "paid" else m["reason"],
                "updated_by": actor,
            }
            for m in matched
        ]
    )
    paid = [m for m in matched if m["status"] == "paid"]
    if paid:
        first = paid
        events = (
            pl.DataFrame(
                {
                    "household_id": [int(m["household_id"]) for m in first],
                    "event_date": [date.fromisoformat(m["date"]) for m in first],
                }
            )
            .sort("event_date")
            .unique("household_id", keep="first")
        )
        already = _first_paid(session, cycle.programme_id, events["household_id"].to_list())
        events = events.filter(~pl.col("household_id").is_in(already))
        if events.height:
            frame = journey_frame(
                cycle.programme_id, events["household_id"], "first_paid", date.today(), None, actor
            ).with_columns(events["event_date"].alias("event_date"))
            insert_frame(session, JourneyEvent, frame, with_ids=True)
    record.status = "accepted"
    record.accepted_by = actor
    record.accepted_at = utcnow()
    cycle.status = "reconciled"
    cycle.updated_by = actor
    session.flush()
    return record


def _first_paid(session: Session, programme_id: int, household_ids: list[int]) -> list[int]:
    from sqlalchemy import select

    found: list[int] = []
    for start in range(0, len(household_ids), 5000):
        chunk = household_ids[start : start + 5000]
        found += session.scalars(
            select(JourneyEvent.household_id).where(
                JourneyEvent.programme_id == programme_id,
                JourneyEvent.event == "first_paid",
                JourneyEvent.household_id.in_(chunk),
            )
        ).all()
    return found


def record_compliance(session: Session, programme: Programme, content: bytes, actor: str) -> int:
    """Store compliance records from CSV (``household_id, person_id, condition, period, met``).

    Raises:
        ValidationFailed: Missing columns or unreadable values, by row.
    """
    try:
        rows = pl.read_csv(io.BytesIO(content), infer_schema=False)
    except Exception as exc:  # polars raises several types for unreadable CSV
        raise ValidationFailed(f"cannot read the compliance file: {exc}") from exc
    missing = [c for c in ("household_id", "condition", "period", "met") if c not in rows.columns]
    if missing:
        raise ValidationFailed(f"the compliance file misses column(s) {', '.join(missing)}")
    if "person_id" not in rows.columns:
        rows = rows.with_columns(pl.lit(None, dtype=pl.String).alias("person_id"))
    typed = rows.with_row_index("row", offset=2).with_columns(
        pl.col("household_id").cast(pl.Int64, strict=False),
        pl.col("person_id").cast(pl.Int64, strict=False),
        pl.col("met")
        .str.to_lowercase()
        .replace_strict(
            {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False},
            default=None,
            return_dtype=pl.Boolean,
        ),
    )
    bad = typed.filter(pl.col("household_id").is_null() | pl.col("met").is_null())
    if bad.height:
        raise ValidationFailed(
            f"{bad.height} compliance row(s) are not valid",
            [
                {"row": r, "field": "household_id/met", "message": "not a number / not yes-no"}
                for r in bad["row"].to_list()[:100]
            ],
        )
    frame = typed.select(
        pl.lit(programme.id).alias("programme_id"),
        "household_id",
        "person_id",
        "condition",
        "period",
        "met",
        pl.lit(actor).alias("created_by"),
        pl.lit(actor).alias("updated_by"),
    )
    insert_frame(session, ComplianceRecord, frame, with_ids=True)
    session.flush()
    return frame.height
