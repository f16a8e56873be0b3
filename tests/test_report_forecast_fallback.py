"""The report's forecast section says when a series was published as seasonal naive."""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

from reports import content
from warehouse.settings import ReportsSettings


def _con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA ml; CREATE SCHEMA marts")
    con.execute("CREATE TABLE marts.engagement_daily (date DATE, creator_id VARCHAR, "
                "dau BIGINT, sessions BIGINT)")
    con.execute("CREATE TABLE ml.engagement_forecast (date TIMESTAMP, creator_id VARCHAR, "
                "metric VARCHAR, forecast DOUBLE, lower_80 DOUBLE, upper_80 DOUBLE, "
                "lower_95 DOUBLE, upper_95 DOUBLE, method VARCHAR, model_version VARCHAR)")
    con.execute("CREATE TABLE ml.forecast_backtest (creator_id VARCHAR, metric VARCHAR, "
                "history_days BIGINT, mase_ets DOUBLE, mase_seasonal_naive DOUBLE, "
                "chosen VARCHAR, model_version VARCHAR, mase_theta DOUBLE, "
                "best_model VARCHAR, fallback_reason VARCHAR, backtest_origins BIGINT)")
    return con


def test_a_fallback_is_named_in_the_report_and_a_published_model_is_not():
    con = _con()
    end = date(2026, 3, 1)
    for k in range(1, 8):
        for metric, method in (("dau", "seasonal_naive"), ("sessions", "theta")):
            con.execute("INSERT INTO ml.engagement_forecast VALUES "
                        "(?, '__all__', ?, 10, 8, 12, 6, 14, ?, 'v1')",
                        [end + timedelta(days=k), metric, method])
    con.execute("INSERT INTO ml.forecast_backtest VALUES "
                "('__all__', 'dau', 60, 1.7, 1.4, 'seasonal_naive', 'v1', 1.5, "
                "'theta', 'no model beat the seasonal naive in the backtest', 4), "
                "('__all__', 'sessions', 60, 1.2, 1.4, 'theta', 'v1', 0.9, 'theta', NULL, 4)")
    period = content.Period("daily", end, end, end - timedelta(days=1), end - timedelta(days=1))
    sec = content.forecast_section(con, period, "__all__", ReportsSettings())
    fallback = [n for n in sec.notes if "seasonal naive" in n]
    assert len(fallback) == 1 and fallback[0].startswith("The dau forecast")
    assert "no model beat the seasonal naive" in fallback[0]
    bt = next(t for t in sec.tables if t.name.startswith("backtest"))
    assert "fallback_reason" in bt.columns and "mase_theta" in bt.columns
