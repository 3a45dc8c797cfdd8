"""Rules of the linkage domain. Services flush; the entry point commits.

Deduplication and linkage read the registry in bulk (Polars), score with
Splink and write pairs and links back in bulk. Decisions, merges and unmerges
are per pair. Memberships in programmes are moved on merge through movers that
other domains register with :func:`register_membership_mover`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl
import yaml
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from solidarity.db.base import holds, utcnow
from solidarity.db.engine import unit_of_work
from solidarity.errors import NotFoundError
from solidarity.linkage import engine
from solidarity.linkage.blocking import blocking_keys
from solidarity.linkage.config import LinkageConfig
from solidarity.linkage.errors import (
    LinkageInputRefused,
    MergeConflict,
    NoModelError,
)
from solidarity.linkage.evaluation import accuracy_at
from solidarity.linkage.features import INPUT_FIELDS, canonical_frame
from solidarity.linkage.models import (
    LinkageDecision,
    LinkageMerge,
    LinkageModel,
    LinkagePair,
    LinkageRun,
)
from solidarity.linkage.repository import LinkageRepository, registry_records
from solidarity.linkage.schemas import (
    DecisionOut,
    EvaluationOut,
    FieldAgreement,
    IntakeCheckOut,
    LevelParameter,
    LinkOut,
    LinkPage,
    MergeOut,
    ModelOut,
    PairDetail,
    PairOut,
    PairPage,
    PossibleDuplicate,
)
from solidarity.registry.history import close_household_version, close_person_version
from solidarity.registry.models import Area, Household, Identifier, Person

Progress = Callable[[str], None]

# --- Membership movers ---------------------------------------------------------


class MembershipMover(Protocol):
    """What another domain provides so that merges move its memberships.

    ``move`` is called inside the merge's unit of work after the registry records
    changed; it returns a JSON-ready token that ``restore`` gets back on unmerge.
    ``merged_household_emptied`` tells whether the merged person's household has no
    active member left (its household-level enrolments should follow the survivor).
    """

    def move(
        self,
        session: Session,
        *,
        merged_person_id: int,
        survivor_person_id: int,
        merged_household_id: int,
        survivor_household_id: int,
        merged_household_emptied: bool,
    ) -> Any: ...

    def restore(self, session: Session, token: Any) -> None: ...


def _default_movers() -> dict[str, MembershipMover]:
    # Programme enrolments always follow a merge; other domains may register more.
    from solidarity.programs.membership import ProgrammeMemberships

    return {"programs": ProgrammeMemberships()}


_movers: dict[str, MembershipMover] = _default_movers()


def register_membership_mover(name: str, mover: MembershipMover) -> None:
    """Have merges and unmerges move memberships of another domain (a later call replaces)."""
    _movers[name] = mover


def unregister_membership_mover(name: str) -> None:
    """Stop calling the mover ``name`` (tests use it)."""
    _movers.pop(name, None)


# --- Models ----------------------------------------------------------------------


def _fitted(row: LinkageModel) -> engine.FittedModel:
    return engine.FittedModel(
        settings=row.settings,
        rules=[tuple(r) for r in row.rules],
        link_type="dedupe_only" if row.link_type == "dedupe_only" else "link_only",
        exclude_same_household=row.exclude_same_household,
        report=row.report,
    )


def _store_model(
    session: Session,
    fitted: engine.FittedModel,
    config: LinkageConfig,
    *,
    kind: str,
    source: str,
    actor: str,
) -> LinkageModel:
    repo = LinkageRepository(session)
    row = LinkageModel(
        kind=kind,
        source=source,
        version=repo.next_model_version(kind, source),
        link_type=fitted.link_type,
        exclude_same_household=fitted.exclude_same_household,
        rules=[list(r) for r in fitted.rules],
        settings=fitted.settings,
        config=config.model_dump(mode="json"),
        report=fitted.report,
        created_by=actor,
        updated_by=actor,
    )
    return repo.add(row)  # type: ignore[no-any-return]


def model_out(row: LinkageModel) -> ModelOut:
    """A model as the steward reviews it: rules, prior and m/u per level."""
    return ModelOut(
        id=row.id,
        kind=row.kind,
        source=row.source,
        version=row.version,
        link_type=row.link_type,
        created_at=row.created_at,
        created_by=row.created_by,
        rules=row.rules,
        probability_two_random_records_match=row.settings.get(
            "probability_two_random_records_match"
        ),
        parameters=[LevelParameter(**p) for p in engine.parameters(row.settings)],
        report=row.report,
    )


def get_model(session: Session, model_id: int | None = None, kind: str = "dedupe") -> ModelOut:
    """A model by id, or the newest of ``kind``.

    Raises:
        NotFoundError: No such model.
    """
    repo = LinkageRepository(session)
    row = repo.model(model_id) if model_id is not None else repo.latest_model(kind)
    if row is None:
        raise NotFoundError("no linkage model yet: run `solidarity linkage dedupe` first")
    return model_out(row)


def model_settings(session: Session, model_id: int) -> dict[str, Any]:
    """The Splink settings (model JSON) of a model.

    Raises:
        NotFoundError: No such model.
    """
    row = LinkageRepository(session).model(model_id)
    if row is None:
        raise NotFoundError(f"linkage model {model_id} not found")
    return dict(row.settings)


def list_models(session: Session) -> list[ModelOut]:
    """Every fitted model, newest first."""
    return [model_out(m) for m in LinkageRepository(session).models()]


# --- Deduplication -------------------------------------------------------------------


def _band(config: LinkageConfig) -> pl.Expr:
    return (
        pl.when(pl.col("match_probability") >= config.thresholds.match)
        .then(pl.lit("match"))
        .when(pl.col("match_probability") >= config.thresholds.review)
        .then(pl.lit("review"))
        .otherwise(pl.lit("non_match"))
    )


def _agreement_json(pred: pl.DataFrame) -> pl.Expr:
    gammas = [c for c in pred.columns if c.startswith("gamma_")]
    weights_in = [c for c in pred.columns if c.startswith("mw_")]
    fields = [pl.col(c).alias(c.removeprefix("gamma_")) for c in gammas]
    weights = [pl.col(c).round(3).alias(c.removeprefix("mw_")) for c in weights_in]
    return pl.struct(
        pl.struct(fields).alias("gamma"), pl.struct(weights).alias("weight")
    ).struct.json_encode()


def _pairs_frame(
    pred: pl.DataFrame,
    config: LinkageConfig,
    run_id: int,
    model_id: int,
    decisions: pl.DataFrame,
) -> pl.DataFrame:
    pairs = pred.with_columns(
        pl.min_horizontal("unique_id_l", "unique_id_r").alias("person_id_l"),
        pl.max_horizontal("unique_id_l", "unique_id_r").alias("person_id_r"),
        _band(config).alias("band"),
        _agreement_json(pred).alias("agreement"),
    )
    pairs = pairs.join(decisions, on=["person_id_l", "person_id_r"], how="left")
    status = (
        pl.when(pl.col("decision").is_not_null())
        .then(pl.col("decision"))
        .when(pl.col("band") == "non_match")
        .then(pl.lit("non_match"))
        .otherwise(pl.lit("pending"))
    )
    return pairs.select(
        pl.lit(run_id).alias("run_id"),
        pl.lit(model_id).alias("model_id"),
        pl.col("person_id_l").cast(pl.Int64),
        pl.col("person_id_r").cast(pl.Int64),
        pl.col("match_weight").cast(pl.Float64),
        pl.col("match_probability").cast(pl.Float64),
        "band",
        status.alias("status"),
        pl.col("match_key").cast(pl.String),
        "agreement",
    )


def _registry_frame(session: Session, person_ids: Sequence[int] | None = None) -> pl.DataFrame:
    records = registry_records(session.connection(), person_ids)
    return canonical_frame(records, "person_id")


@dataclass
class DedupeResult:
    """What a deduplication run did."""

    run_id: int
    model_id: int
    model_version: int
    stats: dict[str, Any] = field(default_factory=dict)


def dedupe(
    session: Session,
    config: LinkageConfig | None = None,
    *,
    actor: str = "system",
    retrain: bool = True,
    backend: str | None = None,
    progress: Progress | None = None,
) -> DedupeResult:
    """Score the registry against itself, cluster, sort pairs into bands and store them.

    Trains a new model version (or reuses the newest with ``retrain=False``),
    stores every pair at or above ``thresholds.store`` with its weight and
    per-field agreement, replaces the blocking-key index, and merges the
    automatic matches only when the configuration enables ``auto_merge``.

    Raises:
        LinkageInputRefused: The registry has fewer than two active persons, or no
            blocking rule is usable.
        BlockingRuleRefused: A steward's blocking rule would explode.
    """
    config = config or LinkageConfig()
    if backend is not None:
        config = config.model_copy(update={"backend": backend})
    say = progress or (lambda _m: None)
    repo = LinkageRepository(session)
    timings: dict[str, float] = {}
    start = time.perf_counter()
    frame = _registry_frame(session)
    timings["read"] = time.perf_counter() - start
    if frame.height < 2:
        raise LinkageInputRefused(
            f"the registry holds {frame.height} active person(s): nothing to deduplicate"
        )
    say(f"read {frame.height:,} active persons")
    start = time.perf_counter()
    if retrain or repo.latest_model("dedupe") is None:
        fitted, linker = engine.train(frame, config, progress=say)
        model_row = _store_model(
            session, fitted, config, kind="dedupe", source="registry", actor=actor
        )
    else:
        model_row = repo.latest_model("dedupe")  # type: ignore[assignment]
        fitted = _fitted(model_row)
        linker = engine.load_linker(fitted, frame, backend=config.backend)
    timings["training"] = time.perf_counter() - start

    run = repo.add(
        LinkageRun(
            kind="dedupe",
            model_id=model_row.id,
            source="registry",
            status="running",
            thresholds=config.thresholds.model_dump(),
            created_by=actor,
            updated_by=actor,
        )
    )
    start = time.perf_counter()
    pred = engine.predict(linker, config.thresholds.store)
    timings["scoring"] = time.perf_counter() - start
    say(f"scored candidate pairs: {pred.height:,} at or above {config.thresholds.store}")

    start = time.perf_counter()
    pairs = _pairs_frame(pred, config, run.id, model_row.id, repo.decisions_frame())
    clusters = engine.cluster(
        pairs.filter(pl.col("status") != "not_match").select(
            pl.col("person_id_l").alias("unique_id_l"),
            pl.col("person_id_r").alias("unique_id_r"),
            "match_probability",
        ),
        config.thresholds.match,
    )
    pairs = pairs.join(clusters.rename({"unique_id": "person_id_l"}), on="person_id_l", how="left")
    timings["clustering"] = time.perf_counter() - start

    start = time.perf_counter()
    superseded = repo.supersede_pending(run.id)
    repo.insert_pairs(pairs)
    keys = blocking_keys(frame, fitted.rules).rename({"unique_id": "person_id"})
    repo.replace_keys(keys)
    timings["storing"] = time.perf_counter() - start

    merged = 0
    if config.auto_merge:
        merged = _auto_merge(session, run.id, actor)
    sizes = clusters.group_by("cluster_id").len() if clusters.height else None
    bands = pairs.group_by("band").len().rows()
    considered = sum(
        int(c["comparisons"]) for c in fitted.report.get("blocking", []) if c.get("accepted")
    )
    run.stats = {
        "persons": frame.height,
        "candidate_pairs": considered,
        "pairs_stored": pairs.height,
        "bands": {band: int(n) for band, n in bands},
        "not_stored_below": config.thresholds.store,
        "pending_review": int(pairs.filter(pl.col("status") == "pending").height),
        "already_decided": int(pairs.filter(pl.col("status").is_in(["match", "not_match"])).height),
        "clusters": int(sizes.height) if sizes is not None else 0,
        "largest_cluster": int(sizes["len"].max()) if sizes is not None else 0,  # type: ignore[arg-type]
        "superseded_pending": superseded,
        "auto_merged": merged,
        "blocking_keys": keys.height,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    run.status = "succeeded"
    run.finished_at = utcnow()
    session.flush()
    return DedupeResult(run.id, model_row.id, model_row.version, run.stats)


def _auto_merge(session: Session, run_id: int, actor: str) -> int:
    pending = session.scalars(
        select(LinkagePair)
        .where(
            LinkagePair.run_id == run_id,
            LinkagePair.band == "match",
            LinkagePair.status == "pending",
        )
        .order_by(LinkagePair.match_weight.desc())
    ).all()
    merged = 0
    absorbed: set[int] = set()
    for pair in pending:
        if pair.person_id_l in absorbed or pair.person_id_r in absorbed:
            continue
        decide(
            session,
            pair.id,
            "match",
            actor=actor,
            reason="automatic: above the match threshold",
        )
        absorbed.add(pair.person_id_r)
        merged += 1
    return merged


# --- Review queue ------------------------------------------------------------------------


def _agreement(
    pair_agreement: Mapping[str, Any], labels: dict[str, dict[int, str]]
) -> list[FieldAgreement]:
    gamma = pair_agreement.get("gamma", {}) or {}
    weights = pair_agreement.get("weight", {}) or {}
    out = []
    for name, value in gamma.items():
        g = int(value) if value is not None else -1
        out.append(
            FieldAgreement(
                comparison=name,
                gamma=g,
                level=labels.get(name, {}).get(g, str(g)),
                match_weight=weights.get(name),
            )
        )
    return out


def _agreement_dict(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        loaded: dict[str, Any] = json.loads(raw)
        return loaded
    return dict(raw or {})


class _Labels:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.cache: dict[int, dict[str, dict[int, str]]] = {}

    def __call__(self, model_id: int) -> dict[str, dict[int, str]]:
        if model_id not in self.cache:
            row = LinkageRepository(self.session).model(model_id)
            self.cache[model_id] = engine.level_labels(row.settings) if row else {}
        return self.cache[model_id]


def _pair_out(pair: LinkagePair, labels: _Labels) -> PairOut:
    return PairOut(
        id=pair.id,
        run_id=pair.run_id,
        model_id=pair.model_id,
        person_id_l=pair.person_id_l,
        person_id_r=pair.person_id_r,
        match_weight=pair.match_weight,
        match_probability=pair.match_probability,
        band=pair.band,
        status=pair.status,
        cluster_id=pair.cluster_id,
        agreement=_agreement(_agreement_dict(pair.agreement), labels(pair.model_id)),
    )


def review_queue(
    session: Session, *, limit: int = 50, offset: int = 0, status: str = "pending"
) -> PairPage:
    """Pairs waiting for a decision, the likeliest duplicates first."""
    rows, total = LinkageRepository(session).queue(limit, offset, status=status)
    labels = _Labels(session)
    return PairPage(
        items=[_pair_out(p, labels) for p in rows], total=total, limit=limit, offset=offset
    )


def _person_view(session: Session, person_id: int) -> dict[str, Any]:
    person = session.get(Person, person_id)
    if person is None:
        return {"id": person_id, "missing": True}
    area = session.get(Area, person.area_id)
    household = session.get(Household, person.household_id)
    identifiers = session.scalars(
        select(Identifier).where(Identifier.person_id == person_id, holds(Identifier.active))
    ).all()
    return {
        "id": person.id,
        "status": person.status,
        "household_id": person.household_id,
        "area_code": area.code if area else None,
        "address": household.address if household else None,
        "given_name": person.given_name,
        "other_names": person.other_names,
        "family_name": person.family_name,
        "sex": person.sex,
        "birth_date": person.birth_date.isoformat() if person.birth_date else None,
        "birth_date_estimated": person.birth_date_estimated,
        "relationship": person.relationship,
        "phone": person.phone,
        "identifiers": [{"id_type": i.id_type, "value": i.value} for i in identifiers],
    }


def get_pair(session: Session, pair_id: int) -> PairDetail:
    """A pair with both records, and per comparison the level reached and its weight.

    Raises:
        NotFoundError: No such pair.
    """
    pair = LinkageRepository(session).pair(pair_id)
    if pair is None:
        raise NotFoundError(f"pair {pair_id} not found")
    out = _pair_out(pair, _Labels(session))
    return PairDetail(
        **out.model_dump(),
        records=[_person_view(session, pair.person_id_l), _person_view(session, pair.person_id_r)],
    )


def _merge_out(merge: LinkageMerge) -> MergeOut:
    return MergeOut.model_validate(merge)


def decide(
    session: Session,
    pair_id: int,
    decision: str,
    *,
    actor: str = "system",
    reason: str | None = None,
    merge: bool = True,
    survivor_id: int | None = None,
) -> DecisionOut:
    """Record a steward's decision about a pair; a match merges the two records.

    The decision is remembered per pair of persons, so later runs do not ask again.

    Raises:
        NotFoundError: No such pair.
        MergeConflict: A record is no longer active, or the survivor is not in the pair.
    """
    repo = LinkageRepository(session)
    pair = repo.pair(pair_id)
    if pair is None:
        raise NotFoundError(f"pair {pair_id} not found")
    if decision not in {"match", "not_match"}:
        raise LinkageInputRefused(f"decision must be match or not_match, not {decision!r}")
    row = repo.decision(pair.person_id_l, pair.person_id_r)
    if row is None:
        row = repo.add(
            LinkageDecision(
                person_id_l=pair.person_id_l,
                person_id_r=pair.person_id_r,
                decision=decision,
                pair_id=pair.id,
                model_id=pair.model_id,
                match_probability=pair.match_probability,
                reason=reason,
                created_by=actor,
                updated_by=actor,
            )
        )
    else:
        row.decision = decision
        row.reason = reason
        row.pair_id = pair.id
        row.updated_by = actor
    done: LinkageMerge | None = None
    if decision == "match" and merge:
        survivor = survivor_id if survivor_id is not None else pair.person_id_l
        if survivor not in (pair.person_id_l, pair.person_id_r):
            raise MergeConflict(f"person {survivor} is not in pair {pair_id}")
        other = pair.person_id_r if survivor == pair.person_id_l else pair.person_id_l
        done = merge_persons(session, survivor, other, actor=actor, decision_id=row.id)
        repo.set_pair_status(pair.person_id_l, pair.person_id_r, "merged")
    else:
        repo.set_pair_status(pair.person_id_l, pair.person_id_r, decision)
    session.flush()
    return DecisionOut(
        id=row.id,
        person_id_l=row.person_id_l,
        person_id_r=row.person_id_r,
        decision=decision,  # type: ignore[arg-type]
        reason=row.reason,
        decided_by=row.updated_by,
        merge=_merge_out(done) if done else None,
    )


# --- Merges ------------------------------------------------------------------------------

#: Person columns that are bookkeeping, not data: never taken from the merged record.
_BOOKKEEPING = {
    "version",
    "valid_from",
    "change_request_id",
    "changed_by",
    "status",
    "removal_reason",
    "household_id",
    "area_id",
    "relationship",
    "name_index",  # derived from the names (decision 0003), recomputed on every update
}

#: Survivorship, field by field (documented in docs/linkage.md):
#: - ``birth_date``/``birth_date_estimated``: an exact date wins over an estimated one;
#: - ``phone``: the more recently updated record's phone wins (contact details age);
#: - ``extra``: keys missing on the survivor are added from the merged record;
#: - every other field: the survivor's value, unless it is empty.
SURVIVORSHIP = {
    "birth_date": "exact date over estimated",
    "phone": "most recently updated record",
    "extra": "union of keys, survivor first",
    "*": "survivor unless empty",
}


def _data_columns() -> list[str]:
    from solidarity.registry.history import PERSON_STATE

    return [c for c in PERSON_STATE if c not in _BOOKKEEPING]


def _snapshot(person: Person) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in (*_data_columns(), "status", "removal_reason", "household_id", "area_id"):
        value = getattr(person, name)
        out[name] = value.isoformat() if isinstance(value, date | datetime) else value
    return out


def _restore_value(name: str, value: Any) -> Any:
    if name == "birth_date" and isinstance(value, str):
        return date.fromisoformat(value)
    return value


def _survived(survivor: Person, merged: Person) -> dict[str, Any]:
    taken: dict[str, Any] = {}
    for name in _data_columns():
        mine, theirs = getattr(survivor, name), getattr(merged, name)
        if name in {"birth_date", "birth_date_estimated"}:
            continue
        if name == "phone":
            newer = (merged.updated_at or merged.created_at) > (
                survivor.updated_at or survivor.created_at
            )
            if theirs and (not mine or newer) and theirs != mine:
                taken[name] = theirs
            continue
        if name == "extra":
            union = {**(theirs or {}), **(mine or {})}
            if theirs and union != (mine or {}):
                taken[name] = union
            continue
        if (mine is None or mine == "") and theirs not in (None, ""):
            taken[name] = theirs
    if survivor.birth_date_estimated and not merged.birth_date_estimated and merged.birth_date:
        taken["birth_date"] = merged.birth_date
        taken["birth_date_estimated"] = False
    return taken


def _active_members(session: Session, household_id: int) -> int:
    return len(
        session.scalars(
            select(Person.id).where(Person.household_id == household_id, Person.status == "active")
        ).all()
    )


def merge_persons(
    session: Session,
    survivor_id: int,
    merged_id: int,
    *,
    actor: str = "system",
    decision_id: int | None = None,
) -> LinkageMerge:
    """Merge ``merged_id`` into ``survivor_id``: survivorship per field, all identifiers kept.

    Both records keep their history (a new version each); the merged record's
    status becomes ``merged``; its active identifiers move to the survivor; a
    household left without active members is marked ``merged`` too; registered
    membership movers move programme memberships. Everything needed to undo is
    stored on the merge.

    Raises:
        NotFoundError: A person does not exist.
        MergeConflict: A person is not active, or both are the same.
    """
    if survivor_id == merged_id:
        raise MergeConflict("a person cannot be merged into itself")
    survivor = session.get(Person, survivor_id)
    merged = session.get(Person, merged_id)
    if survivor is None or merged is None:
        raise NotFoundError(f"person {survivor_id if survivor is None else merged_id} not found")
    for person in (survivor, merged):
        if person.status != "active":
            raise MergeConflict(f"person {person.id} is {person.status}, not active")
    now = utcnow()
    survivor_before, merged_before = _snapshot(survivor), _snapshot(merged)
    taken = _survived(survivor, merged)

    identifiers = session.scalars(
        select(Identifier).where(Identifier.person_id == merged_id, holds(Identifier.active))
    ).all()
    moved = [i.id for i in identifiers]
    for ident in identifiers:
        ident.person_id = survivor_id
        ident.updated_by = actor

    close_person_version(session, merged, at=now, change_request_id=None, actor=actor)
    merged.status = "merged"
    merged.removal_reason = "duplicate"
    if taken:
        close_person_version(session, survivor, at=now, change_request_id=None, actor=actor)
        for name, value in taken.items():
            setattr(survivor, name, value)
    session.flush()

    emptied = False
    household = session.get(Household, merged.household_id)
    household_before: dict[str, Any] | None = None
    if (
        household is not None
        and household.id != survivor.household_id
        and household.status == "active"
        and _active_members(session, household.id) == 0
    ):
        household_before = {"status": household.status}
        close_household_version(session, household, at=now, change_request_id=None, actor=actor)
        household.status = "merged"
        emptied = True
        session.flush()

    tokens: dict[str, Any] = {}
    for name, mover in _movers.items():
        tokens[name] = mover.move(
            session,
            merged_person_id=merged_id,
            survivor_person_id=survivor_id,
            merged_household_id=merged.household_id,
            survivor_household_id=survivor.household_id,
            merged_household_emptied=emptied,
        )
    if household_before is not None:
        tokens["_household"] = {"id": household.id, **household_before}  # type: ignore[union-attr]
    row = LinkageMerge(
        survivor_id=survivor_id,
        merged_id=merged_id,
        decision_id=decision_id,
        status="applied",
        survivor_before=survivor_before,
        merged_before=merged_before,
        fields_taken=sorted(taken),
        identifiers_moved=moved,
        memberships=json.loads(json.dumps(tokens, default=str)),
        created_by=actor,
        updated_by=actor,
    )
    session.add(row)
    session.flush()
    return row


def unmerge(session: Session, merge_id: int, *, actor: str = "system") -> MergeOut:
    """Undo a merge: both records, identifiers and memberships as they were before it.

    The undo is itself a new version of each record (history is never rewound).
    The pair's decision becomes ``not_match`` so the pair is not proposed again.

    Raises:
        NotFoundError: No such merge.
        MergeConflict: Already undone, or a later merge involving these persons must be
            undone first.
    """
    repo = LinkageRepository(session)
    row = repo.merge(merge_id)
    if row is None:
        raise NotFoundError(f"merge {merge_id} not found")
    if row.status != "applied":
        raise MergeConflict(f"merge {merge_id} is already {row.status}")
    later = repo.later_merges(row)
    if later:
        raise MergeConflict(
            f"undo the later merge(s) {', '.join(str(m.id) for m in later)} first",
            later=[m.id for m in later],
        )
    survivor = session.get(Person, row.survivor_id)
    merged = session.get(Person, row.merged_id)
    if survivor is None or merged is None:
        raise NotFoundError("a merged person no longer exists")
    now = utcnow()
    tokens = dict(row.memberships or {})
    for name, token in tokens.items():
        if name == "_household":
            continue
        mover = _movers.get(name)
        if mover is None:
            raise MergeConflict(f"memberships were moved by {name!r}, which is not registered now")
        mover.restore(session, token)
    household_token = tokens.get("_household")
    if household_token:
        household = session.get(Household, household_token["id"])
        if household is not None:
            close_household_version(session, household, at=now, change_request_id=None, actor=actor)
            household.status = household_token["status"]

    for ident_id in row.identifiers_moved:
        ident = session.get(Identifier, ident_id)
        if ident is not None:
            ident.person_id = row.merged_id
            ident.updated_by = actor
    if row.fields_taken:
        close_person_version(session, survivor, at=now, change_request_id=None, actor=actor)
        for name in row.fields_taken:
            setattr(survivor, name, _restore_value(name, row.survivor_before.get(name)))
    close_person_version(session, merged, at=now, change_request_id=None, actor=actor)
    for name, value in row.merged_before.items():
        if name in {"household_id", "area_id"}:
            continue
        setattr(merged, name, _restore_value(name, value))
    row.status = "undone"
    row.undone_at = now
    row.undone_by = actor
    row.updated_by = actor
    low, high = sorted((row.survivor_id, row.merged_id))
    decision = repo.decision(low, high)
    if decision is not None:
        decision.decision = "not_match"
        decision.reason = f"unmerged (merge {row.id})"
        decision.updated_by = actor
    repo.set_pair_status(low, high, "not_match")
    session.flush()
    return _merge_out(row)


def get_merge(session: Session, merge_id: int) -> MergeOut:
    """A merge by id.

    Raises:
        NotFoundError: No such merge.
    """
    row = LinkageRepository(session).merge(merge_id)
    if row is None:
        raise NotFoundError(f"merge {merge_id} not found")
    return _merge_out(row)


# --- Evaluation against decisions ----------------------------------------------------------


def evaluate_decisions(session: Session) -> EvaluationOut:
    """Precision and recall of the scores the steward saw, against the steward's decisions."""
    rows = LinkageRepository(session).labelled_pairs()
    frame = pl.DataFrame(
        {
            "unique_id_l": [r.person_id_l for r in rows],
            "unique_id_r": [r.person_id_r for r in rows],
            "match_probability": [r.match_probability or 0.0 for r in rows],
            "decision": [r.decision for r in rows],
        },
        schema={
            "unique_id_l": pl.Int64,
            "unique_id_r": pl.Int64,
            "match_probability": pl.Float64,
            "decision": pl.String,
        },
    )
    truth = frame.filter(pl.col("decision") == "match").select(
        pl.col("unique_id_l").alias("id_l"), pl.col("unique_id_r").alias("id_r")
    )
    results = [accuracy_at(frame, truth, t).as_dict() for t in (0.5, 0.8, 0.9, 0.95, 0.99)]
    return EvaluationOut(
        labelled_pairs=frame.height,
        matches=truth.height,
        non_matches=frame.height - truth.height,
        at_thresholds=results,
    )


