"""Point-in-time features: known values on a tiny case, and a planted future row in every
source changes no feature (nothing after the as-of date leaks in)."""

from __future__ import annotations

from datetime import date
from itertools import pairwise

import duckdb
import numpy as np
import pandas as pd
import pytest

from models_ml.features import FEATURE_COLUMNS, compute_features, compute_labels, snapshot_dates

AS_OF = date(2026, 2, 10)


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    """The relations the features read, in the warehouse's schemas, with two users."""
    c = duckdb.connect()
    for schema in ("intermediate", "staging", "marts"):
        c.execute(f"create schema {schema}")
    c.execute("""
        create table staging.stg_users as select * from (values
            ('u1', date '2026-01-01', 'pro'), ('u2', date '2026-02-01', 'free'),
            ('u3', date '2026-03-01', 'team')) t(user_id, signup_date, plan);
        create table intermediate.int_user_activity_days as select * from (values
            ('u1', '__all__', date '2026-02-10', 3), ('u1', '__all__', date '2026-02-05', 2),
            ('u1', '__all__', date '2026-01-20', 1), ('u1', 'cr_1', date '2026-02-10', 3),
            ('u2', '__all__', date '2026-02-02', 4)) t(user_id, creator_id, activity_date,
                                                       active_events);
        create table intermediate.int_sessions as select * from (values
            ('u1', date '2026-02-10', 600.0::double, true, 4),
            ('u1', date '2026-02-05', 300.0, false, 0))
            t(user_id, start_date, duration_s, is_conversation, user_messages);
        create table intermediate.int_exercise_attempts as select * from (values
            ('u1', date '2026-02-09', true), ('u1', date '2026-02-09', false),
            ('u1', date '2025-12-31', true)) t(user_id, attempt_date, is_correct);
        create table marts.goal_progress as select * from (values
            ('u1', date '2026-02-01', date '2026-02-08'), ('u1', date '2026-02-03', null::date))
            t(user_id, created_date, completed_on);
        create table staging.stg_payments as select * from (values
            ('u1', date '2026-02-04', 'charge', 10.0::double),
            ('u1', date '2026-02-06', 'refund', -10.0))
            t(user_id, paid_date, payment_kind, signed_amount);
    """)
    return c


def requests() -> pd.DataFrame:
    return pd.DataFrame({"user_id": ["u1", "u2", "u3"], "as_of_date": [AS_OF] * 3})


def test_known_feature_values(con):
    f = compute_features(con, requests()).set_index("user_id")
    assert list(f.index) == ["u1", "u2"]  # u3 signs up after the as-of date
    u1, u2 = f.loc["u1"], f.loc["u2"]
    assert u1.tenure_days == 40 and u1.days_since_last_active == 0
    assert (u1.active_days_7, u1.active_days_28, u1.active_days_total) == (2, 3, 3)
    assert (u1.events_7, u1.events_28) == (5, 6)
    assert u1.activity_trend == pytest.approx(2 / 7 - 3 / 28)
    assert (u1.sessions_28, u1.conversations_28) == (2, 1)
    assert u1.avg_session_minutes_28 == pytest.approx(7.5)
    assert (u1.attempts_28, u1.attempts_total) == (2, 3)
    assert u1.correct_rate_28 == pytest.approx(0.5)
    assert (u1.goals_created, u1.goals_completed) == (2, 1)
    assert (u1.charges_to_date, u1.days_since_last_charge) == (1, 6)
    assert (u1.plan_pro, u1.plan_team) == (1, 0)
    assert u2.days_since_last_active == 8 and u2.active_days_7 == 0
    assert pd.isna(u2.correct_rate_28)  # no attempt: no rate, not a sentinel
    assert pd.isna(u2.days_since_last_charge)  # never paid: null, not a sentinel
    # the engagement score (docs/metrics.md), by hand: frequency 3/14, volume 2/20,
    # depth (4 + 0 messages over 2 sessions) 2/6, recency 7/(7 + 0); u2: 1/14 and 7/(7 + 8)
    assert u1.engagement_score == pytest.approx(
        100 * (0.35 * 3 / 14 + 0.25 * 2 / 20 + 0.20 * 2 / 6 + 0.20 * 1.0))
    assert u2.engagement_score == pytest.approx(100 * (0.35 / 14 + 0.20 * 7 / 15))


