"""dbt's column and row tests of the staging, intermediate, marts and semantic models, run
by the pipeline's dbt step as one query per model instead of one dbt node each.

Why: a pipeline run's ``dbt build`` had 61 models and 666 data tests; on small and
medium data each test costs dbt ~20 ms to compile and ~35 ms to run (a connection, a
transaction, events, a compiled file), and Dagster two events (the check planned, its
result). The tests of the project's folders ``staging``, ``intermediate``, ``marts`` and
``semantic`` (tagged ``batched`` in dbt_project.yml) of the types in ``SQL`` are instead
counted here, one query per model (``select test, count(*) from (failing rows) ...`` for
each of its tests), and reported as the same Dagster asset checks with the same outcome.

What stays as it was:
- the yml is the one source of every test; ``dbt build``/``dbt test`` run by hand (or on
  Spark) run every test as a dbt node;
- each test's failing rows are the SQL of its generic test (dbt's or this project's
  ``tests/generic``) with the test's ``where`` config; a failure count > 0 fails it,
  with its severity (``warn`` reports, ``error`` fails the dbt step and so blocks what
  depends on it, the publish among them);
- tests of other types, tests on sources (``models/sources``: dbt runs them before the
  staging views that read the sources) and seeds, and singular tests run in dbt. A
  ``batched`` test of a type in ``SQL`` that this module cannot count as dbt would (a
  config ``fail_calc``, ``warn_if``, ``error_if``, ``limit`` or ``store_failures``; Jinja
  in its arguments, which only dbt renders) is an error (``UnbatchableTest``), never left
  out: write it as a singular test.

What differs: dbt builds a model's descendants even when one of these tests fails (dbt
build would skip them); the dbt step then fails, and nothing downstream of it in Dagster
runs or publishes.

``tests/test_batched_tests.py`` runs every batched test of the project both ways (dbt's
nodes and these queries) on a clean and on a deliberately broken warehouse and requires
the same failure counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: dbt_project.yml tags the data tests of these folders with it
BATCHED_TAG = "batched"

#: the default config of a test: anything else keeps the test a dbt node
_DEFAULT_CONFIG = {"fail_calc": "count(*)", "warn_if": "!= 0", "error_if": "!= 0",
                   "limit": None}


class UnbatchableTest(ValueError):
    """A ``batched`` test of a batched type whose config this module does not apply."""


@dataclass(frozen=True)
class BatchedTest:
    """One data test, as the pipeline's dbt step counts its failing rows."""

    unique_id: str
    type: str
    model_id: str  # the unique_id of the model it tests
    relation: str  # the model's relation, e.g. "warehouse"."marts"."revenue_daily"
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    where: str | None = None
    severity: str = "error"  # "error" or "warn"

    @property
    def model(self) -> str:
        """``from`` of the test: the relation, or the rows its ``where`` config keeps."""
        if self.where:
            return f"(select * from {self.relation} where {self.where}) dbt_subquery"
        return self.relation

    def sql(self) -> str:
        """The failing rows, as the generic test's SQL selects them."""
        return SQL[self.type](self.model, self.kwargs)


# --- the failing rows of each test type (the generic tests' SQL) -----------------------


def _not_null(model: str, a: Mapping[str, Any]) -> str:
    c = a["column_name"]
    return f"select {c} from {model} where {c} is null"


def _unique(model: str, a: Mapping[str, Any]) -> str:
    c = a["column_name"]
    return (f"select {c} as unique_field, count(*) as n_records from {model} "
            f"where {c} is not null group by {c} having count(*) > 1")


def _accepted_values(model: str, a: Mapping[str, Any]) -> str:
    c = a["column_name"]
    quote = a.get("quote", True)
    values = ", ".join(f"'{v}'" if quote in (True, None) else str(v) for v in a["values"])
    return (f"with all_values as (select {c} as value_field, count(*) as n_records "
            f"from {model} group by {c}) "
            f"select * from all_values where value_field not in ({values})")


def _expression_is_true(model: str, a: Mapping[str, Any]) -> str:
    return f"select * from {model} where not coalesce(({a['expression']}), false)"


def _in_range(model: str, a: Mapping[str, Any]) -> str:
    c, lo, hi = a["column_name"], a.get("min_value"), a.get("max_value")
    if lo is None and hi is None:
        raise UnbatchableTest(f"in_range on {c}: give min_value, max_value or both")
    bounds = " or ".join(
        ([f"{c} < {lo}"] if lo is not None else []) + ([f"{c} > {hi}"] if hi is not None else []))
    return f"select * from {model} where {c} is not null and ({bounds})"


def _is_rate(model: str, a: Mapping[str, Any]) -> str:
    c = a["column_name"]
    return f"select * from {model} where {c} is not null and ({c} < 0 or {c} > 1)"


def _at_least_column(model: str, a: Mapping[str, Any]) -> str:
    c, o = a["column_name"], a["other_column"]
    return (f"select * from {model} where {c} is not null and {o} is not null "
            f"and {c} < {o}")


def _unique_combination_of_columns(model: str, a: Mapping[str, Any]) -> str:
    cols = ", ".join(a["combination_of_columns"])
    return (f"select {cols}, count(*) as n_rows from {model} group by {cols} "
            f"having count(*) > 1")


