"""``solidarity registry``: areas, households, change requests, import and export."""

from __future__ import annotations

import csv
from pathlib import Path

import typer
from rich.console import Console

from solidarity.cli.errors import command
from solidarity.db.engine import unit_of_work
from solidarity.registry import service

app = typer.Typer(no_args_is_help=True, help="The social registry.")
areas_app = typer.Typer(no_args_is_help=True, help="Administrative areas.")
app.add_typer(areas_app, name="areas")
console = Console()


@areas_app.command("load")
@command
def areas_load(file: Path = typer.Argument(..., exists=True, dir_okay=False)) -> None:
    """Load areas from a CSV of code, name, level, level_name, parent_code."""
    with file.open(newline="", encoding="utf-8-sig") as handle, unit_of_work() as session:
        created = service.load_areas(session, csv.DictReader(handle), actor="cli")
    console.print(f"{created} area(s) created")


# --- bulk intake and export -------------------------------------------------------------


@app.command("import")
@command
def import_(
    files: list[Path] = typer.Argument(
        ..., exists=True, dir_okay=False, help="One combined file, or households and persons files"
    ),
    mapping: Path | None = typer.Option(
        None, "--mapping", "-m", exists=True, dir_okay=False, help="Column mapping YAML"
    ),
    source: str = typer.Option("default", help="Name of the sending system (for idempotency)"),
    accept_valid: bool = typer.Option(
        False, "--accept-valid", help="Import valid households; write rejected rows to a file"
    ),
    report_dir: Path = typer.Option(Path("."), help="Where the error report and rejects go"),
    actor: str = typer.Option("cli", help="Who is importing"),
) -> None:
    """Validate and import households and persons (CSV, XLSX or Parquet).

    Exit code 0 when everything was imported, 2 when rows were refused.
    """
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn

    from solidarity.db.engine import get_engine
    from solidarity.linkage.service import review_imported_persons
    from solidarity.registry.intake.service import import_files

    with Progress(
        TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), console=console
    ) as bar:
        tasks: dict[str, object] = {}

        def progress(phase: str, done: int, total: int) -> None:
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=max(total, 1))
            bar.update(tasks[phase], completed=done, total=max(total, 1))  # type: ignore[arg-type]

        engine = get_engine()
        outcome = import_files(
            engine,
            files,
            mapping_file=mapping,
            source=source,
            accept_valid=accept_valid,
            actor=actor,
            report_dir=report_dir,
            progress=progress,
            on_batch=review_imported_persons(engine, actor),
        )
    _print_outcome(outcome)
    if outcome.status != "succeeded":
        raise typer.Exit(2)


def _print_outcome(outcome: object) -> None:
    from rich.table import Table

    from solidarity.registry.intake.schemas import ImportOutcome

    assert isinstance(outcome, ImportOutcome)
    colour = {"succeeded": "green", "partial": "yellow", "refused": "red"}[outcome.status]
    console.print(
        f"[bold {colour}]{outcome.status}[/]: {outcome.households_imported} household(s) and "
        f"{outcome.persons_imported} person(s) imported, {outcome.households_skipped} already "
        f"imported, {outcome.households_rejected} refused; {outcome.error_count} error(s)"
    )
    if outcome.ignored_columns:
        console.print(f"ignored columns: {', '.join(outcome.ignored_columns)}")
    if outcome.errors:
        table = Table("file", "row", "column", "value", "rule", "message", title="Errors")
        for error in outcome.errors[:30]:
            table.add_row(
                error.file,
                str(error.row or ""),
                error.column or "",
                error.value or "",
                error.rule,
                error.message,
            )
        console.print(table)
        if outcome.error_count > 30:
            console.print(f"... and {outcome.error_count - 30} more")
    if outcome.report_path:
        console.print(f"error report: {outcome.report_path} (and .json)")
    for path in outcome.rejects_paths:
        console.print(f"rejected rows to correct and re-import: {path}")
    if outcome.status == "refused":
        console.print("nothing was imported; fix the errors or use --accept-valid")


