"""``solidarity programs``: design programmes, preview, enrol, pay and reconcile."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console
from rich.table import Table

from solidarity.cli.errors import command
from solidarity.db.engine import get_engine, unit_of_work
from solidarity.programs import eligibility, payments, pmt, service
from solidarity.programs.repository import ProgrammeRepository
from solidarity.programs.schemas import (
    CycleOut,
    ProgrammeIn,
    ProgrammeOut,
    ProgrammeUpdate,
    RequestOut,
)

app = typer.Typer(no_args_is_help=True, help="Programmes: rules, eligibility, enrolment, payments.")
rules_app = typer.Typer(no_args_is_help=True, help="Rule versions of a programme.")
cycle_app = typer.Typer(no_args_is_help=True, help="Payment cycles.")
requests_app = typer.Typer(no_args_is_help=True, help="Maker-checker enrolment and exit requests.")
pmt_app = typer.Typer(no_args_is_help=True, help="Proxy means test.")
app.add_typer(rules_app, name="rules")
app.add_typer(cycle_app, name="cycle")
app.add_typer(requests_app, name="requests")
app.add_typer(pmt_app, name="pmt")
console = Console()

ACTOR = typer.Option("cli", "--actor", help="Who acts (maker-checker needs two people)")
AS_OF = typer.Option(None, "--as-of", help="Evaluation date (default: today)")
JSON = typer.Option(False, "--json", help="Print JSON")


def _print(data: Any, as_json: bool) -> None:
    if as_json:
        console.print_json(json.dumps(data, default=str))
    else:
        console.print(yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False))


def _day(value: str | None) -> date:
    return date.fromisoformat(value) if value else date.today()


@app.command("create")
@command
def create(
    code: str = typer.Argument(..., help="Programme code"),
    name: str = typer.Option(..., help="Programme name"),
    ministry: str = typer.Option("", help="Responsible ministry or agency"),
    instrument: str = typer.Option("cash_transfer"),
    lifecycle_group: str = typer.Option("all"),
    risk_covered: str = typer.Option(""),
    targeting_method: str = typer.Option("categorical"),
    conditionality: str = typer.Option("none"),
    benefit_frequency: str = typer.Option("monthly"),
    currency: str = typer.Option("XOF"),
    annual_budget: float | None = typer.Option(None),
    budget_cap: float | None = typer.Option(None, help="Annual cap; beyond it: waiting list"),
    funding_source: str = typer.Option(""),
    actor: str = ACTOR,
) -> None:
    """Create a programme."""
    data = ProgrammeIn.model_validate({k: v for k, v in locals().items() if k != "actor"})
    with unit_of_work() as session:
        made = service.create_programme(session, data, actor)
        console.print(f"Created programme {made.code} (id {made.id})")


@app.command("update")
@command
def update(
    code: str,
    version: int = typer.Option(..., help="The version you read (optimistic locking)"),
    set_: list[str] = typer.Option([], "--set", help="field=value, repeatable"),
    actor: str = ACTOR,
) -> None:
    """Change fields of a programme."""
    changes: dict[str, Any] = {"version": version}
    for item in set_:
        key, _, value = item.partition("=")
        changes[key] = yaml.safe_load(value)
    with unit_of_work() as session:
        done = service.update_programme(
            session, code, ProgrammeUpdate.model_validate(changes), actor
        )
        console.print(f"Updated {done.code}, now version {done.version}")


@app.command("list")
@command
def list_(as_json: bool = JSON) -> None:
    """List programmes."""
    with unit_of_work() as session:
        rows = [
            ProgrammeOut.model_validate(p).model_dump() for p in service.list_programmes(session)
        ]
    if as_json:
        _print(rows, True)
        return
    table = Table("code", "name", "ministry", "instrument", "targeting", "budget cap", "version")
    for r in rows:
        table.add_row(
            r["code"],
            r["name"],
            r["ministry"],
            r["instrument"],
            r["targeting_method"],
            str(r["budget_cap"] or ""),
            str(r["version"]),
        )
    console.print(table)


@app.command("show")
@command
def show(code: str, as_json: bool = JSON) -> None:
    """Show a programme and its rule versions."""
    with unit_of_work() as session:
        data = ProgrammeOut.model_validate(service.get_programme(session, code)).model_dump()
        data["rules"] = [
            {
                "id": r.id,
                "kind": r.kind,
                "valid_from": r.valid_from,
                "valid_to": r.valid_to,
                "expression": r.expression,
                "parameters": r.parameters,
                "legal_reference": r.legal_reference,
            }
            for r in service.rule_versions(session, code)
        ]
    _print(data, as_json)


@app.command("import")
@command
def import_(path: Path, actor: str = ACTOR) -> None:
    """Create or update programmes (and their rule versions) from a YAML file."""
    with unit_of_work() as session:
        done = service.import_programmes(session, path, actor)
        console.print(f"Imported {len(done)} programme(s): {', '.join(p.code for p in done)}")


@rules_app.command("add")
@command
def rules_add(
    code: str,
    path: Path,
    kind: str | None = typer.Option(None, help="eligibility, benefit or priority"),
    actor: str = ACTOR,
) -> None:
    """Store the rule version(s) of a YAML file; refused if any does not check or test."""
    versions = service.load_rule_file(path, kind)
    with unit_of_work() as session:
        for version in versions:
            stored = service.add_rule_version(session, code, version, actor)
            console.print(f"Stored {stored.kind} version {stored.id} from {stored.valid_from}")


@rules_app.command("close")
@command
def rules_close(rule_id: int, valid_to: str, actor: str = ACTOR) -> None:
    """End an open-ended rule version at a date."""
    with unit_of_work() as session:
        service.close_rule_version(session, rule_id, date.fromisoformat(valid_to), actor)
        console.print(f"Rule version {rule_id} now ends on {valid_to}")


@app.command("preview")
@command
def preview(
    code: str,
    as_of: str | None = AS_OF,
    area_level: int = typer.Option(0, help="Area level of the breakdown (0 = top)"),
    limit: int = typer.Option(20, help="Eligible households listed"),
    as_json: bool = JSON,
) -> None:
    """Who would be eligible and at what cost (nothing is written)."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        out = eligibility.preview(
            session, programme, _day(as_of), area_level=area_level, limit=limit
        )
    _print(out.model_dump(mode="json"), as_json)


