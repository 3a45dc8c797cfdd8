"""The coherence dashboard: overlaps, coverage gaps, fiscal incidence, journey, policy and
institutional maps, the scorecard, the action plan board, and the PDF report.

Filters (area, breakdown group, date) narrow every diagnostic; the charts are the
coherence package's own server-rendered SVG, shown beside tables of the same
figures so that nothing is only visible as a picture.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from solidarity.coherence import charts, institutions, plan
from solidarity.coherence import service as diagnostics
from solidarity.coherence.router import MANAGE, READ
from solidarity.coherence.schemas import ActionIn, ActionUpdate
from solidarity.errors import SolidarityError, StaleVersionError
from solidarity.governance.principal import Principal
from solidarity.registry import service as registry
from solidarity.web.deps import get_session, require
from solidarity.web.pages.common import field_errors, form_fields, locale_of, render
from solidarity.web.pages.messages import translate, translate_errors

router = APIRouter(include_in_schema=False)
SessionDep = Annotated[Session, Depends(get_session)]
Analyst = Annotated[Principal, Depends(require(READ))]
Planner = Annotated[Principal, Depends(require(MANAGE))]
FormData = Annotated[dict[str, str], Depends(form_fields)]
GROUPS = ("area", "urban_rural", "head_sex", "head_age_band", "disability", "quintile")
STATUSES = ("planned", "in_progress", "done", "cancelled")


def _chart(draw: Any, *args: Any) -> Markup | None:
    """A chart's SVG, or nothing when the chart extra is not installed or the data is empty."""
    try:
        return Markup(draw(*args))
    except (SolidarityError, ValueError, KeyError, TypeError):
        return None


def _parse_date(value: str | None) -> date:
    try:
        return date.fromisoformat(value) if value else date.today()
    except ValueError:
        return date.today()


@router.get("/coherence", response_class=HTMLResponse)
def dashboard(
    request: Request,
    session: SessionDep,
    analyst: Analyst,
    area: str = "",
    group: str = "area",
    as_of: str = "",
) -> HTMLResponse:
    """Every diagnostic for the chosen area, group and date, with charts and tables."""
    on = _parse_date(as_of)
    group = group if group in GROUPS else "area"
    if area:
        registry.require_area_in_scope(session, area, analyst.area_paths)
    elif analyst.area_paths is not None:
        area = ""  # national figures need a national grant: show the first own area
        own = [a for a in registry.list_areas(session) if analyst.covers_path(a.path)]
        area = own[0].code if own else ""
    ctx = diagnostics.Context(session, on, area or None, 0)
    overlaps = diagnostics.overlaps_of(ctx)
    targeting = diagnostics.targeting_of(ctx, group)
    gaps = diagnostics.targeting_of(ctx)
    fiscal = diagnostics.fiscal_of(ctx)
    journey = diagnostics.journey_of(ctx, None if group == "area" else group)
    policy = diagnostics.policy_map_of(ctx)
    referrals = diagnostics.referrals_of(ctx)
    matrix = ctx.overlap.matrix().to_dicts()
    svgs = {
        "overlap": _chart(charts.overlap_heatmap, matrix) if matrix else None,
        "gaps": _chart(charts.gap_bars, gaps.worst_areas) if gaps.worst_areas else None,
        "incidence": _chart(charts.incidence_bars, fiscal.incidence) if fiscal.incidence else None,
        "funnel": _chart(charts.journey_funnel, journey.funnel) if journey.funnel else None,
        "policy": _chart(charts.policy_grid, policy.cells) if policy.cells else None,
    }
    areas = [a for a in registry.list_areas(session, level=0) if analyst.covers_path(a.path)]
    areas += [a for a in registry.list_areas(session, level=1) if analyst.covers_path(a.path)]
    return render(
        request,
        "coherence/dashboard.html",
        analyst,
        filters={"area": area, "group": group, "as_of": on.isoformat()},
        areas=areas,
        groups=GROUPS,
        overlaps=overlaps,
        matrix=matrix,
        targeting=targeting,
        gaps=gaps,
        fiscal=fiscal,
        journey=journey,
        policy=policy,
        referrals=referrals,
        institutions=institutions.institutional_map(session, on),
        scorecard=plan.get_assessment(session),
        board=_board(session, on),
        statuses=STATUSES,
        charts=svgs,
        can_manage=analyst.has(MANAGE),
        errors={},
        draft={},
        today=on.isoformat(),
    )


def _board(session: Session, on: date) -> dict[str, list[Any]]:
    actions = plan.list_actions(session, on)
    return {status: [a for a in actions if a.status == status] for status in STATUSES}


