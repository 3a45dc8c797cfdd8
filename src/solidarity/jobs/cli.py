"""``solidarity jobs``: list, show, cancel and retry background jobs."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from solidarity.cli.errors import command
from solidarity.db.engine import unit_of_work
from solidarity.jobs import service
from solidarity.jobs.schemas import JobOut, JobSummary

app = typer.Typer(no_args_is_help=True, help="Background jobs: list, show, cancel, retry.")
console = Console()


@app.command("list")
@command
def list_(
    status: str | None = typer.Option(None, help="queued, running, succeeded, failed, cancelled"),
    kind: str | None = typer.Option(None, help="Only jobs of this kind"),
    limit: int = typer.Option(20, min=1, max=500),
) -> None:
    """List the newest jobs."""
    with unit_of_work() as session:
        jobs, total = service.list_jobs(session, status=status, kind=kind, limit=limit)
        rows = [JobSummary.model_validate(job) for job in jobs]
    table = Table("id", "kind", "status", "progress", "message", "created", "by")
    for job in rows:
        table.add_row(
            str(job.id),
            job.kind,
            job.status,
            f"{job.progress:.0%}",
            job.message or "",
            job.created_at.strftime("%Y-%m-%d %H:%M"),
            job.created_by,
        )
    console.print(table)
    console.print(f"{len(rows)} of {total} job(s)")


@app.command()
@command
def show(job_id: int = typer.Argument(..., help="Job id")) -> None:
    """Show one job: status, progress, result or error, and its log."""
    with unit_of_work() as session:
        job = JobOut.model_validate(service.get_job(session, job_id))
    console.print(f"[bold]job {job.id}[/] {job.kind}: {job.status} ({job.progress:.0%})")
    console.print(f"attempts {job.attempts}/{job.max_attempts}, worker {job.worker_id or '-'}")
    if job.message:
        console.print(f"message: {job.message}")
    if job.error:
        console.print(f"[red]error:[/] {job.error}")
    if job.result is not None:
        console.print_json(json.dumps(job.result))
    if job.log:
        console.rule("log")
        console.print(job.log, markup=False, highlight=False)


@app.command()
@command
def cancel(job_id: int = typer.Argument(..., help="Job id")) -> None:
    """Cancel a queued job, or ask a running one to stop."""
    with unit_of_work() as session:
        job = service.cancel(session, job_id, actor="cli")
        status = job.status
    shown = status if status == "cancelled" else "cancel requested (stops at its next safe point)"
    console.print(f"job {job_id}: {shown}")


@app.command()
@command
def retry(job_id: int = typer.Argument(..., help="Job id")) -> None:
    """Queue a failed or cancelled job again."""
    with unit_of_work() as session:
        service.retry(session, job_id, actor="cli")
    console.print(f"job {job_id}: queued again")