def _expression_near_zero(model: str, a: Mapping[str, Any]) -> str:
    computed, tolerance = a["computed_column"], a.get("tolerance", 0)
    return (f"with computed as (select *, {a['expression']} as {computed} from {model}) "
            f"select * from computed where {computed} is not null "
            f"and abs({computed}) > {tolerance}")


def _matches_regex(model: str, a: Mapping[str, Any]) -> str:
    c = a["column_name"]
    pattern = "'" + str(a["regex"]).replace("'", "''") + "'"
    return (f"select * from {model} where {c} is not null "
            f"and not regexp_matches({c}, {pattern})")


#: test type -> failing rows (DuckDB SQL, as each generic test compiles on DuckDB)
SQL: dict[str, Callable[[str, Mapping[str, Any]], str]] = {
    "not_null": _not_null,
    "unique": _unique,
    "accepted_values": _accepted_values,
    "expression_is_true": _expression_is_true,
    "in_range": _in_range,
    "is_rate": _is_rate,
    "at_least_column": _at_least_column,
    "unique_combination_of_columns": _unique_combination_of_columns,
    "expression_near_zero": _expression_near_zero,
    "matches_regex": _matches_regex,
}


# --- which tests, and the dbt arguments that leave them out ----------------------------


def exclude_args() -> list[str]:
    """``--exclude`` of the batched tests: the tagged tests of the batched types (one
    space-separated value: dagster-dbt reads one value per ``--exclude``)."""
    return ["--exclude", " ".join(f"tag:{BATCHED_TAG},test_name:{t}" for t in sorted(SQL))]


def batched_tests(manifest: Mapping[str, Any]) -> list[BatchedTest]:
    """The tests ``exclude_args`` leaves out of ``dbt build``, from dbt's manifest (of the
    same invocation: its relations and rendered arguments are the build's)."""
    nodes = manifest["nodes"]
    out: list[BatchedTest] = []
    for uid, node in nodes.items():
        if node.get("resource_type") != "test" or BATCHED_TAG not in (node.get("tags") or ()):
            continue
        meta = node.get("test_metadata") or {}
        kind = meta.get("name")
        if kind not in SQL or meta.get("namespace") not in (None, "insights_warehouse"):
            continue
        config = node.get("config") or {}
        odd = {k: config.get(k) for k, v in _DEFAULT_CONFIG.items() if config.get(k) != v}
        if config.get("store_failures"):
            odd["store_failures"] = True
        attached = node.get("attached_node") or ""
        if odd or not attached.startswith("model."):
            why = f"config {odd}" if odd else f"attached to {attached or 'no model'}"
            raise UnbatchableTest(
                f"{uid}: a {kind} test tagged {BATCHED_TAG!r} with {why} cannot be counted "
                f"in a batch; move it out of the tagged folders or drop the config")
        kwargs = {k: v for k, v in (meta.get("kwargs") or {}).items() if k != "model"}
        if any("{{" in str(v) or "{%" in str(v) for v in kwargs.values()):
            raise UnbatchableTest(
                f"{uid}: a {kind} test whose arguments hold Jinja (a macro or ref() call) "
                f"is rendered only by dbt: write it as a singular test in dbt_project/tests")
        out.append(BatchedTest(
            unique_id=uid, type=kind, model_id=attached,
            relation=nodes[attached]["relation_name"], kwargs=kwargs,
            where=config.get("where") or None,
            severity=str(config.get("severity") or "error").lower()))
    return sorted(out, key=lambda t: (t.model_id, t.unique_id))


def batch_sql(tests: Sequence[BatchedTest]) -> str:
    """One query: each test's unique_id and its count of failing rows."""
    return "\nunion all\n".join(
        f"select '{t.unique_id}' as test, count(*) as failures from ({t.sql()}) dbt_internal_test"
        for t in tests)


def by_model(tests: Iterable[BatchedTest]) -> dict[str, list[BatchedTest]]:
    out: dict[str, list[BatchedTest]] = {}
    for t in tests:
        out.setdefault(t.model_id, []).append(t)
    return out


@dataclass(frozen=True)
class TestOutcome:
    test: BatchedTest
    failures: int | None  # None: the query failed (``error``)
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.failures == 0

    @property
    def fails_the_build(self) -> bool:
        return not self.passed and (self.test.severity == "error" or self.error is not None)


def run_batched(execute: Callable[[str], list[tuple[Any, ...]]],
                tests: Sequence[BatchedTest]) -> list[TestOutcome]:
    """Each model's tests in one query (``execute(sql) -> rows``); when a model's query
    fails (a test's SQL is wrong), its tests one by one, so that only the wrong one
    reports the error."""
    outcomes: list[TestOutcome] = []
    for group in by_model(tests).values():
        try:
            counts = {uid: int(n) for uid, n in execute(batch_sql(group))}
            outcomes += [TestOutcome(t, counts[t.unique_id]) for t in group]
        except Exception:
            for t in group:
                try:
                    [(_, n)] = execute(batch_sql([t]))
                    outcomes.append(TestOutcome(t, int(n)))
                except Exception as exc:
                    outcomes.append(TestOutcome(t, None, str(exc).splitlines()[0]))
    return outcomes
