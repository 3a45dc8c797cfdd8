"""``solidarity rules``: check a rule's syntax and types, and run a rule file's test cases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from solidarity.rules.checker import check as check_rule
from solidarity.rules.errors import RuleError
from solidarity.rules.versions import load_rule_set, run_test_cases

app = typer.Typer(no_args_is_help=True, help="The rule language: check rules, run rule tests.")
console = Console()
err_console = Console(stderr=True)


def _report(exc: RuleError, source: str | None = None) -> None:
    err_console.print(f"[bold red]{exc.title}:[/] {exc.detail}", highlight=False)
    if source is not None and exc.line:
        lines = source.splitlines()
        if 0 < exc.line <= len(lines):
            err_console.print("  " + lines[exc.line - 1], highlight=False, markup=False)
            err_console.print("  " + " " * max((exc.column or 1) - 1, 0) + "^", markup=False)


@app.command("check")
def check(
    expression: Annotated[str, typer.Argument(help='The rule, e.g. "size >= 2".')],
    level: Annotated[
        str, typer.Option("--level", help="household or person: what bare names refer to.")
    ] = "household",
) -> None:
    """Print the normalised form of a rule, or the error with its line and column."""
    try:
        rule = check_rule(expression, level)  # type: ignore[arg-type]
    except RuleError as exc:
        _report(exc, expression)
        raise typer.Exit(exc.exit_code) from exc
    console.print(rule.normalised, highlight=False, markup=False)
    console.print(f"[dim]type: {rule.type}, level: {rule.level}[/]")


@app.command("test")
def test(
    file: Annotated[Path, typer.Argument(help="A rule file (YAML) with test cases.")],
) -> None:
    """Run the test cases of every version in a rule file."""
    try:
        rule_set = load_rule_set(file)
    except RuleError as exc:
        _report(exc)
        raise typer.Exit(exc.exit_code) from exc
    results = run_test_cases(rule_set)
    table = Table(title=f"{rule_set.name}: {len(results)} test case(s)")
    for column in ("version", "test case", "expected", "actual", "result"):
        table.add_column(column)
    for r in results:
        outcome = "[green]pass[/]" if r.passed else "[red]FAIL[/]"
        actual = r.error if r.error else repr(r.actual)
        table.add_row(str(r.valid_from), r.name, repr(r.expected), actual, outcome)
    console.print(table)
    failed = [r for r in results if not r.passed]
    for r in failed:
        if r.explanation:
            console.print(f"[bold]{r.name}[/] ({r.valid_from}):", highlight=False)
            console.print(r.explanation, highlight=False, markup=False)
    if failed:
        err_console.print(f"[bold red]{len(failed)} of {len(results)} test case(s) failed[/]")
        raise typer.Exit(1)
    console.print(f"[green]All {len(results)} test case(s) passed[/]")
