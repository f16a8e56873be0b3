"""Report section of issue 25: model monitoring (ml.model_drift), in the weekly, monthly
and quarterly overall reports. Returns a :class:`reports.content.Section` rendered like
the others (HTML tables through reports/html.py, CSV, JSON)."""

from __future__ import annotations

import duckdb

from reports import content as c


def model_drift_section(con: duckdb.DuckDBPyConnection, kind: str, creator: str) -> c.Section:
    """Per model: features monitored, how many moved, the largest feature PSI and the
    prediction PSI, with the worst feature named."""
    sec = c.Section("model_drift", "Model monitoring: drift between training and scoring")
    if creator != c.ALL or kind == c.DAILY:
        sec.available = False
        return sec
    found = c.rows(con, """
        SELECT model_name, any_value(model_version) AS model_version,
               count(*) FILTER (WHERE kind = 'feature') AS features,
               count(*) FILTER (WHERE kind = 'feature' AND status <> 'stable') AS moved,
               max(psi) FILTER (WHERE kind = 'feature') AS max_feature_psi,
               arg_max(feature, psi) FILTER (WHERE kind = 'feature') AS worst_feature,
               max(psi) FILTER (WHERE kind = 'prediction') AS prediction_psi,
               CASE WHEN bool_or(status = 'significant') THEN 'significant'
                    WHEN bool_or(status = 'moderate') THEN 'moderate'
                    ELSE 'stable' END AS status
        FROM ml.model_drift GROUP BY model_name ORDER BY model_name""",
                   needs=["ml.model_drift"])
    if not found:
        sec.available = False
        return sec
    cols = ["model_name", "model_version", "features", "moved", "max_feature_psi",
            "worst_feature", "prediction_psi", "status"]
    sec.tables.append(c.Table("models", cols, [[r[k] for k in cols] for r in found]))
    sec.notes.append("Population stability index of the latest snapshot against the "
                     "training window: below 0.1 stable, 0.1-0.25 moderate, above 0.25 "
                     "significant (settings ml.drift_psi_warn and ml.drift_psi_alert). A "
                     "moved model is a data-quality warning, not a failure.")
    return sec


def failure_reasons_section(con: duckdb.DuckDBPyConnection, period: c.Period, creator: str,
                            name: str | None = None) -> c.Section:
    """Errors by code and workflow failures by reason over the period
    (marts.failure_reasons_daily), most frequent first."""
    sec = c.Section("failure_reasons",
                    f"System health: errors and workflow failures ({c.scope(creator, name)})")
    found = c.rows(con, """
        SELECT kind, workflow, reason, sum(occurrences) AS occurrences,
               sum(sessions) AS sessions
        FROM marts.failure_reasons_daily
        WHERE creator_id = ? AND date BETWEEN ? AND ?
        GROUP BY kind, workflow, reason
        ORDER BY kind, occurrences DESC, reason, workflow NULLS FIRST LIMIT 20""",
                   [creator, period.start, period.end], needs=["marts.failure_reasons_daily"])
    if not found:
        sec.available = False
        return sec
    cols = ["kind", "workflow", "reason", "occurrences", "sessions"]
    sec.tables.append(c.Table("reasons", cols, [[r[k] for k in cols] for r in found], 3))
    sec.notes.append("A workflow failure's reason is the latest error event of its run, "
                     "else the latest API status of 400 or more, else none recorded. "
                     "Sessions are summed over days.")
    return sec
