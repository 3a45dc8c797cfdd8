"""All queries of the linkage domain, in bulk where they touch a population."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, and_, delete, func, or_, select, update
from sqlalchemy.orm import Session

from solidarity.db.base import holds
from solidarity.linkage.models import (
    LinkageDecision,
    LinkageLink,
    LinkageMerge,
    LinkageModel,
    LinkagePair,
    LinkagePersonKey,
    LinkageRun,
)
from solidarity.registry.intake.writer import bulk_insert_rows
from solidarity.registry.models import Area, Household, Identifier, Person

#: The identifier type compared as ``national_id``.
NATIONAL_ID = "national_id"


def _read(conn: Connection, query: Any) -> pl.DataFrame:
    frame: pl.DataFrame = pl.read_database(query, connection=conn, infer_schema_length=None)
    return frame


def registry_records(conn: Connection, person_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Active registry persons with the fields the model compares, read in bulk.

    Columns follow :data:`solidarity.linkage.features.INPUT_FIELDS` plus ``person_id``.
    """
    people = (
        select(
            Person.id.label("person_id"),
            Person.household_id,
            Person.given_name,
            Person.other_names,
            Person.family_name,
            Person.birth_date,
            Person.birth_date_estimated,
            Person.sex,
            Person.phone,
            Area.code.label("locality"),
            Area.path.label("area_path"),
            Household.address,
        )
        .join(Area, Area.id == Person.area_id)
        .join(Household, Household.id == Person.household_id)
        .where(Person.status == "active")
    )
    ids = select(Identifier.person_id, Identifier.value.label("national_id")).where(
        holds(Identifier.active), Identifier.id_type == NATIONAL_ID
    )
    if person_ids is not None:
        wanted = list(person_ids)
        people = people.where(Person.id.in_(wanted))
        ids = ids.where(Identifier.person_id.in_(wanted))
    frame = _read(conn, people)
    if frame.height == 0:
        return pl.DataFrame(
            schema={
                "person_id": pl.Int64,
                "household_id": pl.Int64,
                "given_name": pl.String,
                "other_names": pl.String,
                "family_name": pl.String,
                "birth_date": pl.String,
                "birth_date_estimated": pl.Boolean,
                "sex": pl.String,
                "phone": pl.String,
                "locality": pl.String,
                "district": pl.String,
                "address": pl.String,
                "national_id": pl.String,
            }
        )
    national = _read(conn, ids)
    if national.height:
        national = national.group_by("person_id").agg(pl.col("national_id").first())
        frame = frame.join(national, on="person_id", how="left")
    else:
        frame = frame.with_columns(pl.lit(None, dtype=pl.String).alias("national_id"))
    parts = pl.col("area_path").str.strip_chars("/").str.split("/")
    return frame.with_columns(
        pl.when(parts.list.len() >= 2)
        .then(parts.list.get(-2, null_on_oob=True))
        .otherwise(parts.list.first())
        .alias("district"),
        pl.col("birth_date_estimated").cast(pl.Boolean),
    ).drop("area_path")


