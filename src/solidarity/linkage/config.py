"""What a data steward may adjust, read from a YAML file; everything has a sensible default.

The model trains itself without any of this. A steward may still write, e.g.::

    thresholds: {review: 0.5, match: 0.95}
    auto_merge: false
    blocking:
      max_comparisons_per_rule: 20000000
      rules:                       # replaces the automatic choice
        - [name_set_key, birth_year]
        - [family_key, birth_date]
    training: {u_max_pairs: 5000000, em_max_pairs: 2000000}
    fixed_m: {birth_date: {exact: 0.8}}   # pin an m probability by comparison and level label
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from solidarity.linkage.errors import LinkageInputRefused


class Thresholds(BaseModel):
    """Match probabilities that sort scored pairs into bands."""

    model_config = ConfigDict(extra="forbid")

    review: float = Field(default=0.5, gt=0, lt=1, description="at or above: needs review")
    match: float = Field(default=0.95, gt=0, lt=1, description="at or above: a match")
    store: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="pairs below this probability are counted as non-matches but not stored",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Thresholds:
        if not self.store <= self.review <= self.match:
            raise ValueError("thresholds must satisfy store <= review <= match")
        return self


class BlockingConfig(BaseModel):
    """How candidate pairs are generated, and the limits that refuse explosive rules."""

    model_config = ConfigDict(extra="forbid")

    rules: list[list[str]] | None = Field(
        default=None, description="column lists; when given they replace the automatic choice"
    )
    max_comparisons_per_rule: int = Field(default=50_000_000, ge=1)
    max_comparisons_total: int = Field(default=200_000_000, ge=1)
    min_fill: float = Field(
        default=0.05, ge=0, le=1, description="columns filled below this share are not used"
    )


class TrainingConfig(BaseModel):
    """Sample sizes of the self-training steps."""

    model_config = ConfigDict(extra="forbid")

    u_max_pairs: int = Field(default=2_000_000, ge=1_000)
    em_max_pairs: int = Field(default=2_000_000, ge=1_000)
    deterministic_recall: float = Field(default=0.7, gt=0, le=1)
    seed: int = 1


class LinkageConfig(BaseModel):
    """Everything a steward can tune; the defaults are meant to work on a new country's data."""

    model_config = ConfigDict(extra="forbid")

    thresholds: Thresholds = Field(default_factory=Thresholds)
    blocking: BlockingConfig = Field(default_factory=BlockingConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    auto_merge: bool = Field(
        default=False, description="merge pairs at or above the match threshold without review"
    )
    compare_within_household: bool = Field(
        default=False,
        description="also compare members of the same household (off: they are relatives)",
    )
    fixed_m: dict[str, dict[str, float]] = Field(default_factory=dict)
    backend: str = Field(default="duckdb", pattern="^(duckdb|spark)$")


def load_config(path: Path | None) -> LinkageConfig:
    """The configuration in ``path`` (YAML), or the defaults when ``path`` is ``None``.

    Raises:
        LinkageInputRefused: The file is missing, not YAML, or names unknown settings.
    """
    if path is None:
        return LinkageConfig()
    if not path.is_file():
        raise LinkageInputRefused(f"linkage configuration {path} does not exist")
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LinkageInputRefused(f"linkage configuration {path} is not valid YAML: {exc}") from exc
    return config_from_dict(raw, where=str(path))


def config_from_dict(raw: Any, *, where: str = "configuration") -> LinkageConfig:
    """Validate a configuration given as a mapping.

    Raises:
        LinkageInputRefused: A setting is unknown or out of range.
    """
    if not isinstance(raw, dict):
        raise LinkageInputRefused(f"{where} must be a mapping of settings")
    try:
        return LinkageConfig.model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        raise LinkageInputRefused(f"{where} has {len(errors)} invalid setting(s)", errors) from exc
