"""``solidarity users``, ``clients``, ``keys`` and ``audit``: governance from the shell.

The operator running these commands has shell access to the server and its
database; they act as ``--actor`` (default ``cli``), which the audit trail keeps.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from solidarity.cli.errors import command
from solidarity.db.engine import session_factory, unit_of_work
from solidarity.governance import audit, roles
from solidarity.governance import service as governance
from solidarity.governance.schemas import AuditEntryOut, GrantIn

users_app = typer.Typer(no_args_is_help=True, help="Accounts, roles and grants.")
clients_app = typer.Typer(no_args_is_help=True, help="Machine clients (OAuth 2.0).")
keys_app = typer.Typer(no_args_is_help=True, help="Token signing keys.")
audit_app = typer.Typer(no_args_is_help=True, help="The tamper-evident audit trail.")
console = Console()

ACTOR = typer.Option("cli", "--actor", help="Who is acting (kept in the audit trail)")


def _ask_password(confirm: bool = True) -> str:
    password = getpass.getpass("Password: ")
    if confirm and getpass.getpass("Again: ") != password:
        raise typer.BadParameter("the passwords differ")
    return password


@users_app.command("create")
@command
def users_create(
    username: str = typer.Argument(...),
    display_name: str = typer.Option(..., "--name", help="How to show the account"),
    role: list[str] = typer.Option([], "--role", help="Role to grant (repeatable)"),
    area: str | None = typer.Option(None, help="Area code of the grants; national if absent"),
    password: str | None = typer.Option(
        None, envvar="SOLIDARITY_NEW_PASSWORD", help="Else asked for (never echoed)"
    ),
    actor: str = ACTOR,
) -> None:
    """Create an account, optionally with roles over an area."""
    secret = password or _ask_password()
    with unit_of_work() as session:
        governance.create_user(
            session,
            username=username,
            display_name=display_name,
            password=secret,
            actor=actor,
            grants=[GrantIn(role=r, area_code=area) for r in role],
        )
    console.print(f"account {username} created")


@users_app.command("grant")
@command
def users_grant(
    username: str = typer.Argument(...),
    role: str = typer.Argument(..., help=f"One of: {', '.join(roles.roles())}"),
    area: str | None = typer.Option(None, help="Area code; national if absent"),
    programme: list[str] = typer.Option([], "--programme", help="Limit to programmes"),
    actor: str = ACTOR,
) -> None:
    """Give an account a role."""
    with unit_of_work() as session:
        grant = governance.grant_role(
            session,
            username,
            GrantIn(role=role, area_code=area, programme_codes=programme or None),
            actor=actor,
        )
        grant_id = grant.id
    console.print(f"grant {grant_id}: {username} is {role} over {area or 'the whole country'}")


@users_app.command("revoke")
@command
def users_revoke(
    username: str = typer.Argument(...), grant_id: int = typer.Argument(...), actor: str = ACTOR
) -> None:
    """Take a grant away."""
    with unit_of_work() as session:
        governance.revoke_grant(session, username, grant_id, actor=actor)
    console.print(f"grant {grant_id} of {username} revoked")


@users_app.command("reset-password")
@command
def users_reset_password(
    username: str = typer.Argument(...),
    password: str | None = typer.Option(None, envvar="SOLIDARITY_NEW_PASSWORD"),
    actor: str = ACTOR,
) -> None:
    """Set a new password; unlocks the account and ends its sessions."""
    secret = password or _ask_password()
    with unit_of_work() as session:
        governance.reset_password(session, username, secret, actor=actor)
    console.print(f"password of {username} reset")


@users_app.command("disable")
@command
def users_disable(username: str = typer.Argument(...), actor: str = ACTOR) -> None:
    """Disable an account and end its sessions."""
    with unit_of_work() as session:
        governance.set_active(session, username, False, actor=actor)
    console.print(f"{username} disabled")


@users_app.command("list")
@command
def users_list() -> None:
    """List accounts and their grants."""
    with unit_of_work() as session:
        users = governance.list_users(session)
    table = Table("username", "name", "kind", "active", "grants")
    for user in users:
        grants = ", ".join(f"{g.id}:{g.role}@{g.area_code or 'national'}" for g in user.grants)
        table.add_row(user.username, user.display_name, user.kind, str(user.active), grants)
    console.print(table)


@users_app.command("roles")
def users_roles() -> None:
    """List the roles and their permissions."""
    table = Table("role", "permissions", "what for")
    for role, granted in roles.roles().items():
        table.add_row(role, " ".join(sorted(granted)), roles.role_description(role))
    console.print(table)


@clients_app.command("create")
@command
def clients_create(
    client_id: str = typer.Argument(...),
    display_name: str = typer.Option(..., "--name"),
    role: list[str] = typer.Option(["partner"], "--role"),
    area: str | None = typer.Option(None),
    agency: str | None = typer.Option(None, help="Agency the client acts for"),
    actor: str = ACTOR,
) -> None:
    """Register a machine client and print its secret (shown only this once)."""
    with unit_of_work() as session:
        _user, secret = governance.create_client(
            session,
            client_id=client_id,
            display_name=display_name,
            actor=actor,
            grants=[GrantIn(role=r, area_code=area) for r in role],
            agency_code=agency,
        )
    console.print(f"client_id: {client_id}")
    console.print(f"client_secret: {secret}")
    console.print("Store the secret now: it cannot be shown again.")


@keys_app.command("rotate")
@command
def keys_rotate() -> None:
    """Create a new token signing key; the old one stays published until its tokens expire."""
    from solidarity.governance.keys import KeyStore

    key = KeyStore().rotate()
    console.print(f"new signing key {key.kid}")


@keys_app.command("list")
@command
def keys_list() -> None:
    """List the published signing keys."""
    from solidarity.governance.keys import KeyStore

    for key in KeyStore().published():
        state = f"retired {key.retired_at:%Y-%m-%d %H:%M}" if key.retired_at else "signing"
        console.print(f"{key.kid}  {state}")


@audit_app.command("verify")
@command
def audit_verify() -> None:
    """Recompute the hash chain; exit 8 naming the first edited, deleted or moved entry.

    Entries not chained yet are chained first, so every entry is verified.
    """
    engine = _engine()
    audit.chain(engine)
    with session_factory(engine)() as session:
        report = audit.verify(session)
    if report.problem is not None:
        console.print(f"[bold red]audit trail broken:[/] {report.problem.message}")
        console.print(f"{report.checked} entries verified before it")
        raise typer.Exit(8)
    console.print(f"audit trail intact: {report.checked} entries")
    if report.head_sequence is not None:
        console.print(f"head: entry {report.head_sequence} {report.head_hash}")
        console.print("Keep this head elsewhere: it anchors the chain against truncation.")


@audit_app.command("export")
@command
def audit_export(
    out: Path = typer.Option(..., "--out", "-o", help="JSON Lines file to write"),
) -> None:
    """Write every audit entry, oldest first, as JSON Lines (one entry per line)."""
    from solidarity.governance.repository import AuditRepository

    count = 0
    engine = _engine()
    audit.chain(engine)  # every entry is exported with its place in the chain
    with session_factory(engine)() as session, out.open("w", encoding="utf-8") as handle:
        for entry in AuditRepository(session).in_order():
            data = AuditEntryOut.model_validate(entry).model_dump(mode="json")
            handle.write(json.dumps(data, ensure_ascii=False, sort_keys=True) + "\n")
            count += 1
    console.print(f"{count} entries written to {out}")


@audit_app.command("releases")
@command
def audit_releases(
    limit: int = typer.Option(50, help="How many, newest first"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON Lines instead of a table"),
) -> None:
    """List data released outside the registry: to whom, why, rows and checksums."""
    from solidarity.governance.releases import list_releases

    with session_factory(_engine())() as session:
        releases, total = list_releases(session, limit=limit)
    if as_json:
        for release in releases:
            console.print_json(release.model_dump_json())
        return
    table = Table("release", "at", "by", "recipient", "agency", "purpose", "rows", "sha256")
    for r in releases:
        sums = " ".join(f"{f.name}:{f.sha256[:12]}" for f in r.files)
        table.add_row(
            r.release_id,
            f"{r.at:%Y-%m-%d %H:%M}",
            r.released_by,
            r.recipient,
            r.agency_code or "",
            r.purpose,
            str(r.rows),
            sums,
        )
    console.print(table)
    console.print(f"{len(releases)} shown of {total}")


def _engine() -> Engine:
    from solidarity.db.engine import get_engine

    return get_engine()


governance_app = typer.Typer(no_args_is_help=True, help="Privacy: retention and erasure.")
retention_app = typer.Typer(no_args_is_help=True, help="Retention periods per record type.")
governance_app.add_typer(retention_app, name="retention")


@retention_app.command("show")
@command
def retention_show() -> None:
    """List the retention period and action of every record type."""
    from solidarity.governance.retention import load_rules

    table = Table("record type", "period", "action", "applies to")
    for rule in load_rules().values():
        table.add_row(rule.record_type, rule.period or "kept", rule.action, rule.applies_to)
    console.print(table)


@retention_app.command("apply")
@command
def retention_apply(
    dry_run: bool = typer.Option(False, "--dry-run", help="Only list what is past retention"),
    as_of: str | None = typer.Option(
        None, "--as-of", help="Judge as of this date (YYYY-MM-DD), e.g. to preview"
    ),
    limit: int = typer.Option(10_000, help="Records per type in one run"),
    actor: str = ACTOR,
) -> None:
    """Anonymise (or with --dry-run list) the records past their retention period."""
    from datetime import UTC, datetime

    from solidarity.governance.retention import apply

    now = datetime.fromisoformat(as_of).replace(tzinfo=UTC) if as_of else None
    with unit_of_work() as session:
        outcomes = apply(session, actor=actor, dry_run=dry_run, now=now, limit=limit)
        if dry_run:
            session.rollback()
    table = Table("record type", "period", "cutoff", "due" if dry_run else "handled", "ids")
    for o in outcomes:
        ids = ", ".join(o.ids[:20]) + (f" ... (+{len(o.ids) - 20})" if len(o.ids) > 20 else "")
        cutoff = f"{o.cutoff:%Y-%m-%d}" if o.cutoff else "kept"
        table.add_row(o.record_type, o.period or "-", cutoff, str(len(o.ids)), ids)
    console.print(table)
    if dry_run:
        console.print("dry run: nothing was changed")


# --- field encryption keys: `solidarity keys fields ...` ---------------------------------

fields_app = typer.Typer(
    no_args_is_help=True, help="Field encryption keys of names, phones and identifiers."
)
keys_app.add_typer(fields_app, name="fields")


def _rotation_progress() -> tuple[object, object]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    bar = Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console
    )
    tasks: dict[str, object] = {}

    def report(table: str, done: int, total: int) -> None:
        if table not in tasks:
            tasks[table] = bar.add_task(table, total=total)
        bar.update(tasks[table], completed=done)  # type: ignore[arg-type]

    return bar, report


@fields_app.command("init")
@command
def fields_init() -> None:
    """Create the field key ring (a data key and a blind-index key) in the key file."""
    from solidarity.governance.encryption import KeyRing, key_file_path, write_key_ring

    path = key_file_path()
    write_key_ring(KeyRing.generate(str(path)), path)
    console.print(
        f"field key ring written to {path} (mode 0600): back it up, apart from the database backups"
    )


@fields_app.command("status")
@command
def fields_status() -> None:
    """Show the keys in the ring and how many stored values each data key seals."""
    from solidarity.governance.encryption import load_key_ring
    from solidarity.governance.rotation import key_usage

    ring = load_key_ring()
    usage = key_usage(_engine())
    table = Table("key", "kind", "state", "values")
    for kid in ring.data_keys:
        state = "active" if kid == ring.active_data else "old"
        table.add_row(kid, "data", state, f"{sum(usage.get(kid, {}).values()):,}")
    for kid in ring.index_kids():
        state = "active" if kid == ring.active_index else "old"
        table.add_row(kid, "blind index", state, "")
    for kid in sorted(set(usage) - set(ring.data_keys)):
        table.add_row(kid, "data", "MISSING from the ring", f"{sum(usage[kid].values()):,}")
    console.print(f"key ring: {ring.source}")
    console.print(table)


@fields_app.command("rotate")
@command
def fields_rotate(
    resume: bool = typer.Option(
        False, "--resume", help="Do not add a key: finish re-encrypting under the active one"
    ),
) -> None:
    """Add a new data key, make it active and re-encrypt every value under it (resumable)."""
    from solidarity.governance import rotation
    from solidarity.governance.encryption import load_key_ring

    ring = load_key_ring() if resume else rotation.add_data_key()
    if not resume:
        console.print(f"new data key {ring.active_data} is active")
    bar, report = _rotation_progress()
    with bar:  # type: ignore[attr-defined]
        done = rotation.reencrypt(_engine(), ring, progress=report)  # type: ignore[arg-type]
    console.print(f"{done.total:,} rows re-encrypted under {done.key_id}")
    old = [k for k in ring.data_keys if k != ring.active_data]
    if old:
        console.print(
            "no value uses the old key(s) any more; retire them with "
            + ", ".join(f"`solidarity keys fields retire {k}`" for k in old)
        )


@fields_app.command("retire")
@command
def fields_retire(kid: str = typer.Argument(..., help="The data key id to remove")) -> None:
    """Remove an old data key from the ring, refused while any value still uses it."""
    from solidarity.governance import rotation

    rotation.retire_data_key(_engine(), kid)
    console.print(f"data key {kid} retired (removed from the key ring)")


@fields_app.command("reindex")
@command
def fields_reindex(
    resume: bool = typer.Option(
        False, "--resume", help="Do not add a key: finish recomputing under the active one"
    ),
) -> None:
    """Rotate the blind-index key: add one, recompute every index, drop the old key."""
    from solidarity.governance import rotation
    from solidarity.governance.encryption import load_key_ring

    ring = load_key_ring() if resume else rotation.add_index_key()
    console.print(f"blind-index key {ring.active_index} is active")
    bar, report = _rotation_progress()
    with bar:  # type: ignore[attr-defined]
        done = rotation.reindex(_engine(), ring, progress=report)  # type: ignore[arg-type]
    rotation.drop_inactive_index_keys()
    console.print(f"{done.total:,} blind indexes recomputed; old blind-index keys removed")
