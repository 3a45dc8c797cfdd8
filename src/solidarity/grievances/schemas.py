"""Pydantic models in and out of grievance redress, cases and referrals."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Channel = Literal["office", "phone", "web", "partner", "sms", "community"]
Level = Literal["community", "district", "region", "national"]


class CategoryIn(BaseModel):
    """A grievance category with its service standard and escalation path."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    name: str = Field(min_length=1, max_length=200)
    sensitive: bool = False
    days_to_acknowledge: int = Field(ge=0, le=365)
    days_to_resolve: int = Field(ge=1, le=3650)
    escalation_path: list[Level] = Field(min_length=1)
    agency_code: str | None = None


class CategoryOut(CategoryIn):
    """A stored category."""

    model_config = ConfigDict(from_attributes=True)

    version: int


class GrievanceIn(BaseModel):
    """Intake of a complaint or an appeal.

    ``household_id`` (or ``area_code`` for a grievance about no household) places the
    grievance in an area. An appeal against an eligibility decision names the
    programme and the household; the explanation of the decision is kept with it.
    """

    kind: Literal["complaint", "appeal"] = "complaint"
    category: str
    channel: Channel = "office"
    description: str = Field(min_length=1, max_length=10000)
    household_id: int | None = None
    person_id: int | None = None
    area_code: str | None = None
    programme_code: str | None = None
    decision_date: date | None = Field(
        None, description="Date of the appealed eligibility decision (today by default)."
    )
    anonymous: bool = False
    withhold_identity: bool = Field(
        False, description="Hide the complainant's identity from investigators."
    )
    complainant_name: str | None = Field(None, max_length=200)
    complainant_contact: str | None = Field(None, max_length=200)
    subject_staff: str | None = Field(
        None, max_length=128, description="Username of the staff member complained about."
    )


class GrievanceOut(BaseModel):
    """A grievance as the reader may see it (identity withheld or pseudonymised)."""

    id: int
    reference: str
    kind: str
    category: str
    sensitive: bool
    channel: str
    status: str
    area_code: str | None
    household_id: int | None
    person_id: int | None
    programme_code: str | None
    anonymous: bool
    identity_withheld: bool
    complainant_name: str | None
    complainant_contact: str | None
    description: str
    subject_staff: str | None
    assigned_to: str | None
    escalation_level: str
    escalations: int
    received_at: datetime
    acknowledge_due: datetime
    resolve_due: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    within_standard: bool | None
    overdue: bool
    resolution: str | None
    decision: dict[str, Any] | None
    version: int


class GrievancePage(BaseModel):
    """A page of grievances."""

    items: list[GrievanceOut]
    total: int


class StepIn(BaseModel):
    """A workflow step; ``version`` is the version the caller read."""

    version: int = Field(
        default=0,
        description="Deprecated over the API: send the ETag you read as If-Match instead",
    )
    note: str | None = Field(None, max_length=10000)


class AssignIn(StepIn):
    """Assign a grievance to an investigator."""

    assignee: str


class ResolveIn(StepIn):
    """Resolve a grievance with what was done."""

    resolution: str = Field(min_length=1, max_length=10000)


class ChangeRequestAction(BaseModel):
    """Resolution action: file a change request of the grievance's household."""

    kind: str
    payload: dict[str, Any]


class ReassessAction(BaseModel):
    """Resolution action: re-run the eligibility assessment of a programme."""

    programme_code: str | None = None


class ReissueAction(BaseModel):
    """Resolution action: re-issue a payment (an entitlement) in the next cycle."""

    entitlement_id: int


class EventOut(BaseModel):
    """One recorded step."""

    model_config = ConfigDict(from_attributes=True)

    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    details: dict[str, Any]


class ActionOut(BaseModel):
    """What a resolution action created."""

    action: str
    grievance: GrievanceOut
    details: dict[str, Any]


class EscalationOut(BaseModel):
    """Grievances escalated for a breached service standard."""

    escalated: list[int]
    at: datetime


class RepeatRow(BaseModel):
    """Households with more than one grievance, by area and programme."""

    area_code: str | None
    programme_code: str | None
    households: int
    grievances: int


class ReferralStatRow(BaseModel):
    """Referral figures of one sector and area."""

    sector: str
    area_code: str | None
    sent: int
    accepted: int
    declined: int
    served: int
    median_days_to_service: float | None


class IndicatorsOut(BaseModel):
    """Monitoring indicators of grievance redress and referrals."""

    grievances: int
    resolved: int
    median_days_to_resolve: float | None
    share_within_standard: float | None
    open_overdue: int
    by_category: dict[str, int]
    repeat_complaints: list[RepeatRow]
    referrals: list[ReferralStatRow]


# --- cases -------------------------------------------------------------------------------


class CaseIn(BaseModel):
    """Open a case."""

    household_id: int
    person_id: int | None = None
    case_worker: str
    vulnerabilities: list[str] = Field(default_factory=list)
    review_date: date | None = None


