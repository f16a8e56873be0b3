"""One number format per unit, for every number the dashboard shows: counts with
thousands separators, rates as percentages, money with its currency code, 0 as 0."""

from __future__ import annotations

import math

from reports import html


def _missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def count(value: float | None, digits: int = 0) -> str:
    """1234.5 -> '1,235' (or '1,234.5' with digits=1); None -> 'n/a'."""
    if _missing(value):
        return "n/a"
    return f"{value:,.{digits}f}"


def rate(value: float | None, digits: int = 1) -> str:
    """0.1642 -> '16.4 %'."""
    if _missing(value):
        return "n/a"
    return f"{100 * value:.{digits}f} %"


def money(value: float | None, currency: str, *, cents: bool = True) -> str:
    """1234.5, 'USD' -> '1,234.50 USD' ('1,235 USD' without cents, for headline cards)."""
    if _missing(value):
        return "n/a"
    return f"{value:,.{2 if cents else 0}f} {currency}"


def change(current: float | None, before: float | None) -> str | None:
    """The relative change as '+12.5 %' (None when either side is missing or zero)."""
    if _missing(current) or _missing(before) or not before:
        return None
    return f"{100 * (current - before) / abs(before):+.1f} %"


def value(v: float | None, unit: str) -> str:
    """A headline value by unit: 'count', 'rate', or a currency code."""
    if unit == "count":
        return count(v, 1 if v is not None and not _missing(v) and abs(v) < 100
                     and v != int(v) else 0)
    if unit == "rate":
        return rate(v)
    return money(v, unit, cents=v is None or _missing(v) or abs(v) < 1000)


def duration(seconds: float | None) -> str:
    """A duration for people, as the reports write it ('45 s', '12 min', '3.5 h',
    '2.1 d'; reports.html.duration); None -> 'n/a'."""
    if _missing(seconds):
        return "n/a"
    return html.duration(float(seconds))
