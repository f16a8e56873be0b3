"""Suites of the marts, generated from the dbt project: one suite per mart.

The invariants of the marts (metrics.md, marts.md) have one home, the dbt yml of each
mart (``dbt_project/models/marts/<mart>.yml``). A data test there with
``config: {meta: {gx: true}}`` is also an expectation of the mart's Great Expectations
suite (the Dagster check ``gx_invariants``, which blocks the publish); this module turns
such tests into GX expectations, by test type (``MAPPED``):

=============================  =============================================================
dbt test                       GX expectation
=============================  =============================================================
not_null                       expect_column_values_to_not_be_null
unique                         expect_column_values_to_be_unique
unique_combination_of_columns  expect_compound_columns_to_be_unique
accepted_values                expect_column_values_to_be_in_set
in_range                       expect_column_values_to_be_between min_value, max_value
is_rate                        expect_column_values_to_be_between 0 and 1
at_least_column                expect_column_pair_values_a_to_be_greater_than_b, or equal
matches_regex                  expect_column_values_to_match_regex
expression_near_zero           the frame computes ``expression AS computed_column``;
                               expect_column_values_to_be_between -tolerance and tolerance
non_increasing_by_step         the frame computes ``previous_<order_by>_<column>`` (lag);
                               expect_column_pair_values_a_to_be_greater_than_b, or equal
=============================  =============================================================

A test's ``description`` becomes the expectation's description, its severity ``warn``
a GX ``warning`` (else ``critical``, blocking). Where an invariant spans columns or rows
(stickiness = dau / mau, period 0 of a cohort holding the whole cohort, funnel users by
step), the dbt test carries the SQL of a per-row value and the suite's frame computes
it as a column, so the work stays set-based in DuckDB.

Test types in ``DBT_ONLY`` (arbitrary SQL, other tables, whole-partition checks) stay
dbt tests only, as do tests without the ``gx`` flag. A test of any other type on a mart
is an error (``UnmappedDbtTest``), never silently left out: map it or list it.

The yml files are read directly (not the parsed manifest): they are the source, always
current, and need no dbt parse. ``tests/test_mart_suites_generated.py`` checks this
reading against the manifest dbt parses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from data_quality import expect as ex
from data_quality.suite import Suite
from warehouse.settings import DBT_PROJECT_DIR

#: the marts' yml files (one per mart, beside its model)
MARTS_DIR = DBT_PROJECT_DIR / "models" / "marts"
#: the schema of the marts in the warehouse
SCHEMA = "marts"
#: ``config: {meta: {GX_FLAG: true}}`` puts a dbt test into the mart's GX suite
GX_FLAG = "gx"

#: dbt test types that stay dbt tests (a GX flag on one of them is an error)
DBT_ONLY: dict[str, str] = {
    "expression_is_true": "arbitrary SQL condition (may read other tables)",
    "relationships": "reads another model",
    "continuous_dates_until": "whole-partition date series check",
    "total_row_at_least_each_part": "compares rows with the total row of their group",
    "exactly_one_current_copy": "raw-layer copy check",
}

# dbt config keys a test may also give beside its arguments (the older syntax)
_CONFIG_KEYS = frozenset({
    "severity", "where", "tags", "meta", "enabled", "limit", "warn_if", "error_if",
    "fail_calc", "store_failures", "store_failures_as", "alias", "schema", "database",
    "group",
})
# config a GX expectation cannot honour: a flagged test with one of them is an error
_UNMAPPABLE_CONFIG = ("where", "warn_if", "error_if", "fail_calc")


class UnmappedDbtTest(ValueError):
    """A dbt test on a mart that is neither mapped to GX nor listed as dbt-only, or that
    is flagged for GX but cannot be mapped faithfully."""


@dataclass(frozen=True)
class DbtTest:
    """One data test of a mart's yml, as dbt reads it."""

    model: str
    type: str  # the generic test, e.g. "not_null", "in_range" (namespaced: "pkg.name")
    column: str | None = None  # the column of a column-level test
    kwargs: Mapping[str, Any] = field(default_factory=dict)  # its arguments
    config: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    name: str | None = None  # a custom name given in the yml

    @property
    def gx(self) -> bool:
        return bool((self.config.get("meta") or {}).get(GX_FLAG))

    @property
    def warning(self) -> bool:
        return str(self.config.get("severity", "error")).lower() == "warn"

    @property
    def enabled(self) -> bool:
        return self.config.get("enabled", True) is not False

    def label(self) -> str:
        where = f"{self.model}.{self.column}" if self.column else self.model
        return f"{self.name or self.type} on {where}"

    def arg(self, key: str, default: Any = ...) -> Any:
        if key in self.kwargs:
            return self.kwargs[key]
        if key == "column_name" and self.column is not None:
            return self.column
        if default is ...:
            raise UnmappedDbtTest(f"{self.label()}: argument {key!r} missing")
        return default


