"""The dashboard's charts are the reports' chart specs (``reports.specs``): these
functions only reshape a page's query frame into the long frame a spec takes
(``x, y, series`` for lines, ``label, value`` for bars, ``x, value, series`` for stacked
bars, ``x, y, value`` for heat maps) and call the spec. No chart is drawn here."""

from __future__ import annotations

import math

import altair as alt
import pandas as pd

from reports import specs


def _long(df: pd.DataFrame, x: str, ys: list[str]) -> pd.DataFrame:
    """``df``'s columns ``ys`` over ``x`` as rows ``x, y, series`` (missing values
    dropped, dates as timestamps)."""
    long = df.melt(id_vars=[x], value_vars=ys, var_name="series", value_name="y")
    long = long.rename(columns={x: "x"}).dropna(subset=["y"])
    long["y"] = long["y"].astype(float)
    long["series"] = long["series"].str.replace("_", " ")
    if pd.api.types.is_object_dtype(long["x"]) or pd.api.types.is_datetime64_any_dtype(
            long["x"]):
        long["x"] = pd.to_datetime(long["x"])
    return long[["x", "y", "series"]]


_NAMES = {"dau": "DAU", "wau": "WAU", "mau": "MAU"}


def _day_ticks(chart: alt.TopLevelMixin, x: pd.Series) -> alt.TopLevelMixin:
    """Date ticks on whole days only, at most about a dozen (a spec stretched across a
    wide page would otherwise tick every 12 hours and print each day twice)."""
    if not len(x) or not pd.api.types.is_datetime64_any_dtype(x):
        return chart
    days = max(1, (x.max() - x.min()).days)
    ticks = {"interval": "day", "step": max(1, math.ceil(days / 12))}
    for layer in chart.layer if isinstance(chart, alt.LayerChart) else [chart]:
        enc = layer["encoding"]["x"] if layer["encoding"] is not alt.Undefined else None
        if enc is not None and enc is not alt.Undefined and enc["axis"] is not alt.Undefined:
            enc["axis"]["tickCount"] = ticks
    return chart


def lines(df: pd.DataFrame, x: str, ys: list[str], title: str, *, percent: bool = False
          ) -> alt.TopLevelMixin | None:
    """One line per column of ``ys`` over the dates in ``x``, with a legend (None when
    every value is missing)."""
    long = _long(df, x, ys)
    if long.empty:
        return None
    long["series"] = long["series"].map(lambda n: _NAMES.get(n, n))
    return _day_ticks(specs.line_spec(long, title=title, percent=percent), long["x"])


def curves(df: pd.DataFrame, x: str, y: str, series: str, title: str, *,
           x_title: str = "") -> alt.TopLevelMixin:
    """Rates over a numeric ``x`` (periods since the cohort start), one line per series."""
    long = pd.DataFrame({"x": df[x].astype(int), "y": df[y].astype(float),
                         "series": df[series].astype(str)}).dropna(subset=["y"])
    return specs.line_spec(long, title=title, percent=True, x_title=x_title or x)


def hbars(df: pd.DataFrame, category: str, value: str, title: str, *,
          percent: bool = False, keep_order: bool = False, x_title: str = ""
          ) -> alt.TopLevelMixin:
    """Horizontal bars, largest first (or in the frame's order), labels never cut."""
    frame = specs.bar_frame(list(df[category]),
                            [None if pd.isna(v) else float(v) for v in df[value]])
    return specs.bar_spec(frame, title=title, percent=percent, sort=not keep_order,
                          x_title=x_title or value.replace("_", " "))


def stacked_bars(df: pd.DataFrame, x: str, y: str, color: str, title: str, *,
                 temporal: bool = True, x_title: str = "") -> alt.TopLevelMixin:
    frame = pd.DataFrame({"x": pd.to_datetime(df[x]) if temporal else df[x].astype(str),
                          "value": df[y].astype(float), "series": df[color].astype(str)})
    chart = specs.stacked_bar_spec(frame, title=title, temporal=temporal,
                                   x_title=x_title, y_title=y.replace("_", " "))
    return _day_ticks(chart, frame["x"]) if temporal else chart


def heatmap(df: pd.DataFrame, x: str, y: str, value: str, title: str, *,
            percent: bool = False, x_order: list[str] | None = None, x_title: str = ""
            ) -> alt.TopLevelMixin:
    frame = pd.DataFrame({"x": df[x].astype(str), "y": df[y].astype(str),
                          "value": df[value].astype(float)})
    order = x_order or [str(v) for v in dict.fromkeys(df[x])]
    return specs.heatmap_spec(frame, title=title, percent=percent, x_order=order,
                              x_title=x_title or x.replace("_", " "))


def forecast_band(df: pd.DataFrame, title: str) -> alt.TopLevelMixin:
    """Actuals and the forecast as lines, its 80 % and 95 % intervals as bands beneath
    (rows: date, kind, value, lower_80, upper_80, lower_95, upper_95)."""
    lines_ = pd.DataFrame({"x": pd.to_datetime(df["date"]), "y": df["value"].astype(float),
                           "series": df["kind"].astype(str)}).dropna(subset=["y"])
    fc = df[df["kind"] == "forecast"]
    bands = pd.concat([
        pd.DataFrame({"x": pd.to_datetime(fc["date"]), "lower": fc[f"lower_{p}"],
                      "upper": fc[f"upper_{p}"], "band": f"{p} %"}) for p in (95, 80)],
        ignore_index=True).dropna(subset=["lower", "upper"])
    return _day_ticks(specs.line_spec(lines_, title=title, bands=bands), lines_["x"])
