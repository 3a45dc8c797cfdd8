"""Programmes end to end on both databases: rules, preview, enrolment, cycles, payments."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from lxml import etree
from sqlalchemy import Engine, select, text

from solidarity.db.engine import unit_of_work
from solidarity.errors import ConflictError, PermissionDenied, ValidationFailed
from solidarity.programs import eligibility, pain001, payments, service
from solidarity.programs.models import Enrolment, Entitlement, JourneyEvent
from solidarity.programs.schemas import ProgrammeIn, RuleVersionIn
from solidarity.registry.intake.service import import_files
from solidarity.rules import RuleSyntaxError, RuleTypeError
from tests.registry_files import load_test_areas, registry_files

AS_OF = date(2025, 6, 30)
CHILD = "children >= 1 && coalesce(per_capita_income, 0) < params.threshold"
BENEFIT = (
    "min(children, params.max_children) * params.per_child - unmet_conditions * params.deduction"
)


def _incomes(people: list[dict[str, str]]) -> list[dict[str, str]]:
    # Household i: head earns 100 * i; households 1..6 each have one child.
    for row in people:
        if row["person_key"].endswith("a"):
            row["income"] = str(100 * int(row["household_key"][1:]))
    return people


def seed_registry(engine: Engine, tmp_path: Path, n: int = 6) -> None:
    """Import ``n`` households and date their rows back so past dates see them."""
    load_test_areas(engine)
    files = registry_files(tmp_path, n, persons=_incomes)
    outcome = import_files(engine, list(files), today=date(2025, 1, 1))
    assert outcome.status != "refused"
    with engine.begin() as conn:
        for table in ("household", "person"):
            conn.execute(text(f"UPDATE {table} SET valid_from = '2020-01-01 00:00:00+00:00'"))


def make_programme(engine: Engine, **extra: object) -> None:
    with unit_of_work(engine) as session:
        service.create_programme(
            session,
            ProgrammeIn(code="CG", name="Child grant", ministry="Social Affairs", **extra),  # type: ignore[arg-type]
            "designer",
        )
        service.add_rule_version(
            session,
            "CG",
            RuleVersionIn(
                kind="eligibility",
                expression=CHILD,
                valid_from=date(2024, 1, 1),
                parameters={"threshold": 150},
                test_cases=[
                    {
                        "name": "poor with a child",
                        "household": {},
                        "members": [
                            {"birth_date": "1980-01-01", "relationship": "head", "income": 50},
                            {"birth_date": "2020-01-01", "relationship": "child"},
                        ],
                        "expected": True,
                    }
                ],
            ),
            "designer",
        )
        service.add_rule_version(
            session,
            "CG",
            RuleVersionIn(
                kind="benefit",
                expression=BENEFIT,
                valid_from=date(2024, 1, 1),
                parameters={"max_children": 3, "per_child": 40, "deduction": 10},
            ),
            "designer",
        )


def test_bad_rules_are_refused_with_position(engine: Engine, tmp_path: Path) -> None:
    make_programme(engine)
    cases = {
        "children >= ": RuleSyntaxError,
        "childrn >= 1": RuleTypeError,
        "size / 0 > 1": RuleTypeError,
        "registration_date > 3": RuleTypeError,
    }
    for expression, error in cases.items():
        with unit_of_work(engine) as session, pytest.raises(error) as caught:
            service.add_rule_version(
                session,
                "CG",
                RuleVersionIn(
                    kind="eligibility", expression=expression, valid_from=date(2030, 1, 1)
                ),
                "designer",
            )
        assert caught.value.line == 1 and caught.value.column is not None
    with unit_of_work(engine) as session, pytest.raises(ValidationFailed):
        service.add_rule_version(
            session,
            "CG",
            RuleVersionIn(
                kind="eligibility",
                expression="size > 10",
                valid_from=date(2030, 1, 1),
                test_cases=[
                    {"name": "small", "members": [{"relationship": "head"}], "expected": True}
                ],
            ),
            "designer",
        )
    with unit_of_work(engine) as session, pytest.raises(ConflictError):
        service.add_rule_version(
            session,
            "CG",
            RuleVersionIn(kind="eligibility", expression="size > 1", valid_from=date(2025, 1, 1)),
            "designer",
        )


def test_full_cycle(engine: Engine, tmp_path: Path) -> None:
    seed_registry(engine, tmp_path)
    make_programme(engine, budget_cap=40 * 12 * 3)  # room for three households a year
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        preview = eligibility.preview(session, programme, AS_OF)
    # Per-capita income is 100 * i / 3: households 1-4 are below 150.
    assert preview.eligible == 4
    assert preview.total_cost == 160
    assert sum(r.households for r in preview.by_area) == 4
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        result = eligibility.enrol_eligible(session, programme, AS_OF, "officer")
    assert (result.enrolled, result.waitlisted) == (3, 1)
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        again = eligibility.enrol_eligible(session, programme, AS_OF, "officer")
        waiting = session.scalars(
            select(Enrolment.household_id)
            .where(Enrolment.status == "waitlisted")
            .order_by(Enrolment.waitlist_rank)
        ).all()
    assert (again.enrolled, again.already_enrolled) == (0, 4)
    assert list(waiting) == [4]
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        cycle = payments.create_cycle(
            session, programme, "2025-07", date(2025, 7, 1), date(2025, 7, 31), "officer"
        )
        payments.record_compliance(
            session,
            programme,
            b"household_id,condition,period,met\n2,school,2025-07,false\n",
            "nurse",
        )
        payments.compute_entitlements(session, cycle, "officer")
        cycle_id = cycle.id
        assert cycle.entitlement_count == 3 and cycle.total_amount == 40 + 30 + 40
        with pytest.raises(PermissionDenied):
            payments.approve_cycle(session, cycle, "officer")
        payments.approve_cycle(session, cycle, "supervisor")
        out = payments.generate_payroll(session, cycle, tmp_path / "payroll", "officer")
    first = Path(out.xml_path).read_bytes()
    pain001.validate(first)
    with unit_of_work(engine) as session:
        again_out = payments.generate_payroll(
            session, payments.get_cycle(session, cycle_id), tmp_path / "payroll", "officer"
        )
    assert again_out.xml_sha256 == out.xml_sha256
    broken = etree.fromstring(first)
    ns = {"p": pain001.NAMESPACE}
    broken.find(".//p:GrpHdr/p:MsgId", ns).getparent().remove(
        broken.find(".//p:GrpHdr/p:MsgId", ns)
    )
    with pytest.raises(ValidationFailed):
        pain001.validate(etree.tostring(broken))
    with unit_of_work(engine) as session:
        refs = session.scalars(
            select(Entitlement.payment_reference)
            .where(Entitlement.cycle_id == cycle_id)
            .order_by(Entitlement.id)
        ).all()
    csv = (
        "payment_reference,status,amount,date,reason\n"
        f"{refs[0]},paid,40,2025-07-05,\n"
        f"{refs[1]},failed,30,2025-07-05,account closed\n"
        f"{refs[2]},paid,99,2025-07-05,\n"
        f"{refs[0]},paid,40,2025-07-05,\n"
        "NOPE-1,paid,40,2025-07-05,\n"
    ).encode()
    with unit_of_work(engine) as session:
        imported = payments.import_reconciliation(
            session, payments.get_cycle(session, cycle_id), "r.csv", csv, "officer"
        )
        problems = {(d["row"], d["problem"]) for d in imported.discrepancies}
        import_id = imported.id
        statuses = set(session.scalars(select(Entitlement.status)).all())
    assert problems == {(4, "amount_mismatch"), (5, "duplicate_row"), (6, "unknown_reference")}
    assert statuses == {"sent"}
    with unit_of_work(engine) as session:
        same = payments.import_reconciliation(
            session, payments.get_cycle(session, cycle_id), "r.csv", csv, "officer"
        )
        assert same.id == import_id
        payments.accept_reconciliation(session, import_id, "supervisor")
        with pytest.raises(ConflictError):
            payments.accept_reconciliation(session, import_id, "supervisor")
        events = session.scalars(
            select(JourneyEvent.event).where(JourneyEvent.event == "first_paid")
        ).all()
    assert len(events) == 1
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        nxt = payments.create_cycle(
            session, programme, "2025-08", date(2025, 8, 1), date(2025, 8, 31), "officer"
        )
        payments.compute_entitlements(session, nxt, "officer")
        reissued = session.scalars(
            select(Entitlement.reissue_of).where(
                Entitlement.cycle_id == nxt.id, Entitlement.reissue_of.is_not(None)
            )
        ).all()
    assert len(reissued) == 1


def test_recertification_and_maker_checker(engine: Engine, tmp_path: Path) -> None:
    seed_registry(engine, tmp_path)
    make_programme(engine)
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        eligibility.enrol_eligible(session, programme, AS_OF, "officer")
        service.close_rule_version(
            session,
            service.rule_versions(session, "CG", "eligibility")[0].id,
            date(2026, 1, 1),
            "d",
        )
        service.add_rule_version(
            session,
            "CG",
            RuleVersionIn(
                kind="eligibility",
                expression=CHILD,
                valid_from=date(2026, 1, 1),
                parameters={"threshold": 80},
            ),
            "designer",
        )
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        old = eligibility.explain_household(session, programme, 3, AS_OF)
        new = eligibility.explain_household(session, programme, 3, date(2026, 2, 1))
    assert old.eligible and not new.eligible
    assert "threshold" in new.text
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        batch, reviewed, proposals = eligibility.recertify(
            session, programme, date(2026, 2, 1), "officer"
        )
    assert reviewed == 4 and sorted(p.household_id for p in proposals) == [3, 4]
    with unit_of_work(engine) as session, pytest.raises(PermissionDenied):
        eligibility.decide(
            session, service.get_programme(session, "CG"), "officer", approve=True, batch=batch
        )
    with unit_of_work(engine) as session:
        eligibility.decide(
            session, service.get_programme(session, "CG"), "manager", approve=True, batch=batch
        )
        exited = session.scalars(
            select(Enrolment.household_id).where(Enrolment.status == "exited")
        ).all()
    assert sorted(exited) == [3, 4]
    with unit_of_work(engine) as session:
        programme = service.get_programme(session, "CG")
        req = eligibility.request_change(
            session, programme, 6, "enrol", "flood victim", "officer", AS_OF
        )
        with pytest.raises(PermissionDenied):
            eligibility.decide(session, programme, "officer", approve=True, request_ids=[req.id])
        eligibility.decide(session, programme, "manager", approve=True, request_ids=[req.id])
        manual = session.scalars(select(Enrolment).where(Enrolment.household_id == 6)).one()
    assert manual.status == "active" and manual.explanation is not None
    assert manual.explanation["eligible_by_rule"] is False