# --- Intake check -----------------------------------------------------------------------


def _dedupe_model(session: Session) -> LinkageModel:
    row = LinkageRepository(session).latest_model("dedupe")
    if row is None:
        raise NoModelError(
            "no deduplication model yet: run `solidarity linkage dedupe` once to train it"
        )
    return row


def _score_against(
    model: LinkageModel, new: pl.DataFrame, candidates: pl.DataFrame, min_probability: float
) -> pl.DataFrame:
    fitted = _fitted(model)
    linker = engine.load_linker(fitted, new, candidates)
    pred = engine.predict(linker, min_probability)
    return pred.filter(pl.col("unique_id_l") != pl.col("unique_id_r"))


def _candidate_frame(session: Session, new: pl.DataFrame, model: LinkageModel) -> pl.DataFrame:
    repo = LinkageRepository(session)
    keys = blocking_keys(new, [tuple(r) for r in model.rules])
    found = repo.candidates_by_key(keys["key"].to_list())
    ids = sorted(set(found["person_id"].to_list()) - set(new["unique_id"].to_list()))
    if not ids:
        return new.clear()
    return _registry_frame(session, ids)


def possible_duplicates(
    session: Session, record: Mapping[str, Any], *, limit: int = 10
) -> list[PossibleDuplicate]:
    """Registry persons who may be the person about to be registered, likeliest first.

    ``record`` has the person's fields (``given_name``, ``family_name``,
    ``birth_date``, ``sex``, ``other_names``, ``phone``, ``national_id``,
    ``area_code`` or ``locality``, ``address``, ``household_id``). Candidates come
    from the blocking-key index, not from a rescan of the registry.

    Raises:
        NoModelError: No deduplication model has been trained yet.
    """
    model = _dedupe_model(session)
    config = LinkageConfig.model_validate(model.config)
    raw = {k: record.get(k) for k in INPUT_FIELDS if record.get(k) is not None}
    if "locality" not in raw and record.get("area_code"):
        raw["locality"] = record["area_code"]
    if raw.get("locality") and "district" not in raw:
        raw["district"] = _district_of(session, str(raw["locality"]))
    born = raw.get("birth_date")
    if isinstance(born, date):
        raw["birth_date"] = born.isoformat()
    raw["unique_id"] = 0
    new = canonical_frame(pl.DataFrame([raw], infer_schema_length=None))
    candidates = _candidate_frame(session, new, model)
    if candidates.height == 0:
        return []
    pred = _score_against(model, new, candidates, config.thresholds.review)
    pred = pred.sort("match_weight", descending=True).head(limit)
    labels = engine.level_labels(model.settings)
    cand = candidates.select("unique_id", "given_name", "family_name", "birth_date", "household_id")
    out = []
    for row in pred.join(cand, left_on="unique_id_r", right_on="unique_id").iter_rows(named=True):
        agreement = json.loads(
            pred.filter(pl.col("unique_id_r") == row["unique_id_r"])
            .select(_agreement_json(pred))
            .item()
        )
        p = float(row["match_probability"])
        out.append(
            PossibleDuplicate(
                person_id=int(row["unique_id_r"]),
                household_id=row["household_id"],
                given_name=row["given_name"],
                family_name=row["family_name"],
                birth_date=row["birth_date"],
                match_weight=float(row["match_weight"]),
                match_probability=p,
                band="match" if p >= config.thresholds.match else "review",
                agreement=_agreement(agreement, labels),
            )
        )
    return out