@app.command("export")
@command
def export(
    out: Path = typer.Option(..., "--out", "-o", file_okay=False, help="Directory to write to"),
    file_format: str = typer.Option("csv", "--format", help="csv, xlsx or parquet"),
    area: str | None = typer.Option(None, help="Only this area and its descendants"),
    as_of: str | None = typer.Option(None, "--as-of", help="State on this date (YYYY-MM-DD)"),
    pseudonymised: bool = typer.Option(
        False,
        "--pseudonymised",
        help="For analysis: keyed hashes for ids and identifiers, generalised birth dates "
        "and areas, no names or contacts; the release is recorded in the audit trail",
    ),
    recipient: str | None = typer.Option(
        None, help="Pseudonymised: who receives the files (required)"
    ),
    purpose: str | None = typer.Option(None, help="Pseudonymised: why (required)"),
    agency: str | None = typer.Option(None, help="Pseudonymised: the recipient's agency"),
    area_level: int = typer.Option(1, "--area-level", help="Pseudonymised: generalise areas"),
    birth: str = typer.Option("year", help="Pseudonymised: 'year' or '5y' (five-year band)"),
    actor: str = typer.Option("cli", "--actor", help="Who releases (kept in the audit trail)"),
) -> None:
    """Write households and persons in the import format, or pseudonymised for analysis."""
    from datetime import date

    from solidarity.db.engine import get_engine
    from solidarity.registry.export import export_registry

    moment = date.fromisoformat(as_of) if as_of else None
    if pseudonymised:
        _export_pseudonymised(
            out,
            file_format=file_format,
            area=area,
            as_of=moment,
            recipient=recipient,
            purpose=purpose,
            agency=agency,
            area_level=area_level,
            birth=birth,
            actor=actor,
        )
        return
    written = export_registry(
        get_engine(), out, file_format=file_format, area_code=area, as_of=moment
    )
    for path, rows in written.items():
        console.print(f"{path}: {rows} row(s)")


def _export_pseudonymised(
    out: Path,
    *,
    file_format: str,
    area: str | None,
    as_of: object,
    recipient: str | None,
    purpose: str | None,
    agency: str | None,
    area_level: int,
    birth: str,
    actor: str,
) -> None:
    from datetime import date

    from solidarity.db.engine import get_engine
    from solidarity.errors import ValidationFailed
    from solidarity.governance.keys import KeyStore
    from solidarity.governance.releases import check_recipient, export_key, record_release
    from solidarity.registry.pseudonymised import export_pseudonymised

    if not recipient or not purpose:
        raise ValidationFailed(
            "a pseudonymised export needs --recipient and --purpose",
            [
                {"field": name, "message": "is required"}
                for name, value in (("recipient", recipient), ("purpose", purpose))
                if not value
            ],
        )
    with unit_of_work() as session:
        check_recipient(session, recipient, purpose, agency)
    extract = export_pseudonymised(
        get_engine(),
        out,
        key=export_key(KeyStore()),
        file_format=file_format,
        area_code=area,
        area_level=area_level,
        birth=birth,  # type: ignore[arg-type]  # checked by the export
        as_of=as_of if isinstance(as_of, date) else None,
    )
    with unit_of_work() as session:
        release = record_release(
            session, extract, actor=actor, recipient=recipient, purpose=purpose, agency_code=agency
        )
    for written in extract.files:
        console.print(f"{written.path}: {written.rows} row(s) sha256 {written.sha256}")
    console.print(f"release {release.release_id} recorded in the audit trail")


# --- households, search and change requests -------------------------------------------

household_app = typer.Typer(no_args_is_help=True, help="Households as they are or were.")
change_request_app = typer.Typer(
    no_args_is_help=True, help="Change requests: file, list, approve, reject."
)
app.add_typer(household_app, name="household")
app.add_typer(change_request_app, name="change-request")


def _text(value: object) -> str:
    return "" if value is None else str(value)


@household_app.command("show")
@command
def household_show(
    household_id: int = typer.Argument(..., help="Household id"),
    as_of: str | None = typer.Option(
        None, "--as-of", help="State at the end of this date (YYYY-MM-DD) or at an ISO datetime"
    ),
) -> None:
    """Show a household, its fields and its active members, now or as of a date."""
    from rich.table import Table

    with unit_of_work() as session:
        household = service.get_household(session, household_id, as_of)
    when = f" as of {as_of}" if as_of else ""
    console.print(
        f"[bold]Household {household.id}[/]{when}: {household.status}, area "
        f"{household.area_code}, version {household.version} "
        f"(since {household.valid_from:%Y-%m-%d %H:%M}, by {household.changed_by}"
        + (
            f", change request {household.change_request_id})"
            if household.change_request_id
            else ")"
        )
    )
    skip = {"members", "id", "status", "area_code", "version", "valid_from", "valid_to"}
    skip |= {"changed_by", "change_request_id", "head_person_id"}
    fields = Table("field", "value", title="Fields", show_header=False)
    for name, value in household.model_dump(exclude=skip).items():
        if value is not None:
            fields.add_row(name, _text(value))
    console.print(fields)
    members = Table(
        "id", "name", "sex", "born", "age", "relationship", "identifiers", title="Members"
    )
    for member in household.members:
        members.add_row(
            str(member.id),
            f"{member.given_name} {member.family_name}",
            member.sex,
            member.birth_date.isoformat(),
            _text(member.age),
            member.relationship,
            ", ".join(f"{i.id_type}:{i.value}" for i in member.identifiers),
        )
    console.print(members)


