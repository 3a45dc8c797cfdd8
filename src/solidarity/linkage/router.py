"""REST API of the linkage domain: models, runs, review queue, decisions, merges, links.

Routes are thin: each calls one service function. Deduplication and linkage
runs are long, so the API queues them as jobs (``linkage.dedupe``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from solidarity.errors import NotFoundError, PermissionDenied
from solidarity.governance.principal import Principal
from solidarity.jobs import service as jobs
from solidarity.linkage import service
from solidarity.linkage.schemas import (
    DecisionIn,
    DecisionOut,
    EvaluationOut,
    LinkPage,
    MergeOut,
    ModelOut,
    PairDetail,
    PairPage,
    PossibleDuplicate,
    RunOut,
)
from solidarity.registry import service as registry
from solidarity.web.deps import get_actor, get_session, require

router = APIRouter(prefix="/api/v1/linkage", tags=["linkage"])

SessionDep = Annotated[Session, Depends(get_session)]
ActorDep = Annotated[str, Depends(get_actor)]


def _national_steward(principal: Principal = Depends(require("linkage.review"))) -> Principal:
    """Review compares persons across the whole registry: a national grant is needed."""
    if not principal.national:
        raise PermissionDenied(
            "deduplication and linkage review need a national grant; yours covers some areas only"
        )
    return principal


Steward = Annotated[Principal, Depends(_national_steward)]
Registrar = Annotated[Principal, Depends(require("registry.write"))]

#: Job kind of a registry deduplication run.
DEDUPE_JOB = "linkage.dedupe"


class DedupeRequest(BaseModel):
    """Options of a deduplication run; the configuration is the steward's YAML as JSON."""

    model_config = ConfigDict(extra="forbid")

    retrain: bool = True
    config: dict[str, Any] | None = Field(default=None, description="linkage configuration")


class JobQueued(BaseModel):
    """A queued job."""

    job_id: int
    kind: str


class PersonRecord(BaseModel):
    """The fields of a person about to be registered."""

    model_config = ConfigDict(extra="forbid")

    given_name: str | None = None
    other_names: str | None = None
    family_name: str | None = None
    birth_date: str | None = None
    birth_date_estimated: bool | None = None
    sex: str | None = None
    area_code: str | None = None
    address: str | None = None
    national_id: str | None = None
    phone: str | None = None


@router.post("/dedupe", status_code=status.HTTP_202_ACCEPTED)
def start_dedupe(
    _principal: Steward, body: DedupeRequest, session: SessionDep, actor: ActorDep
) -> JobQueued:
    """Queue a deduplication of the registry (train, score, cluster, queue for review)."""
    from solidarity.linkage.config import config_from_dict

    if body.config is not None:
        config_from_dict(body.config)  # refuse a bad configuration now, not in the job
    job = jobs.enqueue(
        session,
        DEDUPE_JOB,
        {"retrain": body.retrain, "config": body.config, "actor": actor},
        actor=actor,
    )
    return JobQueued(job_id=job.id, kind=DEDUPE_JOB)


@router.get("/runs")
def list_linkage_runs(
    _principal: Steward, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[RunOut]:
    """The latest deduplication, linkage and intake runs."""
    return [RunOut.model_validate(r) for r in service.list_runs(session, limit)]


@router.get("/runs/{run_id}")
def get_linkage_run(
    _principal: Steward, run_id: Annotated[int, Path(ge=1)], session: SessionDep
) -> RunOut:
    """One run with its counts and timings."""
    return RunOut.model_validate(service.get_run(session, run_id))


@router.get("/models")
def list_linkage_models(_principal: Steward, session: SessionDep) -> list[ModelOut]:
    """Every fitted model with its parameters, newest first."""
    return service.list_models(session)


@router.get("/models/{model_id}")
def get_linkage_model(
    _principal: Steward, model_id: Annotated[int, Path(ge=1)], session: SessionDep
) -> ModelOut:
    """A fitted model: blocking rules, prior, and m/u/weight of every comparison level."""
    return service.get_model(session, model_id)


@router.get("/pairs")
def list_review_queue(
    _principal: Steward,
    session: SessionDep,
    status_: Annotated[str, Query(alias="status")] = "pending",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> PairPage:
    """Pairs waiting for review (or with another status), likeliest duplicates first."""
    return service.review_queue(session, limit=limit, offset=offset, status=status_)


@router.get("/pairs/{pair_id}")
def get_linkage_pair(
    _principal: Steward, pair_id: Annotated[int, Path(ge=1)], session: SessionDep
) -> PairDetail:
    """A pair with both records and the agreement and weight of every comparison."""
    return service.get_pair(session, pair_id)


@router.post("/pairs/{pair_id}/decision")
def decide_linkage_pair(
    _principal: Steward,
    pair_id: Annotated[int, Path(ge=1)],
    body: DecisionIn,
    session: SessionDep,
    actor: ActorDep,
) -> DecisionOut:
    """Decide match or not a match; a match merges the two records (unless merge is false)."""
    return service.decide(
        session,
        pair_id,
        body.decision,
        actor=actor,
        reason=body.reason,
        merge=body.merge,
        survivor_id=body.survivor_id,
    )


@router.get("/merges/{merge_id}")
def get_linkage_merge(
    _principal: Steward, merge_id: Annotated[int, Path(ge=1)], session: SessionDep
) -> MergeOut:
    """A merge and what it changed."""
    return service.get_merge(session, merge_id)


@router.post("/merges/{merge_id}/undo")
def unmerge_persons(
    _principal: Steward, merge_id: Annotated[int, Path(ge=1)], session: SessionDep, actor: ActorDep
) -> MergeOut:
    """Undo a merge: both records, identifiers and memberships as before."""
    return service.unmerge(session, merge_id, actor=actor)


@router.post("/possible-duplicates")
def find_possible_duplicates(
    principal: Registrar, body: PersonRecord, session: SessionDep
) -> list[PossibleDuplicate]:
    """Registry persons who may be the person about to be registered (before saving).

    Only candidates in the officer's areas are shown: a candidate elsewhere would
    reveal that a person is registered there.
    """
    found = service.possible_duplicates(session, body.model_dump(exclude_none=True))
    return [c for c in found if _visible(session, principal, c.household_id)]


def _visible(session: Session, principal: Principal, household_id: int | None) -> bool:
    if principal.area_paths is None:
        return True
    if household_id is None:
        return False
    try:
        registry.require_household_in_scope(session, household_id, principal.area_paths)
    except NotFoundError:
        return False
    return True


@router.get("/links")
def list_links(
    _principal: Steward,
    session: SessionDep,
    source: str | None = None,
    band: Annotated[list[str] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LinkPage:
    """Current links of outside lists to registry persons."""
    return service.list_links(session, source=source, bands=band, limit=limit, offset=offset)


@router.get("/evaluation")
def evaluate_linkage_decisions(_principal: Steward, session: SessionDep) -> EvaluationOut:
    """Precision and recall of the scores against the steward's decisions (labels)."""
    return service.evaluate_decisions(session)
