"""``solidarity interop``: CRVS sync and subscription, partners, deliveries, the mock CRVS."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from solidarity.cli.errors import command
from solidarity.db.engine import get_engine, unit_of_work
from solidarity.interop.schemas import CrvsEventOut, PartnerOut
from solidarity.interop.settings import InteropSettings, interop_settings

app = typer.Typer(no_args_is_help=True, help="DCI interoperability: CRVS, partners, deliveries.")
crvs_app = typer.Typer(no_args_is_help=True, help="Births and deaths from the civil registry.")
partners_app = typer.Typer(no_args_is_help=True, help="Partner systems and their signatures.")
app.add_typer(crvs_app, name="crvs")
app.add_typer(partners_app, name="partners")
console = Console()


def _settings(
    base_url: str | None, client_id: str | None, client_secret: str | None
) -> InteropSettings:

    settings = interop_settings()
    updates = {
        k: v
        for k, v in {
            "crvs_base_url": base_url,
            "crvs_client_id": client_id,
            "crvs_client_secret": client_secret,
        }.items()
        if v is not None
    }
    return settings.model_copy(update=updates)


@crvs_app.command("sync")
@command
def crvs_sync(
    since: str = typer.Option(..., "--since", help="Registration date to start from (YYYY-MM-DD)"),
    base_url: str | None = typer.Option(
        None, help="Civil registry URL (or SOLIDARITY_DCI_CRVS_BASE_URL)"
    ),
    client_id: str | None = typer.Option(None, help="Our client id at the civil registry"),
    client_secret: str | None = typer.Option(
        None, help="Our client secret there", envvar="SOLIDARITY_DCI_CRVS_CLIENT_SECRET"
    ),
) -> None:
    """Fetch births and deaths registered since a date; file their change requests."""
    from solidarity.interop import crvs
    from solidarity.interop.errors import InteropError

    try:
        start = date.fromisoformat(since)
    except ValueError:
        raise InteropError(f"--since {since!r} is not a date (YYYY-MM-DD)") from None
    client = crvs.CrvsClient(_settings(base_url, client_id, client_secret))
    with unit_of_work() as session:
        counts = crvs.sync(session, client, start, actor="crvs-sync")
    for status, count in sorted(counts.items()):
        console.print(f"{status}: {count}")
    console.print(
        "change requests wait for approval; `solidarity interop crvs review` lists the rest"
    )


@crvs_app.command("subscribe")
@command
def crvs_subscribe(
    callback_base: str = typer.Option(
        ..., help="Our base URL for CRVS callbacks, e.g. https://spis.example/dci/crvs/registry"
    ),
    base_url: str | None = typer.Option(None),
    client_id: str | None = typer.Option(None),
    client_secret: str | None = typer.Option(None, envvar="SOLIDARITY_DCI_CRVS_CLIENT_SECRET"),
) -> None:
    """Subscribe to births and deaths; the civil registry POSTs them to <callback-base>/notify."""
    from solidarity.interop import crvs

    client = crvs.CrvsClient(_settings(base_url, client_id, client_secret))
    for event_type in ("birth", "death"):
        answer = client.subscribe(event_type, callback_base)
        status = (answer.get("message") or {}).get("ack_status")
        console.print(f"{event_type}: {status}")


@crvs_app.command("review")
@command
def crvs_review(
    status: str = typer.Option("review", help="review, change_requested, resolved"),
) -> None:
    """List vital events that matched nobody (or several people) in the registry."""
    from solidarity.interop import crvs

    with unit_of_work() as session:
        rows = [CrvsEventOut.model_validate(r) for r in crvs.review_list(session, status)]
        table = Table("id", "type", "registration", "date", "status", "candidates", "note")
        for row in rows:
            table.add_row(
                str(row.id),
                row.event_type,
                row.external_id,
                row.event_date or "",
                row.status,
                ", ".join(map(str, (row.match or {}).get("candidates", []))),
                row.note or "",
            )
    console.print(table)


@crvs_app.command("resolve")
@command
def crvs_resolve(
    event_id: int = typer.Argument(...),
    person: int | None = typer.Option(None, help="The mother (birth) or the deceased (death)"),
    household: int | None = typer.Option(None, help="The household a child joins"),
    user: str = typer.Option("data-steward", help="Who resolves it"),
) -> None:
    """Settle a reviewed event by naming the person or household; files its change request."""
    from solidarity.interop import crvs

    with unit_of_work() as session:
        row = crvs.resolve(session, event_id, person_id=person, household_id=household, actor=user)
        console.print(f"event {row.id}: change request {row.change_request_id} filed")


@partners_app.command("set")
@command
def partners_set(
    sender_id: str = typer.Argument(..., help="The partner's DCI sender_id"),
    client: str | None = typer.Option(None, help="Its machine client id (default: the sender id)"),
    signatures: bool | None = typer.Option(
        None, "--signatures/--no-signatures", help="Require signed messages"
    ),
    signature_format: str | None = typer.Option(None, "--format", help="spdci or jws"),
    jwk: Path | None = typer.Option(None, help="JSON file with the partner's public JWK"),
    jwks_url: str | None = typer.Option(
        None, help="Where the partner publishes its keys (JWKS), fetched and cached"
    ),
    callback_prefix: str | None = typer.Option(
        None, help="Callbacks only to URLs starting with this"
    ),
) -> None:
    """Register a partner system or change its signature settings."""
    from solidarity.interop import service

    key = json.loads(jwk.read_text()) if jwk else None
    with unit_of_work() as session:
        partner = service.set_partner(
            session,
            sender_id=sender_id,
            client_id=client or sender_id,
            actor="cli",
            signature_required=signatures,
            signature_format=signature_format,
            public_jwk=key,
            jwks_url=jwks_url,
            callback_prefix=callback_prefix,
        )
        console.print(
            f"{partner.sender_id}: client {partner.client_id}, signatures "
            f"{'required' if partner.signature_required else 'off'} ({partner.signature_format})"
        )


@partners_app.command("list")
@command
def partners_list() -> None:
    """List partner systems."""
    from solidarity.interop import service

    with unit_of_work() as session:
        table = Table("sender_id", "client", "signatures", "format", "key", "callbacks")
        for p in (PartnerOut.model_validate(x) for x in service.list_partners(session)):
            table.add_row(
                p.sender_id,
                p.client_id or "",
                "required" if p.signature_required else "off",
                p.signature_format,
                "yes" if p.public_jwk else "no",
                p.callback_prefix or "any",
            )
    console.print(table)


@app.command("deliver")
@command
def deliver(
    once: bool = typer.Option(False, "--once", help="One round, then exit"),
    poll: float = typer.Option(1.0, min=0.05, help="Seconds between rounds"),
) -> None:
    """Send queued callbacks and notifications (also done by `solidarity worker`)."""
    from solidarity.interop.delivery import Dispatcher

    dispatcher = Dispatcher(get_engine())
    if once:
        sent, failed = dispatcher.run_round()
        console.print(f"sent {sent}, failed attempts {failed}")
        return
    console.print("delivering (Ctrl-C to stop)")
    try:
        dispatcher.run_forever(poll)
    except KeyboardInterrupt:
        dispatcher.stop()


@app.command("outbox")
@command
def outbox(status: str | None = typer.Option(None, help="pending, sending, sent, failed")) -> None:
    """List queued and sent callbacks."""
    from solidarity.interop.repository import OutboxRepository

    with unit_of_work() as session:
        table = Table("id", "kind", "status", "attempts", "next attempt", "url", "last error")
        for item in OutboxRepository(session).page(status, 50):
            table.add_row(
                str(item.id),
                item.kind,
                item.status,
                str(item.attempts),
                item.next_attempt_at.isoformat(timespec="seconds"),
                item.url,
                (item.last_error or "")[:60],
            )
    console.print(table)


@app.command("mock-crvs")
def mock_crvs(
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8090),
    records: Path | None = typer.Option(None, help="JSON list of CRVS person records to serve"),
    notify_token: str | None = typer.Option(None, help="Bearer token to send with notifications"),
) -> None:
    """Serve a TEST DOUBLE civil registry (in memory; for tests and demos only)."""
    import uvicorn

    from solidarity.interop.mock_crvs import create_mock_crvs

    data = json.loads(records.read_text()) if records else None
    console.print(
        f"[yellow]TEST DOUBLE[/] mock CRVS on http://{host}:{port}/ — not a civil registry"
    )
    uvicorn.run(create_mock_crvs(data, notify_token=notify_token), host=host, port=port)
