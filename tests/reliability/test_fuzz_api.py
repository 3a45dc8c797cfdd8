"""Property-based fuzzing of the whole REST API (schemathesis) and of the DCI endpoints.

Every operation of the app's own OpenAPI document is called by an authenticated
machine client holding every role, with data generated from the document (valid
and invalid). Each answer must not be a server error, must be documented and
valid against the published schema, and every error must be RFC 9457 problem
details; DCI answers must be DCI envelopes, errors in the DCI error structure.

The normal run is bounded (``SOLIDARITY_FUZZ_MAX_EXAMPLES``, default 3 per
operation, deterministic) on SQLite; ``make fuzz`` raises it.
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.specs.openapi import checks as openapi_checks
from sqlalchemy import Engine, create_engine

from solidarity.db import migrate
from solidarity.db.engine import make_engine, unit_of_work
from solidarity.governance import agreements
from solidarity.governance.keys import KeyStore
from solidarity.governance.roles import roles
from solidarity.governance.schemas import AgencyIn, AgreementIn, GrantIn
from solidarity.governance.service import create_client
from solidarity.governance.tokens import issue_access_token
from solidarity.web.app import create_app
from tests.contracts.dci import envelope, search_message, validate
from tests.integration.test_registry_builders import build_registry

MAX_EXAMPLES = int(os.environ.get("SOLIDARITY_FUZZ_MAX_EXAMPLES", "3"))
PROBLEM = "application/problem+json"
CLIENT_ID = "fuzzer"

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=MAX_EXAMPLES <= 3,  # the bounded run is the same on every machine
    suppress_health_check=list(HealthCheck),
    database=None,
)

CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]


class Fuzzed:
    """The app under fuzzing, on its own populated SQLite database, and its token."""

    def __init__(self, app: FastAPI, token: str) -> None:
        self.app = app
        self.headers = {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, field_key_file: Path) -> Iterator[Fuzzed]:
    from solidarity.config import get_settings
    from solidarity.governance.encryption import reset_key_ring

    # The run's key ring (the per-test fixture that sets it runs after module fixtures).
    keyring = pytest.MonkeyPatch()
    keyring.setenv("SOLIDARITY_KEY_FILE", str(field_key_file))
    reset_key_ring()
    root = tmp_path_factory.mktemp("fuzz")
    get_settings.cache_clear()
    engine: Engine = make_engine(f"sqlite:///{root / 'solidarity.db'}")
    migrate.upgrade(engine)
    with unit_of_work(engine) as session:
        build_registry(session)
        # A machine client sees only what its agency's agreements allow: share everything.
        agreements.create_agency(session, AgencyIn(code="FUZZ", name="Fuzzer"), actor="test")
        agreements.create_agreement(
            session,
            AgreementIn(code="DSA-FUZZ", agency_code="FUZZ", purposes=["verification"],
                        fields=["*"], valid_from=date(2020, 1, 1)),
            actor="test",
        )  # fmt: skip
        _user, secret = create_client(
            session,
            client_id=CLIENT_ID,
            display_name="API fuzzer",
            actor="test",
            grants=[GrantIn(role=role) for role in roles()],
            agency_code="FUZZ",
        )
    keys = KeyStore(root / "keys", token_minutes=240)
    app = create_app(engine, keys)
    with TestClient(app, base_url="https://testserver") as client:
        form = {"grant_type": "client_credentials", "client_id": CLIENT_ID}
        answer = client.post("/oauth2/client/token", data={**form, "client_secret": secret})
        assert answer.status_code == 200, answer.text
    # The same grant, valid long enough for `make fuzz` on a busy machine.
    token, _expires = issue_access_token(
        keys,
        subject=CLIENT_ID,
        scopes=answer.json()["scope"].split(),
        issuer=get_settings().token_issuer,
        minutes=240,
    )
    yield Fuzzed(app, token)
    engine.dispose()
    keyring.undo()
    reset_key_ring()


def _published_document() -> dict[str, Any]:
    # The document depends on neither the database nor the keys: read it from an app on
    # a blank database, with a throwaway key ring (read at collection, before fixtures).
    from solidarity.governance.encryption import KeyRing, reset_key_ring, write_key_ring

    with tempfile.TemporaryDirectory() as scratch:
        ring = Path(scratch) / "field-keys.json"
        write_key_ring(KeyRing.generate(str(ring)), ring)
        before = os.environ.get("SOLIDARITY_KEY_FILE")
        os.environ["SOLIDARITY_KEY_FILE"] = str(ring)
        reset_key_ring()
        try:
            return create_app(create_engine("sqlite://"), KeyStore(Path("unused"))).openapi()
        finally:
            if before is None:
                os.environ.pop("SOLIDARITY_KEY_FILE", None)
            else:
                os.environ["SOLIDARITY_KEY_FILE"] = before
            reset_key_ring()


#: Reports rendering charts with vl-convert: one bounded run aborted the process inside
#: vl-convert (not reproduced since; charts are now rendered one at a time). They are
#: fuzzed by `make fuzz`, not in every test run, until that is understood.
CHART_REPORTS = r"^/api/v1/(coherence|monitoring)/report$"

# The REST API; the DCI envelopes are fuzzed below, from valid messages.
schema = schemathesis.openapi.from_dict(_published_document()).exclude(path_regex=r"^/dci/")
if MAX_EXAMPLES <= 3:
    schema = schema.exclude(path_regex=CHART_REPORTS)


def _is_problem(response: Any) -> None:
    content_type = response.headers.get("content-type", [""])[0]
    assert content_type.startswith(PROBLEM), (response.status_code, content_type, response.text)
    body = response.json()
    assert body["status"] == response.status_code
    assert isinstance(body["title"], str) and isinstance(body["detail"], str)


@schema.parametrize()
@FUZZ_SETTINGS
def test_rest_api_answers_within_its_contract(case: Any, fuzzed: Fuzzed) -> None:
    # A generous timeout: the machine running the suite may be shared and busy.
    response = case.call(
        app=fuzzed.app, base_url="https://testserver", headers=fuzzed.headers, timeout=120
    )
    case.validate_response(response, checks=CHECKS)
    if response.status_code >= 400:
        _is_problem(response)


# --- DCI -----------------------------------------------------------------------------------

JSON_LEAF = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text()
JSON = st.recursive(
    JSON_LEAF,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
DCI_PATHS = [
    "/dci/social/registry/sync/search",
    "/dci/social/registry/search",
    "/dci/social/registry/subscribe",
    "/dci/social/registry/txn/status",
    "/dci/ibr/registry/sync/search",
    "/dci/ibr/registry/sync/enrolled",
    "/dci/crvs/registry/notify",
    "/dci/crvs/registry/on-search",
]


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> dict[str, Any]:
    """A valid search envelope with some members replaced, dropped or added."""
    body = envelope(
        "search",
        search_message("idtype-value", {"type": "UIN", "value": "NID-001"}),
        sender_id=CLIENT_ID,
    )
    body = copy.deepcopy(body)
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        section = draw(st.sampled_from([body, body["header"], body["message"]]))
        if not isinstance(section, dict) or not section:
            continue
        key = draw(st.sampled_from(sorted(section)))
        action = draw(st.sampled_from(["replace", "drop", "add"]))
        if action == "replace":
            section[key] = draw(JSON)
        elif action == "drop":
            del section[key]
        else:
            section[draw(st.text(max_size=8))] = draw(JSON)
    return body


def _dci_answer_is_well_formed(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json"), response.text[:200]
    body = response.json()
    if response.status_code >= 400:
        validate(body, "ErrorAck")
    else:
        assert isinstance(body, dict) and ("message" in body or "header" in body), body


@FUZZ_SETTINGS
@given(
    path=st.sampled_from(DCI_PATHS),
    body=mutated_envelopes() | JSON,
    as_text=st.booleans(),
)
def test_dci_endpoints_answer_in_the_dci_shape(
    fuzzed: Fuzzed, path: str, body: Any, as_text: bool
) -> None:
    with TestClient(fuzzed.app, base_url="https://testserver") as client:
        if as_text:
            response = client.post(path, content=repr(body)[:4000], headers=fuzzed.headers)
        else:
            response = client.post(path, json=body, headers=fuzzed.headers)
    _dci_answer_is_well_formed(response)


def test_the_fuzzer_really_calls_the_api(fuzzed: Fuzzed) -> None:
    # Guards the fuzzing above from silently fuzzing nothing (e.g. a token refused).
    with TestClient(fuzzed.app, base_url="https://testserver") as client:
        me = client.get("/api/v1/auth/me", headers=fuzzed.headers)
        assert me.status_code == 200 and me.json()["username"] == CLIENT_ID
        households = client.get("/api/v1/households", headers=fuzzed.headers)
        assert households.json()["total"] > 0
    assert sum(1 for _ in schema.get_all_operations()) > 100
