"""The monitoring report: each indicator's trend against its targets, as HTML or PDF."""

from __future__ import annotations

import html
from datetime import date
from typing import Any

from solidarity.simulation.report import altair_module, cell, to_svg


def trend_chart(indicator: dict[str, Any]) -> str:
    """Snapshot values over time, with the target of each period's year."""
    alt = altair_module()
    values = [
        {"period": p["period"], "series": series, "value": p[key]}
        for p in indicator["points"]
        for series, key in (("value", "value"), ("target", "target"))
        if p[key] is not None
    ]
    chart = (
        alt.Chart(alt.Data(values=values))
        .mark_line(point=True)
        .encode(
            x=alt.X("period:O", title=None),
            y=alt.Y("value:Q", title=indicator["unit"]),
            color=alt.Color("series:N", title=None),
            strokeDash=alt.StrokeDash("series:N", legend=None),
        )
        .properties(width=380, height=160, title=f"{indicator['code']}: {indicator['name']}")
    )
    return to_svg(chart)


def render_html(trends: list[dict[str, Any]], *, charts: bool = True) -> str:
    """A self-contained page: per indicator, its values, targets and a chart."""
    parts = [
        f"<h1>Monitoring and evaluation report</h1><p>Produced {date.today().isoformat()}.</p>"
    ]
    for ind in trends:
        rows = "".join(
            "<tr>"
            + "".join(
                f"<td>{html.escape(cell(p[k]))}</td>"
                for k in ("period", "as_of", "value", "target", "status", "reason")
            )
            + "</tr>"
            for p in ind["points"]
        )
        parts.append(
            f"<h2>{html.escape(ind['code'])}: {html.escape(ind['name'])}</h2>"
            f"<p>Results chain: {ind['results_level']}; baseline {cell(ind['baseline_value'])}; "
            f"coherence indicator {html.escape(str(ind['coherence_indicator'] or '-'))}.</p>"
            "<table><thead><tr><th>period</th><th>as of</th><th>value</th><th>target</th>"
            f"<th>status</th><th>reason</th></tr></thead><tbody>{rows}</tbody></table>"
        )
        if charts and any(p["value"] is not None for p in ind["points"]):
            parts.append(trend_chart(ind))
    style = (
        "body{font-family:sans-serif;font-size:11px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px}"
    )
    head = f"<head><meta charset='utf-8'><style>{style}</style></head>"
    return f"<!doctype html><html>{head}<body>{''.join(parts)}</body></html>"


def render_pdf(trends: list[dict[str, Any]]) -> bytes:
    """The report as PDF (WeasyPrint, through the coherence report's renderer)."""
    from solidarity.coherence.report import render_pdf as pdf

    return pdf(render_html(trends))


def quality_chart(dimensions: list[dict[str, Any]]) -> str:
    """Data quality score of each dimension (share of record checks passing)."""
    alt = altair_module()
    values = [
        {"dimension": d["group"], "score": d["score"]} for d in dimensions if d["score"] is not None
    ]
    chart = (
        alt.Chart(alt.Data(values=values))
        .mark_bar(color="#2e86c1")
        .encode(
            x=alt.X("score:Q", title="share of checks passing", axis=alt.Axis(format="%"),
                    scale=alt.Scale(domain=[0, 1])),
            y=alt.Y("dimension:N", title=None),
            tooltip=["dimension:N", alt.Tooltip("score:Q", format=".1%")],
        )
        .properties(width=380, height=24 * max(len(values), 1), title="Data quality by dimension")
    )  # fmt: skip
    return to_svg(chart)
