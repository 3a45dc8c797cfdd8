"""Pydantic in/out models of the linkage domain."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Decision = Literal["match", "not_match"]


class LevelParameter(BaseModel):
    """m and u probabilities of one comparison level, and the weight they give."""

    comparison: str
    gamma: int
    level: str
    m_probability: float | None
    u_probability: float | None
    bayes_factor: float | None
    match_weight: float | None


class ModelOut(BaseModel):
    """A fitted model as a steward reviews it."""

    id: int
    kind: str
    source: str
    version: int
    link_type: str
    created_at: datetime
    created_by: str
    rules: list[list[str]]
    probability_two_random_records_match: float | None
    parameters: list[LevelParameter]
    report: dict[str, Any]


class RunOut(BaseModel):
    """A deduplication, linkage or intake run."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    source: str
    model_id: int | None
    status: str
    thresholds: dict[str, Any]
    stats: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


class FieldAgreement(BaseModel):
    """How two records compare on one comparison."""

    comparison: str
    gamma: int
    level: str
    match_weight: float | None = Field(description="log2 of the level's Bayes factor")


class PairOut(BaseModel):
    """A scored pair in the review queue."""

    id: int
    run_id: int
    model_id: int
    person_id_l: int
    person_id_r: int
    match_weight: float
    match_probability: float
    band: str
    status: str
    cluster_id: int | None
    agreement: list[FieldAgreement]


class PairDetail(PairOut):
    """A pair with both records side by side."""

    records: list[dict[str, Any]]


class PairPage(BaseModel):
    """A page of the review queue."""

    items: list[PairOut]
    total: int
    limit: int
    offset: int


class DecisionIn(BaseModel):
    """A steward's decision about a pair."""

    model_config = ConfigDict(extra="forbid")

    decision: Decision
    reason: str | None = None
    merge: bool = Field(default=True, description="merge the records when the decision is match")
    survivor_id: int | None = Field(
        default=None, description="the record that survives (default: the older one)"
    )


class MergeOut(BaseModel):
    """A merge of two person records."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    survivor_id: int
    merged_id: int
    status: str
    fields_taken: list[str]
    identifiers_moved: list[int]
    memberships: dict[str, Any]
    created_at: datetime
    created_by: str
    undone_at: datetime | None
    undone_by: str | None


class DecisionOut(BaseModel):
    """A remembered decision, and the merge it caused if any."""

    id: int
    person_id_l: int
    person_id_r: int
    decision: Decision
    reason: str | None
    decided_by: str
    merge: MergeOut | None = None


class PossibleDuplicate(BaseModel):
    """A registry person who may be the person being registered."""

    person_id: int
    household_id: int | None
    given_name: str | None
    family_name: str | None
    birth_date: str | None
    match_weight: float
    match_probability: float
    band: str
    agreement: list[FieldAgreement]


class IntakeCheckOut(BaseModel):
    """The outcome of checking newly imported persons against the registry."""

    run_id: int | None
    persons_checked: int
    candidate_pairs: int
    pairs_queued: int
    note: str | None = None


class LinkOut(BaseModel):
    """A source record linked (or not) to a registry person."""

    model_config = ConfigDict(from_attributes=True)

    source: str
    source_record_id: str
    person_id: int | None
    match_weight: float | None
    match_probability: float | None
    band: str


class LinkPage(BaseModel):
    """A page of links."""

    items: list[LinkOut]
    total: int
    limit: int
    offset: int


class EvaluationOut(BaseModel):
    """How the model's scores agree with the steward's decisions."""

    labelled_pairs: int
    matches: int
    non_matches: int
    at_thresholds: list[dict[str, Any]]
