"""Point forecasts of the fitted forecast candidates, kept between runs (ops.forecast_fits).

A series' backtest fits ETS and Theta at rolling origins seven days apart, ending the
backtest horizon before the as-of date. The run seven days later fits the same
histories again at all of its origins but the newest (each one a week further on), and
those histories are older than the lateness of events (raw_exports.md: 7 days), so they
rarely change. A fit is stored under its content key (models_ml.forecasting.fit_key: the
method, every value of its history, the horizon, the fitting libraries' versions), so a
stored forecast is reused only where the fit would compute it again; a history that did
change has another key and is fitted. A fit not used for KEEP_DAYS days is dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import duckdb
import numpy as np
import pandas as pd

from models_ml.forecasting import SeriesResult

TABLE = "ops.forecast_fits"
#: a rolling origin's fit comes back a week later: kept two weeks and a day
KEEP_DAYS = 15

DDL = f"""
create table if not exists {TABLE} (
    fit_key varchar primary key,
    forecast double[] not null,
    last_used date not null
)"""


def _ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists ops")
    con.execute(DDL)


def load(con: duckdb.DuckDBPyConnection) -> dict[str, np.ndarray]:
    """Every stored point forecast by fit key (empty before the first forecast run)."""
    _ensure_table(con)
    rows = con.execute(f"select fit_key, forecast from {TABLE}").fetchall()
    return {key: np.asarray(values, dtype=float) for key, values in rows}


def save(con: duckdb.DuckDBPyConnection, results: Iterable[SeriesResult],
         used_on: date) -> int:
    """Store the fits the ``results`` needed as used on ``used_on`` (new ones added, known
    ones kept longer) and drop those unused for :data:`KEEP_DAYS` days; the fits stored."""
    fits: dict[str, np.ndarray] = {}
    for result in results:
        fits.update(result.fits)
    _ensure_table(con)
    if fits:
        frame = pd.DataFrame({"fit_key": list(fits),
                              "forecast": [np.asarray(v, dtype=float).tolist()
                                           for v in fits.values()]})
        con.register("_forecast_fits", frame)
        try:
            con.execute(f"insert or replace into {TABLE} "
                        "select fit_key, forecast, ? from _forecast_fits", [used_on])
        finally:
            con.unregister("_forecast_fits")
    con.execute(f"delete from {TABLE} where last_used < ?",
                [used_on - timedelta(days=KEEP_DAYS)])
    return len(fits)
