"""Optimistic locking over HTTP: versions travel as ``ETag`` and come back as ``If-Match``.

Every versioned record (households, change requests, programmes, payment cycles,
grievances, cases and their plan items, referrals, coherence actions) is answered
with ``ETag: "<version>"``. A request that changes such a record must send the tag
it read in ``If-Match``: without it the answer is 428 Precondition Required, with
a stale one 412 Precondition Failed (both problem details). Routes take the
expected version with the :data:`IfMatch` dependency and tag their answer with
:func:`tag`; :func:`declare_preconditions` documents both in the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel

from solidarity.errors import StaleVersionError, ValidationFailed, VersionRequiredError

_TAG = re.compile(r'^\s*"(\d{1,18})"\s*$|^\s*(\d{1,18})\s*$')
IF_MATCH = "If-Match"

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def etag(version: int) -> str:
    """The entity tag of a record version (a strong tag: ``"7"``)."""
    return f'"{version}"'


def tag(response: Response, record: T) -> T:
    """Set ``ETag`` on ``response`` from ``record.version`` and return ``record``."""
    version = getattr(record, "version", None)
    if isinstance(version, int) and not isinstance(version, bool):
        response.headers["ETag"] = etag(version)
    return record


def with_version(body: M, expected: int) -> M:
    """``body`` carrying the ``If-Match`` version as its ``version`` (services check it).

    Older clients may still send ``version`` in the body; it must then agree.

    Raises:
        ValidationFailed: The body's ``version`` differs from ``If-Match``.
    """
    stated = getattr(body, "version", None)
    if "version" in body.model_fields_set and stated != expected:
        raise ValidationFailed(
            f"the body's version {stated} and If-Match {expected} disagree: send If-Match only",
            [{"field": "version", "value": stated, "message": "disagrees with If-Match"}],
        )
    return body.model_copy(update={"version": expected})


def parse_if_match(value: str | None) -> int:
    """The record version an ``If-Match`` header names.

    Raises:
        VersionRequiredError: The header is missing, empty or ``*`` (428).
        StaleVersionError: It is not one strong tag as this API returns, e.g. a weak
            ``W/"7"`` tag, a list or garbage: it cannot match the current version (412).
    """
    if value is None or not value.strip() or value.strip() == "*":
        raise VersionRequiredError(
            "this change needs the If-Match header with the ETag you read "
            '(e.g. If-Match: "3"): read the record first so that you do not '
            "overwrite someone else's change",
            header=IF_MATCH,
        )
    found = _TAG.match(value)
    if found is None:
        raise StaleVersionError(
            f"If-Match {value[:80]!r} is not an ETag this API returns (one strong tag "
            'such as "3"), so it matches no version of the record',
            header=IF_MATCH,
        )
    return int(found.group(1) or found.group(2))


def if_match(request: Request) -> int:
    """Dependency: the version the caller read, from ``If-Match`` (428/412 otherwise)."""
    return parse_if_match(request.headers.get(IF_MATCH))


#: The version a changing request was prepared against (``If-Match``).
IfMatch = Annotated[int, Depends(if_match)]

_PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
_ETAG_HEADER = {
    "ETag": {
        "description": "The record version, to send back as If-Match",
        "schema": {"type": "string"},
    }
}


def _needs_if_match(route: APIRoute) -> bool:
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if dependant.call is if_match:
            return True
        pending.extend(dependant.dependencies)
    return False


def declare_preconditions(router: APIRouter) -> APIRouter:
    """Document ``If-Match`` (required) and the 412/428 answers on routes using :data:`IfMatch`.

    The header is read by the dependency itself rather than declared as a FastAPI
    parameter, so that a missing header answers 428 (not 422) while the OpenAPI
    document still marks it required.
    """
    for route in router.routes:
        if not isinstance(route, APIRoute) or not _needs_if_match(route):
            continue
        if any(
            p.get("name") == IF_MATCH for p in (route.openapi_extra or {}).get("parameters", [])
        ):
            continue  # declared already
        extra: dict[str, Any] = {
            "parameters": [
                {
                    "name": IF_MATCH,
                    "in": "header",
                    "required": True,
                    "description": 'The ETag of the record as you read it, e.g. "3"',
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "412": {
                    "description": "The record changed since you read it (problem details)",
                    "content": _PROBLEM,
                },
                "428": {
                    "description": "If-Match is missing (problem details)",
                    "content": _PROBLEM,
                },
            },
        }
        route.openapi_extra = _merged(route.openapi_extra or {}, extra)
    return router


def _merged(into: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(into)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        elif isinstance(value, list) and isinstance(out.get(key), list):
            out[key] = [*out[key], *value]
        else:
            out[key] = value
    return out


def etag_header() -> dict[str, Any]:
    """The OpenAPI ``headers`` member documenting ``ETag`` on an answer."""
    return dict(_ETAG_HEADER)
