"""What `insights metrics` needs around serving.metrics: the semantic manifest (from the
serving database's catalogue, or parsed from the dbt project) and the output formats."""

from __future__ import annotations

import json
import logging
from typing import Any

import duckdb
import pandas as pd

from serving.metrics import MetricsError, read_manifest
from serving.metrics_catalogue import read_published_manifest, store_manifest

log = logging.getLogger(__name__)

FORMATS = ("table", "csv", "json")


def project_manifest() -> dict[str, Any]:
    """The dbt project's semantic manifest, parsed first when missing or stale."""
    from orchestration.dbt_project import ensure_manifest

    path = ensure_manifest().with_name("semantic_manifest.json")
    if not path.exists():
        raise MetricsError(f"dbt wrote no semantic manifest at {path}")
    return read_manifest(path)


def manifest_for(con: duckdb.DuckDBPyConnection, serving: bool) -> dict[str, Any]:
    """The serving database answers with the definitions it was published with; the
    warehouse with the project's current ones."""
    if serving:
        published = read_published_manifest(con)
        if published is not None:
            return published
    return project_manifest()


def split_list(value: str | None) -> list[str]:
    """``a,b , c`` -> [a, b, c]."""
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def render(frame: pd.DataFrame, fmt: str) -> str:
    """The result as CSV or JSON records (dates ISO, nulls empty / null)."""
    if fmt == "csv":
        return frame.to_csv(index=False)
    records = json.loads(frame.to_json(orient="records", date_format="iso", double_precision=15))
    for row in records:  # to_json writes dates as ISO timestamps: keep days days
        for key, value in row.items():
            if isinstance(value, str) and value.endswith("T00:00:00.000"):
                row[key] = value[:10]
    return json.dumps(records, indent=1) + "\n"


def store_semantic_manifest(con: duckdb.DuckDBPyConnection) -> bool:
    """Store the project's semantic manifest in the warehouse for the publish's metrics
    catalogue; a project dbt cannot parse leaves the catalogue out, never the publish."""
    try:
        store_manifest(con, project_manifest())
    except MetricsError as exc:
        log.warning("no metrics catalogue this publish: %s", exc)
        return False
    return True