@app.command("search")
@command
def search(
    name: str | None = typer.Option(None, help="Words in given, family or other names"),
    area: str | None = typer.Option(None, help="Area code (descendants included)"),
    id_type: str | None = typer.Option(None, "--id-type", help="Identifier type"),
    id_value: str | None = typer.Option(None, "--id-value", help="Identifier value"),
    sex: str | None = typer.Option(None, help="female, male or other"),
    min_age: int | None = typer.Option(None, "--min-age", min=0),
    max_age: int | None = typer.Option(None, "--max-age", min=0),
    status: str | None = typer.Option(None, help="active, removed, deceased..."),
    as_of: str | None = typer.Option(None, "--as-of", help="Search the registry as of a date"),
    households: bool = typer.Option(False, "--households", help="List households, not persons"),
    page: int = typer.Option(1, min=1),
    page_size: int = typer.Option(50, "--page-size", min=1),
) -> None:
    """Search persons (or households with --households) of the registry."""
    from rich.table import Table

    from solidarity.registry.schemas import RegistrySearch

    criteria = RegistrySearch(
        name=name,
        area=area,
        id_type=id_type,
        id_value=id_value,
        sex=sex,
        min_age=min_age,
        max_age=max_age,
        status=status,
        as_of=as_of,
        page=page,
        page_size=page_size,
    )
    with unit_of_work() as session:
        if households:
            found = service.search_households(session, criteria)
            table = Table("id", "area", "status", "head", "members", "version")
            for h in found.items:
                table.add_row(
                    str(h.id),
                    _text(h.area_code),
                    h.status,
                    _text(h.head_name),
                    str(h.member_count),
                    str(h.version),
                )
            total, shown = found.total, len(found.items)
        else:
            people = service.search_persons(session, criteria)
            table = Table("id", "household", "name", "sex", "age", "area", "status", "identifiers")
            for p in people.items:
                table.add_row(
                    str(p.id),
                    str(p.household_id),
                    f"{p.given_name} {p.family_name}",
                    p.sex,
                    _text(p.age),
                    _text(p.area_code),
                    p.status,
                    ", ".join(f"{i.id_type}:{i.value}" for i in p.identifiers),
                )
            total, shown = people.total, len(people.items)
    console.print(table)
    console.print(f"{shown} shown of {total} (page {page})")


def _parsed(value: str) -> object:
    import json

    try:
        parsed: object = json.loads(value)
    except ValueError:
        return value
    return parsed


def _payload_from_sets(kind: str, sets: list[str], person_id: int | None) -> dict[str, object]:
    """Turn ``--set key=value`` pairs into a payload of ``kind``.

    update_fields: household fields go to ``household``, person fields to ``person``
    (with ``--person``). add_member: person fields to ``person``, ``id_<type>=value`` to
    ``identifiers``. Other kinds: top-level keys, values read as JSON when they parse.
    """
    from solidarity.errors import ValidationFailed
    from solidarity.registry.fields import IDENTIFIER_PREFIX
    from solidarity.registry.validation import deployment_catalogue

    cat = deployment_catalogue()
    household_fields = cat.by_name("household")
    payload: dict[str, object] = {}
    household: dict[str, object] = {}
    person: dict[str, object] = {}
    identifiers: list[dict[str, object]] = []
    for item in sets:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationFailed(
                f"--set {item!r} is not field=value",
                [{"field": "--set", "value": item, "message": "use field=value"}],
            )
        if kind == "update_fields":
            (household if key in household_fields else person)[key] = value
        elif kind == "add_member" and key.startswith(IDENTIFIER_PREFIX):
            identifiers.append({"id_type": key.removeprefix(IDENTIFIER_PREFIX), "value": value})
        elif kind == "add_member":
            person[key] = value
        else:
            payload[key] = _parsed(value)
    if household:
        payload["household"] = household
    if person:
        payload["person"] = person
    if identifiers:
        payload["identifiers"] = identifiers
    if person_id is not None:
        payload["person_id"] = person_id
    return payload


def _print_change_request(request: object) -> None:
    import json

    from solidarity.registry.schemas import ChangeRequestOut

    out = ChangeRequestOut.model_validate(request)
    console.print(
        f"[bold]Change request {out.id}[/] {out.kind} on household {out.household_id}: "
        f"[bold]{out.status}[/] (requested by {out.requested_by}"
        + (f", decided by {out.decided_by})" if out.decided_by else ")")
        + f", version {out.version}"
    )
    console.print(f"payload: {json.dumps(out.payload, default=str)}")
    if out.decision_reason:
        console.print(f"reason: {out.decision_reason}")
    if out.result:
        console.print(f"result: {json.dumps(out.result, default=str)}")


