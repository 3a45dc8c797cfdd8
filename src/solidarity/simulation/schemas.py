"""Pydantic models of the simulation domain: scenarios, solver requests and results."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RuleKind = Literal["eligibility", "benefit", "priority"]
Frequency = Literal["monthly", "bimonthly", "quarterly", "biannual", "annual", "one_off"]


class _Change(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SetParameters(_Change):
    """Change parameter values of a programme's rule in force on the baseline date."""

    kind: Literal["parameters"]
    programme: str
    rule: RuleKind = "eligibility"
    set: dict[str, Any]


class ReplaceRule(_Change):
    """Replace a programme's rule version by a new expression (and parameters)."""

    kind: Literal["rule"]
    programme: str
    rule: RuleKind
    expression: str
    parameters: dict[str, Any] = Field(default_factory=dict)


class AddProgramme(_Change):
    """A new programme with its eligibility and benefit rules."""

    kind: Literal["add_programme"]
    programme: str
    name: str = ""
    eligibility: str
    benefit: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    benefit_frequency: Frequency = "monthly"
    budget_cap: float | None = None


class RemoveProgramme(_Change):
    """Stop a programme."""

    kind: Literal["remove_programme"]
    programme: str


class MergeProgrammes(_Change):
    """Merge programmes into one: one set of beneficiaries, one benefit rule.

    Without ``eligibility`` a household is eligible when any merged programme's rule
    selects it (the union of their beneficiaries, each household once).
    """

    kind: Literal["merge_programmes"]
    programmes: list[str] = Field(min_length=2)
    into: str
    name: str = ""
    benefit: str
    eligibility: str | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    benefit_frequency: Frequency = "monthly"
    budget_cap: float | None = None


class BudgetCap(_Change):
    """Change a programme's annual budget cap (``null`` removes it)."""

    kind: Literal["budget_cap"]
    programme: str
    cap: float | None


Change = Annotated[
    SetParameters | ReplaceRule | AddProgramme | RemoveProgramme | MergeProgrammes | BudgetCap,
    Field(discriminator="kind"),
]


class ScenarioIn(BaseModel):
    """A named set of changes against the rules in force on a baseline date."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    baseline_date: date
    poverty_line: float = Field(gt=0)
    consumption_period: Literal["monthly", "annual"] = "monthly"
    changes: list[Change] = Field(default_factory=list)


class ScenarioOut(BaseModel):
    """A stored scenario version."""

    id: int
    name: str
    version: int
    baseline_date: date
    definition: dict[str, Any]
    base_rules: dict[str, Any]


class SolveIn(BaseModel):
    """Find the value of one parameter that spends a budget or reaches a coverage target."""

    model_config = ConfigDict(extra="forbid")

    scenario: ScenarioIn
    programme: str
    rule: RuleKind = "eligibility"
    parameter: str
    low: float
    high: float
    budget: float | None = Field(default=None, gt=0)
    coverage_of_poor: float | None = Field(default=None, gt=0, le=1)
    curve_points: int = Field(default=8, ge=2, le=50)
    as_of: date | None = None


class RunIn(BaseModel):
    """Run a scenario given inline, or a stored one by name (and version)."""

    model_config = ConfigDict(extra="forbid")

    scenario: ScenarioIn | None = None
    name: str | None = None
    version: int | None = None
    as_of: date | None = None


class CompareIn(BaseModel):
    """Several stored scenarios side by side."""

    model_config = ConfigDict(extra="forbid")

    names: list[str] = Field(min_length=1)
    as_of: date | None = None


#: A result is plain JSON: the measures of baseline and scenario side by side.
Result = dict[str, Any]
