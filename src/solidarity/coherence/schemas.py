"""Pydantic models of the coherence domain: diagnostics out, institutions and plan in and out."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Rows = list[dict[str, Any]]

DeliveryFunctionName = Literal[
    "outreach", "registration", "eligibility", "enrolment", "payment", "grievance", "monitoring"
]
DELIVERY_FUNCTIONS: tuple[str, ...] = (
    "outreach",
    "registration",
    "eligibility",
    "enrolment",
    "payment",
    "grievance",
    "monitoring",
)
DIMENSIONS: tuple[str, ...] = (
    "strategy",
    "institutions",
    "registry_integration",
    "programme_overlaps",
    "coverage",
    "fiscal",
    "data",
    "rules",
    "grievance",
    "monitoring",
)
ActionStatus = Literal["planned", "in_progress", "done", "cancelled"]


class Scope(BaseModel):
    """What a diagnostic was computed over."""

    as_of: date
    area_code: str | None = None
    area_level: int = 0
    by: str | None = None


class PolicyMapOut(BaseModel):
    """Programmes on the life-cycle x risk x instrument grid, with flagged cells."""

    scope: Scope
    cells: Rows
    flagged: Rows


class OverlapsOut(BaseModel):
    """Pairwise overlaps, multiplicity, largest combinations, mutual-exclusion violations."""

    scope: Scope
    programmes: list[str]
    beneficiaries: int
    pairs: Rows
    multiplicity: Rows
    combinations: Rows
    exclusive_violations: Rows


class TargetingOut(BaseModel):
    """Coverage, exclusion and inclusion errors; uncovered vulnerable households; worst areas."""

    scope: Scope
    target_sources: dict[str, str]
    rows: Rows
    vulnerable_definition: str
    vulnerable_households: int
    uncovered_households: int
    uncovered_sample: list[int]
    worst_areas: Rows


class FiscalOut(BaseModel):
    """Budget, spending, unit costs by programme, ministry, funding source and area; incidence."""

    scope: Scope
    period_start: date
    period_end: date
    by_programme: Rows
    by_ministry: Rows
    by_funding_source: Rows
    by_area: Rows
    incidence: Rows


class JourneyOut(BaseModel):
    """Funnel per programme and stage, drop-off reasons, repeated steps."""

    scope: Scope
    funnel: Rows
    drop_off: Rows
    repeated_summary: dict[str, int]
    repeated_sample: Rows


class RuleCoherenceOut(BaseModel):
    """Age bands of eligibility rules, hand-over gaps and overlaps, contradictions, exclusivity."""

    scope: Scope
    rules: Rows
    hand_overs: Rows
    contradictions: Rows
    exclusive_eligible: Rows


class ConsistencyOut(BaseModel):
    """Disagreement per field between registry and lists; definitions; missing data."""

    scope: Scope
    disagreement: Rows
    definitions: Rows
    missing: Rows


class ReferralLinkageOut(BaseModel):
    """Cross-sectoral linkage: referrals between agencies and how far they got."""

    scope: Scope
    sent: int
    accepted: int
    declined: int
    served: int
    acceptance_share: float | None
    served_share: float | None
    median_days_to_service: float | None
    by_sector_area: Rows


class InstitutionalMapOut(BaseModel):
    """Agencies, functions, bodies, agreements, focal persons, and the flags on them."""

    as_of: date
    agencies: Rows
    functions: Rows
    bodies: Rows
    agreements: Rows
    focal_persons: Rows
    flags: Rows


# --- institutions in -----------------------------------------------------------------


class AgencyIn(BaseModel):
    """An agency with its profile (created in governance's agency list when new)."""

    model_config = ConfigDict(extra="forbid")

    # The same rule as governance's agency codes: a new code is registered there.
    code: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=200)
    kind: str = "ministry"
    mandate: str = ""
    aliases: list[str] = Field(default_factory=list)


class FunctionIn(BaseModel):
    """An agency performing a delivery function for a programme."""

    model_config = ConfigDict(extra="forbid")

    programme: str
    function: DeliveryFunctionName
    agency: str


class MeetingIn(BaseModel):
    """A meeting of a coordination body."""

    model_config = ConfigDict(extra="forbid")

    held_on: date
    attendees: list[str] = Field(default_factory=list)
    decisions: str = ""
    minutes_reference: str = ""


class MemberIn(BaseModel):
    """An agency's seat on a body."""

    model_config = ConfigDict(extra="forbid")

    agency: str
    role: str = "member"


class BodyIn(BaseModel):
    """A coordination body with its members and meetings."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    name: str
    kind: Literal["committee", "working_group", "other"] = "committee"
    mandate: str = ""
    members: list[MemberIn] = Field(default_factory=list)
    meetings: list[MeetingIn] = Field(default_factory=list)


class MemorandumIn(BaseModel):
    """A memorandum of understanding or data sharing agreement between agencies."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    kind: Literal["mou", "data_sharing"] = "mou"
    parties: list[str] = Field(min_length=2)
    scope: str = ""
    signed_on: date | None = None
    expires_on: date | None = None


class FocalPersonIn(BaseModel):
    """An agency's focal person."""

    model_config = ConfigDict(extra="forbid")

    agency: str
    name: str = Field(min_length=1, max_length=200)
    title: str = ""
    email: str = ""
    phone: str = ""
    active: bool = True