def _district_of(session: Session, area_code: str) -> str | None:
    area = session.scalars(select(Area).where(Area.code == area_code)).first()
    if area is None:
        return None
    parts = area.path.strip("/").split("/")
    return parts[-2] if len(parts) >= 2 else parts[0]


def review_imported_persons(db: Engine, actor: str) -> Callable[[list[int]], None]:
    """A batch hook for bulk intake: each committed batch's persons are checked.

    Entry points pass it as ``import_files(..., on_batch=...)``; every batch is
    checked in its own unit of work, so a failure of the check never undoes the
    import (the persons are in the registry either way).
    """

    def check(person_ids: list[int]) -> None:
        with unit_of_work(db) as session:
            check_new_persons(session, person_ids, actor=actor)

    return check


def check_new_persons(
    session: Session, person_ids: Sequence[int], *, actor: str = "system"
) -> IntakeCheckOut:
    """Check persons just imported against the registry; possible duplicates go to review.

    Meant to be called after an import batch commits, with the batch's person ids.
    The new persons' blocking keys are added to the index, candidates are found
    through it (other new persons of the batch included), pairs are scored with the
    newest deduplication model and those at or above the review threshold are
    queued (unless already decided).

    Returns:
        Counts; ``note`` says why nothing was checked when no model exists yet.
    """
    repo = LinkageRepository(session)
    model = repo.latest_model("dedupe")
    if model is None:
        return IntakeCheckOut(
            run_id=None,
            persons_checked=0,
            candidate_pairs=0,
            pairs_queued=0,
            note="no deduplication model yet: run `solidarity linkage dedupe` to train one",
        )
    config = LinkageConfig.model_validate(model.config)
    new = _registry_frame(session, list(person_ids))
    if new.height == 0:
        return IntakeCheckOut(run_id=None, persons_checked=0, candidate_pairs=0, pairs_queued=0)
    rules = [tuple(r) for r in model.rules]
    keys = blocking_keys(new, rules).rename({"unique_id": "person_id"})
    repo.add_keys(keys)
    found = repo.candidates_by_key(keys["key"].to_list())
    candidate_ids = sorted(set(found["person_id"].to_list()))
    run = repo.add(
        LinkageRun(
            kind="intake",
            model_id=model.id,
            source="registry",
            status="running",
            thresholds=config.thresholds.model_dump(),
            created_by=actor,
            updated_by=actor,
        )
    )
    pred = pl.DataFrame()
    if candidate_ids:
        candidates = _registry_frame(session, candidate_ids)
        pred = _score_against(model, new, candidates, config.thresholds.review)
    queued = 0
    if pred.height:
        pairs = _pairs_frame(pred, config, run.id, model.id, repo.decisions_frame())
        pairs = pairs.unique(["person_id_l", "person_id_r"]).filter(pl.col("band") != "non_match")
        existing = {
            (p.person_id_l, p.person_id_r)
            for p in session.scalars(
                select(LinkagePair).where(
                    LinkagePair.status == "pending",
                    LinkagePair.person_id_l.in_(pairs["person_id_l"].to_list()),
                )
            ).all()
        }
        if existing:
            pairs = pairs.filter(
                ~pl.struct("person_id_l", "person_id_r").is_in(
                    [{"person_id_l": a, "person_id_r": b} for a, b in existing]
                )
            )
        repo.insert_pairs(pairs.with_columns(pl.lit(None, dtype=pl.Int64).alias("cluster_id")))
        queued = int(pairs.filter(pl.col("status") == "pending").height)
    run.stats = {
        "persons": new.height,
        "candidates": len(candidate_ids),
        "pairs_scored": pred.height,
        "pairs_queued": queued,
    }
    run.status = "succeeded"
    run.finished_at = utcnow()
    session.flush()
    return IntakeCheckOut(
        run_id=run.id,
        persons_checked=new.height,
        candidate_pairs=pred.height,
        pairs_queued=queued,
    )


