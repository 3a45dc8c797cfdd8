"""Institutional map from YAML with its flags, results framework, scorecard and action plan."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from solidarity.coherence import institutions, plan
from solidarity.coherence import service as diagnostics
from solidarity.coherence.errors import InvalidCoherenceInput
from solidarity.coherence.schemas import ActionUpdate, AssessmentIn, NoteIn, ScoreIn
from solidarity.errors import StaleVersionError
from tests.integration.test_coherence_diagnostics import AS_OF, _build

YAML = """
agencies:
  - {code: MGSW, name: Ministry of Gender and Social Welfare, mandate: social assistance}
  - {code: SSA, name: Social Security Agency, kind: agency, mandate: contributory pensions}
  - {code: MOF, name: Ministry of Finance}
functions:
  - {programme: OAP, function: payment, agency: MGSW}
  - {programme: OAP, function: payment, agency: SSA}
  - {programme: OAP, function: eligibility, agency: MGSW}
bodies:
  - code: IMC
    name: Inter-ministerial committee on social protection
    members: [{agency: MGSW, role: chair}, {agency: SSA}]
    meetings:
      - {held_on: 2025-03-01, attendees: [MGSW, SSA], decisions: harmonise pension rules}
agreements:
  - {code: MOU-1, parties: [MGSW, SSA], scope: pension data, signed_on: 2020-01-01,
     expires_on: 2024-12-31}
  - {code: MOU-2, kind: data_sharing, parties: [MGSW, MOF], expires_on: 2027-01-01}
focal_persons:
  - {agency: MGSW, name: A. Focal, email: a@example.org}
definitions:
  - {programme: OAP, concept: household, definition: people who share a dwelling}
  - {programme: CSP, concept: household, definition: People who share meals}
  - {programme: CGR, concept: child, definition: under 15}
relations:
  - {kind: mutually_exclusive, programme_a: CGR, programme_b: SBY}
indicators:
  - {code: COV, name: System coverage, formula: coverage.system, baseline_value: 0.5,
     baseline_year: 2024, targets: {2025: 0.75, 2026: 1.0}, responsible_agency: MGSW}
  - {code: IMC-MEET, name: Committee meetings a year, baseline_value: 1, baseline_year: 2024,
     targets: {2026: 4}}
actions:
  - {code: A1, title: Close the 15-year-old gap, finding: "rules: CGR -> SBY gap", agency: MGSW,
     due_on: 2025-03-31}
  - {code: A2, title: Renew MOU-1, finding: "institutions: MOU-1 expired", agency: SSA,
     due_on: 2025-12-31}
  - {code: A3, title: Done already, due_on: 2025-01-31, status: done}
"""


@pytest.fixture
def country(session: Session) -> dict[str, int]:
    return _build(session)


def test_yaml_import_and_institutional_flags(
    session: Session, country: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "coherence.yaml"
    path.write_text(YAML, encoding="utf-8")
    summary = institutions.import_file(session, path, actor="analyst")
    assert summary.created["agencies"] == 3
    assert summary.created["functions"] == 3
    again = institutions.import_file(session, path, actor="analyst")
    assert again.created == {} and again.updated["agencies"] == 3
    session.commit()
    out = institutions.institutional_map(session, AS_OF)
    flags = {(f["kind"], f["subject"]) for f in out.flags}
    assert ("function_duplicated", "OAP/payment") in flags
    assert ("function_unassigned", "OAP/grievance") in flags
    assert ("function_unassigned", "OAP/eligibility") not in flags
    assert ("agreement_expired", "MOU-1") in flags
    assert ("agreement_expired", "MOU-2") not in flags
    assert ("no_focal_person", "SSA") in flags
    assert ("no_focal_person", "MGSW") not in flags
    [imc] = out.bodies
    assert imc["last_meeting"] == date(2025, 3, 1)
    assert {m["agency"] for m in imc["members"]} == {"MGSW", "SSA"}

    from solidarity.coherence.consistency import consistency_of

    consistency = consistency_of(diagnostics.Context(session, AS_OF))
    household = next(d for d in consistency.definitions if d["concept"] == "household")
    assert household["differs"] is True and household["variants"] == 2
    child = next(d for d in consistency.definitions if d["concept"] == "child")
    assert child["differs"] is False


def test_bad_yaml_names_the_field(session: Session, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("functions:\n  - {programme: OAP, function: flying, agency: X}\n")
    with pytest.raises(InvalidCoherenceInput) as caught:
        institutions.import_file(session, path, actor="analyst")
    assert caught.value.errors[0]["field"] == "functions.0.function"


def test_framework_scorecard_and_actions(
    session: Session, country: dict[str, int], tmp_path: Path
) -> None:
    path = tmp_path / "coherence.yaml"
    path.write_text(YAML, encoding="utf-8")
    institutions.import_file(session, path, actor="analyst")
    ctx = diagnostics.Context(session, AS_OF)
    indicators = {i.code: i for i in plan.compute_values(session, ctx, actor="analyst")}
    # System coverage is 4 / 4 in the hand-built country (see the diagnostics tests).
    assert indicators["COV"].latest == pytest.approx(1.0)
    assert indicators["COV"].values[0]["source"] == "computed"
    # Progress from baseline 0.5 towards the 2025 target 0.75: (1.0 - 0.5) / 0.25 = 2.
    assert indicators["COV"].progress == pytest.approx(2.0)
    assert indicators["COV"].on_track is True
    assert indicators["IMC-MEET"].latest is None

    body = AssessmentIn(
        as_of=AS_OF, scores={"grievance": ScoreIn(score=3, comment="GRM pilot in two districts")}
    )
    card = plan.assess(session, ctx, body, actor="assessor")
    scores = {s.dimension: s for s in card.scores}
    assert len(scores) == 10
    assert scores["grievance"].score == 3 and scores["grievance"].suggested_score == 1
    assert scores["coverage"].score == 4
    assert scores["coverage"].evidence["coverage.system"] == pytest.approx(1.0)
    # One hand-over gap, one pair eligible for both exclusive programmes: 2 problems.
    assert scores["rules"].evidence["rules.problems"] == 2
    assert scores["rules"].score == 2

    actions = {a.code: a for a in plan.list_actions(session, AS_OF)}
    assert actions["A1"].overdue is True
    assert actions["A2"].overdue is False
    assert actions["A3"].overdue is False
    assert [a.code for a in plan.list_actions(session, AS_OF, overdue_only=True)] == ["A1"]
    plan.add_note(
        session, "A1", NoteIn(noted_on=AS_OF, note="draft decree", progress=60),
        actor="analyst", as_of=AS_OF,
    )  # fmt: skip
    done = plan.update_action(
        session, "A1", ActionUpdate(version=1, status="done"), actor="analyst", as_of=AS_OF
    )
    assert done.overdue is False and done.progress == 60
    with pytest.raises(StaleVersionError):
        plan.update_action(
            session, "A1", ActionUpdate(version=1, status="planned"), actor="x", as_of=AS_OF
        )