class DefinitionIn(BaseModel):
    """A programme's definition of a concept."""

    model_config = ConfigDict(extra="forbid")

    programme: str
    concept: str = Field(min_length=1, max_length=64)
    definition: str


class RelationIn(BaseModel):
    """Two programmes declared mutually exclusive, or A handing over to B."""

    model_config = ConfigDict(extra="forbid")

    kind: Literal["mutually_exclusive", "hand_over"]
    programme_a: str
    programme_b: str
    note: str = ""
    legal_reference: str = ""


class TargetIn(BaseModel):
    """A declared target: a household rule, or the poorest share of persons."""

    model_config = ConfigDict(extra="forbid")

    programme: str | None = None
    name: str
    kind: Literal["rule", "poorest_share"]
    expression: str | None = None
    share: float | None = Field(default=None, gt=0, le=1)


class AdminCostIn(BaseModel):
    """A programme's administrative cost in a year."""

    model_config = ConfigDict(extra="forbid")

    programme: str
    year: int
    amount: float = Field(ge=0)


class InstitutionsFile(BaseModel):
    """The YAML file ``solidarity coherence import`` reads (every section optional)."""

    model_config = ConfigDict(extra="forbid")

    agencies: list[AgencyIn] = Field(default_factory=list)
    functions: list[FunctionIn] = Field(default_factory=list)
    bodies: list[BodyIn] = Field(default_factory=list)
    agreements: list[MemorandumIn] = Field(default_factory=list)
    focal_persons: list[FocalPersonIn] = Field(default_factory=list)
    definitions: list[DefinitionIn] = Field(default_factory=list)
    relations: list[RelationIn] = Field(default_factory=list)
    targets: list[TargetIn] = Field(default_factory=list)
    admin_costs: list[AdminCostIn] = Field(default_factory=list)
    indicators: list[IndicatorIn] = Field(default_factory=list)
    actions: list[ActionIn] = Field(default_factory=list)


class ImportSummary(BaseModel):
    """How many records of each kind an import created or updated."""

    created: dict[str, int]
    updated: dict[str, int]


# --- results framework, scorecard, actions ----------------------------------------------


class IndicatorIn(BaseModel):
    """A shared indicator with targets by year."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    name: str
    definition: str = ""
    formula: str | None = None
    unit: str = ""
    responsible_agency: str = ""
    baseline_value: float | None = None
    baseline_year: int | None = None
    direction: Literal["increase", "decrease"] = "increase"
    targets: dict[int, float] = Field(default_factory=dict)


class IndicatorValueIn(BaseModel):
    """An entered value of an indicator."""

    model_config = ConfigDict(extra="forbid")

    observed_on: date
    value: float
    note: str = ""


class IndicatorOut(BaseModel):
    """An indicator with its targets, values and progress."""

    code: str
    name: str
    definition: str
    formula: str | None
    unit: str
    responsible_agency: str
    baseline_value: float | None
    baseline_year: int | None
    direction: str
    targets: dict[int, float]
    values: Rows
    latest: float | None
    progress: float | None
    on_track: bool | None


class ScoreIn(BaseModel):
    """An assessor's score and comment for one dimension."""

    model_config = ConfigDict(extra="forbid")

    score: int | None = Field(default=None, ge=1, le=4)
    comment: str = ""


class AssessmentIn(BaseModel):
    """A new scorecard; scores are suggested from the data and may be overridden."""

    model_config = ConfigDict(extra="forbid")

    title: str = "Coherence scorecard"
    as_of: date
    area_code: str | None = None
    scores: dict[str, ScoreIn] = Field(default_factory=dict)


class ScoreOut(BaseModel):
    """One dimension of a scorecard."""

    dimension: str
    score: int
    suggested_score: int
    evidence: dict[str, Any]
    comment: str


class AssessmentOut(BaseModel):
    """A scorecard."""

    id: int
    title: str
    as_of: date
    area_code: str | None
    assessor: str
    scores: list[ScoreOut]
    average: float


class ActionIn(BaseModel):
    """An action of the plan."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64)
    title: str = Field(min_length=1, max_length=300)
    description: str = ""
    finding: str = ""
    dimension: str = ""
    agency: str = ""
    responsible_person: str = ""
    start_on: date | None = None
    due_on: date | None = None
    status: ActionStatus = "planned"


class ActionUpdate(BaseModel):
    """Changes to an action; ``version`` is the version the caller read."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(
        default=0,
        description="Deprecated over the API: send the ETag you read as If-Match instead",
    )
    title: str | None = None
    description: str | None = None
    agency: str | None = None
    responsible_person: str | None = None
    start_on: date | None = None
    due_on: date | None = None
    status: ActionStatus | None = None


class NoteIn(BaseModel):
    """A progress note."""

    model_config = ConfigDict(extra="forbid")

    noted_on: date
    note: str = Field(min_length=1)
    progress: int | None = Field(default=None, ge=0, le=100)


class ActionOut(BaseModel):
    """An action with its notes and whether it is overdue on the as-of date."""

    code: str
    title: str
    description: str
    finding: str
    dimension: str
    agency: str
    responsible_person: str
    start_on: date | None
    due_on: date | None
    status: str
    version: int
    overdue: bool
    progress: int | None
    notes: Rows


InstitutionsFile.model_rebuild()