# --- Linkage of outside lists -----------------------------------------------------------------


@dataclass(frozen=True)
class ListMapping:
    """How an outside list's columns map to the fields the model compares."""

    id_column: str
    fields: dict[str, str]


def load_mapping(path: Path) -> ListMapping:
    """Read a mapping YAML: ``id: <column>`` and ``fields: {<field>: <column>}``.

    Raises:
        LinkageInputRefused: The file is missing or malformed, or names unknown fields.
    """
    if not path.is_file():
        raise LinkageInputRefused(f"mapping file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise LinkageInputRefused(f"mapping file {path} is not valid YAML: {exc}") from exc
    return mapping_from_dict(raw, where=str(path))


#: Fields a mapping may name (``area_code`` is the registry's area code of the record).
MAPPABLE = (*[f for f in INPUT_FIELDS if f != "household_id"], "area_code")


def mapping_from_dict(raw: Any, *, where: str = "mapping") -> ListMapping:
    """Validate a mapping given as a dict.

    Raises:
        LinkageInputRefused: Not a mapping, no id column, or unknown target fields.
    """
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), dict):
        raise LinkageInputRefused(f"{where} must have 'id' (a column) and 'fields' (a mapping)")
    id_column = raw.get("id")
    if not isinstance(id_column, str) or not id_column:
        raise LinkageInputRefused(f"{where} must name the list's record id column as 'id'")
    unknown = sorted(set(raw["fields"]) - set(MAPPABLE))
    if unknown:
        raise LinkageInputRefused(
            f"{where} names unknown field(s) {', '.join(unknown)}",
            [
                {
                    "field": f"fields.{name}",
                    "message": f"unknown field; use one of {', '.join(MAPPABLE)}",
                }
                for name in unknown
            ],
        )
    extra = sorted(set(raw) - {"id", "fields"})
    if extra:
        raise LinkageInputRefused(f"{where} has unknown key(s) {', '.join(extra)}")
    return ListMapping(id_column=id_column, fields={k: str(v) for k, v in raw["fields"].items()})


