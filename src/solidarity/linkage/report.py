"""The fitted model as a data steward reads it: a match weights chart and m/u per level.

A self-contained HTML page with inline SVG (no scripts, no CDN), so it opens
anywhere, offline.
"""

from __future__ import annotations

from html import escape

from solidarity.linkage.schemas import ModelOut

_ROW = 22
_LABEL = 330
_HALF = 260


def _bar(weight: float | None, y: int, scale: float) -> str:
    if weight is None:
        return ""
    width = abs(weight) * scale
    x = _LABEL + _HALF - (width if weight < 0 else 0)
    colour = "#2e7d32" if weight >= 0 else "#c62828"
    return (
        f'<rect x="{x:.1f}" y="{y + 4}" width="{width:.1f}" height="{_ROW - 8}" fill="{colour}">'
        f"<title>{weight:.2f}</title></rect>"
        f'<text x="{_LABEL + 2 * _HALF + 8}" y="{y + _ROW - 7}" font-size="12">{weight:+.2f}</text>'
    )


def match_weights_svg(model: ModelOut) -> str:
    """An SVG bar chart of the match weight of every comparison level."""
    rows = model.parameters
    weights = [abs(p.match_weight) for p in rows if p.match_weight is not None] or [1.0]
    scale = _HALF / max(max(weights), 1.0)
    height = _ROW * (len(rows) + 2)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_LABEL + 2 * _HALF + 70}" '
        f'height="{height}" role="img" aria-label="Match weights by comparison level">',
        f'<line x1="{_LABEL + _HALF}" y1="0" x2="{_LABEL + _HALF}" y2="{height}" stroke="#555"/>',
    ]
    for index, p in enumerate(rows):
        y = _ROW * index
        label = escape(f"{p.comparison}: {p.level}")
        parts.append(
            f'<text x="{_LABEL - 8}" y="{y + _ROW - 7}" font-size="12" '
            f'text-anchor="end">{label}</text>'
        )
        parts.append(_bar(p.match_weight, y, scale))
    parts.append("</svg>")
    return "".join(parts)


def model_html(model: ModelOut) -> str:
    """A page with the model's version, blocking rules, chart and m/u table."""
    rows = "".join(
        "<tr>"
        f"<td>{escape(p.comparison)}</td><td>{escape(p.level)}</td>"
        f"<td>{'' if p.m_probability is None else f'{p.m_probability:.4g}'}</td>"
        f"<td>{'' if p.u_probability is None else f'{p.u_probability:.4g}'}</td>"
        f"<td>{'' if p.match_weight is None else f'{p.match_weight:+.2f}'}</td>"
        "</tr>"
        for p in model.parameters
    )
    rules = "".join(
        f"<li>{escape(str(c['columns']))}: {int(c['comparisons']):,} comparisons"
        f"{'' if c['accepted'] else ' — refused: ' + escape(str(c['reason']))}</li>"
        for c in model.report.get("blocking", [])
    )
    prior = model.probability_two_random_records_match
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Linkage model {escape(model.kind)} v{model.version}</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:2px 8px;text-align:left}</style></head><body>"
        f"<h1>Linkage model: {escape(model.kind)} {escape(model.source)}, "
        f"version {model.version}</h1>"
        f"<p>Trained {model.created_at:%Y-%m-%d %H:%M} by {escape(model.created_by)}. "
        f"Probability two random records match: {prior if prior is None else f'{prior:.3g}'}.</p>"
        f"<h2>Blocking rules</h2><ul>{rules}</ul>"
        f"<h2>Match weights</h2>{match_weights_svg(model)}"
        "<h2>m and u probabilities</h2><table><tr><th>comparison</th><th>level</th>"
        f"<th>m</th><th>u</th><th>weight</th></tr>{rows}</table></body></html>"
    )
