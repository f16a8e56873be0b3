"""The dashboard's charts as Altair (Vega-Lite) specs: pure functions of a DataFrame,
so the same specs can be rendered elsewhere (static reports via vl-convert)."""

from __future__ import annotations

import altair as alt
import pandas as pd

HEIGHT = 260
_AXIS = {"labelLimit": 260, "titleFontWeight": "normal"}


def _date_x(field: str, title: str = "") -> alt.X:
    # ticks on day boundaries only (a short range would otherwise repeat a day at noon)
    return alt.X(f"{field}:T", title=title, axis=alt.Axis(
        format="%b %d", labelAngle=0, labelOverlap=True, tickCount="day", **_AXIS))


def lines(df: pd.DataFrame, x: str, ys: list[str], title: str, *, percent: bool = False
          ) -> alt.Chart:
    """One line per column of ``ys`` over the dates in ``x``, with a legend."""
    long = df.melt(id_vars=[x], value_vars=ys, var_name="series", value_name="value")
    fmt = ".0%" if percent else "~s"
    return alt.Chart(long, title=title, height=HEIGHT).mark_line(point=True).encode(
        x=_date_x(x),
        y=alt.Y("value:Q", title="", axis=alt.Axis(format=fmt, tickCount=5, **_AXIS)),
        color=alt.Color("series:N", title="", legend=alt.Legend(orient="bottom")),
        tooltip=[alt.Tooltip(f"{x}:T"), "series:N",
                 alt.Tooltip("value:Q", format=".1%" if percent else ",.2f")],
    )


def stacked_bars(df: pd.DataFrame, x: str, y: str, color: str, title: str,
                 *, temporal: bool = True) -> alt.Chart:
    xenc = _date_x(x) if temporal else alt.X(f"{x}:O", title=x.replace("_", " "))
    return alt.Chart(df, title=title, height=HEIGHT).mark_bar().encode(
        x=xenc,
        y=alt.Y(f"{y}:Q", title=y.replace("_", " "), axis=alt.Axis(tickCount=5, **_AXIS)),
        color=alt.Color(f"{color}:N", title="", legend=alt.Legend(orient="bottom")),
        tooltip=[x, color, alt.Tooltip(f"{y}:Q", format=",")],
    )


def hbars(df: pd.DataFrame, category: str, value: str, title: str, *,
          percent: bool = False, color: str | None = None, keep_order: bool = False
          ) -> alt.Chart:
    """Horizontal bars, largest first (or in the frame's order), labels never cut."""
    fmt = ".0%" if percent else "~s"
    enc = {
        "y": alt.Y(f"{category}:N", sort=None if keep_order else "-x", title="",
                   axis=alt.Axis(**_AXIS)),
        "x": alt.X(f"{value}:Q", title=value.replace("_", " "),
                   axis=alt.Axis(format=fmt, tickCount=5, **_AXIS)),
        "tooltip": [category, alt.Tooltip(f"{value}:Q", format=".1%" if percent else ",")],
    }
    if color:
        enc["color"] = alt.Color(f"{color}:N", title="", legend=alt.Legend(orient="bottom"))
    # a band per category (the chart grows with them; labels never skipped)
    return alt.Chart(df, title=title, height=alt.Step(24)).mark_bar().encode(**enc)


def heatmap(df: pd.DataFrame, x: str, y: str, value: str, title: str, *,
            percent: bool = False, x_order: list[str] | None = None) -> alt.Chart:
    fmt = ".0%" if percent else "d"
    xenc = alt.X(f"{x}:O", title=x.replace("_", " "), sort=x_order,
                 axis=alt.Axis(labelAngle=0))
    base = alt.Chart(df, title=title).encode(
        x=xenc, y=alt.Y(f"{y}:O", title=y.replace("_", " "), axis=alt.Axis(**_AXIS)))
    rects = base.mark_rect().encode(
        color=alt.Color(f"{value}:Q", title=value.replace("_", " "),
                        legend=alt.Legend(format=fmt)),
        tooltip=[x, y, alt.Tooltip(f"{value}:Q", format=fmt)])
    return rects.properties(height=alt.Step(20))


def forecast_band(df: pd.DataFrame, title: str) -> alt.LayerChart:
    """Actuals, the forecast and its 80 % / 95 % intervals (rows: date, kind, value,
    lower_80, upper_80, lower_95, upper_95)."""
    base = alt.Chart(df).encode(x=_date_x("date"))
    fc = df[df["kind"] == "forecast"]
    band95 = alt.Chart(fc).mark_area(opacity=0.15, color="#e8710a").encode(
        x=_date_x("date"), y=alt.Y("lower_95:Q", title=""), y2="upper_95:Q")
    band80 = alt.Chart(fc).mark_area(opacity=0.25, color="#e8710a").encode(
        x=_date_x("date"), y=alt.Y("lower_80:Q", title=""), y2="upper_80:Q")
    line = base.mark_line(point=True).encode(
        y=alt.Y("value:Q", title="", axis=alt.Axis(tickCount=5, **_AXIS)),
        color=alt.Color("kind:N", title="", legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=["actual", "forecast"],
                                        range=["#1f5fa8", "#e8710a"])),
        tooltip=["date:T", "kind:N", alt.Tooltip("value:Q", format=",.1f"),
                 alt.Tooltip("lower_95:Q", format=",.1f"),
                 alt.Tooltip("upper_95:Q", format=",.1f")])
    return alt.layer(band95, band80, line, title=title).properties(height=HEIGHT)


def curves(df: pd.DataFrame, x: str, y: str, series: str, title: str) -> alt.Chart:
    """Rates over an ordinal ``x`` (periods since the cohort start), one line per series."""
    return alt.Chart(df, title=title, height=HEIGHT).mark_line(point=True).encode(
        x=alt.X(f"{x}:O", title=x, axis=alt.Axis(labelAngle=0)),
        y=alt.Y(f"{y}:Q", title="", axis=alt.Axis(format=".0%", tickCount=5, **_AXIS)),
        color=alt.Color(f"{series}:N", title="",
                        legend=alt.Legend(orient="bottom", labelLimit=400, columns=2)),
        tooltip=[series, x, alt.Tooltip(f"{y}:Q", format=".1%")])