@dataclass(frozen=True)
class GxCheck:
    """The GX expectation of one dbt test, and the columns its frame must compute."""

    test: DbtTest
    build: Callable[[], Any]  # -> a GX Expectation
    computed: tuple[tuple[str, str], ...] = ()  # (column, SQL expression)


# --- reading the yml -------------------------------------------------------------------


def _test_entries(node: Mapping[str, Any]) -> list[Any]:
    return list(node.get("data_tests") or []) + list(node.get("tests") or [])


def _dbt_test(model: str, entry: Any, column: str | None) -> DbtTest:
    if isinstance(entry, str):
        return DbtTest(model, entry, column)
    if not (isinstance(entry, Mapping) and len(entry) == 1):
        raise UnmappedDbtTest(f"{model}: cannot read the data test {entry!r}")
    ((test_type, body),) = entry.items()
    body = dict(body or {})
    kwargs = dict(body.pop("arguments", None) or {})
    config = dict(body.pop("config", None) or {})
    name = body.pop("name", None)
    description = str(body.pop("description", "") or "").strip()
    for key, value in body.items():  # older syntax: arguments and config side by side
        (config if key in _CONFIG_KEYS else kwargs)[key] = value
    return DbtTest(model, str(test_type), column, kwargs, config, description, name)


def read_model_tests(document: Mapping[str, Any]) -> dict[str, list[DbtTest]]:
    """The data tests of every model of one parsed yml document, model-level tests first,
    then each column's in the order of the file. Disabled tests are left out (dbt skips
    them too)."""
    out: dict[str, list[DbtTest]] = {}
    for model in document.get("models") or []:
        name = model["name"]
        if model.get("versions"):
            raise UnmappedDbtTest(f"{name}: versioned models are not supported")
        tests = [_dbt_test(name, e, None) for e in _test_entries(model)]
        for column in model.get("columns") or []:
            tests += [_dbt_test(name, e, column["name"]) for e in _test_entries(column)]
        out[name] = [t for t in tests if t.enabled]
    return out


def model_columns(document: Mapping[str, Any]) -> dict[str, list[str]]:
    """The columns each model of a parsed yml document declares."""
    return {
        m["name"]: [c["name"] for c in m.get("columns") or []]
        for m in document.get("models") or []
    }


def _load(path: Path) -> Mapping[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}


def load_documents(marts_dir: Path = MARTS_DIR) -> list[Mapping[str, Any]]:
    """The parsed yml files of the marts."""
    return [_load(p) for p in sorted(marts_dir.glob("*.yml"))]


# --- dbt test -> GX expectation --------------------------------------------------------


def _number(value: Any) -> float | int | None:
    """A bound from the yml (YAML 1.1 reads ``1e-9`` as a string)."""
    if value is None or (isinstance(value, int | float) and not isinstance(value, bool)):
        return value
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


def _columns(test: DbtTest) -> list[str]:
    columns = test.arg("combination_of_columns")
    if isinstance(columns, str) or not columns:
        raise UnmappedDbtTest(f"{test.label()}: combination_of_columns must be a list")
    return [str(c) for c in columns]


def _near_zero(t: DbtTest) -> GxCheck:
    column = str(t.arg("computed_column"))
    tolerance = _number(t.arg("tolerance", 0)) or 0
    low, high = (-tolerance, tolerance) if tolerance else (0, 0)
    expression = " ".join(str(t.arg("expression")).split())
    return GxCheck(
        t,
        lambda: ex.between(column, low, high, warning=t.warning, what=t.description),
        ((column, expression),),
    )


def _non_increasing(t: DbtTest) -> GxCheck:
    column, partition, order = (
        str(t.arg("column_name")), str(t.arg("partition_by")), str(t.arg("order_by")))
    previous = f"previous_{order}_{column}"
    sql = f"lag({column}) over (partition by {partition} order by {order})"
    return GxCheck(
        t,
        lambda: ex.at_least(previous, column, warning=t.warning, what=t.description),
        ((previous, sql),),
    )


def _regex(t: DbtTest) -> GxCheck:
    column, regex = str(t.arg("column_name")), str(t.arg("regex"))
    what = t.description or f"{column} matches {regex}"
    return GxCheck(t, lambda: ex.matches(column, regex, what, warning=t.warning))