@app.command("enrol")
@command
def enrol(
    code: str,
    as_of: str | None = AS_OF,
    households: str | None = typer.Option(None, help="Comma-separated household ids"),
    actor: str = ACTOR,
) -> None:
    """Enrol eligible households (budget cap → waiting list); idempotent."""
    ids = [int(x) for x in households.split(",")] if households else None
    with unit_of_work() as session, console.status("enrolling") as status:
        programme = service.get_programme(session, code)
        out = eligibility.enrol_eligible(
            session,
            programme,
            _day(as_of),
            actor,
            household_ids=ids,
            progress=lambda d, t, m: status.update(f"{m} ({d}/{t})"),
        )
    _print(out.model_dump(mode="json"), False)


@app.command("waitlist")
@command
def waitlist(code: str, limit: int = 50) -> None:
    """The waiting list in admission order."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        rows = ProgrammeRepository(session).waitlist(programme.id, limit)
        table = Table("rank", "household", "priority", "benefit")
        for e in rows:
            table.add_row(
                str(e.waitlist_rank), str(e.household_id), str(e.priority), str(e.benefit_amount)
            )
    console.print(table)


@app.command("recertify")
@command
def recertify(code: str, as_of: str | None = AS_OF, actor: str = ACTOR) -> None:
    """Re-evaluate active enrolments and propose exits (approve with `requests decide`)."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        batch, reviewed, proposals = eligibility.recertify(session, programme, _day(as_of), actor)
        console.print(f"Reviewed {reviewed} active enrolment(s); {len(proposals)} exit(s) proposed")
        for p in proposals[:50]:
            console.print(f"  household {p.household_id}: {p.reason}")
        if batch:
            console.print(f"Batch: {batch}")


@app.command("explain")
@command
def explain(code: str, household_id: int, as_of: str | None = AS_OF, as_json: bool = JSON) -> None:
    """Explain a household's eligibility and benefit, case-worker readable."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        out = eligibility.explain_household(session, programme, household_id, _day(as_of))
    if as_json:
        _print(out.model_dump(mode="json"), True)
    else:
        console.print(
            f"{code}, household {household_id}, as of {out.as_of} "
            f"(rule version {out.rule_version_id}):"
        )
        console.print(out.text, markup=False)


@requests_app.command("file")
@command
def requests_file(
    code: str,
    household_id: int,
    action: str = typer.Option(..., help="enrol or exit"),
    reason: str = typer.Option(...),
    as_of: str | None = AS_OF,
    actor: str = ACTOR,
) -> None:
    """File a manual enrolment or exit (needs another user's approval)."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        made = eligibility.request_change(
            session, programme, household_id, action, reason, actor, _day(as_of)
        )
        console.print(f"Request {made.id} filed; another user must approve it")


@requests_app.command("list")
@command
def requests_list(code: str, status: str | None = "pending", as_json: bool = JSON) -> None:
    """List requests."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        rows = [
            RequestOut.model_validate(r).model_dump(mode="json")
            for r in ProgrammeRepository(session).requests(programme.id, status)
        ]
    _print(rows, as_json)


@requests_app.command("decide")
@command
def requests_decide(
    code: str,
    ids: list[int] = typer.Argument(None, help="Request ids"),
    batch: str | None = typer.Option(None, help="A recertification batch"),
    reject: bool = typer.Option(False, "--reject"),
    actor: str = ACTOR,
) -> None:
    """Approve (or --reject) requests; the checker must not be the maker."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        done = eligibility.decide(
            session, programme, actor, approve=not reject, request_ids=ids or None, batch=batch
        )
        console.print(f"{len(done)} request(s) {'rejected' if reject else 'approved'}")


