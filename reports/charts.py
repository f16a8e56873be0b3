"""Inline SVG charts (no JavaScript, no external files); every text is HTML-escaped.

x values of a line chart may be dates, datetimes, numbers or strings (strings are
placed in order of first appearance); None y values break the line.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import date, datetime

from reports.html import esc, fmt

PALETTE = ["#2f6fbf", "#d9822b", "#1e7b34", "#b42318", "#7b61ff", "#0f8b8d", "#8d6e63"]
BAND_OPACITY = [0.28, 0.14]
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 28, 40


def _finite(v: float | None) -> bool:
    return v is not None and isinstance(v, int | float) and math.isfinite(v)


class _XScale:
    """Maps x values (dates, numbers or categories) onto [0, 1]."""

    def __init__(self, xs: Iterable[object]) -> None:
        self.categories: dict[str, int] = {}
        values = list(xs)
        self.numeric = bool(values) and all(
            isinstance(x, date | int | float) and not isinstance(x, bool) for x in values)
        if not self.numeric:
            for x in values:
                self.categories.setdefault(str(x), len(self.categories))
            nums = list(self.categories.values())
        else:
            nums = [self._num(x) for x in values]
        self.lo = min(nums, default=0.0)
        self.hi = max(nums, default=1.0)

    @staticmethod
    def _num(x: object) -> float:
        if isinstance(x, datetime):
            return x.timestamp() / 86400.0
        if isinstance(x, date):
            return float(x.toordinal())
        return float(x)  # type: ignore[arg-type]

    def pos(self, x: object) -> float:
        n = self._num(x) if self.numeric else float(self.categories.get(str(x), 0))
        span = self.hi - self.lo
        return 0.5 if span == 0 else (n - self.lo) / span


def _nice_range(lo: float, hi: float) -> tuple[float, float]:
    if lo == hi:
        pad = abs(lo) * 0.1 or 1.0
        return lo - pad, hi + pad
    pad = (hi - lo) * 0.05
    return (0.0 if lo >= 0 else lo - pad), hi + pad  # counts and rates start at zero


def _label(x: object) -> str:
    if isinstance(x, datetime):
        return x.date().isoformat()
    return fmt(x) if isinstance(x, float) else str(x)


def _frame(title: str, width: int, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}" '
        'font-family="Helvetica, Arial, sans-serif" font-size="11">',
        f"<title>{esc(title)}</title>",
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{width / 2:.1f}" y="16" text-anchor="middle" font-size="13" '
        f'font-weight="600" fill="#1f2933">{esc(title)}</text>',
    ]


def _empty(title: str, width: int, height: int) -> str:
    parts = _frame(title, width, height)
    parts.append(f'<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" '
                 'fill="#616e7c" font-style="italic">no data</text>')
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(parts: list[str], y0: float, y1: float, plot_h: float, plot_w: float,
            y_label: str, height: int) -> None:
    for i in range(5):
        v = y0 + (y1 - y0) * i / 4
        y = MARGIN_TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{MARGIN_LEFT}" y1="{y:.1f}" x2="{MARGIN_LEFT + plot_w:.1f}" '
                     f'y2="{y:.1f}" stroke="#e4e7eb" stroke-width="1"/>')
        parts.append(f'<text x="{MARGIN_LEFT - 4}" y="{y + 4:.1f}" text-anchor="end" '
                     f'fill="#616e7c">{esc(_tick(v))}</text>')
    if y_label:
        cy = MARGIN_TOP + plot_h / 2
        parts.append(f'<text x="12" y="{cy:.1f}" text-anchor="middle" fill="#616e7c" '
                     f'transform="rotate(-90 12 {cy:.1f})">{esc(y_label)}</text>')


def _tick(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10 or v == 0:
        return f"{v:.0f}"
    return f"{v:.2f}"


def line_chart(
    series: dict[str, list[tuple[object, float | None]]],
    *,
    title: str,
    y_label: str = "",
    bands: dict[str, list[tuple[object, float, float]]] | None = None,
    width: int = 640,
    height: int = 240,
) -> str:
    """Lines (one per series) with optional shaded bands (e.g. forecast 80%/95%
    intervals), as an inline SVG string."""
    bands = bands or {}
    xs = [x for pts in series.values() for x, _ in pts]
    xs += [x for pts in bands.values() for x, _, _ in pts]
    ys = [float(y) for pts in series.values() for _, y in pts if _finite(y)]
    ys += [float(v) for pts in bands.values() for _, lo, hi in pts for v in (lo, hi)
           if _finite(v)]
    if not xs or not ys:
        return _empty(title, width, height)
    scale = _XScale(xs)
    y0, y1 = _nice_range(min(ys), max(ys))
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM

    def px(x: object) -> float:
        return MARGIN_LEFT + scale.pos(x) * plot_w

    def py(y: float) -> float:
        return MARGIN_TOP + plot_h - (y - y0) / (y1 - y0) * plot_h

    parts = _frame(title, width, height)
    _y_axis(parts, y0, y1, plot_h, plot_w, y_label, height)
    # x ticks: first, middle, last; the end ones anchored inwards so that a label at the
    # plot's edge is not cut by the frame
    ordered = sorted(set(xs), key=lambda x: scale.pos(x))
    ticks = {id(v): (v, anchor) for v, anchor in ((ordered[len(ordered) // 2], "middle"),
                                                  (ordered[0], "start"), (ordered[-1], "end"))}
    for x, anchor in ticks.values():
        parts.append(f'<text x="{px(x):.1f}" y="{MARGIN_TOP + plot_h + 14:.1f}" '
                     f'text-anchor="{anchor}" fill="#616e7c">{esc(_label(x))}</text>')
    for i, (name, pts) in enumerate(bands.items()):
        good = sorted(((x, float(lo), float(hi)) for x, lo, hi in pts
                       if _finite(lo) and _finite(hi)), key=lambda p: scale.pos(p[0]))
        if not good:
            continue
        upper = [f"{px(x):.1f},{py(hi):.1f}" for x, _, hi in good]
        lower = [f"{px(x):.1f},{py(lo):.1f}" for x, lo, _ in reversed(good)]
        opacity = BAND_OPACITY[min(i, len(BAND_OPACITY) - 1)]
        parts.append(f'<polygon points="{" ".join(upper + lower)}" fill="#2f6fbf" '
                     f'fill-opacity="{opacity}" stroke="none"><title>{esc(name)}</title>'
                     "</polygon>")
    legend: list[tuple[str, str, float]] = []
    for i, (name, pts) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        segment: list[str] = []
        segments: list[list[str]] = []
        for x, y in sorted(pts, key=lambda p: scale.pos(p[0])):
            if _finite(y):
                segment.append(f"{px(x):.1f},{py(float(y)):.1f}")  # type: ignore[arg-type]
            elif segment:
                segments.append(segment)
                segment = []
        if segment:
            segments.append(segment)
        for seg in segments:
            if len(seg) == 1:
                cx, cy = seg[0].split(",")
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="2.5" fill="{color}"/>')
            else:
                parts.append(f'<polyline points="{" ".join(seg)}" fill="none" '
                             f'stroke="{color}" stroke-width="2"/>')
        legend.append((name, color, 0.0))
    # legend entries side by side, each as wide as its name (about 7 px a character)
    lx = MARGIN_LEFT
    for name, color, _ in legend:
        ly = height - 10
        parts.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="10" fill="{color}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly + 1}" fill="#1f2933">{esc(name)}</text>')
        lx += _legend_width(name)
    for k, name in enumerate(bands):
        ly = height - 10
        opacity = BAND_OPACITY[min(k, len(BAND_OPACITY) - 1)]
        parts.append(f'<rect x="{lx}" y="{ly - 8}" width="10" height="10" fill="#2f6fbf" '
                     f'fill-opacity="{opacity}"/>')
        parts.append(f'<text x="{lx + 14}" y="{ly + 1}" fill="#1f2933">{esc(name)}</text>')
        lx += _legend_width(name)
    parts.append("</svg>")
    return "".join(parts)


def _legend_width(name: str) -> int:
    """Room for one legend entry: the swatch, the name and a gap (at least 120 px)."""
    return max(120, 14 + 7 * len(name) + 18)


def bar_chart(
    labels: list[str],
    values: list[float],
    *,
    title: str,
    width: int = 640,
    height: int = 240,
) -> str:
    """Vertical bars, one per label, with the value above each bar, as inline SVG."""
    pairs = [(str(lb), float(v)) for lb, v in zip(labels, values, strict=False) if _finite(v)]
    if not pairs:
        return _empty(title, width, height)
    lo = min(0.0, min(v for _, v in pairs))
    hi = max(0.0, max(v for _, v in pairs))
    if hi == lo:
        hi = lo + 1.0
    plot_w = width - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = height - MARGIN_TOP - MARGIN_BOTTOM
    parts = _frame(title, width, height)
    _y_axis(parts, lo, hi, plot_h, plot_w, "", height)
    slot = plot_w / len(pairs)
    bar_w = max(2.0, slot * 0.7)

    def py(y: float) -> float:
        return MARGIN_TOP + plot_h - (y - lo) / (hi - lo) * plot_h

    max_chars = max(3, int(slot / 6))
    for i, (label, v) in enumerate(pairs):
        x = MARGIN_LEFT + i * slot + (slot - bar_w) / 2
        top, bottom = min(py(v), py(0.0)), max(py(v), py(0.0))
        color = PALETTE[0] if v >= 0 else PALETTE[3]
        parts.append(f'<rect x="{x:.1f}" y="{top:.1f}" width="{bar_w:.1f}" '
                     f'height="{max(bottom - top, 0.5):.1f}" fill="{color}">'
                     f"<title>{esc(label)}: {esc(_tick(v))}</title></rect>")
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top - 3:.1f}" text-anchor="middle" '
                     f'fill="#1f2933">{esc(_tick(v))}</text>')
        short = label if len(label) <= max_chars else label[: max_chars - 1] + "…"
        parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{MARGIN_TOP + plot_h + 14:.1f}" '
                     f'text-anchor="middle" fill="#616e7c">{esc(short)}</text>')
    parts.append("</svg>")
    return "".join(parts)
