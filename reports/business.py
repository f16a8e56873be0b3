"""Report section of issue 25: business forecasts and scenarios (ml.business_forecasts,
ml.business_scenarios), in the overall report. Returns a :class:`reports.content.Section`
rendered like the others (HTML tables through reports/html.py, CSV, JSON)."""

from __future__ import annotations

import duckdb

from reports import content as c


def business_section(con: duckdb.DuckDBPyConnection, creator: str) -> c.Section:
    """Horizon totals of the revenue (per currency) and new-user forecasts with their 80%
    intervals, and the conversion and retention scenarios."""
    sec = c.Section("business", "Business forecasts and scenarios (all creators)")
    if creator != c.ALL:
        sec.available = False
        return sec
    totals = c.rows(con, """
        SELECT metric, currency, count(*) AS days, sum(forecast) AS forecast,
               sum(lower_80) AS lower_80, sum(upper_80) AS upper_80, any_value(method) AS method
        FROM ml.business_forecasts GROUP BY metric, currency ORDER BY metric, currency""",
                    needs=["ml.business_forecasts"])
    if not totals:
        sec.available = False
        return sec
    cols = ["metric", "currency", "days", "forecast", "lower_80", "upper_80", "method"]
    # a count (new users) has no currency: the mart's '__all__' is shown as none
    sec.tables.append(c.Table("forecast_totals", cols, [
        [None if k == "currency" and r[k] == c.ALL else r[k] for k in cols] for r in totals],
        2))
    scen = c.rows(con, """
        SELECT scenario, currency, revenue, revenue_lower_80, revenue_upper_80,
               revenue_vs_baseline, new_share
        FROM ml.business_scenarios ORDER BY currency, lever, change""",
                  needs=["ml.business_scenarios"])
    if scen:
        cols = ["scenario", "currency", "revenue", "revenue_lower_80", "revenue_upper_80",
                "revenue_vs_baseline", "new_share"]
        sec.tables.append(c.Table("scenarios", cols, [[r[k] for k in cols] for r in scen], 2,
                                  units={k: "money" for k in cols[2:6]}))
    sec.notes.append("Totals over the forecast horizon; the summed daily 80% bounds are "
                     "conservative. Scenarios scale the revenue from new customers "
                     "(conversion) or from returning ones (retention) by the change: "
                     "arithmetic on the forecast, not a causal model.")
    return sec