def read_list(path: Path) -> pl.DataFrame:
    """Read an outside list (CSV, XLSX or Parquet) with every column as text.

    Raises:
        LinkageInputRefused: Missing, unreadable or empty file.
    """
    if not path.is_file():
        raise LinkageInputRefused(f"file {path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix in {".xlsx", ".xls"}:
            frame = pl.read_excel(path, infer_schema_length=0)
        else:
            frame = pl.read_csv(path, infer_schema_length=0)
    except Exception as exc:
        raise LinkageInputRefused(f"file {path.name} could not be read: {exc}") from exc
    if frame.height == 0:
        raise LinkageInputRefused(f"file {path.name} has no records")
    return frame


def check_list(
    frame: pl.DataFrame, mapping: ListMapping, *, name: str = "the list"
) -> pl.DataFrame:
    """The list with columns renamed to model fields, after every check on its shape.

    Raises:
        LinkageInputRefused: Missing columns, an empty file, all-null mapped fields,
            a duplicated or empty record id.
    """
    if frame.height == 0:
        raise LinkageInputRefused(f"{name} has no records")
    wanted = {mapping.id_column, *mapping.fields.values()}
    missing = sorted(wanted - set(frame.columns))
    if missing:
        raise LinkageInputRefused(
            f"{name} lacks the column(s) {', '.join(missing)} named in the mapping",
            [{"field": c, "message": "column not in the file"} for c in missing],
        )
    empty = [
        field_name
        for field_name, column in mapping.fields.items()
        if frame[column].cast(pl.String).str.strip_chars().replace("", None).null_count()
        == frame.height
    ]
    if empty:
        raise LinkageInputRefused(
            f"{name}: mapped field(s) {', '.join(empty)} are empty in every record",
            [{"field": f, "message": "all values are empty"} for f in empty],
        )
    ids = frame[mapping.id_column].cast(pl.String)
    if ids.null_count():
        raise LinkageInputRefused(
            f"{name}: {ids.null_count()} record(s) have no {mapping.id_column}"
        )
    if ids.n_unique() != frame.height:
        raise LinkageInputRefused(f"{name}: {mapping.id_column} repeats; record ids must be unique")
    names = {"given_name", "family_name"} & set(mapping.fields)
    if not names or "birth_date" not in mapping.fields:
        raise LinkageInputRefused(
            "the mapping must give at least a name (given_name or family_name) and birth_date"
        )
    out = frame.select(
        ids.alias("source_record_id"),
        *[
            pl.col(col).cast(pl.String).alias(field_name)
            for field_name, col in mapping.fields.items()
        ],
    )
    if "area_code" in out.columns:
        out = out.rename({"area_code": "locality"})
    return out


@dataclass
class LinkResult:
    """What linking an outside list did."""

    run_id: int
    model_id: int
    records: int
    matched: int
    review: int
    unmatched: int
    stats: dict[str, Any] = field(default_factory=dict)


def link_list(
    session: Session,
    frame: pl.DataFrame,
    mapping: ListMapping,
    source: str,
    config: LinkageConfig | None = None,
    *,
    actor: str = "system",
    progress: Progress | None = None,
) -> LinkResult:
    """Link an outside list to registry persons and store each record's best link.

    Trains a linkage model for ``source`` (a new version each run), scores the
    list against active registry persons, and stores for every record its best
    person with weight and band (``match``, ``review`` or ``non_match``, the
    latter without a person). Earlier links of the same source stop being current.

    Raises:
        LinkageInputRefused: The list, mapping or registry cannot be linked.
        BlockingRuleRefused: A steward's blocking rule would explode.
    """
    config = config or LinkageConfig()
    say = progress or (lambda _m: None)
    if not source or len(source) > 64:
        raise LinkageInputRefused("the source name must be 1 to 64 characters")
    listed = check_list(frame, mapping, name=f"list {source!r}")
    listed = listed.with_row_index("row_id").with_columns(pl.col("row_id").cast(pl.Int64))
    if "locality" in listed.columns and "district" not in listed.columns:
        areas = pl.read_database(
            select(Area.code.label("locality"), Area.path), connection=session.connection()
        )
        parts = pl.col("path").str.strip_chars("/").str.split("/")
        areas = areas.select(
            "locality",
            pl.when(parts.list.len() >= 2)
            .then(parts.list.get(-2, null_on_oob=True))
            .otherwise(parts.list.first())
            .alias("district"),
        )
        listed = listed.join(areas, on="locality", how="left")
    timings: dict[str, float] = {}
    start = time.perf_counter()
    registry = _registry_frame(session).with_columns(
        pl.lit(None, dtype=pl.Int64).alias("household_id")
    )
    if registry.height == 0:
        raise LinkageInputRefused("the registry holds no active person to link to")
    records = canonical_frame(listed, "row_id")
    timings["read"] = time.perf_counter() - start
    say(f"{records.height:,} list records against {registry.height:,} registry persons")
    start = time.perf_counter()
    fitted, linker = engine.train(records, config, right=registry, progress=say)
    model_row = _store_model(session, fitted, config, kind="link", source=source, actor=actor)
    timings["training"] = time.perf_counter() - start
    repo = LinkageRepository(session)
    run = repo.add(
        LinkageRun(
            kind="link",
            model_id=model_row.id,
            source=source,
            status="running",
            thresholds=config.thresholds.model_dump(),
            created_by=actor,
            updated_by=actor,
        )
    )
    start = time.perf_counter()
    pred = engine.predict(linker, config.thresholds.store)
    timings["scoring"] = time.perf_counter() - start
    best = (
        pred.with_columns(_agreement_json(pred).alias("agreement"))
        .sort("match_weight", descending=True)
        .unique("unique_id_l", keep="first")
        .with_columns(_band(config).alias("band"))
    )
    links = listed.select("row_id", "source_record_id").join(
        best.select(
            pl.col("unique_id_l").alias("row_id"),
            pl.col("unique_id_r").alias("person_id"),
            "match_weight",
            "match_probability",
            "band",
            "agreement",
        ),
        on="row_id",
        how="left",
    )
    links = links.select(
        pl.lit(run.id).alias("run_id"),
        pl.lit(model_row.id).alias("model_id"),
        pl.lit(source).alias("source"),
        "source_record_id",
        pl.when(pl.col("band") == "non_match")
        .then(None)
        .otherwise(pl.col("person_id"))
        .cast(pl.Int64)
        .alias("person_id"),
        pl.col("match_weight").cast(pl.Float64),
        pl.col("match_probability").cast(pl.Float64),
        pl.col("band").fill_null("non_match"),
        pl.lit(True).alias("current"),
        "agreement",
    )
    repo.retire_links(source)
    repo.insert_links(links)
    counts = dict(links.group_by("band").len().rows())
    run.stats = {
        "records": listed.height,
        "registry_persons": registry.height,
        "bands": {k: int(v) for k, v in counts.items()},
        "pairs_scored": pred.height,
        "timings": {k: round(v, 3) for k, v in timings.items()},
    }
    run.status = "succeeded"
    run.finished_at = utcnow()
    session.flush()
    return LinkResult(
        run_id=run.id,
        model_id=model_row.id,
        records=listed.height,
        matched=int(counts.get("match", 0)),
        review=int(counts.get("review", 0)),
        unmatched=int(counts.get("non_match", 0)),
        stats=run.stats,
    )


def linked_persons(session: Session, *, bands: Sequence[str] = ("match",)) -> pl.DataFrame:
    """Current links of every outside list as a frame, for the coherence diagnostics.

    Columns: ``source``, ``source_record_id``, ``person_id``, ``match_probability``,
    ``band``. Counting overlaps across programmes run outside Solidarity is a
    group-by on ``person_id``.
    """
    return LinkageRepository(session).links_frame(bands)


def link_agreement_levels(session: Session, *, bands: Sequence[str] = ("match",)) -> pl.DataFrame:
    """How each linked outside record agrees with its registry person, comparison by comparison.

    Columns: ``source``, ``person_id``, ``comparison``, ``gamma`` (the comparison
    level reached; -1 when either side was empty) and ``top`` (the model's exact
    agreement level for that comparison). The coherence diagnostics turn these
    into disagreement rates per field and source.
    """
    links = LinkageRepository(session).link_agreements(bands)
    schema = {
        "source": pl.String,
        "person_id": pl.Int64,
        "comparison": pl.String,
        "gamma": pl.Int64,
        "top": pl.Int64,
    }
    labels = _Labels(session)
    frames = []
    for (model_id,), group in links.group_by("model_id"):
        levels = labels(int(model_id))
        agreement = group.get_column("agreement")
        if agreement.dtype == pl.String:  # JSON text on some drivers, decoded on others
            agreement = agreement.str.json_decode()
        gammas = agreement.struct.field("gamma")
        present = {f.name for f in gammas.dtype.fields}  # type: ignore[attr-defined]
        for comparison, named in levels.items():
            known = [level for level in named if level >= 0]
            if not known or comparison not in present:
                continue
            gamma = gammas.struct.field(comparison).cast(pl.Int64, strict=False)
            frames.append(
                group.select("source", pl.col("person_id").cast(pl.Int64)).with_columns(
                    pl.lit(comparison).alias("comparison"),
                    gamma.fill_null(-1).alias("gamma"),
                    pl.lit(max(known), dtype=pl.Int64).alias("top"),
                )
            )
    if not frames:
        return pl.DataFrame(schema=schema)
    return pl.concat(frames).select(list(schema)).cast(schema)  # type: ignore[arg-type]


def list_links(
    session: Session,
    *,
    source: str | None = None,
    bands: Sequence[str] | None = None,
    limit: int = 50,
    offset: int = 0,
) -> LinkPage:
    """A page of current links of outside lists, optionally of one source and some bands."""
    rows, total = LinkageRepository(session).links(
        source, list(bands or ("match", "review", "non_match")), limit, offset
    )
    return LinkPage(
        items=[LinkOut.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


def list_runs(session: Session, limit: int = 50) -> Sequence[LinkageRun]:
    """The latest runs."""
    return LinkageRepository(session).runs(limit)


def get_run(session: Session, run_id: int) -> LinkageRun:
    """A run by id.

    Raises:
        NotFoundError: No such run.
    """
    row = LinkageRepository(session).run(run_id)
    if row is None:
        raise NotFoundError(f"linkage run {run_id} not found")
    return row
