"""Duplicate review: the queue of uncertain pairs, one pair at a time, side by side.

Each comparison shows the level the two records reached and its match weight;
the steward merges, says "not a match", or skips (keys m, n and s). A pair is
shown only when both records lie in the steward's areas.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session

from solidarity.errors import NotFoundError, SolidarityError
from solidarity.governance import audit
from solidarity.governance.principal import Principal
from solidarity.linkage import service as linkage
from solidarity.linkage.schemas import PairDetail
from solidarity.registry import service as registry
from solidarity.web.deps import get_session, require
from solidarity.web.pages.common import form_fields, render

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
Steward = Annotated[Principal, Depends(require("linkage.review"))]
FormData = Annotated[dict[str, str], Depends(form_fields)]
#: Record fields shown side by side, in this order.
SHOWN = (
    "given_name",
    "other_names",
    "family_name",
    "sex",
    "birth_date",
    "relationship",
    "household_id",
    "area_code",
    "address",
    "phone",
    "status",
)
SCAN = 50


def _in_scope(session: Session, principal: Principal, pair: PairDetail) -> bool:
    if principal.area_paths is None:
        return True
    for record in pair.records:
        try:
            registry.require_household_in_scope(
                session, int(record.get("household_id") or 0), principal.area_paths
            )
        except NotFoundError:
            return False
    return True


def _next_pair(
    session: Session, principal: Principal, offset: int
) -> tuple[PairDetail | None, int]:
    """The first pending pair from ``offset`` whose records are in scope, and its position."""
    position = offset
    while True:
        page = linkage.review_queue(session, limit=SCAN, offset=position)
        for item in page.items:
            pair = linkage.get_pair(session, item.id)
            if _in_scope(session, principal, pair):
                return pair, position
            position += 1
        if not page.items or position >= page.total:
            return None, position


def _view(pair: PairDetail | None) -> dict[str, Any]:
    if pair is None:
        return {"pair": None}
    left, right = pair.records[0], pair.records[1]
    rows = []
    for name in SHOWN:
        a, b = left.get(name), right.get(name)
        rows.append({"name": name, "left": a, "right": b, "same": a == b and a is not None})
    identifiers = (
        ", ".join(f"{i['id_type']}: {i['value']}" for i in left.get("identifiers", [])),
        ", ".join(f"{i['id_type']}: {i['value']}" for i in right.get("identifiers", [])),
    )
    return {"pair": pair, "rows": rows, "identifiers": identifiers, "left": left, "right": right}


def _panel(
    request: Request,
    session: Session,
    steward: Principal,
    offset: int,
    done: str | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    pair, position = _next_pair(session, steward, offset)
    total = linkage.review_queue(session, limit=1, offset=0).total
    if pair is not None:
        audit.record_for(
            session,
            steward,
            "linkage.pair_read",
            "linkage_pair",
            pair.id,
            {"persons": [pair.person_id_l, pair.person_id_r]},
        )
    template = (
        "linkage/_pair.html"
        if request.headers.get("hx-request") == "true"
        else "linkage/review.html"
    )
    return render(
        request,
        template,
        steward,
        status_code=status_code,
        offset=position,
        total=total,
        done=done,
        problem=problem,
        **_view(pair),
    )


@router.get("/linkage/review", response_class=HTMLResponse)
def review_page(
    request: Request, session: SessionDep, steward: Steward, offset: int = 0
) -> HTMLResponse:
    """The next pair waiting for a decision (``offset`` skips pairs)."""
    return _panel(request, session, steward, max(0, offset))


@router.post("/linkage/review/decide", response_class=HTMLResponse)
def decide_pair(
    request: Request, session: SessionDep, steward: Steward, form: FormData
) -> HTMLResponse:
    """Merge or keep apart the two records of a pair, then show the next pair."""
    offset = max(0, int(form.get("offset") or 0))
    decision = form.get("decision", "")
    try:
        pair = linkage.get_pair(session, int(form.get("pair") or 0))
        if not _in_scope(session, steward, pair):
            raise NotFoundError(f"pair {pair.id} not found")
        outcome = linkage.decide(
            session,
            pair.id,
            decision,
            actor=steward.username,
            reason=form.get("reason") or None,
            merge=decision == "match",
        )
    except SolidarityError as exc:
        session.rollback()
        return _panel(request, session, steward, offset, problem=exc.detail, status_code=200)
    audit.record_for(
        session,
        steward,
        f"linkage.{decision}",
        "linkage_pair",
        pair.id,
        {"persons": [pair.person_id_l, pair.person_id_r], "merge": bool(outcome.merge)},
    )
    done = f"{pair.person_id_l}/{pair.person_id_r}:{decision}"
    return _panel(request, session, steward, offset, done=done)
