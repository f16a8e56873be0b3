"""Chart specs hand Altair their rows ready (reports/specs.py ``chart_data``): every spec
must be the spec Altair builds from the frame itself, value for value."""

from __future__ import annotations

import json
import math
import random
from datetime import date, datetime

import pandas as pd
import pytest
from altair.utils.data import to_values

from reports import specs


def _frame(seed: int, n: int) -> pd.DataFrame:
    rng = random.Random(seed)
    floats = [rng.choice([rng.uniform(-1e6, 1e6), 0.0, -0.0, math.nan, math.inf, -math.inf,
                          1e-300, 0.1 + 0.2]) for _ in range(n)]
    when = pd.to_datetime([datetime(2026, 1, 1 + rng.randrange(28), rng.randrange(24))
                           for _ in range(n)])
    if n:
        when = when.where([rng.random() > 0.2 for _ in range(n)])  # NaT among them
    return pd.DataFrame({
        "x": when,
        "y": floats,
        "count": [rng.randrange(-2**62, 2**62) for _ in range(n)],
        "flag": [rng.random() > 0.5 for _ in range(n)],
        "series": [rng.choice([None, "dau", "wau <b>", "\u202eevil", "", "ünï"])
                   for _ in range(n)],
    })


@pytest.mark.parametrize("seed", range(12))
def test_chart_data_is_what_altair_makes_of_the_frame(seed: int) -> None:
    df = _frame(seed, [0, 1, 7, 60][seed % 4])
    mine = specs.chart_data(df)
    assert isinstance(mine, dict)  # the fast path, not Altair's
    assert json.dumps(mine, sort_keys=True) == json.dumps(to_values(df), sort_keys=True)
    assert [list(r) for r in mine["values"]] == [list(r) for r in to_values(df)["values"]]


def test_text_columns_give_none_for_missing_as_altair_does() -> None:
    for dtype in ("str", "string"):
        df = pd.DataFrame({"label": pd.Series(["a", None, "b"], dtype=dtype)})
        assert specs.chart_data(df) == {"values": [{"label": "a"}, {"label": None},
                                                   {"label": "b"}]} == to_values(df), dtype
    texts = pd.DataFrame({"label": pd.Series(["a", "b"], dtype=object)})
    assert specs.chart_data(texts) == to_values(texts)


@pytest.mark.parametrize("df", [
    pd.DataFrame({"x": pd.to_datetime(["2026-01-01"]).tz_localize("UTC"), "y": [1.0]}),
    pd.DataFrame({"x": [date(2026, 1, 1)], "y": [1.0]}),  # dates as objects
    pd.DataFrame({"label": pd.Series(["a", math.nan], dtype=object)}),  # NaN among objects
    pd.DataFrame({"label": pd.Series(["a", None], dtype=object)}),  # None among objects
    pd.DataFrame({"value": pd.array([1, None], dtype="Int64")}),  # nullable integers
    pd.DataFrame({0: [1.0]}),  # a column name that is no text
    pd.DataFrame(index=[0, 1]),  # no columns
])
def test_frames_of_other_kinds_are_left_to_altair(df: pd.DataFrame) -> None:
    assert specs.chart_data(df) is df