@change_request_app.command("create")
@command
def change_request_create(
    kind: str = typer.Option(..., "--kind", help="update_fields, add_member, remove_member, ..."),
    household_id: int = typer.Option(..., "--household", help="Household id"),
    actor: str = typer.Option(..., "--actor", help="Who files the request"),
    payload_file: Path | None = typer.Option(
        None, "--payload", exists=True, dir_okay=False, help="Payload as a JSON file"
    ),
    sets: list[str] = typer.Option(
        [], "--set", help="field=value (repeatable); see docs/data-model.md"
    ),
    person_id: int | None = typer.Option(None, "--person", help="Person id the change is about"),
    reason: str | None = typer.Option(None, help="Why the change is requested"),
    expected_version: int | None = typer.Option(
        None,
        "--expected-version",
        help="The household version you read (`household show`); refused if it changed since",
    ),
) -> None:
    """File a change request; it is validated now and refused with the errors if invalid.

    Without ``--expected-version`` the request is prepared against the household as it
    is now; either way it is applied only if the household has not changed meanwhile.
    """
    import json

    from solidarity.errors import ValidationFailed
    from solidarity.registry import changes

    if payload_file is not None:
        try:
            payload = json.loads(payload_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValidationFailed(
                f"{payload_file} is not JSON: {exc}",
                [{"field": "--payload", "message": "not valid JSON"}],
            ) from exc
        if not isinstance(payload, dict):
            raise ValidationFailed(
                f"{payload_file} must hold a JSON object",
                [{"field": "--payload", "message": "must be a JSON object"}],
            )
        payload.update(_payload_from_sets(kind, sets, person_id))
    else:
        payload = _payload_from_sets(kind, sets, person_id)
    if expected_version is not None:
        payload["base_version"] = expected_version
    with unit_of_work() as session:
        request = changes.create_change_request(
            session,
            kind=kind,
            household_id=household_id,
            payload=payload,
            actor=actor,
            reason=reason,
        )
        _print_change_request(request)


@change_request_app.command("approve")
@command
def change_request_approve(
    change_request_id: int = typer.Argument(..., help="Change request id"),
    actor: str = typer.Option(..., "--actor", help="Who approves (not the requester)"),
    reason: str | None = typer.Option(None, help="Why it is approved"),
    expected_version: int | None = typer.Option(
        None, "--expected-version", help="The request's version you read; refused if it changed"
    ),
) -> None:
    """Approve a submitted change request and apply it."""
    from solidarity.registry import changes

    with unit_of_work() as session:
        request = changes.approve_change_request(
            session,
            change_request_id,
            actor=actor,
            reason=reason,
            expected_version=expected_version,
        )
        _print_change_request(request)


@change_request_app.command("reject")
@command
def change_request_reject(
    change_request_id: int = typer.Argument(..., help="Change request id"),
    reason: str = typer.Option(..., "--reason", help="Why it is rejected"),
    actor: str = typer.Option(..., "--actor", help="Who rejects (not the requester)"),
    expected_version: int | None = typer.Option(
        None, "--expected-version", help="The request's version you read; refused if it changed"
    ),
) -> None:
    """Reject a submitted change request with a reason."""
    from solidarity.registry import changes

    with unit_of_work() as session:
        request = changes.reject_change_request(
            session,
            change_request_id,
            actor=actor,
            reason=reason,
            expected_version=expected_version,
        )
        _print_change_request(request)


@change_request_app.command("list")
@command
def change_request_list(
    status: str | None = typer.Option(None, help="submitted, applied, rejected"),
    household_id: int | None = typer.Option(None, "--household", help="Household id"),
    page: int = typer.Option(1, min=1),
    page_size: int = typer.Option(50, "--page-size", min=1),
) -> None:
    """List change requests, newest first."""
    from rich.table import Table

    from solidarity.registry import changes

    with unit_of_work() as session:
        found = changes.list_change_requests(
            session, status=status, household_id=household_id, page=page, page_size=page_size
        )
    table = Table("id", "kind", "household", "status", "requested by", "decided by", "created")
    for r in found.items:
        table.add_row(
            str(r.id),
            r.kind,
            _text(r.household_id),
            r.status,
            r.requested_by,
            _text(r.decided_by),
            f"{r.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    console.print(f"{len(found.items)} shown of {found.total} (page {page})")
