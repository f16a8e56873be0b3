"""The semantic layer in Python: MetricFlow compiles a metric query against the dbt
project's semantic manifest into SQL, which runs on a DuckDB connection (the warehouse,
read-only, or the serving database: both hold the marts under the same schema names).

The manifest's relations are made database-free (``"marts"."engagement_daily"``) so the
same SQL runs on either file.

Marts with an all-creators row (``creator_id = '__all__'``, marked by the semantic
model's ``meta: {all_creators_row: true}``) hold each number twice: for its creator and
in the total. A query that does not group by ``creator`` is therefore restricted to the
``'__all__'`` rows, and one grouped by a creator attribute (``creator__category``) to the
creators' own rows, so no number is counted twice.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

log = logging.getLogger(__name__)

ALL_CREATORS = "__all__"
CREATOR = "creator"
_CREATOR_FILTER = "{{ Entity('creator') }}"
_NAMES_CREATOR = re.compile(r"""(Entity|Dimension)\(\s*['"]creator(__\w+)?['"]""")


class MetricsError(ValueError):
    """A metric query the semantic layer refuses (one line, for the CLI)."""


@dataclass(frozen=True)
class MetricInfo:
    """One metric of the manifest, as the catalogue and ``insights metrics`` show it."""

    name: str
    label: str
    description: str
    type: str
    formula: str
    semantic_models: tuple[str, ...]
    measures: tuple[str, ...]
    dimensions: tuple[str, ...]
    default_group_by: tuple[str, ...]
    all_creators_row: bool


def _portable(node_relation: dict[str, Any]) -> None:
    node_relation["database"] = None
    node_relation["relation_name"] = (
        f'"{node_relation["schema_name"]}"."{node_relation["alias"]}"')


def portable_manifest(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the semantic manifest whose relations name no database."""
    out = json.loads(json.dumps(manifest))
    for model in out.get("semantic_models", []):
        _portable(model["node_relation"])
    for spine in out.get("project_configuration", {}).get("time_spines", []):
        _portable(spine["node_relation"])
    return out


def read_manifest(path: Path) -> dict[str, Any]:
    """The semantic manifest dbt wrote (``target/semantic_manifest.json``)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise MetricsError(f"cannot read the semantic manifest {path}: {exc}") from exc


class _DuckDbDialect:
    """What MetricFlow needs of a SQL client to render SQL (it never runs any here)."""

    def __init__(self) -> None:
        from metricflow.protocols.sql_client import SqlEngine
        from metricflow.sql.render.duckdb_renderer import DuckDbSqlPlanRenderer

        self.sql_engine_type = SqlEngine.DUCKDB
        self.sql_plan_renderer = DuckDbSqlPlanRenderer()

    def render_bind_parameter_key(self, bind_parameter_key: str) -> str:
        return f"${bind_parameter_key}"


@lru_cache(maxsize=4)
def _engine(manifest_text: str) -> Any:
    from metricflow.engine.metricflow_engine import MetricFlowEngine
    from metricflow_semantics.model.dbt_manifest_parser import (
        parse_manifest_from_dbt_generated_manifest,
    )
    from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

    manifest = parse_manifest_from_dbt_generated_manifest(manifest_json_string=manifest_text)
    return MetricFlowEngine(SemanticManifestLookup(manifest), _DuckDbDialect())


def engine(manifest: Mapping[str, Any]) -> Any:
    """A MetricFlow engine over ``manifest`` (cached per manifest)."""
    return _engine(json.dumps(portable_manifest(manifest), sort_keys=True))


def _meta(node: Mapping[str, Any]) -> dict[str, Any]:
    return dict(((node.get("config") or {}).get("meta")) or {})


def _measure_names(metric: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]]
                   ) -> list[str]:
    params = metric.get("type_params") or {}
    if params.get("measure"):
        return [params["measure"]["name"]]
    out: list[str] = []
    for key in ("numerator", "denominator"):
        if params.get(key):
            out += _measure_names(metrics[params[key]["name"]], metrics)
    for inp in params.get("metrics") or []:
        out += _measure_names(metrics[inp["name"]], metrics)
    return out


