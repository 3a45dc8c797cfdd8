"""Pydantic models of the monitoring domain."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["household", "person", "payment", "journey", "grievance", "referral"]
ResultsLevel = Literal["inputs", "activities", "outputs", "outcomes", "impact"]


class IndicatorDefinition(BaseModel):
    """An indicator as data: numerator and denominator in the rule language.

    Both are evaluated on every record of ``unit`` that passes ``filter`` and summed;
    the value is ``scale * sum(numerator) / sum(denominator)``. A yes/no expression
    counts 1 when it holds. With a zero denominator the value is *not computable*.
    """

    model_config = ConfigDict(extra="forbid")

    code: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    unit_of_analysis: Unit
    numerator: str
    denominator: str = "1"
    filter: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    unit: Literal["share", "percent", "days", "ratio", "count"] = "share"
    disaggregations: list[str] = Field(default_factory=list)
    frequency: Literal["monthly", "quarterly", "annual"] = "quarterly"
    owner_agency: str = ""
    baseline_value: float | None = None
    baseline_year: int | None = None
    targets: dict[int, float] = Field(default_factory=dict)
    results_level: ResultsLevel = "outputs"
    coherence_indicator: str | None = None
    source_definition: str = ""


class IndicatorOut(BaseModel):
    """A stored indicator version."""

    code: str
    version: int
    name: str
    definition: dict[str, Any]


class IndicatorValue(BaseModel):
    """An indicator computed for a date, or why it could not be."""

    code: str
    version: int
    as_of: date
    status: Literal["computed", "not_computable"]
    value: float | None
    numerator: float | None
    denominator: float | None
    reason: str | None = None
    target: float | None = None
    disaggregation: list[dict[str, Any]] = Field(default_factory=list)


class SnapshotOut(BaseModel):
    """A stored snapshot value with the versions it was computed from."""

    id: int
    period: str
    as_of: date
    indicator_code: str
    indicator_version: int
    status: str
    value: float | None
    numerator: float | None
    denominator: float | None
    reason: str | None
    data_version: str


class SnapshotIn(BaseModel):
    """Take a snapshot of every indicator for a period."""

    model_config = ConfigDict(extra="forbid")

    period: str = Field(min_length=4, max_length=16)
    as_of: date


class QualityScore(BaseModel):
    """Share of records passing the checks of one dimension, per group."""

    dimension: str
    by: str
    group: str
    checked: int
    failed: int
    score: float | None
