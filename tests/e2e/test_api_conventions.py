"""The published OpenAPI document states the API's conventions: If-Match, 412/428, problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from solidarity.governance.keys import KeyStore
from solidarity.web.app import create_app

UPDATES = [
    ("post", "/api/v1/change-requests"),
    ("post", "/api/v1/change-requests/{change_request_id}/approve"),
    ("post", "/api/v1/change-requests/{change_request_id}/reject"),
    ("patch", "/api/v1/programs/{code}"),
    ("post", "/api/v1/programs/cycles/{cycle_id}/approve"),
    ("post", "/api/v1/grievances/{grievance_id}/resolve"),
    ("post", "/api/v1/cases/{case_id}/close"),
    ("patch", "/api/v1/cases/{case_id}/plan/{item_id}"),
    ("post", "/api/v1/referrals/{referral_id}/accept"),
    ("patch", "/api/v1/coherence/actions/{code}"),
]


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    keys = KeyStore(Path(tmp_path_factory.mktemp("keys")))
    return create_app(create_engine("sqlite://"), keys).openapi()


@pytest.mark.parametrize(("method", "path"), UPDATES)
def test_updates_require_if_match_and_declare_412_and_428(
    document: dict[str, Any], method: str, path: str
) -> None:
    operation = document["paths"][path][method]
    (header,) = [p for p in operation["parameters"] if p["name"] == "If-Match"]
    assert header["in"] == "header" and header["required"] is True
    for status in ("412", "428"):
        content = operation["responses"][status]["content"]
        assert content["application/problem+json"]["schema"]["$ref"].endswith("/Problem")


def test_reads_and_additions_take_no_if_match(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            names = {p["name"] for p in operation.get("parameters", [])}
            if (method, path) not in UPDATES and "If-Match" in names:
                assert method != "get", path  # only changes may ask for it


def test_every_rest_error_is_documented_as_problem_details(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status[0] not in "45":
                    continue
                (media_type,) = response["content"]
                expected = (
                    "application/json" if path.startswith("/dci/") else "application/problem+json"
                )
                assert media_type == expected, (path, status)
