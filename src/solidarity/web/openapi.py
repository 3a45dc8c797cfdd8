"""The published OpenAPI document says how errors look: problem details, or DCI error acks.

FastAPI documents its own 422 body (``HTTPValidationError``), which this app never
sends: every REST error is RFC 9457 problem details (``application/problem+json``)
and every DCI error an ``ack_status: ERR`` envelope. :func:`install_openapi` makes
the document say so, for every documented 4xx answer and for the 4xx answers any
operation may give (401, 403, 404, 413, 429...).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

PROBLEM_TYPE = "application/problem+json"

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; ``errors`` lists each field and reason",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
    "additionalProperties": True,
}

DCI_ERROR_SCHEMA: dict[str, Any] = {
    "title": "DciErrorAck",
    "description": "A DCI acknowledgement with ack_status ERR and the standard's error code",
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {
            "type": "object",
            "required": ["ack_status", "error"],
            "properties": {
                "ack_status": {"type": "string", "enum": ["ERR"]},
                "timestamp": {"type": "string"},
                "correlation_id": {"type": "string"},
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                },
            },
        },
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}

_PROBLEM_CONTENT = {PROBLEM_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}}
_DCI_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/DciErrorAck"}}}
_FASTAPI_ERRORS = ("HTTPValidationError", "ValidationError")


def _is_error(code: str) -> bool:
    return code[:1] in {"4", "5"}


def describe_errors(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with every error answer described as the app sends it (in place)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    schemas["DciErrorAck"] = DCI_ERROR_SCHEMA
    for path, operations in document.get("paths", {}).items():
        dci = path.startswith("/dci/")
        content = _DCI_CONTENT if dci else _PROBLEM_CONTENT
        for operation in operations.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses: dict[str, Any] = operation["responses"]
            for code, response in responses.items():
                if _is_error(str(code)):
                    response["content"] = content
                    if str(code) == "422" and response.get("description") == "Validation Error":
                        response["description"] = "Validation failed (errors name each field)"
            responses.setdefault(
                "4XX",
                {
                    "description": "DCI error acknowledgement"
                    if dci
                    else "Problem details (401, 403, 404, 413, 429...)",
                    "content": content,
                },
            )
    text = repr(document.get("paths", {}))
    for name in _FASTAPI_ERRORS:
        if f"#/components/schemas/{name}'" not in text:
            schemas.pop(name, None)
    return document


def install_openapi(app: FastAPI) -> None:
    """Publish ``app``'s OpenAPI document with its errors described (see the module)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = describe_errors(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
