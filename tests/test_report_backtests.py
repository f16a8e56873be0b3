"""The weekly report's backtest section, from a real DuckDB registry."""

from __future__ import annotations

from datetime import date, datetime

import duckdb

from models_ml import io as mlio
from reports import backtests, content, html, render


def _registry() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    common = {"trained_at": datetime(2026, 3, 2), "train_rows": 100, "params": {},
              "data_start": date(2026, 1, 1), "data_end": date(2026, 3, 1)}
    mlio.register_model(
        con, name="churn", version="churn-1", metrics={"roc_auc": 0.8},
        baseline_metrics={"roc_auc": 0.7}, beats_baseline=True, published=True,
        comparison={"metric_name": "roc_auc", "metric_value": 0.8, "baseline_name":
                    "recency_baseline", "baseline_value": 0.7, "gain": 0.1, "gain_low": 0.05,
                    "gain_high": 0.15, "lift_at_10": 2.5, "brier": 0.12,
                    "split_date": date(2026, 2, 20), "decision": "published <b>",
                    "reliability": [{"bin_low": 0.0, "bin_high": 0.1, "mean_predicted": 0.05,
                                     "observed_rate": 0.04, "rows": 10}]}, **common)
    mlio.register_model(  # an older training of churn: not shown
        con, name="churn", version="churn-0", metrics={}, baseline_metrics={},
        beats_baseline=False, published=False, comparison={"metric_name": "roc_auc"},
        **{**common, "trained_at": datetime(2026, 2, 1)})
    mlio.register_model(
        con, name="engagement_forecast", version="fc-1",
        metrics={"median_mase_published": 0.9},
        baseline_metrics={"median_mase_seasonal_naive": 1.0}, beats_baseline=True,
        published=True, **common)
    mlio.register_model(  # descriptive: no baseline
        con, name="user_segments", version="seg-1", metrics={}, baseline_metrics={},
        beats_baseline=None, published=True, **common)
    return con


def test_the_section_shows_each_latest_model_against_its_baseline():
    con = _registry()
    rows, curves = backtests.backtest_rows(con)
    by_version = {r[1]: r for r in rows}
    assert set(by_version) == {"churn-1", "fc-1"}
    churn = dict(zip(backtests.COLUMNS, by_version["churn-1"], strict=True))
    assert (churn["value"], churn["baseline value"], churn["gain 95% low"]) == (0.8, 0.7, 0.05)
    fc = dict(zip(backtests.COLUMNS, by_version["fc-1"], strict=True))
    assert fc["gain"] is not None and abs(fc["gain"] - 0.1) < 1e-12
    assert curves == [["churn-1", "0.0-0.1", 0.05, 0.04, 10]]
    # weekly overall only
    assert backtests.sections(con, content.DAILY, content.ALL) == []
    assert backtests.sections(con, content.WEEKLY, "creator_1") == []
    (sec,) = backtests.sections(con, content.WEEKLY, content.ALL)
    page = html.page("t", [render._tables_html(sec)])
    assert "<script" not in page.lower() and "published &lt;b&gt;" in page
    assert "churn-0" not in page


def test_no_registry_no_data():
    (sec,) = backtests.sections(duckdb.connect(), content.WEEKLY, content.ALL)
    assert not sec.available