def test_a_planted_future_row_in_every_source_changes_no_feature(con):
    before = compute_features(con, requests())
    con.execute("""
        insert into intermediate.int_user_activity_days values
            ('u1', '__all__', date '2026-02-11', 50), ('u2', '__all__', date '2026-02-12', 9);
        insert into intermediate.int_sessions values ('u1', date '2026-02-11', 9999.0, true, 60);
        insert into intermediate.int_exercise_attempts values ('u2', date '2026-02-11', true);
        insert into marts.goal_progress values ('u2', date '2026-02-11', date '2026-02-12');
        update marts.goal_progress set completed_on = date '2026-02-11'
            where completed_on is null;
        insert into staging.stg_payments values ('u2', date '2026-02-11', 'charge', 99.0);
    """)
    after = compute_features(con, requests())
    pd.testing.assert_frame_equal(before, after)
    assert set(FEATURE_COLUMNS) <= set(after.columns)
    # ...while the label, which looks after the as-of date, does see it
    labels = compute_labels(con, requests(), 14).set_index("user_id")
    assert bool(labels.loc["u1", "active_next"]) and bool(labels.loc["u2", "active_next"])


def test_snapshot_dates_end_on_the_as_of_date():
    got = snapshot_dates(pd.Timestamp("2026-01-01"), pd.Timestamp("2026-02-28"), 7, 14)
    assert got[-1] == pd.Timestamp("2026-02-28")
    assert got[0] >= pd.Timestamp("2026-01-15") and len(got) == 7
    assert all((b - a).days == 7 for a, b in pairwise(got))


def test_the_engagement_score_at_an_earlier_snapshot_ignores_later_events(con):
    """A user's score at 02-10 is the same whether or not the (heavy) activity of 02-11 to
    02-20 exists; the 02-20 snapshot sees it. Fails if any signal reads past its as-of."""
    early = pd.DataFrame({"user_id": ["u1"], "as_of_date": [AS_OF]})
    both = pd.DataFrame({"user_id": ["u1", "u1"], "as_of_date": [AS_OF, date(2026, 2, 20)]})
    before = compute_features(con, early).set_index("user_id").loc["u1", "engagement_score"]
    con.execute("""
        insert into intermediate.int_user_activity_days
            select 'u1', '__all__', date '2026-02-10' + cast(i as integer), 5
            from range(1, 11) t(i);
        insert into intermediate.int_sessions
            select 'u1', date '2026-02-10' + cast(i % 10 + 1 as integer), 60.0, true, 30
            from range(30) t(i);
    """)
    f = compute_features(con, both).set_index("as_of_date")["engagement_score"]
    assert f.loc[pd.Timestamp(AS_OF)] == pytest.approx(before)
    assert before == pytest.approx(100 * (0.35 * 3 / 14 + 0.25 * 2 / 20 + 0.20 * 2 / 6 + 0.20))
    # at 02-20: 12 active days in 28 (01-20 is out), 32 sessions and 904 / 32 messages
    # (both capped), active that day
    assert f.loc[pd.Timestamp("2026-02-20")] == pytest.approx(
        100 * (0.35 * 12 / 14 + 0.25 + 0.20 + 0.20))


@pytest.mark.slow
def test_the_feature_and_the_mart_agree_on_the_engagement_score(demo_warehouse):
    """The score is written twice (the mart's SQL for the as-of date, the feature builder's
    for every snapshot): on the demo warehouse both give the same score for every user, and
    ml.user_features carries it at every snapshot."""
    c = duckdb.connect(str(demo_warehouse), read_only=True)
    mart = c.execute("select user_id, as_of_date, engagement_score from marts.user_engagement").df()
    feats = compute_features(c, mart[["user_id", "as_of_date"]])
    both = mart.merge(feats[["user_id", "engagement_score"]], on="user_id",
                      suffixes=("_mart", "_feature"))
    assert len(mart) > 20 and len(both) == len(mart)
    assert np.allclose(both["engagement_score_mart"], both["engagement_score_feature"])
    stored = c.execute("select count(*), count(engagement_score), min(engagement_score), "
                       "max(engagement_score), count(distinct as_of_date) "
                       "from ml.user_features").fetchone()
    assert stored[0] == stored[1] > 0 and 0 <= stored[2] <= stored[3] <= 100
