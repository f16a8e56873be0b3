"""dbt end to end on a hand-made warehouse for the learning and money marts:
topic_mastery, revenue_daily, goal_progress and achievement_unlocks.

Raw tables are created with the ingest DDL and filled by hand; dbt builds the four
marts and their parents in-process (models, seed, data tests, unit tests) with the vars
of config/settings.yaml (``load_settings().dbt_vars()``, as the orchestration passes
them); the marts are compared with numbers computed by hand from metrics.md:

- BKT with the default parameters (p_init 0.2, transit 0.15, guess 0.2, slip 0.1) over
  correct, correct, wrong: 9/17 -> 0.6, 27/31 -> 27.6/31, 69/137 -> 79.2/137;
- fitted parameters in the optional table ``ml.bkt_params`` replace the defaults for
  their topic, and dbt leaves that table alone;
- net revenue per currency with a refund, and a payment of an unknown program that
  only counts in the '__all__' row;
- a goal completed by its goal_completed event and a goal completed by its measure;
- an A/B test: treatment 1 of 2 converted (u1's charge 1 h after assignment), control
  0 of 2: pooled z-test p = erfc(z / sqrt 2) with z = 0.5 / sqrt(0.25 * 0.75 * (1/2 + 1/2)).
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from tests.dbt_support import dbt_build, raw_warehouse
from warehouse.settings import load_settings

LOADED_AT = datetime(2025, 3, 6, 6, 0, 0)
D1, D2, D3 = date(2025, 3, 3), date(2025, 3, 4), date(2025, 3, 5)

# event_id, event_type, event_ts (UTC), session_id, user_id, data fields
EVENTS = [
    # u1 on algebra: correct, correct, wrong (one attempt a day); a custom goal that
    # only its goal_completed event can complete (on D2)
    ("a1", "exercise_attempted", "2025-03-03 10:00:00", "s1", "u1",
     {"topic": "algebra", "correct": True}),
    ("g1c", "goal_created", "2025-03-03 10:05:00", "s1", "u1",
     {"goal_id": "g_event", "goal_type": "custom", "target_value": 1.0}),
    ("a2", "exercise_attempted", "2025-03-04 10:00:00", "s2", "u1",
     {"topic": "algebra", "correct": True}),
    ("g1d", "goal_completed", "2025-03-04 10:05:00", "s2", "u1",
     {"goal_id": "g_event", "goal_type": "custom", "target_value": 1.0}),
    ("a3", "exercise_attempted", "2025-03-05 10:00:00", "s3", "u1",
     {"topic": "algebra", "correct": False}),
    # u2: a sessions goal (target 2) created in session s4; sessions s5 (D2) and s6
    # (D3) reach it on D3, and no goal_completed event ever comes
    ("g2c", "goal_created", "2025-03-03 12:00:00", "s4", "u2",
     {"goal_id": "g_measure", "goal_type": "sessions", "target_value": 2.0}),
    ("m1", "user_message", "2025-03-04 12:00:00", "s5", "u2", {}),
    ("m2", "user_message", "2025-03-05 12:00:00", "s6", "u2", {}),
    # u2 on cooking, whose parameters are fitted (ml.bkt_params)
    ("c1", "exercise_attempted", "2025-03-05 12:10:00", "s6", "u2",
     {"topic": "cooking", "correct": False}),
]

# payment_id, program_id, amount, currency (as exported), paid_at, kind
PAYMENTS = [
    ("p1", "prog_usd", "100.00", "usd", "2025-03-03 09:00:00", "charge"),
    ("p2", "prog_usd", "30.00", "usd", "2025-03-03 18:00:00", "refund"),
    ("p3", "prog_eur", "50.00", "eur", "2025-03-03 11:00:00", "charge"),
    ("p4", "prog_unknown", "20.00", "usd", "2025-03-04 09:00:00", "charge"),
]
PROGRAMS = [("prog_usd", "c1", "usd"), ("prog_eur", "c2", "eur")]

EXPECTED_REVENUE = {
    # (date, currency, creator_id): (charges, refunds, net_revenue)
    (D1, "USD", "c1"): (100.0, 30.0, 70.0),
    (D1, "USD", "__all__"): (100.0, 30.0, 70.0),
    (D1, "EUR", "c2"): (50.0, 0.0, 50.0),
    (D1, "EUR", "__all__"): (50.0, 0.0, 50.0),
    (D2, "USD", "__all__"): (20.0, 0.0, 20.0),
}


def _lineage(export: date, line: int) -> list:
    return [export, f"x/{export}/part-0", line, f"load-{export}", LOADED_AT, True]


def _fill_raw(con: duckdb.DuckDBPyConnection) -> None:
    for line, (event_id, event_type, ts, session, user, data) in enumerate(EVENTS, 1):
        export = datetime.fromisoformat(ts).date()
        con.execute(
            """
            INSERT INTO raw.events (event_id, event_type, is_known_event_type, event_ts,
                session_id, user_id, creator_id, topic, correct, goal_id, goal_type,
                target_value, export_date, source_file, source_line, load_id, loaded_at,
                is_current)
            VALUES (?, ?, true, CAST(? AS TIMESTAMP), ?, ?, 'c1', ?, ?, ?, ?, ?,
                    ?, ?, ?, ?, ?, ?)
            """,
            [event_id, event_type, ts, session, user, data.get("topic"), data.get("correct"),
             data.get("goal_id"), data.get("goal_type"), data.get("target_value"),
             *_lineage(export, line)],
        )
    for line, (program, creator, currency) in enumerate(PROGRAMS, 1):
        con.execute(
            """
            INSERT INTO raw.programs (program_id, creator_id, title, topics, price, currency,
                launched_at, export_date, source_file, source_line, load_id, loaded_at,
                is_current)
            VALUES (?, ?, 'A program', ['algebra'], 10, ?, TIMESTAMP '2025-01-01 00:00:00',
                    ?, ?, ?, ?, ?, ?)
            """,
            [program, creator, currency, *_lineage(D3, line)],
        )
    for line, (payment, program, amount, currency, paid_at, kind) in enumerate(PAYMENTS, 1):
        con.execute(
            """
            INSERT INTO raw.payments (payment_id, user_id, program_id, amount, currency,
                paid_at, kind, export_date, source_file, source_line, load_id, loaded_at,
                is_current)
            VALUES (?, 'u1', ?, CAST(? AS DECIMAL(18, 4)), ?, CAST(? AS TIMESTAMP), ?,
                    ?, ?, ?, ?, ?, ?)
            """,
            [payment, program, amount, currency, paid_at, kind, *_lineage(D3, line)],
        )
    for line, (user, variant) in enumerate(
            [("u1", "treatment"), ("u4", "treatment"), ("u2", "control"), ("u3", "control")], 1):
        con.execute(
            """
            INSERT INTO raw.experiment_assignments (experiment_id, variant, user_id,
                assigned_at, export_date, source_file, source_line, load_id, loaded_at,
                is_current)
            VALUES ('exp1', ?, ?, TIMESTAMP '2025-03-03 08:00:00', ?, ?, ?, ?, ?, ?)
            """,
            [variant, user, *_lineage(D3, line)],
        )
    # fitted BKT parameters for one topic, as a Python asset would write them
    con.execute("CREATE SCHEMA IF NOT EXISTS ml")
    con.execute(
        """
        CREATE TABLE ml.bkt_params (topic VARCHAR, p_init DOUBLE, p_transit DOUBLE,
            p_guess DOUBLE, p_slip DOUBLE, source VARCHAR, fitted_at TIMESTAMP)
        """
    )
    con.execute(
        """
        INSERT INTO ml.bkt_params VALUES
            ('cooking', 0.5, 0.0, 0.5, 0.5, 'test_fit', TIMESTAMP '2025-03-05 00:00:00'),
            -- an older fit of the same topic and an invalid row (guess 0): ignored
            ('cooking', 0.9, 0.9, 0.1, 0.1, 'old_fit', TIMESTAMP '2025-03-01 00:00:00'),
            ('algebra', 0.9, 0.9, 0.0, 0.1, 'bad_fit', TIMESTAMP '2025-03-05 00:00:00')
        """
    )


@pytest.fixture
def warehouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return raw_warehouse(monkeypatch, tmp_path / "warehouse.duckdb", _fill_raw)


def _dbt_build(tmp: Path) -> None:
    dbt_build(tmp, load_settings().dbt_vars(),
              ["+topic_mastery", "+revenue_daily", "+goal_progress", "+achievement_unlocks",
               "+experiment_results"], expect_kinds=("model", "seed", "test"))


def test_learning_and_money_marts(warehouse: Path, tmp_path: Path) -> None:
    settings_vars = load_settings().dbt_vars()
    # the hand computation below uses the documented defaults
    assert (settings_vars["bkt_p_init"], settings_vars["bkt_p_transit"],
            settings_vars["bkt_p_guess"], settings_vars["bkt_p_slip"]) == (0.2, 0.15, 0.2, 0.1)

    _dbt_build(tmp_path)

    with duckdb.connect(str(warehouse)) as con:
        # --- topic_mastery: BKT by hand -------------------------------------------
        # version 1's rows are the creator_id = '__all__' rows (marts.md version 2)
        rows = con.execute(
            "SELECT user_id, topic, attempts, correct_attempts, mastery, level, params_source "
            "FROM marts.topic_mastery WHERE creator_id = '__all__' ORDER BY user_id, topic"
        ).fetchall()
        # every attempt is creator c1's: its rows hold the same numbers
        assert con.execute(
            "SELECT user_id, topic, attempts, correct_attempts, mastery, level, params_source "
            "FROM marts.topic_mastery WHERE creator_id = 'c1' ORDER BY user_id, topic"
        ).fetchall() == rows
        assert con.execute(
            "SELECT DISTINCT creator_id FROM marts.topic_mastery ORDER BY 1"
        ).fetchall() == [("__all__",), ("c1",)]
        assert [r[:4] for r in rows] == [("u1", "algebra", 3, 2), ("u2", "cooking", 1, 0)]
        # defaults: 0.2 -> 9/17 -> 0.6 -> 27/31 -> 27.6/31 -> 69/137 -> 79.2/137
        assert rows[0][4] == pytest.approx(79.2 / 137, abs=1e-12)
        assert rows[0][5:] == ("familiar", "default")
        # fitted (p_init 0.5, transit 0, guess = slip = 0.5): an attempt tells nothing
        assert rows[1][4] == pytest.approx(0.5, abs=1e-12)
        assert rows[1][5:] == ("familiar", "fitted")
        path = con.execute(
            "SELECT mastery FROM intermediate.int_exercise_mastery "
            "WHERE user_id = 'u1' ORDER BY attempt_number"
        ).fetchall()
        assert [m for (m,) in path] == pytest.approx([0.6, 27.6 / 31, 79.2 / 137], abs=1e-12)
        # dbt read ml.bkt_params and left it alone
        assert con.execute("SELECT count(*) FROM ml.bkt_params").fetchone() == (3,)

        # --- revenue_daily: per currency, refunds subtracted -----------------------
        revenue = {
            (r[0], r[1], r[2]): tuple(r[3:])
            for r in con.execute(
                'SELECT "date", currency, creator_id, charges, refunds, net_revenue '
                "FROM marts.revenue_daily"
            ).fetchall()
        }
        assert set(revenue) == set(EXPECTED_REVENUE)
        for key, expected in EXPECTED_REVENUE.items():
            assert revenue[key] == pytest.approx(expected), key

        # --- goal_progress: by event vs by measure --------------------------------
        goals = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT goal_id, user_id, goal_type, target_value, current_value, progress, "
                "status, completed_on, completed_by FROM marts.goal_progress"
            ).fetchall()
        }
        assert goals == {
            "g_event": ("u1", "custom", 1.0, None, 1.0, "completed", D2, "event"),
            "g_measure": ("u2", "sessions", 2.0, 2.0, 1.0, "completed", D3, "measure"),
        }

        # --- achievement_unlocks from the seed's rules ----------------------------
        unlocks = set(con.execute(
            "SELECT user_id, achievement_id, unlocked_on FROM marts.achievement_unlocks"
        ).fetchall())
        assert unlocks == {
            ("u1", "first_session", D1),
            ("u2", "first_session", D1),
            ("u1", "streak_3", D3),      # both users active on D1, D2 and D3
            ("u2", "streak_3", D3),
            ("u1", "goals_completed_1", D2),
            ("u2", "goals_completed_1", D3),
        }

        # --- experiment_results: pooled two-proportion z-test against control ------
        results = {
            r[0]: r[1:]
            for r in con.execute(
                "SELECT variant, users, conversions, conversion_rate, lift, p_value, ci_low, "
                "ci_high, significant, srm_p_value FROM marts.experiment_results "
                "WHERE experiment_id = 'exp1'"
            ).fetchall()
        }
        assert results["control"][:4] == (2, 0, 0.0, None)
        assert results["control"][4:8] == (None, None, None, False)
        z = 0.5 / math.sqrt(0.25 * 0.75 * (1 / 2 + 1 / 2))
        half_width = 1.959963984540054 * math.sqrt(0.5 * 0.5 / 2)
        users, conversions, rate, lift, p_value, ci_low, ci_high, significant, srm = (
            results["treatment"])
        assert (users, conversions, rate, lift, significant) == (2, 1, 0.5, None, False)
        assert p_value == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-6)
        assert (ci_low, ci_high) == pytest.approx((0.5 - half_width, 0.5 + half_width))
        assert srm == pytest.approx(1.0)

        # the marts carry their descriptions into DuckDB (COMMENT ON)
        for table in ("topic_mastery", "revenue_daily", "goal_progress", "achievement_unlocks",
                      "experiment_results"):
            assert con.execute(
                "SELECT comment FROM duckdb_tables() "
                "WHERE schema_name = 'marts' AND table_name = ?", [table]
            ).fetchone()[0]
