"""The weekly report's model backtests: each model of the latest training against its
baseline on the same split (from ``ml.model_registry``).

One table: per model version its metric and the baseline's on the same test rows, the
gain with its interval where one is computed (the classifiers' paired bootstrap), lift
at 10 % and Brier score (classifiers), the split date and the decision (published or
not, and why); and the classifiers' reliability curves. Overall weekly report only: the
models are trained on every creator's users.
"""

from __future__ import annotations

import json
from typing import Any

import duckdb

from reports import content
from warehouse.db import table_exists

COLUMNS = ["model", "version", "metric", "value", "baseline", "baseline value", "gain",
           "gain 95% low", "gain 95% high", "lift@10%", "Brier", "split date", "published",
           "decision"]
RELIABILITY_COLUMNS = ["model", "bin", "mean predicted", "observed rate", "rows"]
NOTES = [
    "Classifiers (churn, goal success): published only when the paired bootstrap 95% "
    "interval of the ROC-AUC gain over the recency baseline lies above zero, else the "
    "baseline is published. LTV: the candidate with the lowest backtest score (total "
    "error per customer + per-user error, in units of mean revenue to date; lower is "
    "better; gain = baseline score - model score, with its paired bootstrap 95% "
    "interval) is published. Forecast: median MASE over the series (lower is "
    "better) against seasonal naive. Metrics are measured on held-out data after the "
    "split date only.",
]


def _latest(con: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    """The registry rows of each model's latest training (every row sharing its newest
    trained_at), newest model names first by name."""
    if not table_exists(con, "ml", "model_registry"):
        return []
    cols = {r[0] for r in con.execute("describe ml.model_registry").fetchall()}
    extra = [c for c in ("metric_name", "metric_value", "baseline_name", "baseline_value",
                         "gain", "gain_low", "gain_high", "lift_at_10", "brier", "split_date",
                         "decision", "reliability") if c in cols]
    select = ", ".join(["model_name", "model_version", "published", "beats_baseline",
                        "metrics::varchar as metrics",
                        "baseline_metrics::varchar as baseline_metrics",
                        *[f"{c}::varchar as {c}" if c == "reliability" else c for c in extra]])
    cur = con.execute(f"""
        select {select} from ml.model_registry
        qualify trained_at = max(trained_at) over (partition by model_name)
        order by model_name, model_version""")
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def _forecast(row: dict[str, Any]) -> dict[str, Any]:
    """engagement_forecast rows carry their comparison in the metrics JSON only."""
    m, b = json.loads(row["metrics"] or "{}"), json.loads(row["baseline_metrics"] or "{}")
    value, base = m.get("median_mase_published"), b.get("median_mase_seasonal_naive")
    return {"metric_name": "median MASE", "metric_value": value,
            "baseline_name": "seasonal_naive", "baseline_value": base,
            "gain": None if value is None or base is None else base - value,
            "decision": "published" if row["beats_baseline"] else
            "published; seasonal naive where a model did not beat it"}


def backtest_rows(con: duckdb.DuckDBPyConnection) -> tuple[list[list[object]],
                                                          list[list[object]]]:
    """The comparison rows and the reliability-curve rows of the latest trainings."""
    rows, curves = [], []
    for r in _latest(con):
        if r.get("metric_name") is None:
            if r["model_name"] != "engagement_forecast":
                continue  # descriptive models (segments, drivers): no baseline to beat
            r = {**r, **_forecast(r)}
        rows.append([r["model_name"], r["model_version"], r.get("metric_name"),
                     r.get("metric_value"), r.get("baseline_name"), r.get("baseline_value"),
                     r.get("gain"), r.get("gain_low"), r.get("gain_high"), r.get("lift_at_10"),
                     r.get("brier"), r.get("split_date"), bool(r["published"]),
                     r.get("decision")])
        for b in json.loads(r.get("reliability") or "[]"):
            curves.append([r["model_version"], f"{b['bin_low']:.1f}-{b['bin_high']:.1f}",
                           b["mean_predicted"], b["observed_rate"], b["rows"]])
    return rows, curves


def sections(con: duckdb.DuckDBPyConnection, kind: str, creator: str) -> list[content.Section]:
    """The backtest section of the overall weekly report ([] for other reports)."""
    if kind != content.WEEKLY or creator != content.ALL:
        return []
    sec = content.Section("model_backtests", "Models against their baselines")
    rows, curves = backtest_rows(con)
    if not rows:
        sec.available = False
        return [sec]
    sec.tables.append(content.Table("backtests", COLUMNS, rows, key_columns=2))
    if curves:
        sec.tables.append(content.Table("reliability", RELIABILITY_COLUMNS, curves,
                                        key_columns=2))
    sec.notes += NOTES
    return [sec]
