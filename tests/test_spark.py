"""The dbt project on Apache Spark (issue 22, docs/scale_out.md).

- every model compiles on the spark target (`dbt compile --target spark`, a local
  session with an empty metastore): cheap enough to run on every change;
- no engine-specific SQL outside the dispatched macros: a denylist of DuckDB-only
  functions and syntax scanned over models/ and the singular tests.

Java and the spark extra are prerequisites (tests/prerequisites.py: skipped locally with
the reason, failing under CI=true, where .ci/run installs both)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.dbt_support import DBT_PROJECT_DIR
from tests.spark_support import insights, require_spark, spark_env

# DuckDB-only functions and syntax; their portable forms live in macros/cross_db
DUCKDB_ONLY = {
    r"::": "a `::` cast (use cast(x as t))",
    r"\blist_\w+\s*\(": "a DuckDB list function",
    r"\blist\s*\(": "DuckDB's list() aggregate",
    r"\bunnest\s*\(": "unnest (use a dispatched macro)",
    r"\bgenerate_series\s*\(": "generate_series (use date_spine)",
    r"\bepoch_\w*\s*\(": "DuckDB's epoch functions (use seconds_between)",
    r"\bquantile\w*\s*\(": "DuckDB's quantile (use percentile_cont)",
    r"\bjson_extract\w*\s*\(": "DuckDB's json_extract (use json_field_text)",
    r"\bat\s+time\s+zone\b": "AT TIME ZONE (use to_local_date / to_local_hour)",
    r"\btimezone\s*\(": "DuckDB's timezone() (use to_local_date)",
    r"\bstrftime\s*\(": "strftime",
    r"\bgroup\s+by\s+all\b": "GROUP BY ALL",
    r"\border\s+by\s+all\b": "ORDER BY ALL",
    r"\bexclude\s*\(": "SELECT * EXCLUDE",
    r"\bqualify\b": "QUALIFY",
    r"\bwith\s+recursive\b": "WITH RECURSIVE",
    r"\bvarchar\b": "varchar (use string / dbt.type_string())",
    r"\bisodow\s*\(": "isodow (use iso_weekday)",
    r"\blambda\b": "DuckDB lambdas",
    # portable in name only: dbt-spark's dateadd goes through unix timestamps (a date
    # plus days compared with a date counted nothing: user_engagement on Spark)
    r"\bdbt\.dateadd\s*\(": "dbt.dateadd (use add_days / add_days_to_timestamp)",
    r"\bdbt\.datediff\s*\(": "dbt.datediff (use days_between / seconds_between)",
}


def _strip_comments(text: str) -> str:
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.S)
    return re.sub(r"--[^\n]*", "", text)


def test_no_engine_specific_sql_outside_dispatched_macros():
    found = []
    files = sorted([*(DBT_PROJECT_DIR / "models").rglob("*.sql"),
                    *(DBT_PROJECT_DIR / "tests").rglob("*.sql")])
    assert len(files) > 30
    for path in files:
        text = _strip_comments(path.read_text()).lower()
        for pattern, what in DUCKDB_ONLY.items():
            for m in re.finditer(pattern, text):
                line = text[:m.start()].count("\n") + 1
                found.append(f"{path.relative_to(DBT_PROJECT_DIR)}:{line}: {what}")
    assert not found, "engine-specific SQL outside dispatched macros:\n" + "\n".join(found)


def test_the_denylist_catches_duckdb_sql():
    sample = "select list(x order by y), a::int from t group by all qualify true"
    hits = [w for p, w in DUCKDB_ONLY.items() if re.search(p, sample)]
    assert len(hits) == 4, hits


@pytest.mark.spark
def test_every_model_compiles_on_spark(tmp_path: Path):
    require_spark()
    data = tmp_path / "data"
    (data / "landing").mkdir(parents=True)
    env = spark_env(data)
    # a reporting zone other than UTC, whose dates need the Spark conversion (in UTC
    # the macros take the timestamp's own date on every engine)
    settings = tmp_path / "settings.yaml"
    text = (DBT_PROJECT_DIR.parent / "config" / "settings.yaml").read_text()
    assert "  reporting_timezone: UTC\n" in text
    settings.write_text(text.replace("  reporting_timezone: UTC\n",
                                     "  reporting_timezone: Europe/Berlin\n"))
    env["INSIGHTS_SETTINGS"] = str(settings)
    insights(env, "dbt", "--target", "spark", "--", "compile", "--quiet",
             "--target-path", str(tmp_path / "target"), cwd=tmp_path)
    compiled = list((tmp_path / "target" / "compiled").rglob("*.sql"))
    assert len(compiled) > 50
    text = (tmp_path / "target" / "compiled" / "insights_warehouse" / "models" / "staging"
            / "stg_events.sql").read_text()
    assert "from_utc_timestamp" in text and "at time zone" not in text.lower()
    # every funnel step CTE that two others read is computed once on Spark, not inlined
    # into each reader (macros/cross_db/computed_once.sql)
    funnels = (tmp_path / "target" / "compiled" / "insights_warehouse" / "models"
               / "intermediate" / "int_funnel_attempts.sql").read_text()
    shared = cte_bodies_read_twice(funnels, r"f\d+_reached\d+")
    assert len(shared) >= 5, sorted(shared)
    inlined = sorted(n for n, body in shared.items() if "as _computed_once" not in body)
    assert not inlined, inlined


def cte_bodies_read_twice(sql: str, names: str) -> dict[str, str]:
    """{name: body} of the CTEs whose name matches ``names`` and that the query reads
    (``from``/``join``) at least twice."""
    bodies: dict[str, str] = {}
    for m in re.finditer(rf"\b({names}) as \(", sql):
        depth, end = 1, m.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[end], 0)
            end += 1
        bodies[m.group(1)] = sql[m.end():end - 1]
    return {n: b for n, b in bodies.items()
            if len(re.findall(rf"(?:from|join)\s+{n}\b", sql)) >= 2}
