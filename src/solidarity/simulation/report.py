"""Exports of simulation results (CSV, Parquet, XLSX) and the PDF brief with charts.

Charts are Vega-Lite specs rendered to SVG on the server (Altair + vl-convert), and
the PDF is WeasyPrint from the same HTML, like the coherence report.
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import Any

import polars as pl

from solidarity.simulation.errors import SimulationError
from solidarity.simulation.schemas import Result


class ReportDependencyMissing(SimulationError):
    """Charts or PDF need the ``pdf`` extra."""

    status_code = 501
    title = "Not implemented"
    exit_code = 2


def tables(result: Result) -> dict[str, pl.DataFrame]:
    """The result as flat tables: headline, programmes, breakdowns, winners and losers."""
    from solidarity.simulation.service import compare

    breakdowns = [
        {"side": side, "dimension": dim, **row}
        for side, key in (("baseline", "baseline"), ("scenario", "scenario_figures"))
        for dim, rows in result[key]["breakdowns"].items()
        for row in rows
    ]
    out = {
        "headline": pl.DataFrame(compare([result])),
        # ``cause`` says the reasons in words; the structured ones are for the web page.
        "programmes": pl.DataFrame(
            [
                {k: v for k, v in row.items() if k != "reasons"}
                for row in result["programme_changes"]
            ]
        ),
        "breakdowns": pl.DataFrame(breakdowns),
        "explanations": pl.DataFrame(
            {"explanation": result["explanations"]}, schema={"explanation": pl.String}
        ),
    }
    if "households_changed" in result:
        out["households_changed"] = pl.DataFrame(result["households_changed"])
    return out


def export(
    result: Result, out: Path, formats: tuple[str, ...] = ("csv", "parquet", "xlsx")
) -> list[Path]:
    """Write every table of ``result`` under ``out`` in each format; returns the files."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    frames = tables(result)
    for name, frame in frames.items():
        if "csv" in formats:
            written.append(out / f"{name}.csv")
            frame.write_csv(written[-1])
        if "parquet" in formats:
            written.append(out / f"{name}.parquet")
            frame.write_parquet(written[-1])
    if "xlsx" in formats:
        try:
            import xlsxwriter
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ReportDependencyMissing("XLSX export needs xlsxwriter") from exc
        path = out / "simulation.xlsx"
        with xlsxwriter.Workbook(str(path)) as book:
            for name, frame in frames.items():
                frame.write_excel(book, worksheet=name[:31])
        written.append(path)
    return written


def altair_module() -> Any:
    try:
        import altair as alt
        import vl_convert  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ReportDependencyMissing(
            "charts need altair and vl-convert-python: pip install 'solidarity[pdf]'"
        ) from exc
    return alt


#: One chart at a time per process: vl-convert runs a JavaScript engine per call, and
#: overlapping report requests multiplied its memory (a fuzzing run saw the process abort).
CHART_LOCK = threading.Lock()


def to_svg(chart: Any) -> str:
    import vl_convert as vlc

    spec = chart.to_json()
    with CHART_LOCK:
        svg: str = vlc.vegalite_to_svg(spec)
    return svg


def cost_chart(rows: list[dict[str, Any]]) -> str:
    """Annual cost per programme, baseline against scenario."""
    alt = altair_module()
    values = [
        {"programme": r["programme"], "side": side, "cost": r[f"cost_{key}"]}
        for r in rows
        for side, key in (("baseline", "before"), ("scenario", "after"))
    ]
    chart = (
        alt.Chart(alt.Data(values=values))
        .mark_bar()
        .encode(
            x=alt.X("programme:N", title=None),
            xOffset="side:N",
            y=alt.Y("cost:Q", title="annual cost"),
            color=alt.Color("side:N", title=None),
        )
        .properties(width=420, height=220, title="Cost per programme")
    )
    return to_svg(chart)


def curve_chart(curve: list[dict[str, Any]], parameter: str) -> str:
    """The solver's trade-off: cost against coverage of the poor and exclusion error."""
    alt = altair_module()
    values = [
        {"total_cost": p["total_cost"], "measure": m, "share": p[key], parameter: p["value"]}
        for p in curve
        for m, key in (
            ("coverage of the poor", "coverage_of_poor"),
            ("exclusion error", "exclusion_error"),
        )
        if p[key] is not None
    ]
    chart = (
        alt.Chart(alt.Data(values=values))
        .mark_line(point=True)
        .encode(
            x=alt.X("total_cost:Q", title="total annual cost"),
            y=alt.Y("share:Q", axis=alt.Axis(format="%"), title=None),
            color=alt.Color("measure:N", title=None),
            tooltip=[f"{parameter}:Q", "total_cost:Q", "share:Q"],
        )
        .properties(width=420, height=220, title=f"Trade-off as {parameter} moves")
    )
    return to_svg(chart)


def compare_chart(rows: list[dict[str, Any]]) -> str:
    """Several scenarios: cost against coverage of the poor."""
    alt = altair_module()
    chart = (
        alt.Chart(alt.Data(values=rows))
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("total_cost:Q", title="total annual cost"),
            y=alt.Y("coverage_of_poor:Q", axis=alt.Axis(format="%"), title="coverage of the poor"),
            color=alt.Color("scenario:N"),
            tooltip=["scenario:N", "total_cost:Q", "coverage_of_poor:Q", "poverty_headcount:Q"],
        )
        .properties(width=420, height=260, title="Scenarios compared")
    )
    return to_svg(chart)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>None.</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(cell(v))}</td>" for v in r.values()) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def brief_html(results: list[Result], curve: Result | None = None) -> str:
    """A self-contained HTML brief: headline table, explanations, charts."""
    from solidarity.simulation.service import compare

    parts = [
        "<h1>Policy simulation brief</h1>",
        f"<p>Registry as of {html.escape(results[0]['as_of'])}; poverty line "
        f"{results[0]['poverty_line']:,.2f}.</p>",
        "<h2>Scenarios side by side</h2>",
        _table(compare(results)),
    ]
    if len(results) > 1:
        parts.append(compare_chart(compare(results)))
    for r in results:
        parts += [
            f"<h2>{html.escape(r['scenario'])}</h2>",
            "<ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in r["explanations"]) + "</ul>",
            cost_chart(r["programme_changes"]),
            _table(r["programme_changes"]),
        ]
    if curve is not None:
        parts += ["<h2>Trade-off</h2>", curve_chart(curve["curve"], curve["parameter"])]
    style = (
        "body{font-family:sans-serif;font-size:11px}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
    )
    head = f"<head><meta charset='utf-8'><style>{style}</style></head>"
    return f"<!doctype html><html>{head}<body>{''.join(parts)}</body></html>"


def brief_pdf(results: list[Result], curve: Result | None = None) -> bytes:
    """The brief as PDF (WeasyPrint, through the coherence report's renderer)."""
    from solidarity.coherence.report import render_pdf

    return render_pdf(brief_html(results, curve))
