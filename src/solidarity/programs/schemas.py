"""Pydantic models in and out of the programmes domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Instrument = Literal[
    "cash_transfer",
    "in_kind",
    "fee_waiver",
    "insurance_subsidy",
    "public_works",
    "social_insurance",
    "service",
]
LifecycleGroup = Literal["children", "working_age", "elderly", "persons_with_disabilities", "all"]
TargetingMethod = Literal["categorical", "pmt", "community_based", "universal", "self_targeting"]
Frequency = Literal["monthly", "bimonthly", "quarterly", "biannual", "annual", "one_off"]
RuleKind = Literal["eligibility", "benefit", "priority"]

#: Payments per year for each benefit frequency (budget caps are annual).
PAYMENTS_PER_YEAR: dict[str, int] = {
    "monthly": 12,
    "bimonthly": 6,
    "quarterly": 4,
    "biannual": 2,
    "annual": 1,
    "one_off": 1,
}


class ProgrammeIn(BaseModel):
    """A programme as designed."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")
    name: str = Field(min_length=1, max_length=200)
    ministry: str = ""
    instrument: Instrument = "cash_transfer"
    lifecycle_group: LifecycleGroup = "all"
    risk_covered: str = ""
    targeting_method: TargetingMethod = "categorical"
    conditionality: str = "none"
    benefit_frequency: Frequency = "monthly"
    currency: str = Field(default="XOF", pattern=r"^[A-Z]{3}$")
    annual_budget: float | None = Field(default=None, ge=0)
    budget_cap: float | None = Field(default=None, ge=0)
    funding_source: str = ""


class ProgrammeUpdate(BaseModel):
    """Changes to a programme; ``version`` is the version the caller read."""

    model_config = ConfigDict(extra="forbid")

    version: int = Field(
        default=0,
        description="Deprecated over the API: send the ETag you read as If-Match instead",
    )
    name: str | None = None
    ministry: str | None = None
    instrument: Instrument | None = None
    lifecycle_group: LifecycleGroup | None = None
    risk_covered: str | None = None
    targeting_method: TargetingMethod | None = None
    conditionality: str | None = None
    benefit_frequency: Frequency | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    annual_budget: float | None = Field(default=None, ge=0)
    budget_cap: float | None = Field(default=None, ge=0)
    funding_source: str | None = None
    status: Literal["active", "closed"] | None = None


class ProgrammeOut(ProgrammeIn):
    """A stored programme."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int
    status: str
    version: int


class RuleVersionIn(BaseModel):
    """A dated version of a programme rule, with its parameters and test cases."""

    model_config = ConfigDict(extra="forbid")

    kind: RuleKind
    expression: str
    valid_from: date
    valid_to: date | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    legal_reference: str = ""
    test_cases: list[dict[str, Any]] = Field(default_factory=list)


class RuleVersionOut(RuleVersionIn):
    """A stored rule version."""

    model_config = ConfigDict(from_attributes=True, extra="ignore")

    id: int
    programme_id: int
    normalised: str = ""


class BreakdownRow(BaseModel):
    """Eligible households and cost within one group."""

    group: str
    households: int
    cost: float


class EligibleHousehold(BaseModel):
    """One eligible household in a preview page."""

    household_id: int
    area_code: str | None
    size: int
    benefit: float
    priority: float | None = None


class PreviewOut(BaseModel):
    """What a rule version would do on a date, without writing anything."""

    programme: str
    as_of: date
    rule_version_id: int | None = Field(description="None when previewing an unsaved draft")
    benefit_rule_version_id: int | None
    households_evaluated: int
    eligible: int
    total_cost: float
    annual_cost: float
    page: list[EligibleHousehold]
    by_area: list[BreakdownRow]
    by_sex_of_head: list[BreakdownRow]
    by_age_of_head: list[BreakdownRow]
    by_disability: list[BreakdownRow]


class EnrolmentOut(BaseModel):
    """A household's enrolment."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    programme_id: int
    household_id: int
    status: str
    rule_version_id: int | None
    as_of: date
    benefit_amount: float
    priority: float | None
    waitlist_rank: int | None
    enrolled_on: date | None
    exited_on: date | None
    exit_reason: str | None


class EnrolResult(BaseModel):
    """The outcome of a bulk enrolment."""

    programme: str
    as_of: date
    rule_version_id: int
    eligible: int
    already_enrolled: int
    enrolled: int
    waitlisted: int
    annual_cost_enrolled: float


class EnrolRequest(BaseModel):
    """Enrol all eligible households (or the listed ones) as of a date."""

    as_of: date | None = None
    household_ids: list[int] | None = None


class ManualRequestIn(BaseModel):
    """A manual enrolment or exit, applied once another user approves it."""

    household_id: int
    action: Literal["enrol", "exit"]
    reason: str = Field(min_length=3)
    as_of: date | None = None


class RequestOut(BaseModel):
    """A maker-checker request."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    programme_id: int
    household_id: int
    action: str
    origin: str
    batch: str | None
    reason: str
    status: str
    requested_by: str
    decided_by: str | None
    as_of: date


class Decision(BaseModel):
    """Approve or reject requests (by id, or a whole recertification batch)."""

    approve: bool = True
    request_ids: list[int] | None = None
    batch: str | None = None


class RecertificationOut(BaseModel):
    """Exits proposed by a recertification."""

    programme: str
    as_of: date
    batch: str | None
    reviewed: int
    proposed_exits: int
    proposals: list[RequestOut]


class CycleIn(BaseModel):
    """A payment cycle to create."""

    period: str = Field(min_length=4, max_length=16)
    window_start: date
    window_end: date


class CycleOut(BaseModel):
    """A payment cycle."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    programme_id: int
    period: str
    window_start: date
    window_end: date
    status: str
    rule_version_id: int | None
    entitlement_count: int
    total_amount: float
    computed_by: str | None
    approved_by: str | None
    version: int


class PayrollOut(BaseModel):
    """The payroll files of a cycle."""

    cycle_id: int
    csv_path: str
    xml_path: str
    transactions: int
    total_amount: float
    xml_sha256: str


class ReconciliationOut(BaseModel):
    """A reconciliation import: what matched and what did not, row by row."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    cycle_id: int
    filename: str
    status: str
    rows: int
    matched: int
    discrepancies: list[dict[str, Any]]
    accepted_by: str | None
    accepted_at: datetime | None


class ExplanationOut(BaseModel):
    """Why a household is or is not eligible, and what it would receive."""

    programme: str
    household_id: int
    as_of: date
    rule_version_id: int
    eligible: bool
    benefit: float | None
    text: str
    explanation: dict[str, Any]
    benefit_explanation: dict[str, Any] | None = None


class CalibrationOut(BaseModel):
    """A fitted PMT: weights, fit and targeting errors in and out of sample."""

    as_of: date | None
    households: int
    train: int
    test: int
    cutoff_quantile: float
    cutoff: float
    r2_train: float
    r2_test: float
    inclusion_error_train: float
    exclusion_error_train: float
    inclusion_error_test: float
    exclusion_error_test: float
    weights: dict[str, float]
    expression: str
