"""Chart specs: pure functions ``DataFrame -> alt.Chart`` (Vega-Lite), shared by the static
reports and the dashboard, and :func:`to_svg`, which renders a spec offline to an inline
SVG string with ``vl-convert`` (no JavaScript, no network: the reports stay script-free,
printable and CSP-safe).

Conventions: rates are fractions drawn with a percent axis (``percent=True``); axes use
Vega-Lite's nice ticks (250 / 500 / 750, never 278 / 556); category labels sit on the
vertical axis of horizontal bars so they are never cut; a legend names every series.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime

import altair as alt
import pandas as pd

from warehouse.html import BIDI_CONTROLS

# Arial first: metric-compatible with Liberation Sans, which vl-convert measures text with,
# so labels laid out offline are not cut when a browser draws them
FONT = "Arial, Liberation Sans, Helvetica, sans-serif"
WIDTH = 960
HALF_WIDTH = 440
HEIGHT = 240
LABEL_LIMIT = 320  # px of a category label before Vega-Lite elides it (with a title tooltip)
PALETTE = ["#2f6fbf", "#d9822b", "#1e7b34", "#b42318", "#7a5af8", "#0e9384", "#c11574",
           "#667085"]

Point = tuple[object, float | None]
Band = tuple[object, float | None, float | None]


def _config(chart: alt.Chart | alt.LayerChart, title: str, width: int, height: int):
    return (chart.properties(title=alt.TitleParams(visible(title), anchor="start",
                                                   fontSize=14),
                             width=width, height=height,
                             padding={"left": 40, "right": 16, "top": 6, "bottom": 6})
            .configure(font=FONT, background="white")
            .configure_axis(labelFontSize=11, titleFontSize=11, labelLimit=LABEL_LIMIT,
                            grid=True, gridColor="#eef2f6")
            .configure_legend(orient="bottom", labelFontSize=11, titleFontSize=11,
                              labelLimit=LABEL_LIMIT)
            .configure_view(stroke=None))


def _x_type(values: Sequence[object]) -> str:
    return "T" if any(isinstance(v, date | datetime) for v in values) else "Q"


def _count_format(values: pd.Series) -> str:
    """Whole numbers with thousands separators (250, 500, 1,000); decimals for small
    values; SI suffixes only from a million."""
    top = float(values.abs().max()) if len(values) else 0.0
    if top >= 1e6:
        return ".3~s"
    return ",.0f" if top >= 10 else ",.2~f"


def visible(text: object) -> str:
    """A label for a chart: bidi control characters made visible, as ``esc`` does for
    HTML text (vl-convert escapes the XML itself)."""
    return str(text).translate(BIDI_CONTROLS)


def series_frame(series: Mapping[str, Sequence[Point]]) -> pd.DataFrame:
    """``{name: [(x, y), ...]}`` as a long frame ``x, y, series`` (None y dropped)."""
    rows = [{"x": x, "y": y, "series": visible(name)} for name, pts in series.items()
            for x, y in pts if y is not None]
    df = pd.DataFrame(rows, columns=["x", "y", "series"])
    if len(df) and any(isinstance(v, date | datetime) for v in df["x"]):
        df["x"] = pd.to_datetime(df["x"])
    return df


def band_frame(bands: Mapping[str, Sequence[Band]]) -> pd.DataFrame:
    rows = [{"x": x, "lower": lo, "upper": hi, "band": visible(name)}
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
    x = alt.X(f"x:{xt}", title=visible(x_title) if x_title else None,
              axis=alt.Axis(format="%b %d", labelAngle=0, labelOverlap=True)
              if xt == "T" else alt.Axis(tickMinStep=1, labelOverlap=True))
    y_axis = alt.Axis(format=".0%" if percent else _count_format(df["y"]), tickCount=5)
    y = alt.Y("y:Q", title=visible(y_title) if y_title else None, axis=y_axis,
              scale=alt.Scale(nice=True, zero=True))
    names = list(dict.fromkeys(df["series"]))
    color = alt.Color("series:N", title=None, sort=names,
                      scale=alt.Scale(domain=names, range=PALETTE[: max(len(names), 1)]))
    lines = alt.Chart(df).mark_line(point=alt.OverlayMarkDef(size=14)).encode(
        x=x, y=y, color=color)
    layers: list[alt.Chart] = []
    if bands is not None and len(bands):
        layers.append(alt.Chart(bands).mark_area(opacity=0.18, color=PALETTE[0]).encode(
            x=alt.X(f"x:{xt}"), y="lower:Q", y2="upper:Q",
            opacity=alt.Opacity("band:N", title="interval",
                                scale=alt.Scale(range=[0.3, 0.15]))))
    layers.append(lines)
    chart = alt.layer(*layers) if len(layers) > 1 else lines
    return _config(chart, title, width, height)


def bar_spec(df: pd.DataFrame, *, title: str, x_title: str = "", percent: bool = False,
             width: int = HALF_WIDTH, sort: bool = False) -> alt.Chart:
    """Horizontal bars of ``value`` per ``label`` (labels on the vertical axis, so long
    labels are never cut), the value printed at the bar's end."""
    order = list(df.sort_values("value", ascending=False)["label"]) if sort else list(
        df["label"])
    fmt = ".1%" if percent else ",.3~f"
    y = alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labelLimit=LABEL_LIMIT))
    x = alt.X("value:Q", title=visible(x_title) if x_title else None,
              axis=alt.Axis(format=".0%" if percent else _count_format(df["value"]),
                            tickCount=5),
              scale=alt.Scale(nice=True, zero=True))
    base = alt.Chart(df).encode(y=y, x=x)
    bars = base.mark_bar(color=PALETTE[0])
    text = base.mark_text(align="left", dx=3, fontSize=10, color="#1f2933").encode(
        text=alt.Text("value:Q", format=fmt))
    height = max(60, 22 * len(df))
    return _config(alt.layer(bars, text), title, width, height)


def bar_frame(labels: Sequence[object], values: Sequence[float | None]) -> pd.DataFrame:
    return pd.DataFrame({"label": [visible(v) for v in labels],
                         "value": [0.0 if v is None else float(v) for v in values]})


_XML_DECL = re.compile(r"^<\?xml[^>]*>\s*")
# attributes of vl-convert's SVG an inline, static chart does not need (interaction hints,
# the xlink namespace): dropped so the page holds only what the safety test allows
_DROP_ATTRS = re.compile(
    r'\s(?:aria-roledescription|aria-hidden|pointer-events|version|xmlns:xlink)="[^"]*"')


def to_svg(chart: alt.TopLevelMixin) -> str:
    """The chart rendered offline to inline SVG (vl-convert; no script, no network). The
    spec is not validated against the Vega-Lite JSON schema on the way (Altair's
    ``to_dict`` validates by default: ~10 % of a report run's CPU); the specs are built
    here, and the SVG is the same."""
    import vl_convert as vlc

    svg = vlc.vegalite_to_svg(chart.to_dict(validate=False))
    return _DROP_ATTRS.sub("", _XML_DECL.sub("", svg))
