"""Who a payroll pays: each entitlement once, to its household's head, across slices."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import Connection, Engine, select, text
from sqlalchemy.orm import Session

from solidarity.db.engine import unit_of_work
from solidarity.programs import eligibility, pain001, payments, service
from solidarity.programs.models import Entitlement, PaymentCycle
from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn
from solidarity.registry.intake.service import import_files
from solidarity.registry.models import Person
from tests.registry_files import load_test_areas, registry_files

TODAY = date(2025, 7, 1)


def _phones(people: list[dict[str, str]]) -> list[dict[str, str]]:
    for row in people:
        i = int(row["household_key"][1:])
        if row["relationship"] == "head" and i != 3:  # household 3's head has no phone
            row["phone"] = f"+22170000{i:04d}"
    return people


def _universal_grant(engine: Engine, benefit: str) -> None:
    """Programme UG: every household, ``benefit`` each."""
    with unit_of_work(engine) as session:
        service.create_programme(session, ProgrammeIn(code="UG", name="Universal grant"), "d")
        for kind, expression in (("eligibility", "size >= 1"), ("benefit", benefit)):
            service.add_rule_version(
                session,
                "UG",
                RuleVersionIn(kind=kind, expression=expression, valid_from=date(2020, 1, 1)),  # type: ignore[arg-type]
                "d",
            )


def _registered_before_the_cycle(conn: Connection) -> None:
    for table in ("household", "person"):
        conn.execute(text(f"UPDATE {table} SET valid_from = '2020-01-01 00:00:00+00:00'"))


def _computed_cycle(session: Session) -> PaymentCycle:
    """Every household enrolled in UG and a cycle of July 2025 computed."""
    programme = service.get_programme(session, "UG")
    eligibility.enrol_eligible(session, programme, TODAY, "officer")
    cycle = payments.create_cycle(
        session, programme, "2025-07", TODAY, date(2025, 7, 31), "officer"
    )
    payments.compute_entitlements(session, cycle, "officer")
    return cycle


def test_each_entitlement_is_paid_once_to_the_first_active_head(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_test_areas(engine)
    outcome = import_files(
        engine, list(registry_files(tmp_path, 7, persons=_phones)), today=date(2025, 1, 1)
    )
    assert outcome.status != "refused"
    with engine.begin() as conn:
        _registered_before_the_cycle(conn)
        # Household 2 has two heads (its spouse, registered after, too); household 5
        # has none left (its head was removed); household 6's head is a spouse now.
        conn.execute(text("UPDATE person SET relationship = 'head' WHERE source_key = 'P2b'"))
        conn.execute(text("UPDATE person SET status = 'removed' WHERE source_key = 'P5a'"))
        conn.execute(text("UPDATE person SET relationship = 'spouse' WHERE source_key = 'P6a'"))
    _universal_grant(engine, "12.5")
    with unit_of_work(engine) as session:
        cycle = _computed_cycle(session)
        payments.approve_cycle(session, cycle, "supervisor")
        # Slices of two rows: household 2's second head row starts the second
        # batch read (it must not be paid twice), and every slice is validated.
        monkeypatch.setattr(pain001, "SLICE_ROWS", 2)
        out = payments.generate_payroll(session, cycle, tmp_path / "payroll", "officer")
        references = dict(
            session.execute(
                select(Entitlement.household_id, Entitlement.payment_reference).where(
                    Entitlement.cycle_id == cycle.id
                )
            ).all()
        )
        heads = {
            p.household_id: p
            for p in session.scalars(
                select(Person)
                .where(Person.relationship == "head", Person.status == "active")
                .order_by(Person.id.desc())
            )
        }  # lowest person id last, so it wins
    assert len(references) == 7 and out.transactions == 7 and out.total_amount == 87.5
    assert 5 not in heads and 6 not in heads and heads[2].given_name == "Amina"
    with Path(out.csv_path).open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["household_id"]) for r in rows] == sorted(references)
    assert {r["payment_reference"]: int(r["household_id"]) for r in rows} == {
        ref: hh for hh, ref in references.items()
    }
    for row in rows:
        household = int(row["household_id"])
        head = heads.get(household)
        if head is None:
            assert (row["beneficiary_name"], row["account"], row["scheme"]) == (
                "Household",
                f"HH{household}",
                "REGISTRY",
            )
        elif head.phone is None:
            assert row["beneficiary_name"] == f"{head.given_name} {head.family_name}"
            assert (row["account"], row["scheme"]) == (f"HH{household}", "REGISTRY")
        else:
            assert row["beneficiary_name"] == f"{head.given_name} {head.family_name}"
            assert (row["account"], row["scheme"]) == (head.phone, "MOBILE")
    document = Path(out.xml_path).read_bytes()
    pain001.validate(document)
    ns = {"p": pain001.NAMESPACE}
    tree = etree.fromstring(document)
    assert tree.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=ns) == "7"
    assert tree.findtext(".//p:GrpHdr/p:CtrlSum", namespaces=ns) == "87.50"
    assert [e.text for e in tree.findall(".//p:CdtTrfTxInf/p:PmtId/p:EndToEndId", ns)] == [
        r["payment_reference"] for r in rows
    ]


def _planner_rows(engine: Engine, conn: Connection, table: str) -> float | None:
    """The row count the planner believes ``table`` has (None: no statistics kept)."""
    if engine.dialect.name == "sqlite":
        has_stats = conn.execute(
            text("SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'")
        ).scalar_one()
        return None if not has_stats else -2.0  # SQLite must not be analysed
    return float(
        conn.execute(
            text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
        ).scalar_one()
    )


def test_large_writes_refresh_the_planners_statistics_on_postgresql(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A payroll's join planned on no statistics ran for minutes on PostgreSQL."""
    from solidarity.db import base

    monkeypatch.setattr(base, "BULK_ROWS", 3)  # "large" from 3 rows: 9 persons, 3 entitlements
    load_test_areas(engine)
    import_files(engine, list(registry_files(tmp_path, 3)), today=date(2025, 1, 1))
    with engine.connect() as conn:
        person_rows = _planner_rows(engine, conn, "person")
    with engine.begin() as conn:
        _registered_before_the_cycle(conn)
    _universal_grant(engine, "10")
    with unit_of_work(engine) as session:
        _computed_cycle(session)
        entitlement_rows = _planner_rows(engine, session.connection(), "entitlement")
    if engine.dialect.name == "sqlite":
        assert person_rows is None and entitlement_rows is None
    else:
        assert (person_rows, entitlement_rows) == (9.0, 3.0)


def test_entitlement_pages_keep_room_for_status_updates_on_postgresql(engine: Engine) -> None:
    """Migration 0015: approval and payroll updates stay on their page (no index writes)."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":  # updates in place; no storage parameter
            assert "fillfactor" not in str(
                conn.execute(text("SELECT sql FROM sqlite_master WHERE name = 'entitlement'"))
                .scalar_one()
                .lower()
            )
            return
        options = conn.execute(
            text("SELECT reloptions FROM pg_class WHERE relname = 'entitlement'")
        ).scalar_one()
    assert options == ["fillfactor=50"]
