"""Business forecasts and scenarios (product documents 000 and 003).

``ml.business_forecasts``: daily net revenue per currency (``marts.revenue_daily``, all
creators) and daily new users (signups, ``staging.stg_users``) for the next
``forecast_horizon_days``, with 80% and 95% intervals. Each series goes through
:func:`models_ml.forecasting.forecast_series` unchanged: ETS, Theta and the seasonal
naive scored by rolling-origin MASE, the seasonal naive published unless a model beats
it, intervals from the chosen method's backtest errors.

``ml.business_scenarios``: what the horizon's revenue and new paying customers become if
conversion or retention moves by each of ``business_scenario_changes`` (relative, e.g.
-0.1 and +0.1). The decomposition is deliberately simple and stated in docs/metrics.md:
over the trailing window (``business_mix_days``) a share ``new_share`` of the charged
revenue came from customers' first paid day (conversion-driven) and the rest from
returning customers (retention-driven). A relative change ``x`` of conversion scales the
new part, of retention the returning part:

    revenue(conversion x) = baseline * (1 + x * new_share)
    revenue(retention x)  = baseline * (1 + x * (1 - new_share))

and the interval bounds scale with the same factor. The new-customer count moves with
conversion only (* (1 + x)); scenarios are arithmetic on the baseline forecast, not a
causal model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from models_ml import fit_store, forecasting
from models_ml import io as mlio
from warehouse.db import table_exists
from warehouse.settings import MLSettings

FORECAST_COLUMNS = {
    "date": "datetime64[s]", "metric": "object", "currency": "object", "forecast": "float64",
    "lower_80": "float64", "upper_80": "float64", "lower_95": "float64",
    "upper_95": "float64", "method": "object", "backtest_mase": "float64",
    "seasonal_naive_mase": "float64", "history_days": "int64", "model_version": "object",
}
SCENARIO_COLUMNS = {
    "scenario": "object", "lever": "object", "change": "float64", "currency": "object",
    "horizon_days": "int64", "new_share": "float64", "revenue": "float64",
    "revenue_lower_80": "float64", "revenue_upper_80": "float64",
    "revenue_vs_baseline": "float64", "new_customers": "float64", "model_version": "object",
}


def scenario_factor(lever: str, change: float, new_share: float) -> float:
    """The factor on baseline revenue when ``lever`` (conversion or retention) moves by
    the relative ``change``, given the share of revenue from new customers."""
    if lever == "conversion":
        return 1.0 + change * new_share
    if lever == "retention":
        return 1.0 + change * (1.0 - new_share)
    if lever == "baseline":
        return 1.0
    raise ValueError(f"unknown scenario lever: {lever}")


def scenarios(baseline: pd.DataFrame, mix: pd.DataFrame, changes: Sequence[float],
              horizon_days: int, version: str) -> pd.DataFrame:
    """Scenario rows per currency from the horizon totals of the baseline revenue
    forecast (``currency, revenue, lower_80, upper_80``) and the revenue mix
    (``currency, new_share, new_customers_per_day``)."""
    rows = []
    merged = baseline.merge(mix, on="currency", how="left").fillna(
        {"new_share": 0.0, "new_customers_per_day": 0.0})
    levers = [("baseline", 0.0)] + [(lv, float(c)) for lv in ("conversion", "retention")
                                    for c in changes]
    for r in merged.itertuples():
        for lever, change in levers:
            f = scenario_factor(lever, change, r.new_share)
            new_cust = r.new_customers_per_day * horizon_days * (
                1.0 + change if lever == "conversion" else 1.0)
            name = "baseline" if lever == "baseline" else f"{lever} {change:+.0%}"
            rows.append({"scenario": name, "lever": lever, "change": change,
                         "currency": r.currency, "horizon_days": horizon_days,
                         "new_share": r.new_share, "revenue": r.revenue * f,
                         "revenue_lower_80": r.lower_80 * f, "revenue_upper_80": r.upper_80 * f,
                         "revenue_vs_baseline": r.revenue * (f - 1.0),
                         "new_customers": new_cust, "model_version": version})
    return pd.DataFrame(rows) if rows else mlio.empty_frame(SCENARIO_COLUMNS)


def revenue_mix(con: duckdb.DuckDBPyConnection, as_of: date, days: int) -> pd.DataFrame:
    """Per currency over the ``days`` up to ``as_of``: the share of charged revenue paid
    by customers on their first paid day ever (new_share, in [0, 1]; refunds left out,
    they belong to no lever) and new paying customers per day."""
    start = as_of - timedelta(days=days - 1)
    return con.execute("""
        with pays as (
            select user_id, currency, paid_date, signed_amount as net
            from staging.stg_payments where user_id is not null and payment_kind = 'charge'
        ),
        firsts as (
            select user_id, min(paid_date) as first_paid
            from staging.stg_payments
            where payment_kind = 'charge' and user_id is not null
            group by user_id
        ),
        recent as (
            select pays.*, (pays.paid_date = firsts.first_paid) as is_first
            from pays left join firsts using (user_id)
            where pays.paid_date between ? and ?
        )
        select currency,
               case when sum(net) > 0
                    then greatest(0.0, least(1.0,
                        sum(case when is_first then net else 0 end) / sum(net)))
                    else 0.0 end as new_share,
               count(distinct case when is_first then user_id end) / ?::double
                   as new_customers_per_day
        from recent group by currency order by currency
    """, [start, as_of, float(days)]).df()


def _series(con: duckdb.DuckDBPyConnection, as_of: date) -> dict[tuple[str, str], pd.Series]:
    out: dict[tuple[str, str], pd.Series] = {}
    if table_exists(con, "marts", "revenue_daily"):
        rev = con.execute(
            "select date, currency, cast(net_revenue as double) as value "
            "from marts.revenue_daily where creator_id = '__all__' and date <= ? "
            "order by currency, date", [as_of]).df()
        for cur, g in rev.groupby("currency", sort=True):
            out[("net_revenue", str(cur))] = forecasting.complete_daily(
                g, "date", "value", pd.Timestamp(as_of))
    users = con.execute(
        "select signup_date as date, count(*)::double as value from staging.stg_users "
        "where signup_date <= ? group by signup_date order by signup_date", [as_of]).df()
    if len(users):
        out[("new_users", "__all__")] = forecasting.complete_daily(
            users, "date", "value", pd.Timestamp(as_of))
    return out


def forecast_business(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """Write ml.business_forecasts and ml.business_scenarios; a summary for the asset."""
    _, as_of = mlio.data_window(con)
    trained_at = mlio.now()
    params = {"methods": list(forecasting.METHODS), "season": forecasting.SEASON,
              "horizon_days": cfg.forecast_horizon_days,
              "backtest_days": cfg.forecast_backtest_days,
              "backtest_origins": cfg.forecast_backtest_origins,
              "scenario_changes": list(cfg.business_scenario_changes),
              "mix_days": cfg.business_mix_days}
    version = mlio.model_version("business_forecasts", trained_at, params,
                                 {"as_of": str(as_of)})
    dates = pd.date_range(pd.Timestamp(as_of) + pd.Timedelta(days=1),
                          periods=cfg.forecast_horizon_days, freq="D")
    rows = []
    known, results = fit_store.load(con), []
    for (metric, currency), y in _series(con, as_of).items():
        if len(y) < 2 * forecasting.SEASON:
            continue
        res = forecasting.forecast_series(
            y.to_numpy(), cfg.forecast_horizon_days, cfg.forecast_backtest_days,
            max_origins=cfg.forecast_backtest_origins,
            min_train=max(cfg.forecast_min_history_days, 2 * forecasting.SEASON),
            fits=known)
        results.append(res)
        fc = res.forecast
        rows.append(pd.DataFrame({
            "date": dates.date, "metric": metric, "currency": currency,
            "forecast": fc.mean, "lower_80": fc.lower[0.80], "upper_80": fc.upper[0.80],
            "lower_95": fc.lower[0.95], "upper_95": fc.upper[0.95], "method": res.chosen,
            "backtest_mase": res.backtest_mase.get(res.chosen, np.nan),
            "seasonal_naive_mase": res.backtest_mase.get("seasonal_naive", np.nan),
            "history_days": len(y), "model_version": version}))
    out = pd.concat(rows, ignore_index=True) if rows else mlio.empty_frame(FORECAST_COLUMNS)
    out["date"] = pd.to_datetime(out["date"])
    rev = out[out["metric"] == "net_revenue"]
    # horizon totals: the sum of the daily means; the summed daily bounds are conservative
    # (errors of the days are not independent, so no square-root shrinking is applied)
    totals = (rev.groupby("currency", as_index=False)
              .agg(revenue=("forecast", "sum"), lower_80=("lower_80", "sum"),
                   upper_80=("upper_80", "sum")))
    mix = revenue_mix(con, as_of, cfg.business_mix_days) if len(totals) else pd.DataFrame(
        columns=["currency", "new_share", "new_customers_per_day"])
    scen = scenarios(totals, mix, cfg.business_scenario_changes, cfg.forecast_horizon_days,
                     version)
    fits = fit_store.save(con, results, trained_at.date())
    mlio.replace_table(con, "business_forecasts", out,
                       "Daily net revenue per currency and new users forecasts with 80% and "
                       "95% intervals (ETS, Theta or seasonal naive by backtest MASE)")
    mlio.replace_table(con, "business_scenarios", scen,
                       "Horizon revenue per currency and new paying customers if conversion "
                       "or retention moves by each configured relative change")
    return {"rows": len(out), "series": len(rows), "scenario_rows": len(scen),
            "model_version": version, "fits": fits,
            "fits_reused": sum(r.fits_reused for r in results)}
