"""Chart specs: pure functions ``DataFrame -> alt.Chart`` (Vega-Lite), shared by the static
reports and the dashboard, and :func:`to_svg`, which renders a spec offline to an inline
SVG string with ``vl-convert`` (no JavaScript, no network: the reports stay script-free,
printable and CSP-safe).

Conventions: rates are fractions drawn with a percent axis (``percent=True``); axes use
Vega-Lite's nice ticks (250 / 500 / 750, never 278 / 556); category labels sit on the
vertical axis of horizontal bars so they are never cut; a legend names every series.
The frame builders keep the data's names; each spec function turns every text it hands
vl-convert into a chart label (:func:`visible`, :func:`chart_labels`).
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import altair as alt
import numpy as np
import pandas as pd

from warehouse.html import BIDI_CONTROLS

# vl-convert lays labels out with the first of these fonts it has, the browser draws them
# with the first it has: DejaVu Sans first (the widest of them, and the sans-serif of
# Debian, whose Chromium renders and prints the reports), so that text measured offline
# is never narrower than the text a browser draws (Arial, Helvetica and Liberation Sans
# are narrower): no cut or overlapping labels; checked by screenshots (issue 21)
FONT = "DejaVu Sans, Arial, Liberation Sans, Helvetica, sans-serif"
WIDTH = 960
# two half charts side by side in a report (1,032 px of content at 1,200 px): a line's
# plot of HALF_WIDTH plus its axis and padding, a bar chart's plot of BAR_WIDTH plus its
# labels and values, each about 500 px
HALF_WIDTH = 380
BAR_WIDTH = 260
HEIGHT = 240
LABEL_LIMIT = 320  # px of a category label before Vega-Lite elides it (with a title tooltip)
# characters of a label or title handed to vl-convert: more than any axis or title shows
# (320 px of 11 px text is ~50 characters, a 960 px title ~120), and a bound on the
# conversion's cost, which grows with the text it lays out (a 4,500-character label took
# ~10 s a chart); the report's tables show the whole text
LABEL_CHARS = 120
ELLIPSIS = "\u2026"
PALETTE = ["#2f6fbf", "#d9822b", "#1e7b34", "#b42318", "#7a5af8", "#0e9384", "#c11574",
           "#667085"]

Point = tuple[object, float | None]
Band = tuple[object, float | None, float | None]


# every chart's top-level config, built once (a chart is copied at each ``configure_*``
# call, and copying a layered chart combines its layers' params again: ~14 ms a chart)
_CONFIG = alt.Config(
    font=FONT, background="white",
    axis=alt.AxisConfig(labelFontSize=11, titleFontSize=11, labelLimit=LABEL_LIMIT,
                        grid=True, gridColor="#eef2f6"),
    legend=alt.LegendConfig(orient="bottom", labelFontSize=11, titleFontSize=11,
                            labelLimit=LABEL_LIMIT, columnPadding=18, symbolSize=60),
    view=alt.ViewConfig(stroke=None))


def _config(chart: alt.Chart | list[alt.Chart], title: str, width: int, height: int
            ) -> alt.Chart | alt.LayerChart:
    """The top-level chart: ``chart``, or the layers ``chart`` as one layered chart, with
    the title, size, padding and config, set in one step."""
    top = {"title": alt.TitleParams(visible(title), anchor="start", fontSize=14),
           "width": width, "height": height,
           "padding": {"left": 40, "right": 16, "top": 6, "bottom": 6},
           "config": _CONFIG.copy()}
    if isinstance(chart, list):
        return alt.layer(*chart, **top) if len(chart) > 1 else chart[0].properties(**top)
    return chart.properties(**top)


def _x_type(values: Sequence[object]) -> str:
    """``T`` for dates, ``Q`` for numbers, ``O`` (in order of first appearance) for
    anything else, e.g. the text x of a custom analysis."""
    if any(isinstance(v, date | datetime) for v in values):
        return "T"
    if all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values):
        return "Q"
    return "O"


def _count_format(values: pd.Series) -> str:
    """Whole numbers with thousands separators (250, 500, 1,000); decimals for small
    values; SI suffixes only from a million."""
    top = float(values.abs().max()) if len(values) else 0.0
    if top >= 1e6:
        return ".3~s"
    return ",.0f" if top >= 10 else ",.2~f"


def _value_format(values: pd.Series) -> str:
    """The format of the values printed on bars, one per chart, as the tables show them
    (reports/html.py ``fmt``): whole numbers with separators, else 3 decimals below 10
    and 2 above."""
    nums = values.dropna()
    if not len(nums) or all(float(v).is_integer() for v in nums):
        return ",.0f"
    return ",.3f" if float(nums.abs().max()) < 10 else ",.2f"


def visible(text: object) -> str:
    """A label for a chart: bidi control characters made visible, as ``esc`` does for
    HTML text (vl-convert escapes the XML itself), and cut to LABEL_CHARS characters
    (the last one an ellipsis)."""
    out = str(text).translate(BIDI_CONTROLS)
    return out if len(out) <= LABEL_CHARS else out[: LABEL_CHARS - 1] + ELLIPSIS


def is_cut(text: object) -> bool:
    """True when a chart shows ``text`` cut (:func:`visible`)."""
    return len(str(text).translate(BIDI_CONTROLS)) > LABEL_CHARS


def chart_labels(values: Sequence[object]) -> list[str]:
    """:func:`visible` of each value, distinct values kept distinct: a cut label equal to
    another value's gets a number (``… #2``), so two long names never share a bar, line
    or cell."""
    names: dict[str, str] = {}  # value's text -> its label
    owner: dict[str, str] = {}  # label -> the value's text it stands for
    out = []
    for value in values:
        text = str(value)
        if text not in names:
            label, n = visible(text), 1
            while owner.setdefault(label, text) != text:
                n += 1
                suffix = f" #{n}"
                label = visible(text)[: LABEL_CHARS - len(suffix) - 1] + ELLIPSIS + suffix
            names[text] = label
        out.append(names[text])
    return out


def _column_values(column: pd.Series) -> list[Any] | None:
    """A column's values as Altair's pandas sanitizer leaves them (floats: NaN and
    infinities None; datetimes: ISO text, NaT ""; pandas text: missing None); None for a
    column of any other kind."""
    dtype = column.dtype
    if isinstance(dtype, pd.StringDtype):
        return [None if missing else v
                for v, missing in zip(column.tolist(), column.isna().tolist(), strict=True)]
    if not isinstance(dtype, np.dtype):  # nullable integers, categories, time zones, ...
        return None
    if dtype.kind == "f":
        return [v if math.isfinite(v) else None for v in column.tolist()]
    if dtype.kind in "iub":
        return column.tolist()
    if dtype.kind == "M":
        return [t.isoformat() if t is not pd.NaT else "" for t in column]
    if dtype.kind == "O":  # text only: Altair's missing value here is pandas' to choose
        values = column.tolist()
        if all(isinstance(v, str) for v in values):
            return values
    return None


def chart_data(df: pd.DataFrame) -> dict[str, Any] | pd.DataFrame:
    """The frame's rows as Altair's default data transformer gives them, ``{"values":
    records}``, for the column kinds these specs draw (float, integer, boolean,
    datetime, text); Altair consolidates them into the spec's datasets as it does a
    frame's. Altair's own conversion copies the frame and converts each column through
    pandas (~4 ms a chart, a fifth of building one); any other frame is Altair's to
    convert (returned as is)."""
    if isinstance(df.index, pd.MultiIndex) or not len(df.columns) or not all(
            isinstance(c, str) for c in df.columns):
        return df
    columns: list[list[Any]] = []
    for name in df.columns:
        values = _column_values(df[name])
        if values is None:
            return df
        columns.append(values)
    names = list(df.columns)
    return {"values": [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)]}


def series_frame(series: Mapping[str, Sequence[Point]]) -> pd.DataFrame:
    """``{name: [(x, y), ...]}`` as a long frame ``x, y, series`` (None y dropped)."""
    rows = [{"x": x, "y": y, "series": name} for name, pts in series.items()
            for x, y in pts if y is not None]
    df = pd.DataFrame(rows, columns=["x", "y", "series"])
    if len(df) and any(isinstance(v, date | datetime) for v in df["x"]):
        df["x"] = pd.to_datetime(df["x"])
    return df


def band_frame(bands: Mapping[str, Sequence[Band]]) -> pd.DataFrame:
    rows = [{"x": x, "lower": lo, "upper": hi, "band": name}
            for name, pts in bands.items()
            for x, lo, hi in pts if lo is not None and hi is not None]
    df = pd.DataFrame(rows, columns=["x", "lower", "upper", "band"])
    if len(df) and any(isinstance(v, date | datetime) for v in df["x"]):
        df["x"] = pd.to_datetime(df["x"])
    return df


def line_spec(df: pd.DataFrame, *, title: str, y_title: str = "", x_title: str = "",
              percent: bool = False, bands: pd.DataFrame | None = None,
              width: int = WIDTH, height: int = HEIGHT) -> alt.Chart | alt.LayerChart:
    """One line per ``series`` over ``x`` (dates or numbers), with optional interval
    ``bands`` (``x, lower, upper, band``) drawn beneath; a legend names the lines."""
    xt = _x_type(list(df["x"])) if len(df) else "Q"
    df = df.assign(series=chart_labels(list(df["series"])))
    if bands is not None:
        bands = bands.assign(band=chart_labels(list(bands["band"])))
    if xt == "O":
        df = df.assign(x=chart_labels(list(df["x"])))
        axis = alt.Axis(labelAngle=-40, labelOverlap=True, labelLimit=160)
    elif xt == "T":  # about one label per 90 px (Vega picks nice dates: days, weeks)
        axis = alt.Axis(format="%b %d", labelAngle=0, labelOverlap=True,
                        tickCount=max(2, width // 90), labelPadding=4)
    else:
        axis = alt.Axis(tickMinStep=1, labelOverlap=True)
    x = alt.X(f"x:{xt}", title=visible(x_title) if x_title else None, axis=axis,
              sort=list(dict.fromkeys(df["x"])) if xt == "O" else "ascending")
    y_axis = alt.Axis(format=".0%" if percent else _count_format(df["y"]), tickCount=5)
    y = alt.Y("y:Q", title=visible(y_title) if y_title else None, axis=y_axis,
              scale=alt.Scale(nice=True, zero=True))
    names = list(dict.fromkeys(df["series"]))
    color = alt.Color("series:N", title=None, sort=names,
                      scale=alt.Scale(domain=names, range=PALETTE[: max(len(names), 1)]))
    lines = alt.Chart(chart_data(df)).mark_line(point=alt.OverlayMarkDef(size=14)).encode(
        x=x, y=y, color=color)
    layers: list[alt.Chart] = []
    if bands is not None and len(bands):
        area = alt.Chart(chart_data(bands)).mark_area(opacity=0.18, color=PALETTE[0])
        layers.append(area.encode(
            x=alt.X(f"x:{xt}"), y="lower:Q", y2="upper:Q",
            opacity=alt.Opacity("band:N", title="interval",
                                scale=alt.Scale(range=[0.3, 0.15]))))
    layers.append(lines)
    return _config(layers, title, width, height)


def bar_spec(df: pd.DataFrame, *, title: str, x_title: str = "", percent: bool = False,
             width: int = BAR_WIDTH, sort: bool = False) -> alt.Chart:
    """Horizontal bars of ``value`` per ``label`` (labels on the vertical axis, so long
    labels are never cut), the value printed at the bar's end."""
    df = df.assign(label=chart_labels(list(df["label"])))
    order = list(df.sort_values("value", ascending=False)["label"]) if sort else list(
        df["label"])
    fmt = ".1%" if percent else _value_format(df["value"])
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT))
    x = alt.X("value:Q", title=visible(x_title) if x_title else None,
              axis=alt.Axis(format=".0%" if percent else _count_format(df["value"]),
                            tickCount=min(5, max(2, width // 70)), labelOverlap=True),
              scale=alt.Scale(nice=True, zero=True))
    base = alt.Chart(chart_data(df)).encode(y=y, x=x)
    bars = base.mark_bar(color=PALETTE[0])
    text = base.mark_text(align="left", dx=3, fontSize=10, color="#1f2933").encode(
        text=alt.Text("value:Q", format=fmt))
    height = max(60, 22 * len(df))
    return _config([bars, text], title, width, height)


def bar_frame(labels: Sequence[object], values: Sequence[float | None]) -> pd.DataFrame:
    return pd.DataFrame({"label": list(labels),
                         "value": [0.0 if v is None else float(v) for v in values]})


_XML_DECL = re.compile(r"^<\?xml[^>]*>\s*")
# attributes of vl-convert's SVG an inline, static chart does not need (interaction hints,
# the xlink namespace): dropped so the page holds only what the safety test allows
_DROP_ATTRS = re.compile(
    r'\s(?:aria-roledescription|aria-hidden|pointer-events|version|xmlns:xlink)="[^"]*"')


def spec_dict(chart: alt.TopLevelMixin) -> dict:
    """The chart's Vega-Lite spec as a dict, not validated against the Vega-Lite JSON
    schema (Altair's ``to_dict`` validates by default: ~10 % of a report run's CPU); the
    specs are built here, and the SVG is the same."""
    return chart.to_dict(validate=False)


def clean_svg(svg: str) -> str:
    """vl-convert's SVG as a report inlines it: no XML declaration, no interaction hints."""
    return _DROP_ATTRS.sub("", _XML_DECL.sub("", svg))


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart rendered offline to inline SVG (vl-convert; no script, no network)."""
    import vl_convert as vlc

    return clean_svg(vlc.vegalite_to_svg(spec_dict(chart)))


def stacked_bar_spec(df: pd.DataFrame, *, title: str, x_title: str = "",
                     y_title: str = "", temporal: bool = True, width: int = HALF_WIDTH,
                     height: int = HEIGHT) -> alt.Chart:
    """Vertical bars of ``value`` per ``x`` (dates, or ordered categories when not
    ``temporal``), stacked by ``series``; a legend names the series."""
    df = df.assign(series=chart_labels(list(df["series"])))
    if not temporal:
        df = df.assign(x=chart_labels(list(df["x"])))
    x = (alt.X("x:T", title=visible(x_title) if x_title else None,
               axis=alt.Axis(format="%b %d", labelAngle=0, labelOverlap=True))
         if temporal else
         alt.X("x:O", title=visible(x_title) if x_title else None, sort=None,
               axis=alt.Axis(labelAngle=0, labelOverlap=True)))
    names = list(dict.fromkeys(df["series"]))
    colors = (PALETTE * (len(names) // len(PALETTE) + 1))[: max(len(names), 1)]
    chart = alt.Chart(chart_data(df)).mark_bar().encode(
        x=x,
        y=alt.Y("sum(value):Q", title=visible(y_title) if y_title else None,
                axis=alt.Axis(format=_count_format(df["value"]), tickCount=5),
                scale=alt.Scale(nice=True, zero=True)),
        color=alt.Color("series:N", title=None, sort=names,
                        scale=alt.Scale(domain=names, range=colors)),
        order=alt.Order("series:N"))
    return _config(chart, title, width, height)


def heatmap_spec(df: pd.DataFrame, *, title: str, x_title: str = "", y_title: str = "",
                 percent: bool = False, x_order: Sequence[object] | None = None,
                 width: int = WIDTH) -> alt.Chart:
    """Cells of ``value`` per ``x`` and ``y`` (both ordinal), each labelled with its
    value; the colour legend in the value's unit. One 22 px row per ``y``; no grid lines
    (they would cross the cells' labels)."""
    fmt = ".0%" if percent else ",.0f"
    xs = list(dict.fromkeys([*(x_order or []), *df["x"]]))
    x_label = dict(zip(xs, chart_labels(xs), strict=True))
    df = df.assign(x=[x_label[v] for v in df["x"]], y=chart_labels(list(df["y"])))
    if x_order is not None:
        x_order = [x_label[v] for v in x_order]
    base = alt.Chart(chart_data(df)).encode(
        x=alt.X("x:O", title=visible(x_title) if x_title else None,
                sort=list(x_order) if x_order is not None else None,
                axis=alt.Axis(labelAngle=0, grid=False)),
        y=alt.Y("y:O", title=visible(y_title) if y_title else None, sort=None,
                axis=alt.Axis(labelLimit=LABEL_LIMIT, grid=False)))
    top = float(df["value"].max()) if len(df) else 0.0
    cells = base.mark_rect().encode(
        color=alt.Color("value:Q", title=None, scale=alt.Scale(scheme="blues"),
                        legend=alt.Legend(format=fmt)))
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("value:Q", format=".0%" if percent else ",.0f"),
        color=alt.condition(alt.datum.value > top * 0.6, alt.value("white"),
                            alt.value("#1f2933")))
    height = max(60, 22 * df["y"].nunique()) if len(df) else 60
    return _config([cells, text], title, width, height)
