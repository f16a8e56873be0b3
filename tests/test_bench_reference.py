"""The plain pandas reference of bench/pipeline.py (bench/reference_pandas.py) agrees with
the dbt marts engagement_daily, retention_cohorts (week), funnel_steps (conversation),
funnel_breakdowns and funnel_trends (every shipped funnel)
on the demo warehouse, and the comparison notices a changed number."""

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
