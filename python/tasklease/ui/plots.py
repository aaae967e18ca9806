"""Plots as inline SVG, rendered on the server: no JavaScript, nothing fetched."""

from __future__ import annotations

from html import escape
from typing import Sequence

WIDTH, HEIGHT = 560, 160
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 40, 20, 10


def _nice_max(value: float) -> float:
    """The smallest of 1, 2, 5 x 10^n that is >= value (the top of an axis)."""
    scale = 1.0
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def per_minute_bars(points: Sequence[dict], series: Sequence[tuple[str, str]],
                    title: str) -> str:
    """Stacked bars, one per point (a dict with "minute" and one key per series),
    series as (key, css class); an SVG element with a <title> per bar."""
    n = max(len(points), 1)
    top = _nice_max(max((sum(p[k] for k, _ in series) for p in points), default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT, HEIGHT - PAD_BOTTOM - PAD_TOP
    bar_w = plot_w / n
    parts = [
        f'<svg class="plot" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH}" '
        f'y2="{PAD_TOP + plot_h}"/>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end">'
        f'{top:g}</text>',
        f'<text class="tick" x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end">0</text>',
    ]
    for i, p in enumerate(points):
        y = PAD_TOP + plot_h
        label = p["minute"].strftime("%H:%M")
        tip = f"{label}: " + ", ".join(f"{p[k]} {k}" for k, _ in series)
        x = PAD_LEFT + i * bar_w
        for key, css in series:
            h = plot_h * p[key] / top
            if h <= 0:
                continue
            y -= h
            parts.append(
                f'<rect class="{css}" x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}"'
                f' height="{h:.1f}"><title>{escape(tip)}</title></rect>'
            )
        if i % 15 == 0:
            parts.append(f'<text class="tick" x="{x:.1f}" y="{HEIGHT - 4}">{label}</text>')
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(items: Sequence[tuple[str, float]], unit: str, title: str) -> str:
    """One labelled bar per (label, value); an SVG element."""
    row_h, label_w = 22, 140
    height = max(len(items), 1) * row_h + 6
    top = _nice_max(max((v for _, v in items), default=0))
    span = WIDTH - label_w - 60
    parts = [f'<svg class="plot" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">']
    if not items:
        parts.append('<text class="tick" x="4" y="16">nothing runnable is waiting</text>')
    for i, (label, value) in enumerate(items):
        y = 3 + i * row_h
        w = span * value / top
        parts.append(f'<text class="tick" x="{label_w - 6}" y="{y + 14}" text-anchor="end">'
                     f'{escape(label)}</text>')
        tip = f"{escape(label)}: {value:g} {unit}"
        parts.append(f'<rect class="age" x="{label_w}" y="{y + 3}" width="{max(w, 1):.1f}" '
                     f'height="{row_h - 8}"><title>{tip}</title></rect>')
        parts.append(f'<text class="tick" x="{label_w + w + 6:.1f}" y="{y + 14}">'
                     f'{value:g} {unit}</text>')
    parts.append("</svg>")
    return "".join(parts)