#: Fields of an action edited in place on the board.
EDITED = ("status", "due_on", "responsible_person")


def _board_page(
    request: Request, planner: Principal, session: Session, on: date, **extra: Any
) -> HTMLResponse:
    context: dict[str, Any] = {
        "problem": None,
        "errors": {},
        "conflict": None,
        "created": None,
        "draft": {},
        **extra,
    }
    status_code = context.pop("status_code", 200)
    return render(
        request,
        "coherence/_board.html",
        planner,
        status_code=status_code,
        board=_board(session, on),
        statuses=STATUSES,
        can_manage=True,
        today=on.isoformat(),
        **context,
    )


def _date_or_error(raw: str | None, errors: list[dict[str, Any]], name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        errors.append({"field": name, "value": raw, "message": "must be a date YYYY-MM-DD"})
        return None


@router.post("/coherence/actions", response_class=HTMLResponse)
def create_action(
    request: Request, session: SessionDep, planner: Planner, form: FormData
) -> HTMLResponse:
    """Add an action to the plan from the board's form; errors come back beside the fields."""
    on = date.today()
    locale = locale_of(request)
    errors: list[dict[str, Any]] = []
    due_on = _date_or_error(form.get("due_on"), errors, "due_on")
    try:
        body = ActionIn(
            code=form.get("code", "").strip(),
            title=form.get("title", "").strip(),
            agency=form.get("agency", "").strip(),
            responsible_person=form.get("responsible_person", "").strip(),
            due_on=due_on,
            status=form.get("status") or "planned",  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        errors += [
            {"field": str(e["loc"][0]), "message": _pydantic_message(e)} for e in exc.errors()
        ]
        body = None
    if errors or body is None:
        return _board_page(
            request,
            planner,
            session,
            on,
            status_code=422,
            errors=field_errors(translate_errors(errors, locale)),
            draft=form,
        )
    try:
        created = plan.create_action(session, body, actor=planner.username, as_of=on)
    except SolidarityError as exc:
        session.rollback()
        return _board_page(
            request,
            planner,
            session,
            on,
            status_code=exc.status_code,
            errors={"code": [translate(exc.detail, locale)]},
            draft=form,
        )
    return _board_page(request, planner, session, on, status_code=201, created=created.code)


def _pydantic_message(error: Any) -> str:
    """A pydantic error in the words the registry's validation uses (so that it translates)."""
    kind = error.get("type", "")
    if kind in ("string_too_short", "missing"):
        return "is required"
    if kind == "string_too_long":
        return f"must be at most {error.get('ctx', {}).get('max_length')} characters"
    return str(error.get("msg", ""))


@router.post("/coherence/actions/update", response_class=HTMLResponse)
def update_action(
    request: Request, session: SessionDep, planner: Planner, form: FormData
) -> HTMLResponse:
    """Change an action's status, due date or responsible person in place.

    The card carries the version and the values it showed; when the action changed
    since, nothing is saved and the board shows what changed, with the edit ready
    to re-apply on the current version.
    """
    on = date.today()
    locale = locale_of(request)
    code = form.get("code", "")
    try:
        # Only the fields the card sent; a blank responsible person is "nobody" (text, not null).
        changes: dict[str, Any] = {}
        if form.get("status"):
            changes["status"] = form["status"]
        if "due_on" in form:
            changes["due_on"] = date.fromisoformat(form["due_on"]) if form["due_on"] else None
        if "responsible_person" in form:
            changes["responsible_person"] = form["responsible_person"].strip()
        update = ActionUpdate(version=int(form.get("version") or 0), **changes)
        plan.update_action(session, code, update, actor=planner.username, as_of=on)
    except StaleVersionError as exc:
        session.rollback()
        now = next((a for a in plan.list_actions(session, on) if a.code == code), None)
        if now is None:
            return _board_page(request, planner, session, on, problem=translate(exc.detail, locale))
        current = {
            "status": now.status,
            "due_on": now.due_on.isoformat() if now.due_on else "",
            "responsible_person": now.responsible_person,
        }
        rows = [
            (name, form.get(f"opened.{name}", ""), current[name])
            for name in EDITED
            if form.get(f"opened.{name}", "") != current[name]
        ]
        conflict = {
            "code": code,
            "version": now.version,
            "rows": rows,
            "mine": {name: form.get(name, "") for name in EDITED},
        }
        return _board_page(request, planner, session, on, status_code=409, conflict=conflict)
    except (SolidarityError, ValueError) as exc:
        session.rollback()
        problem = getattr(exc, "detail", None) or str(exc)
        return _board_page(request, planner, session, on, problem=translate(problem, locale))
    return _board_page(request, planner, session, on)
