"""Charts of the report, rendered to SVG on the server (Altair + vl-convert; no browser).

Optional: install the ``pdf`` extra. Each function takes plain rows and returns
an SVG string.
"""

from __future__ import annotations

from typing import Any

from solidarity.coherence.errors import ReportDependencyMissing
from solidarity.coherence.schemas import Rows


def _altair() -> Any:
    try:
        import altair as alt
        import vl_convert  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ReportDependencyMissing(
            "charts need altair and vl-convert-python: pip install 'solidarity[pdf]'"
        ) from exc
    return alt


def _svg(chart: Any) -> str:
    from solidarity.simulation.report import to_svg

    return to_svg(chart)  # one vl-convert call at a time per process


def overlap_heatmap(matrix: Rows) -> str:
    """Jaccard index of every pair of programmes."""
    alt = _altair()
    data = alt.Data(values=matrix)
    base = alt.Chart(data).encode(
        x=alt.X("programme_a:N", title=None),
        y=alt.Y("programme_b:N", title=None),
    )
    heat = base.mark_rect().encode(
        color=alt.Color(
            "jaccard:Q", scale=alt.Scale(scheme="blues", domain=[0, 1]), title="Jaccard"
        ),
        tooltip=["programme_a:N", "programme_b:N", "jaccard:Q", "households_both:Q"],
    )
    text = base.mark_text(fontSize=9).encode(text=alt.Text("jaccard:Q", format=".2f"))
    return _svg((heat + text).properties(width=360, height=360, title="Overlap (Jaccard index)"))


def gap_bars(worst: Rows, top: int = 15) -> str:
    """Areas ranked by the share of vulnerable households in no programme."""
    alt = _altair()
    data = alt.Data(values=worst[:top])
    chart = (
        alt.Chart(data)
        .mark_bar(color="#c0392b")
        .encode(
            x=alt.X("uncovered_share:Q", title="vulnerable households in no programme",
                    axis=alt.Axis(format="%")),
            y=alt.Y("area:N", sort="-x", title=None),
            tooltip=["area:N", "vulnerable:Q", "uncovered:Q"],
        )
        .properties(width=420, height=16 * max(len(worst[:top]), 1), title="Coverage gaps by area")
    )  # fmt: skip
    return _svg(chart)


def incidence_bars(incidence: Rows) -> str:
    """Share of spending reaching each consumption quintile (all programmes)."""
    alt = _altair()
    values = [r for r in incidence if r["programme"] == "ALL"]
    chart = (
        alt.Chart(alt.Data(values=values))
        .mark_bar(color="#2e86c1")
        .encode(
            x=alt.X("quintile:N", title="consumption quintile (Q1 poorest)"),
            y=alt.Y("share:Q", title="share of spending", axis=alt.Axis(format="%")),
        )
        .properties(width=360, height=220, title="Benefit incidence")
    )
    return _svg(chart)


def journey_funnel(funnel: Rows) -> str:
    """Households reaching each stage, all programmes together."""
    alt = _altair()
    totals: dict[str, int] = {}
    order: list[str] = []
    for r in funnel:
        if r["stage"] not in totals:
            order.append(r["stage"])
        totals[r["stage"]] = totals.get(r["stage"], 0) + int(r["households"] or 0)
    values = [{"stage": s, "households": totals[s]} for s in order]
    chart = (
        alt.Chart(alt.Data(values=values))
        .mark_bar(color="#117a65")
        .encode(
            x=alt.X("households:Q", title="households"),
            y=alt.Y("stage:N", sort=order, title=None),
        )
        .properties(width=420, height=160, title="Beneficiary journey funnel")
    )
    return _svg(chart)


def policy_grid(cells: Rows) -> str:
    """Programmes per life-cycle group and risk (0 = empty cell)."""
    alt = _altair()
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for c in cells:
        key = (c["lifecycle_group"], c["risk"])
        entry = seen.setdefault(
            key,
            {
                "group": key[0],
                "risk": key[1],
                "programmes": int(c["programme_count"]),
                "codes": set(),
            },
        )
        entry["codes"].update(c["programmes"])
    values = [{**v, "codes": ", ".join(sorted(v["codes"])) or "—"} for v in seen.values()]
    base = alt.Chart(alt.Data(values=values)).encode(
        x=alt.X("risk:N", title="risk covered"), y=alt.Y("group:N", title="life-cycle group")
    )
    heat = base.mark_rect(stroke="white").encode(
        color=alt.Color(
            "programmes:Q",
            scale=alt.Scale(domain=[0, 1, 3], range=["#f5b7b1", "#d4efdf", "#f9e79f"]),
            title="programmes",
        )
    )
    text = base.mark_text(fontSize=8).encode(text="codes:N")
    return _svg((heat + text).properties(width=520, height=200, title="Policy map"))