def _formula(metric: Mapping[str, Any], measures: Mapping[str, tuple[str, Mapping]]) -> str:
    """A one-line reading of the metric: ``sum(expr) from schema.table`` or a ratio."""
    params = metric.get("type_params") or {}
    if metric["type"] == "ratio":
        return f"{params['numerator']['name']} / {params['denominator']['name']}"
    if metric["type"] == "derived":
        return str(params.get("expr"))
    name = params["measure"]["name"]
    model, measure = measures[name]
    expr = measure.get("expr") or name
    agg = measure["agg"]
    text = f"{agg}({expr}) from {model}"
    if measure.get("non_additive_dimension"):
        text += (f" (semi-additive: value on the last "
                 f"{measure['non_additive_dimension']['name']} of the period)")
    return text


def catalogue(manifest: Mapping[str, Any]) -> list[MetricInfo]:
    """Every metric of the manifest with its definition, sorted by name."""
    return list(_catalogue(json.dumps(manifest, sort_keys=True)))


@lru_cache(maxsize=4)
def _catalogue(manifest_text: str) -> tuple[MetricInfo, ...]:
    manifest = json.loads(manifest_text)
    measures: dict[str, tuple[str, Mapping]] = {}
    owner: dict[str, Mapping[str, Any]] = {}
    for model in manifest.get("semantic_models", []):
        table = f"{model['node_relation']['schema_name']}.{model['node_relation']['alias']}"
        for measure in model.get("measures", []):
            measures[measure["name"]] = (table, measure)
            owner[measure["name"]] = model
    metrics = {m["name"]: m for m in manifest.get("metrics", [])}
    dims = {m.name: m.dimensions for m in _dimension_lists(manifest)}
    by_name = {model["name"]: model for model in manifest.get("semantic_models", [])}

    def entities(models: Sequence[str]) -> set[str]:
        return {e["name"] for model in models for e in by_name[model].get("entities", [])
                if e["type"] != "primary"}

    out = []
    for name, metric in sorted(metrics.items()):
        names = _measure_names(metric, metrics)
        models = tuple(dict.fromkeys(owner[n]["name"] for n in names))
        out.append(MetricInfo(
            name=name,
            label=metric.get("label") or name,
            description=" ".join((metric.get("description") or "").split()),
            type=metric["type"],
            formula=_formula(metric, measures),
            semantic_models=models,
            measures=tuple(dict.fromkeys(names)),
            dimensions=tuple(sorted({*dims.get(name, ()), *entities(models)})),
            default_group_by=tuple(_meta(metric).get("group_by") or ()),
            all_creators_row=any(bool(_meta(owner[n]).get("all_creators_row")) for n in names),
        ))
    return tuple(out)


@dataclass(frozen=True)
class _Dims:
    name: str
    dimensions: tuple[str, ...]


def _dimension_lists(manifest: Mapping[str, Any]) -> list[_Dims]:
    """The group-by names each metric allows (metric_time at day/week/month, dimensions
    and entities), from MetricFlow."""
    mf = engine(manifest)
    out = []
    for metric in mf.list_metrics():
        names = set()
        for dim in metric.dimensions:
            if dim.type.name != "TIME":  # time dimensions: through metric_time
                names.add(dim.dunder_name)
        names.update({"metric_time__day", "metric_time__week", "metric_time__month"})
        out.append(_Dims(metric.name, tuple(sorted(names))))
    return out


def _info(manifest: Mapping[str, Any], name: str) -> MetricInfo:
    for info in catalogue(manifest):
        if info.name == name:
            return info
    known = ", ".join(i.name for i in catalogue(manifest))
    raise MetricsError(f"unknown metric {name!r} (known: {known})")


def explain(manifest: Mapping[str, Any], name: str) -> MetricInfo:
    """The definition of one metric; MetricsError names the known ones."""
    return _info(manifest, name)