class LinkageRepository:
    """Reads and writes of linkage tables."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- models and runs ----------------------------------------------------

    def next_model_version(self, kind: str, source: str) -> int:
        """One more than the newest version of this kind and source."""
        newest = self.session.scalar(
            select(func.max(LinkageModel.version)).where(
                LinkageModel.kind == kind, LinkageModel.source == source
            )
        )
        return int(newest or 0) + 1

    def add(self, row: Any) -> Any:
        """Add a row and flush, so it has its id."""
        self.session.add(row)
        self.session.flush()
        return row

    def latest_model(self, kind: str, source: str = "registry") -> LinkageModel | None:
        """The newest model of ``kind`` for ``source``."""
        return self.session.scalars(
            select(LinkageModel)
            .where(LinkageModel.kind == kind, LinkageModel.source == source)
            .order_by(LinkageModel.version.desc())
            .limit(1)
        ).first()

    def model(self, model_id: int) -> LinkageModel | None:
        """A model by id."""
        return self.session.get(LinkageModel, model_id)

    def models(self) -> Sequence[LinkageModel]:
        """Every model, newest first."""
        return self.session.scalars(select(LinkageModel).order_by(LinkageModel.id.desc())).all()

    def run(self, run_id: int) -> LinkageRun | None:
        """A run by id."""
        return self.session.get(LinkageRun, run_id)

    def runs(self, limit: int = 50) -> Sequence[LinkageRun]:
        """The latest runs, newest first."""
        return self.session.scalars(
            select(LinkageRun).order_by(LinkageRun.id.desc()).limit(limit)
        ).all()

    # --- pairs --------------------------------------------------------------

    def insert_pairs(self, frame: pl.DataFrame) -> int:
        """Bulk insert scored pairs (columns named like ``linkage_pair``)."""
        return bulk_insert_rows(self.session.connection(), LinkagePair.__tablename__, frame)

    def supersede_pending(self, keep_run_id: int) -> int:
        """Take pending pairs of earlier runs out of the queue (the new run replaces them)."""
        result = self.session.execute(
            update(LinkagePair)
            .where(LinkagePair.status == "pending", LinkagePair.run_id != keep_run_id)
            .values(status="superseded")
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def decisions_frame(self) -> pl.DataFrame:
        """Every remembered decision as (``person_id_l``, ``person_id_r``, ``decision``)."""
        frame = _read(
            self.session.connection(),
            select(
                LinkageDecision.person_id_l, LinkageDecision.person_id_r, LinkageDecision.decision
            ),
        )
        if frame.height == 0:
            return pl.DataFrame(
                schema={"person_id_l": pl.Int64, "person_id_r": pl.Int64, "decision": pl.String}
            )
        return frame.with_columns(pl.col("person_id_l", "person_id_r").cast(pl.Int64))

    def queue(
        self, limit: int, offset: int, *, status: str = "pending"
    ) -> tuple[Sequence[LinkagePair], int]:
        """Pairs with ``status``, most likely duplicates first, and how many there are."""
        query = select(LinkagePair).where(LinkagePair.status == status)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(LinkagePair.match_weight.desc(), LinkagePair.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return rows, int(total)

    def pair(self, pair_id: int) -> LinkagePair | None:
        """A pair by id."""
        return self.session.get(LinkagePair, pair_id)

    def pairs_between(self, person_l: int, person_r: int) -> Sequence[LinkagePair]:
        """Stored pairs of these two persons (any run)."""
        return self.session.scalars(
            select(LinkagePair).where(
                LinkagePair.person_id_l == person_l, LinkagePair.person_id_r == person_r
            )
        ).all()

    def set_pair_status(self, person_l: int, person_r: int, status: str) -> None:
        """Give every stored pair of these persons ``status``."""
        self.session.execute(
            update(LinkagePair)
            .where(LinkagePair.person_id_l == person_l, LinkagePair.person_id_r == person_r)
            .values(status=status)
        )

    def decision(self, person_l: int, person_r: int) -> LinkageDecision | None:
        """The remembered decision about a pair."""
        return self.session.scalars(
            select(LinkageDecision).where(
                LinkageDecision.person_id_l == person_l, LinkageDecision.person_id_r == person_r
            )
        ).first()

    def labelled_pairs(self) -> Sequence[LinkageDecision]:
        """Every decision (the labels used to evaluate the model)."""
        return self.session.scalars(select(LinkageDecision).order_by(LinkageDecision.id)).all()

    # --- merges -------------------------------------------------------------

    def merge(self, merge_id: int) -> LinkageMerge | None:
        """A merge by id."""
        return self.session.get(LinkageMerge, merge_id)

    def applied_merge_of(self, person_id: int) -> LinkageMerge | None:
        """The applied merge that absorbed or kept ``person_id``, newest first."""
        return self.session.scalars(
            select(LinkageMerge)
            .where(
                LinkageMerge.status == "applied",
                or_(LinkageMerge.merged_id == person_id, LinkageMerge.survivor_id == person_id),
            )
            .order_by(LinkageMerge.id.desc())
        ).first()

    def later_merges(self, merge: LinkageMerge) -> Sequence[LinkageMerge]:
        """Applied merges after ``merge`` that touch its persons (they must be undone first)."""
        people = [merge.survivor_id, merge.merged_id]
        return self.session.scalars(
            select(LinkageMerge).where(
                LinkageMerge.status == "applied",
                LinkageMerge.id > merge.id,
                or_(LinkageMerge.survivor_id.in_(people), LinkageMerge.merged_id.in_(people)),
            )
        ).all()

    # --- blocking key index ---------------------------------------------------

    def replace_keys(self, keys: pl.DataFrame) -> int:
        """Replace the whole key index with ``keys`` (``person_id``, ``key``)."""
        self.session.execute(delete(LinkagePersonKey))
        return bulk_insert_rows(
            self.session.connection(),
            LinkagePersonKey.__tablename__,
            keys.select("person_id", "key"),
        )

    def add_keys(self, keys: pl.DataFrame) -> int:
        """Add keys of new persons (their old keys, if any, are replaced)."""
        ids = keys["person_id"].unique().to_list()
        for chunk in _chunks(ids, 5000):
            self.session.execute(
                delete(LinkagePersonKey).where(LinkagePersonKey.person_id.in_(chunk))
            )
        return bulk_insert_rows(
            self.session.connection(),
            LinkagePersonKey.__tablename__,
            keys.select("person_id", "key"),
        )

    def candidates_by_key(self, keys: Iterable[str]) -> pl.DataFrame:
        """Persons holding any of ``keys`` (``person_id``, ``key``), through the key index."""
        parts = []
        for chunk in _chunks(list(set(keys)), 2000):
            parts.append(
                _read(
                    self.session.connection(),
                    select(LinkagePersonKey.person_id, LinkagePersonKey.key).where(
                        LinkagePersonKey.key.in_(chunk)
                    ),
                )
            )
        parts = [p for p in parts if p.height]
        if not parts:
            return pl.DataFrame(schema={"person_id": pl.Int64, "key": pl.String})
        return pl.concat(parts).with_columns(pl.col("person_id").cast(pl.Int64))

    def key_count(self) -> int:
        """Rows in the key index."""
        return int(self.session.scalar(select(func.count()).select_from(LinkagePersonKey)) or 0)

    # --- links of outside lists -------------------------------------------------

    def retire_links(self, source: str) -> None:
        """Mark earlier links of ``source`` as not current (a new run replaces them)."""
        self.session.execute(
            update(LinkageLink)
            .where(LinkageLink.source == source, LinkageLink.current.is_(True))
            .values(current=False)
        )

    def insert_links(self, frame: pl.DataFrame) -> int:
        """Bulk insert links (columns named like ``linkage_link``)."""
        return bulk_insert_rows(self.session.connection(), LinkageLink.__tablename__, frame)

    def links(
        self, source: str | None, bands: Sequence[str], limit: int | None = None, offset: int = 0
    ) -> tuple[Sequence[LinkageLink], int]:
        """Current links, optionally of one source and in some bands."""
        conditions: list[Any] = [LinkageLink.current.is_(True), LinkageLink.band.in_(list(bands))]
        if source is not None:
            conditions.append(LinkageLink.source == source)
        query = select(LinkageLink).where(and_(*conditions))
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        query = query.order_by(LinkageLink.source, LinkageLink.source_record_id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return self.session.scalars(query).all(), int(total)

    def link_agreements(self, bands: Sequence[str]) -> pl.DataFrame:
        """Current links in ``bands`` with their model and per-comparison agreement JSON."""
        return _read(
            self.session.connection(),
            select(
                LinkageLink.source,
                LinkageLink.person_id,
                LinkageLink.model_id,
                LinkageLink.agreement,
            ).where(
                LinkageLink.current.is_(True),
                LinkageLink.band.in_(list(bands)),
                LinkageLink.person_id.is_not(None),
            ),
        )

    def links_frame(self, bands: Sequence[str]) -> pl.DataFrame:
        """Current links in ``bands``: ``source``, ``source_record_id``, ``person_id``..."""
        frame = _read(
            self.session.connection(),
            select(
                LinkageLink.source,
                LinkageLink.source_record_id,
                LinkageLink.person_id,
                LinkageLink.match_probability,
                LinkageLink.band,
            ).where(LinkageLink.current.is_(True), LinkageLink.band.in_(list(bands))),
        )
        return frame


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class LinkageErasureRepository:
    """Linkage rows holding a person's data: blocking keys, merge snapshots, decisions."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def delete_keys(self, person_ids: Sequence[int]) -> int:
        """Drop the blocking keys of the persons; how many."""
        result = self.session.execute(
            delete(LinkagePersonKey).where(LinkagePersonKey.person_id.in_(list(person_ids)))
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def merges(self, person_ids: Sequence[int]) -> Sequence[LinkageMerge]:
        """Merges the persons took part in, as survivor or as merged record."""
        ids = list(person_ids)
        query = select(LinkageMerge).where(
            or_(LinkageMerge.survivor_id.in_(ids), LinkageMerge.merged_id.in_(ids))
        )
        return self.session.scalars(query).all()

    def decisions(self, person_ids: Sequence[int]) -> Sequence[LinkageDecision]:
        """Review decisions about pairs including the persons."""
        ids = list(person_ids)
        query = select(LinkageDecision).where(
            or_(LinkageDecision.person_id_l.in_(ids), LinkageDecision.person_id_r.in_(ids))
        )
        return self.session.scalars(query).all()
