"""``solidarity linkage``: deduplicate the registry, link outside lists, review and merge."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from solidarity.cli.errors import command
from solidarity.db.engine import unit_of_work
from solidarity.linkage import service
from solidarity.linkage.config import load_config

app = typer.Typer(
    no_args_is_help=True, help="Deduplication, linkage of outside lists, review queue, merges."
)
console = Console()

CONFIG_OPTION = typer.Option(
    None, "--config", "-c", exists=True, dir_okay=False, help="Steward's linkage YAML"
)


@app.command()
@command
def dedupe(
    config: Path | None = CONFIG_OPTION,
    retrain: bool = typer.Option(True, "--retrain/--reuse-model", help="Train a new version"),
    backend: str | None = typer.Option(None, help="duckdb (default) or spark"),
    actor: str = typer.Option("cli", help="Who runs it"),
) -> None:
    """Score the registry against itself, cluster, and queue possible duplicates for review."""
    settings = load_config(config)
    with unit_of_work() as session:
        result = service.dedupe(
            session,
            settings,
            actor=actor,
            retrain=retrain,
            backend=backend,
            progress=lambda m: console.print(f"[dim]{m}[/]"),
        )
    stats = result.stats
    console.print(
        f"run {result.run_id}, model version {result.model_version}: "
        f"{stats['persons']:,} persons, {stats['candidate_pairs']:,} candidate pairs, "
        f"bands {stats['bands']}, {stats['pending_review']:,} pair(s) to review, "
        f"{stats['clusters']:,} cluster(s), {stats['auto_merged']} merged automatically"
    )


@app.command()
@command
def link(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV, XLSX or Parquet"),
    source: str = typer.Option(..., "--source", help="Name of the list, e.g. a programme code"),
    mapping: Path = typer.Option(..., "--mapping", exists=True, dir_okay=False),
    config: Path | None = CONFIG_OPTION,
    actor: str = typer.Option("cli", help="Who runs it"),
) -> None:
    """Link a list held by another ministry or programme to registry persons."""
    settings = load_config(config)
    frame = service.read_list(file)
    list_mapping = service.load_mapping(mapping)
    with unit_of_work() as session:
        result = service.link_list(
            session,
            frame,
            list_mapping,
            source,
            settings,
            actor=actor,
            progress=lambda m: console.print(f"[dim]{m}[/]"),
        )
    console.print(
        f"run {result.run_id}: {result.records:,} record(s): {result.matched:,} linked, "
        f"{result.review:,} to review, {result.unmatched:,} not found in the registry"
    )


@app.command()
@command
def queue(
    limit: int = typer.Option(20, min=1, max=500),
    offset: int = typer.Option(0, min=0),
    status: str = typer.Option("pending", help="pending, match, not_match, merged, non_match"),
) -> None:
    """List pairs waiting for review, likeliest duplicates first."""
    with unit_of_work() as session:
        page = service.review_queue(session, limit=limit, offset=offset, status=status)
    table = Table("pair", "persons", "weight", "probability", "band", "agreement")
    for pair in page.items:
        table.add_row(
            str(pair.id),
            f"{pair.person_id_l} / {pair.person_id_r}",
            f"{pair.match_weight:+.1f}",
            f"{pair.match_probability:.3f}",
            pair.band,
            "; ".join(f"{a.comparison}: {a.level}" for a in pair.agreement),
        )
    console.print(table)
    console.print(f"{len(page.items)} of {page.total} pair(s)")


@app.command()
@command
def show(pair_id: int = typer.Argument(..., help="Pair id")) -> None:
    """Show both records of a pair side by side, with per-field agreement and weights."""
    with unit_of_work() as session:
        pair = service.get_pair(session, pair_id)
    left, right = pair.records
    table = Table("field", f"person {left['id']}", f"person {right['id']}")
    for name in left:
        if name != "id":
            table.add_row(name, str(left.get(name)), str(right.get(name)))
    console.print(table)
    weights = Table("comparison", "level", "weight")
    for a in pair.agreement:
        weights.add_row(
            a.comparison, a.level, "" if a.match_weight is None else f"{a.match_weight:+.2f}"
        )
    console.print(weights)
    console.print(
        f"match weight {pair.match_weight:+.2f}, probability {pair.match_probability:.4f}, "
        f"band {pair.band}, status {pair.status}"
    )


@app.command()
@command
def decide(
    pair_id: int = typer.Argument(..., help="Pair id"),
    decision: str = typer.Argument(..., help="match or not_match"),
    merge: bool = typer.Option(True, "--merge/--no-merge", help="Merge on a match"),
    survivor: int | None = typer.Option(None, help="Person id that survives the merge"),
    reason: str | None = typer.Option(None),
    actor: str = typer.Option("cli", help="Who decides"),
) -> None:
    """Decide a pair; a match merges the records (the older one survives unless told)."""
    with unit_of_work() as session:
        out = service.decide(
            session,
            pair_id,
            decision,
            actor=actor,
            reason=reason,
            merge=merge,
            survivor_id=survivor,
        )
    merged = (
        f"; merge {out.merge.id}: {out.merge.merged_id} into {out.merge.survivor_id}"
        if out.merge
        else ""
    )
    console.print(f"pair {pair_id}: {out.decision}{merged}")


@app.command()
@command
def unmerge(
    merge_id: int = typer.Argument(..., help="Merge id"),
    actor: str = typer.Option("cli", help="Who undoes it"),
) -> None:
    """Undo a merge: both records, identifiers and memberships as before."""
    with unit_of_work() as session:
        out = service.unmerge(session, merge_id, actor=actor)
    console.print(f"merge {out.id} undone: persons {out.survivor_id} and {out.merged_id} restored")


@app.command()
@command
def model(
    model_id: int | None = typer.Option(None, "--id", help="Model id (default: newest dedupe)"),
    html: Path | None = typer.Option(None, "--html", help="Write the match weights chart page"),
    json_out: Path | None = typer.Option(None, "--json", help="Write the Splink model JSON"),
) -> None:
    """Show a fitted model: version, blocking rules, m/u and weight per level."""
    from solidarity.linkage.report import model_html

    with unit_of_work() as session:
        out = service.get_model(session, model_id)
        settings = service.model_settings(session, out.id)
    console.print(f"{out.kind} model for {out.source}, version {out.version} (id {out.id})")
    table = Table("comparison", "level", "m", "u", "weight")
    for p in out.parameters:
        table.add_row(
            p.comparison,
            p.level,
            "" if p.m_probability is None else f"{p.m_probability:.4g}",
            "" if p.u_probability is None else f"{p.u_probability:.4g}",
            "" if p.match_weight is None else f"{p.match_weight:+.2f}",
        )
    console.print(table)
    if html is not None:
        html.write_text(model_html(out), encoding="utf-8")
        console.print(f"chart written to {html}")
    if json_out is not None:
        json_out.write_text(json.dumps(settings, indent=2), encoding="utf-8")
        console.print(f"model written to {json_out}")


@app.command()
@command
def runs(limit: int = typer.Option(20, min=1, max=500)) -> None:
    """List the latest runs."""
    with unit_of_work() as session:
        rows = [
            (r.id, r.kind, r.source, r.status, r.model_id, r.stats)
            for r in service.list_runs(session, limit)
        ]
    table = Table("run", "kind", "source", "status", "model", "stats")
    for run_id, kind, source, status, model_id, stats in rows:
        table.add_row(str(run_id), kind, source, status, str(model_id), json.dumps(stats)[:120])
    console.print(table)


@app.command()
@command
def evaluate() -> None:
    """Precision and recall of the scores against the steward's decisions."""
    with unit_of_work() as session:
        out = service.evaluate_decisions(session)
    console.print(
        f"{out.labelled_pairs} decided pair(s): {out.matches} match(es), {out.non_matches} not"
    )
    for row in out.at_thresholds:
        console.print(row)
