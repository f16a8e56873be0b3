"""The dashboard's query builders and formats: pure parts on known inputs, and every
page's SQL on the demo's serving database against the marts queried directly."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from dashboard import formats
from dashboard import queries as q
from dashboard.data import ServingReader

FIRST, LAST = date(2026, 1, 1), date(2026, 2, 28)
CREATORS = {q.ALL_CREATORS, "cr_001"}


def test_filters_from_the_url_are_clamped_and_defaulted():
    f = q.parse_filters({}, FIRST, LAST, CREATORS)
    assert f == q.Filters(LAST - timedelta(days=q.DEFAULT_DAYS - 1), LAST, q.ALL_CREATORS,
                          "day")
    f = q.parse_filters({"start": "2025-12-01", "end": "2026-03-31", "creator": "cr_001",
                         "grain": "week"}, FIRST, LAST, CREATORS)
    assert f == q.Filters(FIRST, LAST, "cr_001", "week")
    bad = q.parse_filters({"start": "soon", "end": "2026-02-10", "creator": "nobody",
                           "grain": "hour"}, FIRST, LAST, CREATORS)
    assert bad == q.Filters(date(2026, 2, 10) - timedelta(days=27), date(2026, 2, 10),
                            q.ALL_CREATORS, "day")
    # a start after the end is pulled back to the end; the URL round-trips
    inverted = q.parse_filters({"start": "2026-02-20", "end": "2026-02-10"}, FIRST, LAST,
                               CREATORS)
    assert inverted.start == inverted.end == date(2026, 2, 10)
    assert q.parse_filters(q.to_params(f), FIRST, LAST, CREATORS) == f


def test_comparison_periods():
    f = q.Filters(date(2026, 2, 1), date(2026, 2, 28))
    assert q.previous_period(f) == q.Filters(date(2026, 1, 4), date(2026, 1, 31))
    day, week = q.same_weekday_last_week(f)
    assert (day.start, day.end, week.start, week.end) == (
        date(2026, 2, 28), date(2026, 2, 28), date(2026, 2, 21), date(2026, 2, 21))
    assert day.end.weekday() == week.end.weekday()


def test_durations_are_humanised():
    assert formats.duration(45) == "45 s" and formats.duration(720) == "12 min"
    assert formats.duration(3.5 * 3600) == "3.5 h" and formats.duration(2.1 * 86400) == \
        "2.1 d"
    assert formats.duration(None) == "n/a" and formats.duration(float("nan")) == "n/a"


def test_one_format_per_unit():
    assert formats.count(1234.4) == "1,234" and formats.count(12.5, 1) == "12.5"
    assert formats.count(0) == "0" and formats.count(None) == "n/a"
    assert formats.rate(0.1642) == "16.4 %" and formats.rate(0) == "0.0 %"
    assert formats.money(0, "EUR") == "0.00 EUR" and formats.money(1234.5, "USD") == \
        "1,234.50 USD"
    assert formats.change(110, 100) == "+10.0 %" and formats.change(5, 0) is None
    assert formats.value(10.44, "count") == "10.4" and formats.value(194.0, "count") == "194"
    assert formats.value(0.5, "rate") == "50.0 %" and formats.value(3, "EUR") == "3.00 EUR"
    assert formats.value(10210.0, "EUR") == "10,210 EUR"  # cards: no cents from 1,000 on


def test_every_page_has_queries_for_every_grain():
    f = q.Filters(date(2026, 2, 1), date(2026, 2, 28))
    for grain in q.GRAINS:
        for page, (_, builder) in q.PAGES.items():
            built = builder(q.Filters(f.start, f.end, f.creator, grain))
            assert built, page
            for name, query in built.items():
                assert query.name == name and "SELECT" in query.sql.upper()


@pytest.fixture(scope="module")
def serving(demo_run, tmp_path_factory) -> Path:
    data, result = demo_run
    assert result.exit_code == 0, result.output
    copy = tmp_path_factory.mktemp("dashboard_sql") / "serving.duckdb"
    shutil.copy(data / "serving.duckdb", copy)
    return copy


def test_every_query_runs_and_the_numbers_are_the_marts(serving):
    reader = ServingReader(serving)
    con = duckdb.connect(str(serving), read_only=True)
    [(first, last)] = reader.rows(q.bounds())
    creators = dict(reader.rows(q.creators()))
    assert creators and all(creators.values())  # names, not ids
    busiest = con.execute("SELECT creator_id FROM marts.engagement_daily WHERE creator_id "
                          "<> '__all__' GROUP BY 1 ORDER BY sum(dau) DESC LIMIT 1"
                          ).fetchone()[0]
    for creator in (q.ALL_CREATORS, busiest):
        for grain in q.GRAINS:
            f = q.Filters(first, last, creator, grain)  # type: ignore[arg-type]
            for _page, (_, builder) in q.PAGES.items():
                for query in builder(f).values():
                    reader.df(query)  # runs on the published schema
        f = q.Filters(last - timedelta(days=13), last, creator)
        head = {m: v for m, _, v in reader.rows(q.headline(f))}
        [(dau, sessions)] = con.execute(
            "SELECT avg(dau), sum(sessions) FROM marts.engagement_daily WHERE creator_id = ? "
            "AND date BETWEEN ? AND ?", [creator, f.start, f.end]).fetchall()
        assert head["mean DAU"] == pytest.approx(dau) and head["sessions"] == sessions
        # week grain: the weekly sums add up to the range's
        weekly = reader.df(q.engagement_trend(q.Filters(f.start, f.end, creator, "week")))
        assert weekly["sessions"].sum() == sessions
        # the drill: as many users behind each day as its DAU
        for day, day_dau in con.execute(
                "SELECT date, dau FROM marts.engagement_daily WHERE creator_id = ? "
                "AND date BETWEEN ? AND ?", [creator, f.start, f.end]).fetchall():
            assert reader.rows(q.active_users_count(f, day))[0][0] == day_dau
            assert len(reader.df(q.active_users(f, day, limit=10_000))) == day_dau
        # the conversations drill: as many sessions behind each day as its conversations
        for day, day_conversations in con.execute(
                "SELECT date, conversations FROM marts.conversation_daily "
                "WHERE creator_id = ? AND date BETWEEN ? AND ?",
                [creator, f.start, f.end]).fetchall():
            assert reader.rows(q.conversation_sessions_count(f, day))[0][0] == \
                day_conversations, (creator, day)
            assert len(reader.df(q.conversation_sessions(f, day, limit=10_000))) == \
                day_conversations
        # the funnel drill: as many users behind each step as marts.funnel_steps counts
        for funnel, step, users in con.execute(
                "SELECT funnel, step, users FROM marts.funnel_steps WHERE creator_id = ?",
                [creator]).fetchall():
            assert reader.rows(q.funnel_step_users_count(f, funnel, step))[0][0] == users
            assert len(reader.df(q.funnel_step_users(f, funnel, step, limit=10_000))) == \
                users
        # the users active in a range (user_spans) are user_days' distinct users
        for start in (first, f.start, f.end):
            g = q.Filters(start, f.end, creator)
            spans = {u for (u,) in reader.rows(q.Query("a", q._ACTIVE_USERS, g.params()))}
            days = {u for (u,) in con.execute(
                "SELECT DISTINCT user_id FROM dashboard.user_days WHERE creator_id = ? "
                "AND date BETWEEN ? AND ?", [creator, g.start, g.end]).fetchall()}
            assert spans == days and days, (creator, start)
        # an anomaly's day: the day's numbers are the marts'
        [(day, day_dau, day_sessions)] = con.execute(
            "SELECT date, dau, sessions FROM marts.engagement_daily WHERE creator_id = ? "
            "AND date = ?", [creator, f.end]).fetchall()
        the_day = reader.df(q.anomaly_day(f, day)).iloc[0]
        assert (the_day["dau"], the_day["sessions"]) == (day_dau, day_sessions)
        # the engagement-score drill: each band's users add up to the distribution
        for band, users, _ in reader.rows(q.engagement_scores(f)):
            assert len(reader.df(q.engagement_score_users(f, band, limit=10_000))) == users
    reader.close()
    con.close()


def test_the_reader_follows_a_republished_file(serving, tmp_path):
    """A publish renames a new file over the served one: the reader keeps answering and
    reads the new file on its next query."""
    path = tmp_path / "serving.duckdb"
    shutil.copy(serving, path)
    reader = ServingReader(path)
    before = reader.rows(q.Query("n", "SELECT count(*) FROM marts.creators"))[0][0]
    new = tmp_path / ".serving.new.tmp"
    shutil.copy(serving, new)
    with duckdb.connect(str(new)) as con:
        con.execute("DELETE FROM marts.creators WHERE creator_id IN "
                    "(SELECT creator_id FROM marts.creators ORDER BY 1 LIMIT 1)")
    new.replace(path)  # as serving.publish swaps the file in (os.replace)
    after = reader.rows(q.Query("n", "SELECT count(*) FROM marts.creators"))[0][0]
    assert after == before - 1
    reader.close()