@app.command("compliance")
@command
def compliance(code: str, path: Path, actor: str = ACTOR) -> None:
    """Import compliance records (CSV: household_id, person_id, condition, period, met)."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        count = payments.record_compliance(session, programme, path.read_bytes(), actor)
        console.print(f"Stored {count} compliance record(s)")


@cycle_app.command("create")
@command
def cycle_create(
    code: str,
    period: str = typer.Option(..., help="e.g. 2025-07"),
    start: str = typer.Option(..., help="Payment window start"),
    end: str = typer.Option(..., help="Payment window end"),
    actor: str = ACTOR,
) -> None:
    """Open a payment cycle."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        cycle = payments.create_cycle(
            session, programme, period, date.fromisoformat(start), date.fromisoformat(end), actor
        )
        console.print(f"Cycle {cycle.id} opened for {code} {period}")


@cycle_app.command("list")
@command
def cycle_list(code: str, as_json: bool = JSON) -> None:
    """List a programme's cycles."""
    with unit_of_work() as session:
        programme = service.get_programme(session, code)
        rows = [
            CycleOut.model_validate(c).model_dump(mode="json")
            for c in ProgrammeRepository(session).cycles(programme.id)
        ]
    _print(rows, as_json)


@cycle_app.command("compute")
@command
def cycle_compute(cycle_id: int, actor: str = ACTOR) -> None:
    """Compute the cycle's entitlements (again, until approved)."""
    with unit_of_work() as session, console.status("computing entitlements"):
        cycle = payments.compute_entitlements(session, payments.get_cycle(session, cycle_id), actor)
        console.print(f"{cycle.entitlement_count} entitlement(s), total {cycle.total_amount:,.2f}")


@cycle_app.command("approve")
@command
def cycle_approve(cycle_id: int, actor: str = ACTOR) -> None:
    """Approve the entitlements (not by whoever computed them)."""
    with unit_of_work() as session:
        payments.approve_cycle(session, payments.get_cycle(session, cycle_id), actor)
        console.print(f"Cycle {cycle_id} approved by {actor}")


@cycle_app.command("payroll")
@command
def cycle_payroll(
    cycle_id: int, out: Path = typer.Option(Path("payroll"), help="Directory"), actor: str = ACTOR
) -> None:
    """Write payroll CSV and pain.001.001.09 XML (validated; identical on re-runs)."""
    with unit_of_work() as session:
        done = payments.generate_payroll(session, payments.get_cycle(session, cycle_id), out, actor)
    console.print(f"{done.transactions} payment(s), total {done.total_amount:,.2f}")
    console.print(f"  {done.csv_path}\n  {done.xml_path}")


@cycle_app.command("reconcile")
@command
def cycle_reconcile(cycle_id: int, path: Path, actor: str = ACTOR) -> None:
    """Match a provider's report; prints discrepancies row by row, changes nothing."""
    with unit_of_work() as session:
        record = payments.import_reconciliation(
            session, payments.get_cycle(session, cycle_id), path.name, path.read_bytes(), actor
        )
        console.print(
            f"Import {record.id}: {record.rows} row(s), {record.matched} matched, "
            f"{len(record.discrepancies)} discrepancy(ies); status {record.status}"
        )
        for d in record.discrepancies[:100]:
            console.print(
                f"  row {d['row']} {d['payment_reference']}: {d['problem']}: {d['message']}"
            )
        if record.status == "pending":
            console.print(
                f"Accept the matched rows with: solidarity programs cycle accept {record.id}"
            )


@cycle_app.command("accept")
@command
def cycle_accept(import_id: int, actor: str = ACTOR) -> None:
    """Apply the matched rows of a reconciliation import."""
    with unit_of_work() as session:
        record = payments.accept_reconciliation(session, import_id, actor)
        console.print(f"Applied {record.matched} matched row(s) of import {record.id}")


@pmt_app.command("calibrate")
@command
def pmt_calibrate(
    as_of: str | None = typer.Option(None, "--as-of", help="Registry state date (default: now)"),
    cutoff_quantile: float = typer.Option(0.3, "--cutoff-quantile"),
    test_share: float = typer.Option(0.3, help="Share held out for testing"),
    seed: int = typer.Option(1),
    valid_from: str | None = typer.Option(None, help="valid_from of the rule version written"),
    out: Path | None = typer.Option(None, "--out", help="Write a rule version YAML"),
    as_json: bool = JSON,
) -> None:
    """Fit PMT weights (least squares of log consumption) and report targeting errors."""
    day = date.fromisoformat(as_of) if as_of else None
    with get_engine().connect() as conn:
        result = pmt.calibrate(
            conn, as_of=day, cutoff_quantile=cutoff_quantile, test_share=test_share, seed=seed
        )
    if out is not None:
        out.write_text(pmt.rule_version_yaml(result, _day(valid_from or as_of)))
        console.print(f"Wrote {out}")
    _print(result.model_dump(mode="json"), as_json)