class AssessmentIn(BaseModel):
    """Scores of the needs checklist (item code to score)."""

    version: int = Field(
        default=0,
        description="Deprecated over the API: send the ETag you read as If-Match instead",
    )
    scores: dict[str, int]


class PlanItemIn(BaseModel):
    """A goal, service or referral of the case plan."""

    kind: Literal["goal", "service", "referral"]
    description: str = Field(min_length=1, max_length=2000)
    service_code: str | None = None
    due_date: date | None = None


class PlanItemOut(PlanItemIn):
    """A stored plan item."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    referral_id: int | None
    status: str
    outcome: str | None
    overdue: bool = False
    version: int


class PlanItemUpdate(BaseModel):
    """Mark a plan item done or dropped."""

    version: int = Field(
        default=0,
        description="Deprecated over the API: send the ETag you read as If-Match instead",
    )
    status: Literal["open", "done", "dropped"]
    outcome: str | None = None


class NoteIn(BaseModel):
    """A visit or note."""

    kind: Literal["visit", "note"] = "note"
    on: date | None = None
    text: str = Field(min_length=1, max_length=10000)


class NoteOut(NoteIn):
    """A stored note."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    author: str


class CaseCloseIn(BaseModel):
    """Close a case."""

    version: int = Field(
        default=0,
        description="Deprecated over the API: send the ETag you read as If-Match instead",
    )
    reason: str = Field(min_length=1, max_length=2000)


class CaseReviewIn(BaseModel):
    """Record a review and set the next review date."""

    version: int = Field(
        default=0,
        description="Deprecated over the API: send the ETag you read as If-Match instead",
    )
    next_review: date
    note: str | None = None


class CaseOut(BaseModel):
    """A case with its plan and notes."""

    id: int
    household_id: int
    person_id: int | None
    area_code: str | None
    agency_code: str | None
    case_worker: str
    status: str
    vulnerabilities: list[str]
    assessment: dict[str, Any]
    score: float
    priority: str
    review_date: date | None
    closure_reason: str | None
    overdue_items: int
    review_overdue: bool
    plan: list[PlanItemOut]
    notes: list[NoteOut]
    version: int


# --- referrals ---------------------------------------------------------------------------


class ServiceIn(BaseModel):
    """A service of the catalogue."""

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    sector: str = Field(min_length=1, max_length=32)
    agency_code: str
    area_codes: list[str] = Field(min_length=1)
    capacity: int | None = Field(None, ge=0)
    eligibility: str = Field(min_length=1, max_length=5000)
    parameters: dict[str, Any] = Field(default_factory=dict)
    purpose: str = "referral"
    requires_consent: bool = False
    days_to_respond: int = Field(14, ge=1, le=365)


class ServiceOut(ServiceIn):
    """A stored service, with the referrals it holds open."""

    model_config = ConfigDict(from_attributes=True)

    active: bool
    version: int
    open_referrals: int = 0


class SuggestionOut(BaseModel):
    """A service a household is likely eligible for and not yet receiving."""

    service_code: str
    service_name: str
    sector: str
    agency_code: str
    explanation: str


class WorklistRow(BaseModel):
    """One household of a bulk suggestion worklist."""

    household_id: int
    area_code: str | None
    service_code: str


class WorklistOut(BaseModel):
    """Suggested referrals in bulk."""

    households_evaluated: int
    suggestions: int
    by_service: dict[str, int]
    items: list[WorklistRow]


class ReferralIn(BaseModel):
    """Send a referral."""

    service_code: str
    household_id: int
    person_id: int | None = None
    reason: str | None = Field(None, max_length=2000)
    fields: list[str] = Field(
        default_factory=list, description="Registry fields of the person sent with it."
    )
    consent_evidence: str | None = Field(
        None, description="Record the person's consent now (e.g. 'signed form 12')."
    )
    case_id: int | None = None
    grievance_id: int | None = None
    programme_code: str | None = None


class ReferralStepIn(BaseModel):
    """A step of the referral life-cycle."""

    version: int = Field(
        default=0,
        description="Deprecated over the API: send the ETag you read as If-Match instead",
    )
    reason: str | None = Field(None, max_length=2000)
    outcome: str | None = Field(None, max_length=2000)


class CounterReferralIn(BaseModel):
    """Refer back (or onward) from a received referral."""

    service_code: str
    reason: str | None = None
    fields: list[str] = Field(default_factory=list)


class ReferralOut(BaseModel):
    """A referral as its sender or its receiving agency sees it."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    service_code: str
    sector: str
    household_id: int
    person_id: int | None
    from_agency: str | None
    to_agency: str
    status: str
    reason: str | None
    decline_reason: str | None
    outcome: str | None
    shared_fields: list[str]
    shared_record: dict[str, Any]
    consent_id: int | None
    case_id: int | None
    grievance_id: int | None
    programme_code: str | None
    counter_of: int | None
    respond_by: date
    overdue: bool = False
    sent_at: datetime
    received_at: datetime | None
    accepted_at: datetime | None
    served_at: datetime | None
    closed_at: datetime | None
    version: int
