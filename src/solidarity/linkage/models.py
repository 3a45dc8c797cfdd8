"""Tables of the linkage domain: fitted models, runs, scored pairs, decisions, merges, links.

Pairs are stored with the smaller person id on the left, so a pair has one
identity across runs and a steward's decision about it is found again by the
next run (``linkage_decision`` is unique per pair). ``linkage_person_key`` holds
each registry person's blocking keys: the intake check looks candidates up in it
instead of rescanning the registry.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from solidarity.db.base import Base, JSONType, TimestampedMixin
from solidarity.db.encrypted import EncryptedJSON


class LinkageModel(TimestampedMixin, Base):
    """A fitted Splink model with its version, parameters and training report."""

    __tablename__ = "linkage_model"
    __table_args__ = (
        UniqueConstraint("kind", "source", "version", name="uq_linkage_model_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # dedupe | link
    source: Mapped[str] = mapped_column(String(64), default="registry")
    version: Mapped[int] = mapped_column(Integer)
    link_type: Mapped[str] = mapped_column(String(16))
    exclude_same_household: Mapped[bool] = mapped_column(Boolean, default=False)
    rules: Mapped[list[list[str]]] = mapped_column(JSONType)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONType)
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    report: Mapped[dict[str, Any]] = mapped_column(JSONType)


class LinkageRun(TimestampedMixin, Base):
    """One deduplication, linkage or intake check, with its counts and timings."""

    __tablename__ = "linkage_run"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(16))  # dedupe | link | intake
    model_id: Mapped[int | None] = mapped_column(Integer, index=True)
    source: Mapped[str] = mapped_column(String(64), default="registry")
    status: Mapped[str] = mapped_column(String(16), default="running")
    thresholds: Mapped[dict[str, Any]] = mapped_column(JSONType)
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LinkagePair(Base):
    """A scored pair of registry persons: weight, probability, band and per-field agreement."""

    __tablename__ = "linkage_pair"
    __table_args__ = (
        Index("ix_linkage_pair_persons", "person_id_l", "person_id_r"),
        Index("ix_linkage_pair_queue", "status", "match_weight"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    model_id: Mapped[int] = mapped_column(Integer)
    person_id_l: Mapped[int] = mapped_column(Integer)
    person_id_r: Mapped[int] = mapped_column(Integer)
    match_weight: Mapped[float] = mapped_column(Float)
    match_probability: Mapped[float] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16))  # match | review | non_match
    # pending (in the review queue) | match | not_match (decided) | merged | superseded
    status: Mapped[str] = mapped_column(String(16))
    cluster_id: Mapped[int | None] = mapped_column(Integer)
    match_key: Mapped[str | None] = mapped_column(String(16))
    agreement: Mapped[dict[str, Any]] = mapped_column(JSONType)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LinkageDecision(TimestampedMixin, Base):
    """A steward's remembered decision about a pair of persons."""

    __tablename__ = "linkage_decision"
    __table_args__ = (
        UniqueConstraint("person_id_l", "person_id_r", name="uq_linkage_decision_pair"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    person_id_l: Mapped[int] = mapped_column(Integer)
    person_id_r: Mapped[int] = mapped_column(Integer)
    decision: Mapped[str] = mapped_column(String(16))  # match | not_match
    pair_id: Mapped[int | None] = mapped_column(Integer)
    model_id: Mapped[int | None] = mapped_column(Integer)
    match_probability: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str | None] = mapped_column(Text)


class LinkageMerge(TimestampedMixin, Base):
    """A merge of two person records, with what is needed to undo it."""

    __tablename__ = "linkage_merge"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    survivor_id: Mapped[int] = mapped_column(Integer, index=True)
    merged_id: Mapped[int] = mapped_column(Integer, index=True)
    decision_id: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="applied")  # applied | undone
    survivor_before: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("merge_survivor_before"))
    merged_before: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON("merge_merged_before"))
    fields_taken: Mapped[list[str]] = mapped_column(JSONType)
    identifiers_moved: Mapped[list[int]] = mapped_column(JSONType)
    memberships: Mapped[dict[str, Any]] = mapped_column(JSONType)
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    undone_by: Mapped[str | None] = mapped_column(String(128))


class LinkageLink(Base):
    """A record of an outside list (another ministry's programme) linked to a registry person."""

    __tablename__ = "linkage_link"
    __table_args__ = (
        Index("ix_linkage_link_source_record", "source", "source_record_id"),
        Index("ix_linkage_link_source_person", "source", "person_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(Integer, index=True)
    model_id: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(64))
    source_record_id: Mapped[str] = mapped_column(String(128))
    person_id: Mapped[int | None] = mapped_column(Integer)
    match_weight: Mapped[float | None] = mapped_column(Float)
    match_probability: Mapped[float | None] = mapped_column(Float)
    band: Mapped[str] = mapped_column(String(16))  # match | review | non_match
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    agreement: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class LinkagePersonKey(Base):
    """One blocking key of a registry person, for indexed candidate look-ups at intake."""

    __tablename__ = "linkage_person_key"
    __table_args__ = (Index("ix_linkage_person_key_key", "key"),)

    person_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    key: Mapped[str] = mapped_column(String(400), primary_key=True)