#: dbt test type -> its GX check
MAPPED: dict[str, Callable[[DbtTest], GxCheck]] = {
    "not_null": lambda t: GxCheck(t, lambda: ex.not_null(
        t.arg("column_name"), warning=t.warning, what=t.description)),
    "unique": lambda t: GxCheck(t, lambda: ex.unique(
        t.arg("column_name"), warning=t.warning, what=t.description)),
    "unique_combination_of_columns": lambda t: GxCheck(t, lambda: ex.unique_key(
        _columns(t), warning=t.warning, what=t.description)),
    "accepted_values": lambda t: GxCheck(t, lambda: ex.in_set(
        t.arg("column_name"), list(t.arg("values")), warning=t.warning,
        what=t.description)),
    "in_range": lambda t: GxCheck(t, lambda: ex.between(
        t.arg("column_name"), _number(t.arg("min_value", None)),
        _number(t.arg("max_value", None)), warning=t.warning, what=t.description)),
    "is_rate": lambda t: GxCheck(t, lambda: ex.rate(
        t.arg("column_name"), warning=t.warning, what=t.description)),
    "at_least_column": lambda t: GxCheck(t, lambda: ex.at_least(
        t.arg("column_name"), t.arg("other_column"), warning=t.warning,
        what=t.description)),
    "matches_regex": _regex,
    "expression_near_zero": _near_zero,
    "non_increasing_by_step": _non_increasing,
}


def gx_check(test: DbtTest) -> GxCheck | None:
    """The GX check of a dbt test flagged for GX; None for a dbt-only test. Raises
    UnmappedDbtTest for a test type neither mapped nor listed as dbt-only, and for a
    flagged test that GX cannot check as dbt does."""
    if test.type not in MAPPED and test.type not in DBT_ONLY:
        raise UnmappedDbtTest(
            f"{test.label()}: dbt test type {test.type!r} is neither mapped to a GX "
            "expectation (data_quality/mart_suites.py MAPPED) nor listed as dbt-only "
            "(DBT_ONLY)")
    if not test.gx:
        return None
    if test.type in DBT_ONLY:
        raise UnmappedDbtTest(
            f"{test.label()}: flagged {GX_FLAG}: true, but {test.type!r} is dbt-only "
            f"({DBT_ONLY[test.type]})")
    unmappable = [k for k in _UNMAPPABLE_CONFIG if test.config.get(k) is not None]
    if unmappable:
        raise UnmappedDbtTest(
            f"{test.label()}: flagged {GX_FLAG}: true, but GX cannot apply its "
            f"{', '.join(unmappable)}")
    check = MAPPED[test.type](test)
    check.build()  # a missing argument fails here, when the suites are generated
    return check


def dbt_only(tests: Iterable[DbtTest]) -> list[tuple[DbtTest, str]]:
    """The tests that stay dbt tests only, each with the reason."""
    out = []
    for test in tests:
        if gx_check(test) is None:
            reason = DBT_ONLY.get(test.type) or f"not flagged {GX_FLAG}: true"
            out.append((test, reason))
    return out


def frame_sql(mart: str, computed: Sequence[tuple[str, str]]) -> str:
    table = f"{SCHEMA}.{mart}"
    if not computed:
        return f"SELECT * FROM {table}"
    columns = ",\n    ".join(f"{sql} AS {name}" for name, sql in computed)
    return f"SELECT *,\n    {columns}\nFROM {table}"


def mart_suite(
    mart: str, tests: Sequence[DbtTest], columns: Sequence[str] = ()
) -> Suite:
    """The GX suite of one mart from its dbt tests (``columns``: the mart's declared
    columns, which a computed column must not shadow)."""
    checks = [c for c in (gx_check(t) for t in tests) if c is not None]
    computed: dict[str, str] = {}
    for check in checks:
        for name, sql in check.computed:
            if name in columns:
                raise UnmappedDbtTest(
                    f"{check.test.label()}: computed column {name!r} is a column of {mart}")
            if computed.setdefault(name, sql) != sql:
                raise UnmappedDbtTest(
                    f"{check.test.label()}: computed column {name!r} defined twice, "
                    "differently")
    builders = tuple(c.build for c in checks)
    table = f"{SCHEMA}.{mart}"
    return Suite(
        table, table, frame_sql(mart, list(computed.items())),
        lambda: [build() for build in builders],
    )


def generate_suites(documents: Iterable[Mapping[str, Any]]) -> dict[str, Suite]:
    """One suite per model of the parsed yml documents (pure: no I/O)."""
    suites: dict[str, Suite] = {}
    for document in documents:
        columns = model_columns(document)
        for mart, tests in read_model_tests(document).items():
            if mart in suites:
                raise UnmappedDbtTest(f"{mart}: defined in two yml files")
            suites[mart] = mart_suite(mart, tests, columns.get(mart, ()))
    return suites


def mart_tests(marts_dir: Path = MARTS_DIR) -> dict[str, list[DbtTest]]:
    """Every data test of every mart, from the yml files."""
    out: dict[str, list[DbtTest]] = {}
    for document in load_documents(marts_dir):
        out.update(read_model_tests(document))
    return out


MART_SUITES: dict[str, Suite] = generate_suites(load_documents())
