"""Model monitoring (product document 004): drift between training and scoring.

For each model with a stored artifact (``ml.model_artifacts``: churn, goal_success,
ltv, whatever the registry holds), ``ml.model_drift`` compares the population it was
trained on with the population it scores now, by the population stability index (PSI):

* reference: the ``ml.user_features`` snapshots of the model version's training window
  (``data_start`` .. ``data_end`` of its ``ml.model_registry`` row);
* current: the snapshot of the latest as-of date;
* one row per input feature the artifact uses that ``ml.user_features`` holds, and one
  for the prediction distribution (the artifact's model applied to both populations,
  when every one of its features is in ``ml.user_features``).

PSI = Σ_b (c_b - r_b) · ln(c_b / r_b) over ``drift_bins`` quantile bins of the reference
(ties merged, so a binary feature has two bins), shares floored at ``EPS`` so an empty
bin stays finite. Status: ``stable`` below ``drift_psi_warn``, ``moderate`` below
``drift_psi_alert``, else ``significant``. The data-quality check on the table
(data_quality/checks.py) turns moderate and significant rows into a warning, never a
failure. Nothing here changes a model or its training.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from models_ml import io as mlio
from warehouse.db import table_exists
from warehouse.settings import MLSettings

#: floor of a bin's share (an empty bin would make the log infinite)
EPS = 1e-4

DRIFT_COLUMNS = {
    "model_name": "object", "model_version": "object", "kind": "object", "feature": "object",
    "reference_start": "datetime64[s]", "reference_end": "datetime64[s]",
    "reference_rows": "int64", "current_date": "datetime64[s]", "current_rows": "int64",
    "bins": "int64", "psi": "float64", "status": "object", "computed_at": "datetime64[us]",
}


def bin_edges(reference: np.ndarray, bins: int) -> np.ndarray:
    """Inner cut points: the reference's quantiles at 1/bins .. (bins-1)/bins, ties
    merged (a constant reference has no cut point: one bin)."""
    ref = np.asarray(reference, dtype=float)
    ref = ref[np.isfinite(ref)]
    if len(ref) == 0:
        return np.zeros(0)
    return np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))


def shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of the finite values in each bin (right-closed: x <= edge goes left), the
    missing values as one more bin so a rise in nulls counts as drift."""
    v = np.asarray(values, dtype=float)
    finite = np.isfinite(v)
    counts = np.bincount(np.searchsorted(edges, v[finite], side="left"),
                         minlength=len(edges) + 1).astype(float)
    counts = np.append(counts, float((~finite).sum()))
    total = counts.sum()
    return counts / total if total else counts


def psi(reference: np.ndarray, current: np.ndarray, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference``."""
    edges = bin_edges(reference, bins)
    r = np.maximum(shares(reference, edges), EPS)
    c = np.maximum(shares(current, edges), EPS)
    return float(np.sum((c - r) * np.log(c / r)))


def status(value: float, warn: float, alert: float) -> str:
    if not np.isfinite(value):
        return "unknown"
    return "significant" if value >= alert else "moderate" if value >= warn else "stable"


def _predict(model: Any, X: pd.DataFrame) -> np.ndarray:
    if hasattr(model, "predict_proba"):
        return np.asarray(model.predict_proba(X)[:, 1], dtype=float)
    return np.asarray(model.predict(X), dtype=float)


def _model_names(con: duckdb.DuckDBPyConnection) -> list[str]:
    if not table_exists(con, "ml", "model_artifacts"):
        return []
    return [r[0] for r in con.execute(
        "select distinct model_name from ml.model_artifacts order by 1").fetchall()]


def training_window(con: duckdb.DuckDBPyConnection, version: str,
                    artifact: dict[str, Any]) -> tuple[Any, Any]:
    """(data_start, data_end) of a model version: its ml.model_registry row, else the
    artifact's own keys."""
    row = mlio.first_row(con, "select data_start, data_end from ml.model_registry "
                         "where model_version = ? limit 1", [version])
    if row is not None and row[0] is not None and row[1] is not None:
        return row[0], row[1]
    return artifact.get("data_start"), artifact.get("data_end")


def drift_rows(name: str, version: str, artifact: dict[str, Any], features: pd.DataFrame,
               current_date: date, cfg: MLSettings, computed_at: Any,
               window: tuple[Any, Any] | None = None) -> list[dict[str, Any]]:
    """The drift rows of one model: its features in ``features`` and its predictions,
    training window ``window`` (default: the artifact's data_start and data_end)."""
    start, end = window or (artifact.get("data_start"), artifact.get("data_end"))
    if start is None or end is None:
        return []
    when = features["as_of_date"]
    ref = features[(when >= pd.Timestamp(start)) & (when <= pd.Timestamp(end))]
    cur = features[when == pd.Timestamp(current_date)]
    if ref.empty or cur.empty:
        return []
    used = [c for c in artifact.get("features", []) if c in features.columns]
    base = {"model_name": name, "model_version": version,
            "reference_start": pd.Timestamp(start), "reference_end": pd.Timestamp(end),
            "reference_rows": len(ref), "current_date": pd.Timestamp(current_date),
            "current_rows": len(cur), "bins": cfg.drift_bins, "computed_at": computed_at}
    rows = []
    for col in used:
        value = psi(ref[col].to_numpy(dtype=float), cur[col].to_numpy(dtype=float),
                    cfg.drift_bins)
        rows.append({**base, "kind": "feature", "feature": col, "psi": value,
                     "status": status(value, cfg.drift_psi_warn, cfg.drift_psi_alert)})
    model = artifact.get("model")
    wanted = list(artifact.get("features", []))
    if model is not None and wanted and len(used) == len(wanted):
        value = psi(_predict(model, ref[wanted]), _predict(model, cur[wanted]), cfg.drift_bins)
        rows.append({**base, "kind": "prediction", "feature": "(prediction)", "psi": value,
                     "status": status(value, cfg.drift_psi_warn, cfg.drift_psi_alert)})
    return rows


def model_drift(con: duckdb.DuckDBPyConnection, cfg: MLSettings) -> dict[str, Any]:
    """Write ml.model_drift for every model with a stored artifact; a summary."""
    computed_at = pd.Timestamp(mlio.now()).tz_localize(None)
    rows: list[dict[str, Any]] = []
    if table_exists(con, "ml", "user_features"):
        features = mlio.features_at(con)
        current = features["as_of_date"].max() if len(features) else None
        for name in _model_names(con):
            # the model that scores this snapshot: trained for it or before, never after
            found = (None if current is None
                     else mlio.artifact_for(con, name, as_of=current.date()))
            if found is None or current is None or not isinstance(found[1], dict):
                continue
            rows += drift_rows(name, found[0], found[1], features, current.date(), cfg,
                               computed_at, training_window(con, found[0], found[1]))
    out = pd.DataFrame(rows) if rows else mlio.empty_frame(DRIFT_COLUMNS)
    mlio.replace_table(con, "model_drift", out,
                       "Population stability index per model input feature and for the "
                       "prediction distribution, training window vs the latest snapshot")
    return {"rows": len(out), "models": int(out["model_name"].nunique()) if len(out) else 0,
            "moderate": int((out["status"] == "moderate").sum()) if len(out) else 0,
            "significant": int((out["status"] == "significant").sum()) if len(out) else 0,
            "max_psi": float(out["psi"].max()) if len(out) else None}
