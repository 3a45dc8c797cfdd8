"""Who a payroll pays: each entitlement once, to its household's head, across slices."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import Engine, select, text

from solidarity.db.engine import unit_of_work
from solidarity.programs import eligibility, pain001, payments, service
from solidarity.programs.models import Entitlement
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


def test_each_entitlement_is_paid_once_to_the_first_active_head(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_test_areas(engine)
    outcome = import_files(
        engine, list(registry_files(tmp_path, 7, persons=_phones)), today=date(2025, 1, 1)
    )
    assert outcome.status != "refused"
    with engine.begin() as conn:
        for table in ("household", "person"):  # registered before the cycle
            conn.execute(text(f"UPDATE {table} SET valid_from = '2020-01-01 00:00:00+00:00'"))
        # Household 2 has two heads (its spouse, registered after, too); household 5
        # has none left (its head was removed); household 6's head is a spouse now.
        conn.execute(text("UPDATE person SET relationship = 'head' WHERE source_key = 'P2b'"))
        conn.execute(text("UPDATE person SET status = 'removed' WHERE source_key = 'P5a'"))
        conn.execute(text("UPDATE person SET relationship = 'spouse' WHERE source_key = 'P6a'"))
    with unit_of_work(engine) as session:
        service.create_programme(session, ProgrammeIn(code="UG", name="Universal grant"), "d")
        for kind, expression in (("eligibility", "size >= 1"), ("benefit", "12.5")):
            service.add_rule_version(
                session,
                "UG",
                RuleVersionIn(kind=kind, expression=expression, valid_from=date(2020, 1, 1)),  # type: ignore[arg-type]
                "d",
            )
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "UG")
        eligibility.enrol_eligible(session, programme, TODAY, "officer")
        cycle = payments.create_cycle(
            session, programme, "2025-07", TODAY, date(2025, 7, 31), "officer"
        )
        payments.compute_entitlements(session, cycle, "officer")
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
