"""``/api/v1/coherence``: diagnostics, institutional map, results framework, scorecard, plan.

Routes are thin: they open the scope and call the service. Reads need the
coherence read permission, changes the manage permission (see ``READ``/``MANAGE``).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.orm import Session

from solidarity.coherence import institutions, plan
from solidarity.coherence import service as diagnostics
from solidarity.coherence.schemas import (
    ActionIn,
    ActionOut,
    ActionUpdate,
    AgencyIn,
    AssessmentIn,
    AssessmentOut,
    BodyIn,
    ConsistencyOut,
    DefinitionIn,
    FiscalOut,
    FocalPersonIn,
    FunctionIn,
    IndicatorIn,
    IndicatorOut,
    IndicatorValueIn,
    InstitutionalMapOut,
    JourneyOut,
    MemorandumIn,
    NoteIn,
    OverlapsOut,
    PolicyMapOut,
    ReferralLinkageOut,
    RelationIn,
    RuleCoherenceOut,
    TargetIn,
    TargetingOut,
)
from solidarity.governance.principal import Principal
from solidarity.web.concurrency import IfMatch, tag, with_version
from solidarity.web.deps import get_session, require

# Use the coherence permissions once roles.yaml defines them; until then the
# programme permissions guard the same analyses.
READ = "coherence.read"
MANAGE = "coherence.manage"

router = APIRouter(prefix="/api/v1/coherence", tags=["coherence"])

Dimension = Literal["area", "urban_rural", "head_sex", "head_age_band", "disability", "quintile"]


def scope(
    session: Session = Depends(get_session),
    as_of: date | None = Query(None, description="Date the figures are computed as of (today)."),
    area: str | None = Query(None, description="Area code: only households of this subtree."),
    area_level: int = Query(0, ge=0, description="Area level of the area breakdowns."),
) -> diagnostics.Context:
    """The diagnostic scope of a request."""
    return diagnostics.Context(session, as_of or date.today(), area, area_level)


@router.get("/policy-map")
def get_policy_map(
    ctx: diagnostics.Context = Depends(scope), _p: Principal = Depends(require(READ))
) -> PolicyMapOut:
    """Programmes on the life-cycle x risk x instrument grid; empty and crowded cells."""
    return diagnostics.policy_map_of(ctx)


@router.get("/overlaps")
def get_overlaps(
    ctx: diagnostics.Context = Depends(scope), _p: Principal = Depends(require(READ))
) -> OverlapsOut:
    """Pairwise overlaps, Jaccard, multiplicity, combinations, mutual-exclusion violations."""
    return diagnostics.overlaps_of(ctx)


@router.get("/targeting")
def get_targeting(
    ctx: diagnostics.Context = Depends(scope),
    by: Dimension | None = None,
    _p: Principal = Depends(require(READ)),
) -> TargetingOut:
    """Coverage, exclusion and inclusion errors; uncovered vulnerable households; worst areas."""
    return diagnostics.targeting_of(ctx, by)


@router.get("/fiscal")
def get_fiscal(
    ctx: diagnostics.Context = Depends(scope), _p: Principal = Depends(require(READ))
) -> FiscalOut:
    """Budget, spending and unit cost by programme, ministry, funding source and area; incidence."""
    return diagnostics.fiscal_of(ctx)


@router.get("/journey")
def get_journey(
    ctx: diagnostics.Context = Depends(scope),
    by: Dimension | None = None,
    _p: Principal = Depends(require(READ)),
) -> JourneyOut:
    """Funnel, days per stage, drop-off reasons and repeated steps."""
    return diagnostics.journey_of(ctx, by)


@router.get("/rules")
def get_rule_coherence(
    ctx: diagnostics.Context = Depends(scope), _p: Principal = Depends(require(READ))
) -> RuleCoherenceOut:
    """Age bands, hand-over gaps, contradictions, eligibility for exclusive programmes."""
    return diagnostics.rules_of(ctx)


@router.get("/referrals")
def get_referral_linkage(
    ctx: diagnostics.Context = Depends(scope), _p: Principal = Depends(require(READ))
) -> ReferralLinkageOut:
    """Cross-sectoral linkage: referrals sent, accepted, served, days to service."""
    return diagnostics.referrals_of(ctx)


@router.get("/consistency")
def get_consistency(
    ctx: diagnostics.Context = Depends(scope), _p: Principal = Depends(require(READ))
) -> ConsistencyOut:
    """Definitions compared across programmes and missing-data rates of the registry."""
    from solidarity.coherence.consistency import consistency_of

    return consistency_of(ctx)


@router.get("/institutions")
def get_institutional_map(
    session: Session = Depends(get_session),
    as_of: date | None = None,
    _p: Principal = Depends(require(READ)),
) -> InstitutionalMapOut:
    """Agencies, functions, bodies, agreements, focal persons and the flags on them."""
    return institutions.institutional_map(session, as_of or date.today())


@router.put("/agencies", status_code=204)
def put_agency(
    body: AgencyIn, session: Session = Depends(get_session), p: Principal = Depends(require(MANAGE))
) -> Response:
    """Create or update an agency and its mandate."""
    institutions.upsert_agency(session, body, actor=p.username)
    return Response(status_code=204)


@router.post("/functions", status_code=204)
def post_function(
    body: FunctionIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> Response:
    """Record that an agency performs a delivery function for a programme."""
    institutions.add_function(session, body, actor=p.username)
    return Response(status_code=204)


@router.put("/bodies", status_code=204)
def put_body(
    body: BodyIn, session: Session = Depends(get_session), p: Principal = Depends(require(MANAGE))
) -> Response:
    """Create or update a coordination body with members and meetings."""
    institutions.upsert_body(session, body, actor=p.username)
    return Response(status_code=204)


@router.put("/agreements", status_code=204)
def put_agreement(
    body: MemorandumIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> Response:
    """Create or update a memorandum or data sharing agreement between agencies."""
    institutions.upsert_memorandum(session, body, actor=p.username)
    return Response(status_code=204)


@router.put("/focal-persons", status_code=204)
def put_focal_person(
    body: FocalPersonIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> Response:
    """Create or update an agency's focal person."""
    institutions.upsert_focal_person(session, body, actor=p.username)
    return Response(status_code=204)


