"""A target's last captures as an inline SVG: three small bar charts, one above the other
(pages, bytes, failures), oldest on the left, a failed capture's bars in red.

Pure markup, no script and nothing fetched; each bar has a <title> (the browser shows it
on hover or long press) with the capture's id, status and figures.
"""

from __future__ import annotations

from html import escape
from typing import Any

WIDTH, PANEL, GAP, LABEL = 600, 60, 18, 16
SERIES = (("pages", "#2d6a9f"), ("bytes", "#5b8c5a"), ("failed", "#c77d00"))


def _short(n: float) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return f"{n:.0f}"


def capture_chart(captures: list[dict[str, Any]], labels: dict[str, str]) -> str:
    """CAPTURES newest first (as the catalog lists them); LABELS: the series' names shown."""
    shown = list(reversed(captures[:30]))
    height = len(SERIES) * (PANEL + GAP + LABEL)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" '
             f'height="{height}" role="img" aria-label="{escape(labels.get("title", ""))}">']
    slot = WIDTH / max(len(shown), 1)
    for row, (key, colour) in enumerate(SERIES):
        top = row * (PANEL + GAP + LABEL) + LABEL
        most = max((c.get(key) or 0 for c in shown), default=0)
        parts.append(f'<text x="0" y="{top - 4}" font-size="12" fill="#333">{escape(labels.get(key, key))} '
                     f'(max {_short(most)})</text>')
        parts.append(f'<line x1="0" y1="{top + PANEL}" x2="{WIDTH}" y2="{top + PANEL}" stroke="#bbb"/>')
        for i, c in enumerate(shown):
            value = c.get(key) or 0
            h = 0 if most == 0 else max(1.0, PANEL * value / most) if value else 0
            fill = "#b00020" if c.get("status") == "failed" else colour
            tip = (f'{c["id"]} {c.get("status")}: {c.get("pages") or 0} pages, {_short(c.get("bytes") or 0)}B, '
                   f'{c.get("failed") or 0} failed')
            parts.append(f'<rect x="{i * slot + 1:.1f}" y="{top + PANEL - h:.1f}" width="{max(slot - 2, 1):.1f}" '
                         f'height="{h:.1f}" fill="{fill}"><title>{escape(tip)}</title></rect>')
    parts.append("</svg>")
    return "".join(parts)
