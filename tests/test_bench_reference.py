"""The plain pandas reference of bench/pipeline.py (bench/reference_pandas.py) agrees with
the dbt marts engagement_daily, retention_cohorts (week), funnel_steps (conversation),
funnel_breakdowns and funnel_trends (every shipped funnel), revenue_daily,
experiment_results and topic_mastery on the demo warehouse, and the comparison notices a
changed number. (retention, stickiness_distribution: tests/test_retention_v2.py; path_edges:
tests/test_paths_events.py.) The demo data holds what these marts need: payments, refunds
in two currencies, experiment assignments with conversions in both arms."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[1]


def _reference():
    spec = importlib.util.spec_from_file_location(
        "reference_pandas", REPO / "bench" / "reference_pandas.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("reference_pandas", module)  # dataclasses look the module up
    spec.loader.exec_module(module)
    return sys.modules["reference_pandas"]


@pytest.fixture
def warehouse(demo_warehouse: Path):
    """A connection to a private copy of the demo warehouse."""
    con = duckdb.connect(str(demo_warehouse))
    con.execute("SET TimeZone = 'UTC'")
    yield con
    con.close()


def test_pandas_reference_agrees_with_the_marts(warehouse):
    out = _reference().compare(warehouse)
    assert out["events"] > 0
    for name, result in out["marts"].items():
        assert result["rows_mart"] > 0, name
        assert result["mismatches"] == 0, (name, result["examples"])
    assert out["mismatches"] == 0


def test_the_comparison_notices_a_changed_number(warehouse):
    warehouse.execute("""
        UPDATE marts.engagement_daily SET wau = wau + 1
        WHERE creator_id = '__all__' AND "date" = (SELECT max("date") FROM marts.engagement_daily)
    """)
    warehouse.execute("UPDATE marts.funnel_steps SET users = users + 1 WHERE step = 2 "
                      "AND funnel = 'conversation'")
    out = _reference().compare(warehouse)
    assert out["marts"]["engagement_daily"]["differing_rows"] == 1
    assert out["marts"]["funnel_steps"]["differing_rows"] == 1
    assert out["marts"]["retention_cohorts"]["mismatches"] == 0


def test_pandas_reference_agrees_with_the_funnel_breakdowns_and_trends(warehouse):
    """Every shipped funnel (ordered, strict, any order, a session window with an
    exclusion and a held field), its breakdowns and its day and week trends, '__all__'."""
    out = _reference().compare_funnels(warehouse)
    for name, result in out["marts"].items():
        assert result["rows_mart"] > 0, name
        assert result["mismatches"] == 0, (name, result["examples"])
    warehouse.execute("UPDATE marts.funnel_trends SET users = users + 1 WHERE step = 2 "
                      "AND creator_id = '__all__' AND entry_period = (SELECT max(entry_period) "
                      "FROM marts.funnel_trends) AND funnel = 'conversation_strict' "
                      "AND entry_period_grain = 'day'")
    warehouse.execute("UPDATE marts.funnel_breakdowns SET users = users + 1 "
                      "WHERE creator_id = '__all__' AND funnel = 'conversation_strict' "
                      "AND step = 1")
    changed = _reference().compare_funnels(warehouse)
    assert changed["marts"]["funnel_trends"]["differing_rows"] == 1
    assert changed["marts"]["funnel_breakdowns"]["differing_rows"] >= 1


def test_the_demo_data_holds_payments_refunds_and_assignments(warehouse):
    """The session's demo (tests/conftest.py DEMO_ARGS) is small, but the money and
    experiment marts are not checked on empty tables: charges and refunds in two
    currencies, and conversions in both arms of the experiment."""
    by_kind = dict(warehouse.execute(
        "SELECT payment_kind, count(DISTINCT currency) FROM staging.stg_payments "
        "WHERE paid_date <= (SELECT as_of_date FROM intermediate.int_as_of_date) "
        "GROUP BY payment_kind").fetchall())
    assert by_kind == {"charge": 2, "refund": 2}, by_kind
    revenue = warehouse.execute("SELECT count(DISTINCT currency), min(refunds), max(refunds) "
                                "FROM marts.revenue_daily WHERE creator_id = '__all__'").fetchone()
    assert revenue[0] == 2 and revenue[2] > 0
    arms = warehouse.execute("SELECT variant, users, conversions FROM marts.experiment_results "
                             "ORDER BY variant").fetchall()
    assert [a for a, *_ in arms] == ["control", "treatment"]
    assert all(users >= 5 and conversions >= 1 for _, users, conversions in arms), arms


def test_pandas_reference_agrees_with_revenue_experiments_and_mastery(warehouse):
    reference = _reference()
    out = reference.compare_money_learning(warehouse)
    for name, result in out["marts"].items():
        assert result["rows_mart"] > 0, name
        assert result["mismatches"] == 0, (name, result["examples"])
    assert out["mismatches"] == 0
    # a changed refund, a changed interval and a changed mastery are each noticed
    warehouse.execute("UPDATE marts.revenue_daily SET refunds = refunds + 1, "
                      "net_revenue = net_revenue - 1 WHERE creator_id = '__all__' "
                      "AND refunds > 0 AND currency = 'EUR'")
    warehouse.execute("UPDATE marts.experiment_results SET ci_high = ci_high + 0.01 "
                      "WHERE NOT is_control")
    warehouse.execute("UPDATE marts.topic_mastery SET mastery = mastery * 0.999 "
                      "WHERE creator_id = '__all__' AND attempts > 3")
    changed = reference.compare_money_learning(warehouse)["marts"]
    assert changed["revenue_daily"]["differing_rows"] >= 1
    assert changed["experiment_results"]["differing_rows"] == 1
    assert changed["topic_mastery"]["differing_rows"] >= 1
    assert changed["experiment_p_values"]["mismatches"] == 0