@router.put("/definitions", status_code=204)
def put_definition(
    body: DefinitionIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> Response:
    """Record a programme's definition of a concept in its data dictionary."""
    institutions.upsert_definition(session, body, actor=p.username)
    return Response(status_code=204)


@router.put("/relations", status_code=204)
def put_relation(
    body: RelationIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> Response:
    """Declare two programmes mutually exclusive, or a hand-over from one to the other."""
    institutions.upsert_relation(session, body, actor=p.username)
    return Response(status_code=204)


@router.put("/targets", status_code=204)
def put_target(
    body: TargetIn, session: Session = Depends(get_session), p: Principal = Depends(require(MANAGE))
) -> Response:
    """Declare a target population of a programme or of the whole system."""
    institutions.add_target(session, body, actor=p.username)
    return Response(status_code=204)


@router.get("/indicators")
def list_indicators(
    session: Session = Depends(get_session), _p: Principal = Depends(require(READ))
) -> list[IndicatorOut]:
    """The results framework with progress."""
    return plan.list_indicators(session)


@router.put("/indicators", status_code=204)
def put_indicator(
    body: IndicatorIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> Response:
    """Create or update an indicator and its targets."""
    plan.upsert_indicator(session, body, actor=p.username)
    return Response(status_code=204)


@router.post("/indicators/{code}/values")
def add_indicator_value(
    code: str,
    body: IndicatorValueIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> IndicatorOut:
    """Enter an observed value of an indicator."""
    return plan.add_value(session, code, body, actor=p.username)


@router.post("/indicators/compute")
def compute_indicators(
    ctx: diagnostics.Context = Depends(scope), p: Principal = Depends(require(MANAGE))
) -> list[IndicatorOut]:
    """Compute and store the value of every indicator that has a formula."""
    return plan.compute_values(ctx.session, ctx, actor=p.username)


@router.post("/assessments", status_code=201)
def create_assessment(
    body: AssessmentIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> AssessmentOut:
    """Score every dimension (suggested from the data unless the assessor gives a score)."""
    ctx = diagnostics.Context(session, body.as_of, body.area_code)
    return plan.assess(session, ctx, body, actor=p.username)


@router.get("/assessments/latest")
def get_latest_assessment(
    session: Session = Depends(get_session), _p: Principal = Depends(require(READ))
) -> AssessmentOut | None:
    """The newest scorecard."""
    return plan.get_assessment(session)


@router.get("/actions")
def list_actions(
    session: Session = Depends(get_session),
    as_of: date | None = None,
    overdue: bool = False,
    _p: Principal = Depends(require(READ)),
) -> list[ActionOut]:
    """The action plan; ``overdue=true`` keeps overdue actions only."""
    return plan.list_actions(session, as_of or date.today(), overdue_only=overdue)


@router.post("/actions", status_code=201)
def create_action(
    body: ActionIn,
    response: Response,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> ActionOut:
    """Add an action to the plan (``ETag``: its version)."""
    return tag(response, plan.create_action(session, body, actor=p.username, as_of=date.today()))


@router.patch("/actions/{code}")
def update_action(
    code: str,
    body: ActionUpdate,
    response: Response,
    expected: IfMatch,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> ActionOut:
    """Change an action; ``If-Match`` is the ETag (version) read (optimistic locking)."""
    done = plan.update_action(
        session, code, with_version(body, expected), actor=p.username, as_of=date.today()
    )
    return tag(response, done)


@router.post("/actions/{code}/notes")
def add_action_note(
    code: str,
    body: NoteIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(MANAGE)),
) -> ActionOut:
    """Add a progress note to an action."""
    return plan.add_note(session, code, body, actor=p.username, as_of=date.today())


@router.get(
    "/report",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/html": {"schema": {"type": "string"}},
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
            }
        }
    },
)
def get_report(
    ctx: diagnostics.Context = Depends(scope),
    format: Literal["html", "pdf"] = "html",
    _p: Principal = Depends(require(READ)),
) -> Response:
    """The complete coherence report as HTML or PDF."""
    from solidarity.coherence.report import render_html, render_pdf

    html = render_html(ctx)
    if format == "pdf":
        return Response(render_pdf(html), media_type="application/pdf")
    return Response(html, media_type="text/html")