def _creator_filters(
    infos: Sequence[MetricInfo], group_by: Sequence[str], where: Sequence[str]
) -> list[str]:
    """The filter that keeps a number from being counted twice (module docstring)."""
    if any(_NAMES_CREATOR.search(w) for w in where):  # the caller chose the rows
        return []
    grouped = {g.split("__")[0] for g in group_by}
    with_total = [i.name for i in infos if i.all_creators_row]
    if not with_total:
        return []
    if CREATOR in group_by:
        return []
    if CREATOR in grouped:  # a creator attribute: the creators' own rows
        return [f"{_CREATOR_FILTER} <> '{ALL_CREATORS}'"]
    without = [i.name for i in infos if not i.all_creators_row]
    if without:
        raise MetricsError(
            f"metrics {', '.join(with_total)} hold an all-creators row and "
            f"{', '.join(without)} do not: group by creator to query them together")
    return [f"{_CREATOR_FILTER} = '{ALL_CREATORS}'"]


def _datetime(value: date | datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise MetricsError(f"not a date: {value!r} (YYYY-MM-DD)") from exc


def compile_sql(
    manifest: Mapping[str, Any],
    metrics: Sequence[str],
    group_by: Sequence[str] = (),
    where: Sequence[str] = (),
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
    order_by: Sequence[str] | None = None,
) -> str:
    """The SQL MetricFlow generates for the query (DuckDB dialect)."""
    from metricflow.engine.metricflow_engine import MetricFlowQueryRequest

    if not metrics:
        raise MetricsError("no metric given (--metrics a,b)")
    infos = [_info(manifest, m) for m in metrics]
    for info in infos:  # e.g. a retention rate summed over definitions means nothing
        missing = [g for g in info.default_group_by if g not in group_by]
        if missing:
            raise MetricsError(f"{info.name} is defined per {', '.join(info.default_group_by)}: "
                               f"group by {', '.join(missing)} too")
    filters = [*where, *_creator_filters(infos, group_by, where)]
    request = MetricFlowQueryRequest.create(
        metric_names=list(metrics),
        group_by_names=list(group_by) or None,
        where_constraints=filters or None,
        time_constraint_start=_datetime(start),
        time_constraint_end=_datetime(end),
        order_by_names=list(order_by if order_by is not None else group_by) or None,
    )
    try:
        result = engine(manifest).explain(request)
        return str(result.sql_statement.sql)
    except MetricsError:
        raise
    except Exception as exc:  # MetricFlow's many query errors: one line for the CLI
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()),
                     type(exc).__name__)
        raise MetricsError(f"MetricFlow refused the query: {first}") from exc


def query(
    con: duckdb.DuckDBPyConnection,
    manifest: Mapping[str, Any],
    metrics: Sequence[str],
    group_by: Sequence[str] = (),
    where: Sequence[str] = (),
    start: date | datetime | str | None = None,
    end: date | datetime | str | None = None,
) -> pd.DataFrame:
    """The metrics grouped by ``group_by`` (``metric_time__day``, ``creator``,
    ``<entity>__<dimension>``...), filtered by ``where`` (MetricFlow filter syntax,
    e.g. ``{{ Dimension('revenue_day__currency') }} = 'EUR'``) and by metric_time within
    ``start`` .. ``end``; one column per group-by item and per metric, ordered by the
    group-by. Time columns come back as dates."""
    sql = compile_sql(manifest, metrics, group_by, where, start, end)
    log.debug("metric query SQL:\n%s", sql)
    try:
        frame = con.execute(sql).df()
    except duckdb.Error as exc:
        raise MetricsError(f"the metric query failed: {str(exc).splitlines()[0]}") from exc
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.date
    # sums of integer columns come back as floats (DuckDB's HUGEINT, or NaN for null)
    for info in infos_of(manifest, metrics):
        values = frame[info.name]
        if info.type == "simple" and pd.api.types.is_float_dtype(values) and (
                values.dropna() % 1 == 0).all() and info.name in integer_metrics(manifest):
            frame[info.name] = values.astype("Int64")
    return frame


def infos_of(manifest: Mapping[str, Any], metrics: Sequence[str]) -> list[MetricInfo]:
    return [_info(manifest, m) for m in metrics]


def integer_metrics(manifest: Mapping[str, Any]) -> set[str]:
    """Simple metrics that count (``meta: {integer: true}`` in their yml)."""
    return {m["name"] for m in manifest.get("metrics", []) if _meta(m).get("integer")}