def _spec_pairs() -> list:
    day = [date(2026, 2, d) for d in range(1, 29)]
    series = specs.series_frame({
        "dau": [(d, float(i * 3) if i % 7 else None) for i, d in enumerate(day)],
        "wau \u202e<b>": [(d, float(i) * 0.37) for i, d in enumerate(day)]})
    bands = specs.band_frame({"80 %": [(d, i - 1.5, i + 1.5) for i, d in enumerate(day)],
                              "95 %": [(d, i - 3.0, i + 3.0) for i, d in enumerate(day)]})
    numeric = specs.series_frame({"retention": [(w, 1 / (w + 1)) for w in range(9)]})
    text_x = specs.series_frame({"cost": [("step A", 1.0), ("step B", 2.5)]})
    stacked = pd.DataFrame({"x": pd.to_datetime(day[:5]), "value": [1.0, 2, 3, 4, 5],
                            "series": ["a", "b", "a", "b", "a"]})
    heat = pd.DataFrame({"x": [0, 1, 0, 1], "y": ["c1", "c1", "c2", "c2"],
                         "value": [1.0, 0.5, 0.25, math.nan]})
    return [
        lambda: specs.line_spec(series, title="DAU", y_title="users", bands=bands),
        lambda: specs.line_spec(numeric, title="retention", percent=True),
        lambda: specs.line_spec(text_x, title="custom"),
        lambda: specs.line_spec(specs.series_frame({}), title="empty"),
        lambda: specs.bar_spec(specs.bar_frame(["a", "b\u2066", "c"], [0.5, 0.25, None]),
                               title="bars", percent=True, sort=True),
        lambda: specs.bar_spec(specs.bar_frame([], []), title="no bars"),
        lambda: specs.stacked_bar_spec(stacked, title="stacked"),
        lambda: specs.heatmap_spec(heat, title="heat", x_order=[0, 1]),
    ]


def test_every_spec_is_the_spec_altair_builds_from_the_frame(monkeypatch) -> None:
    built = [json.dumps(specs.spec_dict(make()), sort_keys=True) for make in _spec_pairs()]
    monkeypatch.setattr(specs, "chart_data", lambda df: df)  # Altair converts the frame
    altairs = [json.dumps(specs.spec_dict(make()), sort_keys=True) for make in _spec_pairs()]
    assert built == altairs
    assert all('"datasets"' in b for b in built)


def _strings(node: object) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


def test_long_labels_and_titles_are_cut_and_stay_distinct() -> None:
    """vl-convert's cost grows with the text it lays out (a 4,500-character label took
    ~10 s a chart): every text a spec hands it is at most LABEL_CHARS long, and two
    names cut to the same text still get a bar, a line and a cell each."""
    limit = specs.LABEL_CHARS
    long_a, long_b = "a" * 5000 + "1", "a" * 5000 + "2"
    assert specs.visible("short \u202e") == "short [U+202E]"
    assert specs.visible(long_a) == "a" * (limit - 1) + specs.ELLIPSIS
    assert specs.is_cut(long_a) and not specs.is_cut("a" * limit)
    labels = specs.chart_labels([long_a, long_b, long_a, "b"])
    assert labels[0] == labels[2] and len(set(labels)) == 3, labels
    assert all(len(s) <= limit for s in labels)
    assert labels[1].endswith(" #2")

    # (chart, {column: distinct names it was given})
    charts = [
        (specs.bar_spec(specs.bar_frame([long_a, long_b], [1.0, 2.0]), title=long_a),
         {"label": 2}),
        (specs.line_spec(specs.series_frame({long_a: [(1, 1.0)], long_b: [(1, 2.0)]}),
                         title="t", x_title=long_b, y_title=long_a,
                         bands=specs.band_frame({long_a: [(1, 0.5, 1.5)]})),
         {"series": 2, "band": 1}),
        (specs.line_spec(pd.DataFrame({"x": [long_a, long_b], "y": [1.0, 2.0],
                                       "series": [long_a, long_a]}), title="t"),
         {"x": 2, "series": 1}),
        (specs.stacked_bar_spec(pd.DataFrame({"x": [long_a, long_b], "value": [1.0, 2.0],
                                              "series": [long_b, long_a]}),
                                title="t", temporal=False),
         {"x": 2, "series": 2}),
        (specs.heatmap_spec(pd.DataFrame({"x": [long_a, long_b], "y": [long_b, long_a],
                                          "value": [1.0, 2.0]}),
                            title="t", x_order=[long_b, long_a]),
         {"x": 2, "y": 2}),
    ]
    for chart, distinct in charts:
        spec = specs.spec_dict(chart)
        texts = _strings(spec)
        assert max(len(s) for s in texts) <= limit, max(texts, key=len)[:80]
        rows = [row for values in spec.get("datasets", {}).values() for row in values]
        rows += spec.get("data", {}).get("values", [])
        for column, n in distinct.items():
            assert len({row[column] for row in rows if column in row}) == n, column
