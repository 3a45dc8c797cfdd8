"""The coherence report: every diagnostic with charts and tables, the scorecard and the plan.

HTML is rendered with Jinja2 (charts inline as SVG, no script, no network); PDF
with WeasyPrint from the same HTML. Both renderers of the ``pdf`` extra are
imported only when a report is made.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from jinja2 import Environment, select_autoescape

from solidarity.coherence import charts, plan
from solidarity.coherence import service as diagnostics
from solidarity.coherence.consistency import consistency_of
from solidarity.coherence.errors import ReportDependencyMissing
from solidarity.coherence.institutions import institutional_map
from solidarity.coherence.overlaps import Overlaps

SECTIONS = (
    ("summary", "Summary of findings"),
    ("policy-map", "1. Policy map"),
    ("institutions", "2. Institutional map"),
    ("overlaps", "3. Programme overlaps"),
    ("coverage", "4. Coverage gaps and targeting errors"),
    ("fiscal", "5. Fiscal map"),
    ("journey", "6. Beneficiary journey"),
    ("consistency", "7. Data consistency"),
    ("rules", "8. Rule coherence"),
    ("framework", "Results framework"),
    ("scorecard", "Coherence scorecard"),
    ("actions", "Action plan"),
)

#: The report template (Jinja2), beside this module.
TEMPLATE = Path(__file__).with_name("report.html.j2")


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.3f}" if abs(value) < 10 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, list | tuple):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_cell(v)}" for k, v in value.items())
    return str(value)


def _table_macro(env: Environment) -> Any:
    from markupsafe import Markup, escape

    def table(rows: list[dict[str, Any]], columns: list[str]) -> Markup:
        if not rows:
            return Markup('<p class="muted">None.</p>')
        head = "".join(f"<th>{escape(c.replace('_', ' '))}</th>" for c in columns)
        body = []
        for row in rows:
            cells = []
            for c in columns:
                value = row.get(c)
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                klass = ' class="n"' if numeric else ""
                cells.append(f"<td{klass}>{escape(_cell(value))}</td>")
            body.append("<tr>" + "".join(cells) + "</tr>")
        return Markup(
            f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    return table


def _findings(ctx: diagnostics.Context, parts: dict[str, Any]) -> list[str]:
    out = []
    targeting = parts["targeting"]
    system = next((r for r in targeting.rows if r["programme"] == "ALL"), None)
    if system and system["coverage"] is not None:
        reach = (
            f"The programmes together reach {system['coverage']:.0%} of the households in their "
            "own target populations"
        )
        if system["inclusion_error"] is None:
            # No beneficiary yet: an inclusion error has no denominator.
            out.append(reach + "; no household is enrolled yet.")
        else:
            out.append(
                reach + f"; {system['inclusion_error']:.0%} of beneficiary households "
                "are outside every target."
            )
    out.append(
        f"{targeting.uncovered_households:,} of {targeting.vulnerable_households:,} poor or "
        f"vulnerable households ({targeting.vulnerable_definition}) are in no programme"
        + (
            f"; the worst area is {targeting.worst_areas[0]['area']}."
            if targeting.worst_areas
            else "."
        )
    )
    overlaps = parts["overlaps"]
    multi = sum(r["households"] for r in overlaps.multiplicity if r["programmes"] != "1")
    if overlaps.beneficiaries:
        out.append(
            f"{multi:,} of {overlaps.beneficiaries:,} beneficiary households "
            f"({multi / overlaps.beneficiaries:.0%}) are in two or more programmes."
        )
    if overlaps.exclusive_violations:
        pairs = sorted(
            {f"{v['programme_a']}/{v['programme_b']}" for v in overlaps.exclusive_violations}
        )
        out.append(
            f"{len(overlaps.exclusive_violations):,} households receive programmes declared "
            f"mutually exclusive ({', '.join(pairs)})."
        )
    for h in parts["rules"].hand_overs:
        if h.get("problem"):
            out.append(
                f"Hand-over {h['programme_a']} → {h['programme_b']}: {h['problem']} "
                f"(change {h.get('legal_reference_a') or 'the rule'} or "
                f"{h.get('legal_reference_b') or 'the rule'})."
            )
    incidence = [r for r in parts["fiscal"].incidence if r["programme"] == "ALL"]
    q1 = next((r["share"] for r in incidence if r["quintile"] == "Q1"), None)
    if q1 is not None:
        out.append(f"{q1:.0%} of spending reaches the poorest consumption quintile.")
    flags = parts["institutions"].flags
    if flags:
        kinds: dict[str, int] = {}
        for f in flags:
            kinds[f["kind"]] = kinds.get(f["kind"], 0) + 1
        out.append(
            "Institutional flags: "
            + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in sorted(kinds.items()))
            + "."
        )
    overdue = [a for a in parts["actions"] if a["overdue"]]
    if overdue:
        out.append(f"{len(overdue)} action(s) of the plan are overdue.")
    return out


def collect(ctx: diagnostics.Context) -> dict[str, Any]:
    """Every diagnostic, the framework, the scorecard and the plan for the report."""
    overlaps = diagnostics.overlaps_of(ctx)
    result: Overlaps = ctx.overlap
    scorecard = plan.get_assessment(ctx.session)
    figures = plan.metrics(ctx)
    indicators = plan.list_indicators(ctx.session)
    suggested = plan.suggest(figures, len(indicators))
    return {
        "policy": diagnostics.policy_map_of(ctx),
        "programmes": ctx.programmes.to_dicts(),
        "institutions": institutional_map(ctx.session, ctx.as_of),
        "overlaps": overlaps,
        "overlap_matrix": result.matrix().to_dicts(),
        "overlap_pairs": sorted(overlaps.pairs, key=lambda r: -(r["households_both"] or 0))[:40],
        "targeting": diagnostics.targeting_of(ctx),
        "targeting_quintile": diagnostics.targeting_of(ctx, "quintile"),
        "fiscal": diagnostics.fiscal_of(ctx),
        "journey": diagnostics.journey_of(ctx),
        "consistency": consistency_of(ctx),
        "rules": diagnostics.rules_of(ctx),
        "indicators": [i.model_dump() for i in indicators],
        "scorecard": scorecard,
        "scorecard_rows": [s.model_dump() for s in scorecard.scores] if scorecard else [],
        "suggested": [
            {"dimension": d, "suggested_score": s, "evidence": e} for d, (s, e) in suggested.items()
        ],
        "actions": [a.model_dump() for a in plan.list_actions(ctx.session, ctx.as_of)],
    }


def render_html(ctx: diagnostics.Context) -> str:
    """The complete report as one self-contained HTML page."""
    parts = collect(ctx)
    chart_svgs = {
        "policy": charts.policy_grid(parts["policy"].cells),
        "overlap": charts.overlap_heatmap(parts["overlap_matrix"]),
        "gaps": charts.gap_bars(parts["targeting"].worst_areas),
        "incidence": charts.incidence_bars(parts["fiscal"].incidence),
        "funnel": charts.journey_funnel(parts["journey"].funnel),
    }
    env = Environment(autoescape=select_autoescape(default=True))
    template = env.from_string(TEMPLATE.read_text(encoding="utf-8"))
    scope_label = f"area {ctx.area_code}" if ctx.area_code else "whole country"
    return template.render(
        **parts,
        charts=chart_svgs,
        table=_table_macro(env),
        findings=_findings(ctx, parts),
        sections=SECTIONS,
        as_of=ctx.as_of,
        today=date.today(),
        scope_label=scope_label,
    )


def render_pdf(html: str) -> bytes:
    """The report as PDF (WeasyPrint)."""
    try:
        from weasyprint import HTML
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ReportDependencyMissing(
            "PDF reports need WeasyPrint: pip install 'solidarity[pdf]'"
        ) from exc
    pdf: bytes = HTML(string=html).write_pdf()
    return pdf
