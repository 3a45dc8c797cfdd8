# ruff: noqa: E501
"""DCI asynchronous paths with a real callback receiver on 127.0.0.1.

Async search, subscribe, unsubscribe and txn status are acknowledged at once and
answered by the delivery worker (the ordinary job worker); notifications follow
registry changes made through change requests. Callbacks are validated against
the contract schemas; retries, back-off and give-up are checked with a receiver
that fails and with an address nobody listens on.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from solidarity.db.base import utcnow
from solidarity.db.engine import unit_of_work
from solidarity.interop import signatures
from solidarity.interop.delivery import Dispatcher, backoff
from solidarity.interop.models import DciOutbox, DciSubscription
from solidarity.interop.settings import interop_settings
from solidarity.jobs.models import Job
from solidarity.jobs.worker import Worker
from solidarity.programs.models import Enrolment, Entitlement, PaymentCycle, Programme
from solidarity.registry import changes
from solidarity.registry.history import aware
from tests.contracts.dci import CallbackReceiver, envelope, search_message, ts, validate
from tests.e2e.test_dci_social import ALL_FIELDS, Partner, make_agreement, refused
from tests.integration.test_registry_builders import TinyRegistry, build_registry

SR = "/dci/social/registry"
IBR = "/dci/ibr/registry"


@pytest.fixture(autouse=True)
def _unsigned_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOLIDARITY_DCI_REQUIRE_SIGNATURES", "false")
    monkeypatch.setenv("SOLIDARITY_DCI_BACKOFF_BASE_SECONDS", "0.05")


@pytest.fixture
def registry(engine: Engine) -> TinyRegistry:
    with unit_of_work(engine) as session:
        return build_registry(session)


@pytest.fixture
def partner(
    engine: Engine, registry: TinyRegistry, partner_client: Callable[..., TestClient]
) -> Partner:
    make_agreement(engine, "MOH", ALL_FIELDS)
    return Partner(partner_client(agency="MOH"))


@pytest.fixture
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver() as running:
        yield running


def drain(engine: Engine) -> None:
    """Run the job worker until no job is queued (as `solidarity worker` would)."""
    worker = Worker(engine, worker_id="test-worker")
    for _ in range(20):
        if not worker.run_once():
            return


def ack_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 202, response.text
    body = response.json()
    validate(body, "Ack")
    assert body["message"]["ack_status"] == "ACK" and body["message"]["correlation_id"]
    return dict(body["message"])


def test_async_search_answers_through_the_callback(
    partner: Partner,
    registry: TinyRegistry,
    receiver: CallbackReceiver,
    engine: Engine,
    api: FastAPI,
) -> None:
    message = search_message("idtype-value", {"type": "UIN", "value": "NID-001"})
    url = f"{receiver.base}/registry/on-search"
    acked = ack_of(
        partner.post(f"{SR}/search", partner.envelope("search", message, sender_uri=url))
    )
    assert receiver.received == []  # nothing is sent inside the request
    drain(engine)
    ((path, body),) = receiver.wait_for(1)
    assert path == "/registry/on-search"  # exactly the sender_uri, no path appended
    validate(body["header"], "UnionHeader")
    assert body["header"]["action"] == "on-search"
    validate(body["message"], "SearchResponse")
    assert body["message"]["transaction_id"] == message["transaction_id"]
    assert body["message"]["correlation_id"] == acked["correlation_id"]
    assert body["message"]["search_response"][0]["data"]["reg_records"]
    signatures.verify_ours(body, api.state.keys)
    with unit_of_work(engine) as session:
        item = session.scalars(select(DciOutbox)).one()
        assert item.status == "sent" and item.attempts == 1


def test_async_requests_need_a_callback_address(partner: Partner, registry: TinyRegistry) -> None:
    message = search_message("idtype-value", {"type": "UIN", "value": "NID-001"})
    refused(
        partner.post(f"{SR}/search", partner.envelope("search", message)),
        400,
        "err.sender_uri.invalid",
    )
    bad = partner.envelope("search", message, sender_uri="ftp://example.org/on-search")
    refused(partner.post(f"{SR}/search", bad), 400, "err.sender_uri.invalid")


def test_callbacks_are_retried_with_back_off_and_survive_a_restart(
    partner: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    with CallbackReceiver(fail_first=2) as flaky:
        message = search_message("idtype-value", {"type": "UIN", "value": "NID-002"})
        url = f"{flaky.base}/registry/on-search"
        ack_of(partner.post(f"{SR}/search", partner.envelope("search", message, sender_uri=url)))
        first = Dispatcher(engine)
        assert first.deliver_due() == (0, 1)
        with unit_of_work(engine) as session:
            item = session.scalars(select(DciOutbox)).one()
            assert item.status == "pending" and item.attempts == 1
            assert "HTTP 503" in (item.last_error or "")
            assert aware(item.next_attempt_at) > utcnow() - timedelta(seconds=1)
        # A new dispatcher (a restarted process) picks the delivery up from the database.
        later = Dispatcher(engine, clock=lambda: utcnow() + timedelta(minutes=5))
        assert later.deliver_due() == (0, 1)
        assert later.deliver_due() == (0, 0)  # backing off: not due yet
        even_later = Dispatcher(engine, clock=lambda: utcnow() + timedelta(minutes=10))
        assert even_later.deliver_due() == (1, 0)
        assert len(flaky.wait_for(1)) == 1
        with unit_of_work(engine) as session:
            item = session.scalars(select(DciOutbox)).one()
            assert item.status == "sent" and item.attempts == 3


def test_unreachable_callbacks_are_given_up_and_change_nothing_else(
    partner: Partner, registry: TinyRegistry, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOLIDARITY_DCI_CALLBACK_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("SOLIDARITY_DCI_CALLBACK_TIMEOUT_SECONDS", "1")
    message = search_message("idtype-value", {"type": "UIN", "value": "NID-001"})
    url = "http://127.0.0.1:9/registry/on-search"  # the discard port: nobody answers
    ack_of(partner.post(f"{SR}/search", partner.envelope("search", message, sender_uri=url)))
    hours = itertools.count(1)  # each reading of the clock is an hour later
    dispatcher = Dispatcher(engine, clock=lambda: utcnow() + timedelta(hours=next(hours)))
    for _ in range(3):
        dispatcher.deliver_due()
    with unit_of_work(engine) as session:
        item = session.scalars(select(DciOutbox)).one()
        assert item.status == "failed" and item.attempts == 3
        assert "ConnectError" in (item.last_error or "")
    assert backoff(1, interop_settings(), jitter=0) == 0.05
    assert backoff(4, interop_settings(), jitter=0) == pytest.approx(0.4)


def test_async_transaction_status(
    partner: Partner, registry: TinyRegistry, receiver: CallbackReceiver, engine: Engine
) -> None:
    request = {
        "transaction_id": "t-status",
        "txnstatus_request": {"reference_id": "r-1", "txn_type": "search",
                              "attribute_type": "transaction_id", "attribute_value": "unknown-txn"},
    }  # fmt: skip
    url = f"{receiver.base}/registry/txn/on-status"
    acked = ack_of(
        partner.post(f"{SR}/txn/status", partner.envelope("txn-status", request, sender_uri=url))
    )
    drain(engine)
    ((path, body),) = receiver.wait_for(1)
    assert path == "/registry/txn/on-status"
    validate(body["header"], "UnionHeader")
    assert body["header"]["action"] == "txn-on-status"
    validate(body["message"], "TxnStatusResponse")
    assert body["message"]["correlation_id"] == acked["correlation_id"]
    assert body["message"]["transaction_id"] == "t-status"


def _subscribe(partner: Partner, receiver: CallbackReceiver, event: str, filter_: Any = None,
               record_type: str = "Member") -> dict[str, Any]:  # fmt: skip
    criteria: dict[str, Any] = {"reg_type": "ns:org:RegistryType:Social", "reg_event_type": event,
                                "notify_record_type": record_type}  # fmt: skip
    if filter_ is not None:
        criteria["filter"] = filter_
    message = {
        "transaction_id": f"t-sub-{event}",
        "subscribe_request": [
            {"reference_id": "r-sub", "timestamp": ts(), "subscribe_criteria": criteria}
        ],
    }
    url = f"{receiver.base}/registry/on-subscribe"
    return ack_of(
        partner.post(f"{SR}/subscribe", partner.envelope("subscribe", message, sender_uri=url))
    )


def _change(engine: Engine, kind: str, household_id: int, payload: dict[str, Any]) -> None:
    with unit_of_work(engine) as session:
        request = changes.create_change_request(
            session, kind=kind, household_id=household_id, payload=payload, actor="officer"
        )
        changes.approve_change_request(session, request.id, actor="supervisor")


def test_subscribe_notify_on_each_kind_of_registry_change_and_unsubscribe(
    partner: Partner, registry: TinyRegistry, receiver: CallbackReceiver, engine: Engine
) -> None:
    events = ["NewHouseHoldMember", "RemoveHouseHoldMember", "DEATH", "MOVE", "REGISTER"]
    for event in events:
        _subscribe(
            partner,
            receiver,
            event,
            record_type="Group" if event in {"MOVE", "REGISTER"} else "Member",
        )
    # Only the Okello household (NID-001 is Amina's) for this one:
    _subscribe(partner, receiver, "UPDATE", {"type": "UIN", "value": "NID-001"})
    drain(engine)
    confirmations = receiver.wait_for(6)
    codes = {}
    for path, body in confirmations:
        assert path == "/registry/on-subscribe"
        validate(body["header"], "UnionHeader")
        assert body["header"]["action"] == "on-subscribe"
        validate(body["message"], "SubscribeResponse")
        (item,) = body["message"]["subscribe_response"]
        assert item["status"] == "succ", item
        codes[item["subscriptions"][0]["reg_event_type"]] = item["subscriptions"][0]["code"]
    receiver.received.clear()

    _change(
        engine,
        "add_member",
        registry.ali,
        {
            "person": {
                "given_name": "Omar",
                "family_name": "Ali",
                "sex": "male",
                "birth_date": "2024-03-02",
                "relationship": "child",
            }
        },
    )
    _change(
        engine,
        "remove_member",
        registry.mwangi,
        {"person_id": registry.ruth, "removal_reason": "migration"},
    )
    _change(
        engine,
        "remove_member",
        registry.okello,
        {"person_id": registry.john, "removal_reason": "death"},
    )
    _change(engine, "move_household", registry.ali, {"area_code": "R01-D02"})
    _change(
        engine,
        "split_household",
        registry.okello,
        {"person_ids": [registry.grace], "head_person_id": registry.grace},
    )
    _change(
        engine,
        "update_fields",
        registry.mwangi,
        {"person_id": registry.peter, "person": {"occupation": "farmer"}},
    )
    drain(engine)
    notified = receiver.wait_for(5)
    kinds = {}
    for path, body in notified:
        assert path == "/registry/notify"
        validate(body["header"], "UnionHeader")
        assert body["header"]["action"] == "notify"
        validate(body["message"], "NotifyEventRequest")
        data = body["message"]["notify_event"][0]["data"]
        kinds[data["reg_event_type"]] = data
    assert set(kinds) == {
        "NewHouseHoldMember",
        "RemoveHouseHoldMember",
        "DEATH",
        "MOVE",
        "REGISTER",
    }
    assert (
        kinds["NewHouseHoldMember"]["reg_records"]["demographic_info"]["name"]["given_name"]
        == "Omar"
    )
    assert kinds["DEATH"]["reg_records"]["demographic_info"]["name"]["given_name"] == "John"
    assert kinds["MOVE"]["reg_records"]["address"][0]["sub_region_code"] == "R01-D02"
    assert (
        kinds["REGISTER"]["reg_records"]["group_head_info"]["demographic_info"]["name"][
            "given_name"
        ]
        == "Grace"
    )
    # The UPDATE subscription filters on NID-001: Peter's update was not sent.
    assert "UPDATE" not in kinds

    receiver.received.clear()
    message = {"transaction_id": "t-unsub", "timestamp": ts(),
               "subscription_codes": [codes["DEATH"], "sub-unknown"]}  # fmt: skip
    url = f"{receiver.base}/registry/on-unsubscribe"
    ack_of(
        partner.post(f"{SR}/unsubscribe", partner.envelope("unsubscribe", message, sender_uri=url))
    )
    drain(engine)
    ((path, body),) = receiver.wait_for(1)
    assert path == "/registry/on-unsubscribe"
    assert body["header"]["action"] == "on-unsubscribe"
    validate(body["message"], "UnsubscribeResponse")
    assert body["message"]["subscription_status"] == [
        {"code": codes["DEATH"], "status": "unsubscribe"}
    ]
    assert body["message"]["status_reason_code"] == "rjct.subscription_code.invalid"
    receiver.received.clear()
    _change(
        engine,
        "remove_member",
        registry.mwangi,
        {"person_id": registry.peter, "removal_reason": "death"},
    )
    drain(engine)
    assert receiver.wait_for(1, timeout=0.5) == []
    with unit_of_work(engine) as session:
        statuses = dict(
            session.execute(select(DciSubscription.reg_event_type, DciSubscription.status)).all()
        )
        assert statuses["DEATH"] == "unsubscribe"


def test_subscription_problems_are_rejected_per_item(
    partner: Partner, registry: TinyRegistry, receiver: CallbackReceiver, engine: Engine
) -> None:
    _subscribe(partner, receiver, "REGISTER", {"type": "UIN", "value": "TEST-001"})
    _subscribe(partner, receiver, "REGISTER", {"type": "UIN", "value": "TEST-001"})
    _subscribe(partner, receiver, "WEDDING")
    _subscribe(partner, receiver, "DEATH", {"type": "SHOE", "value": "42"})
    drain(engine)
    items = [b["message"]["subscribe_response"][0] for _p, b in receiver.wait_for(4)]
    for body in (b for _p, b in receiver.received):
        validate(body["message"], "SubscribeResponse")
    reasons = sorted(i.get("status_reason_code", i["status"]) for i in items)
    assert reasons == ["rjct.event.already_subscribed", "rjct.notify_details.invalid",
                       "rjct.notify_types.invalid", "succ"]  # fmt: skip


def test_each_async_endpoint_refuses_a_missing_message(
    partner: Partner, registry: TinyRegistry, receiver: CallbackReceiver, engine: Engine
) -> None:
    for path, action in (("/search", "search"), ("/subscribe", "subscribe"),
                         ("/unsubscribe", "unsubscribe"), ("/txn/status", "txn-status")):  # fmt: skip
        body = envelope(action, None, sender_id=partner.sender_id, sender_uri=f"{receiver.base}/cb")
        refused(partner.post(f"{SR}{path}", body), 400, "err.request.bad")
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count(DciOutbox.id))) == 0
        assert session.scalar(select(func.count(Job.id))) == 0


# --- IBR --------------------------------------------------------------------------------------


@pytest.fixture
def enrolments(engine: Engine, registry: TinyRegistry) -> dict[str, int]:
    with unit_of_work(engine) as session:
        programme = Programme(code="CT-OVC", name="Child grant", ministry="Ministry of Gender",
                              instrument="cash_transfer", targeting_method="categorical")  # fmt: skip
        session.add(programme)
        session.flush()
        enrolment = Enrolment(programme_id=programme.id, household_id=registry.okello, status="active",
                              as_of=date(2024, 2, 1), enrolled_on=date(2024, 2, 1), benefit_amount=30.0)  # fmt: skip
        exited = Enrolment(programme_id=programme.id, household_id=registry.mwangi, status="exited",
                           as_of=date(2024, 2, 1), enrolled_on=date(2024, 2, 1), exited_on=date(2024, 6, 30))  # fmt: skip
        session.add_all([enrolment, exited])
        session.flush()
        cycle = PaymentCycle(programme_id=programme.id, period="2024-03", window_start=date(2024, 3, 1),
                             window_end=date(2024, 3, 31), status="paid")  # fmt: skip
        session.add(cycle)
        session.flush()
        session.add(Entitlement(cycle_id=cycle.id, programme_id=programme.id, enrolment_id=enrolment.id,
                                household_id=registry.okello, amount=30.0, payment_reference="PAY-1",
                                status="paid", paid_amount=30.0, paid_on=date(2024, 3, 5)))  # fmt: skip
        return {"programme": programme.id}


@pytest.fixture
def ibr_partner(
    engine: Engine, registry: TinyRegistry, partner_client: Callable[..., TestClient]
) -> Partner:
    make_agreement(engine, "MOL", ALL_FIELDS)
    return Partner(partner_client(roles=("partner", "analyst"), agency="MOL"))


def test_ibr_search_lists_programmes_and_benefits(
    ibr_partner: Partner, enrolments: dict[str, int], registry: TinyRegistry
) -> None:
    message = search_message(
        "idtype-value", {"type": "UIN", "value": "NID-002"}, reg_type="ns:org:RegistryType:IBR"
    )
    response = ibr_partner.post(f"{IBR}/sync/search", ibr_partner.envelope("search", message))
    assert response.status_code == 200, response.text
    body = response.json()
    validate(body["message"], "SearchResponse")
    item = body["message"]["search_response"][0]
    assert item["data"]["reg_record_type"] == "Beneficiary"
    (beneficiary,) = item["data"]["reg_records"]
    validate(beneficiary, "Beneficiary")
    assert beneficiary["programme_identifier"]["programme_identifier"] == "CT-OVC"
    assert beneficiary["enrollment_status"] == "1"
    assert beneficiary["benefits"] == [{"benefit_type": "1", "benefit_date": "2024-03-05", "benefit_value": 30.0,
                                        "benefit_description": "period 2024-03: paid"}]  # fmt: skip
    assert beneficiary["member"]["demographic_info"]["name"]["given_name"] == "John"


def test_ibr_enrolled_answers_yes_or_no(ibr_partner: Partner, enrolments: dict[str, int]) -> None:
    for uin, expected in (("NID-001", "yes"), ("NID-003", "no"), ("NID-404", "no")):
        message = {"transaction_id": f"t-{uin}",
                   "enrolled_criteria": {"query_type": "idtype-value", "query": {"type": "UIN", "value": uin}}}  # fmt: skip
        response = ibr_partner.post(f"{IBR}/sync/enrolled", ibr_partner.envelope("search", message))
        assert response.status_code == 200, response.text
        validate(response.json()["message"], "EnrolledResponse")
        assert response.json()["message"]["enrolled_response"][0]["enrolled_status"] == expected


def test_ibr_needs_the_programmes_permission(partner: Partner, enrolments: dict[str, int]) -> None:
    message = search_message("idtype-value", {"type": "UIN", "value": "NID-001"})
    refused(
        partner.post(f"{IBR}/sync/search", partner.envelope("search", message)),
        403,
        "err.request.forbidden",
    )
    # ... and the social registry refuses the IBR's reg_type.
    message = search_message(
        "idtype-value", {"type": "UIN", "value": "NID-001"}, reg_type="ns:org:RegistryType:IBR"
    )
    body = partner.post(f"{SR}/sync/search", partner.envelope("search", message)).json()
    assert (
        body["message"]["search_response"][0]["status_reason_code"]
        == "rjct.search_criteria.invalid"
    )


# --- IBR: enrolments reported by a partner programme -------------------------------------------


@pytest.fixture
def reporter(
    engine: Engine, registry: TinyRegistry, partner_client: Callable[..., TestClient]
) -> Partner:
    make_agreement(engine, "MOE", ALL_FIELDS)
    return Partner(partner_client(roles=("partner_programme",), agency="MOE"))


def _beneficiary(uin: str, status: str = "1", **extra: Any) -> dict[str, Any]:
    return {
        "reference_id": f"b-{uin}-{status}",
        "assistance_unit": "1",
        "programme_identifier": {
            "programme_identifier": "SCH-BURSARY",
            "programme_name": "School bursary",
            "programme_type": "1",
        },
        "member": {"member_identifier": [{"identifier_type": "UIN", "identifier_value": uin}]},
        "enrollment_date": "2024-09-01",
        "enrollment_status": status,
        "benefits": [{"benefit_type": "1", "benefit_date": "2024-09-15", "benefit_value": 12.5}],
        **extra,
    }


def _report(
    reporter: Partner, *beneficiaries: dict[str, Any], old: bool = False
) -> list[dict[str, Any]]:
    report = {"beneficiaries": list(beneficiaries)}
    message = {"transaction_id": f"t-{len(beneficiaries)}-{ts()}",
               **({"receipt_information": {"receipt_type": "enrollment", **report}} if old else {"enrolled_updates": report})}  # fmt: skip
    response = reporter.post(f"{IBR}/sync/enrollment/updates", reporter.envelope("notify", message))
    assert response.status_code == 200, response.text
    validate(response.json()["message"], "EnrollmentUpdatesResponse")
    return list(response.json()["message"]["enrolled_response"])


def test_a_partner_programme_reports_enrolments_item_by_item(
    reporter: Partner, ibr_partner: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    items = _report(reporter, _beneficiary("NID-004"), _beneficiary("NID-404"),
                    _beneficiary("NID-003", status="9"), {"enrollment_status": "1"})  # fmt: skip
    assert [i["status"] for i in items] == ["succ", "rjct", "rjct", "rjct"]
    assert "no registry record" in items[1]["status_reason_message"]
    assert "not a DCI enrolment status" in items[2]["status_reason_message"]
    assert "programme_identifier is required" in items[3]["status_reason_message"]
    with unit_of_work(engine) as session:
        programme = session.scalars(select(Programme).where(Programme.code == "SCH-BURSARY")).one()
        assert (programme.status, programme.ministry) == ("partner", "MOE")
        rows = session.scalars(
            select(Enrolment).where(Enrolment.programme_id == programme.id)
        ).all()
        # Only the accepted line is written; the refused ones left nothing behind.
        assert [(e.household_id, e.status, e.benefit_amount) for e in rows] == [
            (registry.ali, "active", 12.5)
        ]
    # Other partners now see the reported enrolment before they enrol Sara themselves.
    message = {"transaction_id": "t-check",
               "enrolled_criteria": {"query_type": "idtype-value", "query": {"type": "UIN", "value": "NID-004"}}}  # fmt: skip
    body = ibr_partner.post(f"{IBR}/sync/enrolled", ibr_partner.envelope("search", message)).json()
    assert body["message"]["enrolled_response"][0]["enrolled_status"] == "yes"
    assert "SCH-BURSARY" in body["message"]["enrolled_response"][0]["status_reason_message"]
    search = search_message(
        "idtype-value", {"type": "UIN", "value": "NID-004"}, reg_type="ns:org:RegistryType:IBR"
    )
    (record,) = ibr_partner.post(f"{IBR}/sync/search", ibr_partner.envelope("search", search)).json()["message"]["search_response"][0]["data"]["reg_records"]  # fmt: skip
    validate(record, "Beneficiary")
    assert record["benefits"][0]["benefit_value"] == 12.5


def test_reported_status_changes_are_idempotent_and_reach_the_journey(
    reporter: Partner, registry: TinyRegistry, engine: Engine
) -> None:
    from solidarity.programs.models import JourneyEvent

    assert [i["status"] for i in _report(reporter, _beneficiary("NID-004"))] == ["succ"]
    assert [i["status"] for i in _report(reporter, _beneficiary("NID-004"), old=True)] == ["succ"]
    died = _beneficiary("NID-004", status="2", status_change_date="2024-11-02")
    assert [i["status"] for i in _report(reporter, died)] == ["succ"]
    with unit_of_work(engine) as session:
        enrolment = session.scalars(select(Enrolment)).one()
        assert (enrolment.status, enrolment.exit_reason, enrolment.exited_on) == (
            "exited",
            "deceased",
            date(2024, 11, 2),
        )
        events = session.execute(
            select(JourneyEvent.event, JourneyEvent.event_date).order_by(JourneyEvent.id)
        ).all()
        assert [tuple(e) for e in events] == [
            ("enrolled", date(2024, 9, 1)),
            ("exited", date(2024, 11, 2)),
        ]


def test_reporting_needs_its_permission_and_cannot_touch_our_programmes(
    reporter: Partner, ibr_partner: Partner, enrolments: dict[str, int]
) -> None:
    message = {
        "transaction_id": "t-x",
        "enrolled_updates": {"beneficiaries": [_beneficiary("NID-004")]},
    }
    refused(ibr_partner.post(f"{IBR}/sync/enrollment/updates", ibr_partner.envelope("notify", message)),
            403, "err.request.forbidden")  # fmt: skip
    ours = _beneficiary("NID-004", programme_identifier="CT-OVC")
    (item,) = _report(reporter, ours)
    assert item["status"] == "rjct" and "is run in Solidarity" in item["status_reason_message"]
    empty = {"transaction_id": "t-y"}
    refused(
        reporter.post(f"{IBR}/sync/enrollment/updates", reporter.envelope("notify", empty)),
        400,
        "err.request.bad",
    )


def test_households_of_a_bulk_import_raise_register_notifications(
    partner: Partner,
    registry: TinyRegistry,
    receiver: CallbackReceiver,
    engine: Engine,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from solidarity.interop import notifications
    from solidarity.interop.models import DciRegistryEvent
    from solidarity.registry.intake.service import import_files
    from tests.registry_files import registry_files

    monkeypatch.setattr(notifications, "IMPORT_BATCH", 2)  # three households: two rounds
    _subscribe(partner, receiver, "REGISTER", record_type="Group")
    drain(engine)
    receiver.wait_for(1)
    receiver.received.clear()

    def into_tiny_areas(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**row, "area_code": "R01-D02"} for row in rows]

    files = registry_files(tmp_path, n=3, households=into_tiny_areas)
    outcome = import_files(engine, list(files), source="survey-2024", today=date(2024, 6, 1))
    assert outcome.households_imported == 3
    drain(engine)
    notified = receiver.wait_for(3)
    keys = set()
    for path, body in notified:
        assert path == "/registry/notify"
        validate(body["message"], "NotifyEventRequest")
        data = body["message"]["notify_event"][0]["data"]
        assert data["reg_event_type"] == "REGISTER" and data["reg_record_type"] == "Group"
        head = data["reg_records"]["group_head_info"]["demographic_info"]["name"]["surname"]
        keys.add(head)
    assert keys == {"Diallo1", "Diallo2", "Diallo3"}
    with unit_of_work(engine) as session:
        (event,) = session.scalars(
            select(DciRegistryEvent).where(DciRegistryEvent.household_id.is_(None))
        ).all()
        assert event.processed_at is not None and event.details["households"] == 3
    # Importing the same file again creates nothing and notifies nobody.
    receiver.received.clear()
    again = import_files(engine, list(files), source="survey-2024", today=date(2024, 6, 1))
    assert (again.households_imported, again.households_skipped) == (0, 3)
    drain(engine)
    assert receiver.wait_for(1, timeout=0.5) == []


def test_a_bulk_import_without_subscribers_records_no_event(
    registry: TinyRegistry, engine: Engine, tmp_path: Path
) -> None:
    from solidarity.interop.models import DciRegistryEvent
    from solidarity.registry.intake.service import import_files
    from tests.registry_files import registry_files

    files = registry_files(
        tmp_path, n=2, households=lambda rows: [{**r, "area_code": "R01-D01"} for r in rows]
    )
    assert (
        import_files(engine, list(files), source="s", today=date(2024, 6, 1)).households_imported
        == 2
    )
    with unit_of_work(engine) as session:
        assert session.scalar(select(func.count(DciRegistryEvent.id))) == 0
        assert session.scalar(select(func.count(Job.id))) == 0
