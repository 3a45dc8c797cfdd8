"""The registry-change hook: applied change requests become ``dci_registry_event`` rows.

The registry stays unaware of DCI. :func:`install` registers one SQLAlchemy
``before_flush`` listener; when a flush carries a change request whose status
turns ``applied`` (the last step of ``registry.changes.apply_change_request``),
the listener adds an event row to the same flush, so the event exists exactly
when the change commits, and queues an ``interop.deliver`` job to wake the
worker. The delivery worker then fans events out to matching subscriptions
(:mod:`solidarity.interop.notifications`).

Bulk imports do not pass through change requests: a second hook, called when an
import run is recorded as finished, adds one event for all the households it
created, which the worker expands.

It is installed when ``solidarity.interop`` is imported (the web app, the CLI
and the worker all import it).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, event, inspect
from sqlalchemy.orm import Session

from solidarity.registry.intake.schemas import ImportOutcome

#: Registry event -> the ``reg_event_type`` written in notifications.
EVENT_NAMES = {
    "household_created": "REGISTER",
    "member_added": "NewHouseHoldMember",
    "member_removed": "RemoveHouseHoldMember",
    "death": "DEATH",
    "move": "MOVE",
    "update": "UPDATE",
}
#: ``reg_event_type`` spellings accepted in subscriptions (upper case, no separators).
EVENT_ALIASES = {
    "REGISTER": "household_created",
    "REGISTRATION": "household_created",
    "NEWHOUSEHOLD": "household_created",
    "HOUSEHOLDCREATED": "household_created",
    "NEWHOUSEHOLDMEMBER": "member_added",
    "ADDMEMBER": "member_added",
    "MEMBERADDED": "member_added",
    "BIRTH": "member_added",
    "LIVEBIRTH": "member_added",
    "REMOVEHOUSEHOLDMEMBER": "member_removed",
    "REMOVEMEMBER": "member_removed",
    "MEMBERREMOVED": "member_removed",
    "DELETE": "member_removed",
    "DEREGISTER": "member_removed",
    "DEATH": "death",
    "MOVE": "move",
    "RELOCATION": "move",
    "CHANGEADDRESS": "move",
    "UPDATE": "update",
}


def canonical_event(reg_event_type: str) -> str | None:
    """The registry event a subscription's ``reg_event_type`` names, if any."""
    key = "".join(ch for ch in reg_event_type.split(":")[-1].upper() if ch.isalnum())
    return EVENT_ALIASES.get(key)


def events_of(kind: str, payload: dict[str, Any], result: dict[str, Any]) -> list[tuple[str, Any]]:
    """The (event, person id) pairs an applied change request of ``kind`` stands for."""
    if kind == "add_member":
        return [("member_added", result.get("person_id"))]
    if kind == "remove_member":
        reason = payload.get("removal_reason")
        return [("death" if reason == "death" else "member_removed", result.get("person_id"))]
    if kind == "move_household":
        return [("move", None)]
    if kind == "split_household":
        return [("household_created", None)]
    return [("update", payload.get("person_id"))]


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    from solidarity.interop.models import DciRegistryEvent
    from solidarity.registry.models import ChangeRequest

    added = False
    for obj in list(session.dirty) + list(session.new):
        if not isinstance(obj, ChangeRequest) or obj.status != "applied":
            continue
        history = inspect(obj).attrs.status.history
        if obj in session.dirty and not history.added:
            continue
        result = dict(obj.result or {})
        for name, person_id in events_of(obj.kind, dict(obj.payload or {}), result):
            household_id = obj.household_id
            if name == "household_created":
                household_id = result.get("new_household_id", household_id)
            session.add(
                DciRegistryEvent(
                    event=name,
                    household_id=household_id,
                    person_id=person_id,
                    change_request_id=obj.id,
                    details={"kind": obj.kind, "result": result},
                )
            )
            added = True
    if added:
        # Wake the delivery worker: its job row joins this very flush.
        from solidarity.interop.delivery import stage_delivery_job

        with session.no_autoflush:
            stage_delivery_job(session)


def _import_finished(conn: Connection, run_id: int, outcome: ImportOutcome) -> None:
    """A bulk import created households: one event stands for all of them.

    Written in the transaction that closes the import run, and only when someone
    subscribed to new households; the delivery worker expands it household by
    household (:func:`solidarity.interop.notifications.fan_out_events`).
    """
    from solidarity.interop.delivery import ensure_delivery_job
    from solidarity.interop.models import DciRegistryEvent
    from solidarity.interop.repository import SubscriptionRepository

    if outcome.households_imported <= 0:
        return
    with Session(bind=conn) as session:
        if not SubscriptionRepository(session).active_for("household_created"):
            return
        session.add(
            DciRegistryEvent(
                event="household_created",
                details={"import_run_id": run_id, "households": outcome.households_imported},
            )
        )
        ensure_delivery_job(session)
        session.flush()


def install() -> None:
    """Register the hooks (idempotent)."""
    from solidarity.registry.intake.service import IMPORT_LISTENERS

    if not event.contains(Session, "before_flush", _before_flush):
        event.listen(Session, "before_flush", _before_flush)
    if _import_finished not in IMPORT_LISTENERS:
        IMPORT_LISTENERS.append(_import_finished)
