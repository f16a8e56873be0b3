"""The dashboard in a real browser: `insights dashboard`'s server (Streamlit) on a free
port over a copy of the demo's serving database, driven by headless Chromium (Debian's,
over the DevTools protocol). Every page loads without a console error or an app error
and is screenshotted; the creator and date filters (set through the URL, which also sets
the sidebar's widgets) change the numbers shown to the marts' values, queried here
independently of the dashboard's SQL.

The sections of issue 25 (agents and versions, system health, lesson quality, the
engagement score, business forecasts, model drift) show the marts' numbers for a chosen
creator and range; each drill (a day's DAU, a day's conversations, a funnel step, an
engagement-score band, an anomaly's day, a topic) shows as many rows as the number it
drills into (up to its limit) and that number equals the mart's.

Screenshots: tests/artifacts/dashboard/ (git-ignored), or $INSIGHTS_DASHBOARD_SHOTS.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import urlencode

import duckdb
import pytest

from dashboard import formats
from dashboard.queries import ALL_CREATORS, PAGES
from dashboard.server import start

SHOTS = Path(os.environ.get("INSIGHTS_DASHBOARD_SHOTS")
             or Path(__file__).parent / "artifacts" / "dashboard")

# the page's state once drawn: its header, the content height and the number of charts
# (null while Streamlit is still running the script or a chart is not drawn yet)
READY = """(() => {
  const h = document.querySelector('[data-testid="stMain"] h2');
  if (!h) return null;
  if (document.querySelector('[data-testid="stStatusWidgetRunningIcon"], '
      + '[data-testid="stSkeleton"]')) return null;
  const m = document.querySelector('[data-testid="stMainBlockContainer"]');
  return [h.innerText, m ? m.scrollHeight : 0,
          document.querySelectorAll('.vega-embed').length,
          document.querySelectorAll('[data-testid="stMetricValue"]').length].join('|');
})()"""
METRICS = """JSON.stringify(Object.fromEntries([...document.querySelectorAll(
  '[data-testid="stMetric"]')].map(m => [
    m.querySelector('[data-testid="stMetricLabel"]').innerText.trim(),
    m.querySelector('[data-testid="stMetricValue"]').innerText.trim()])))"""
WIDGET = "document.querySelector('[data-testid=\"stSidebar\"] input[aria-label=\"{label}\"]').value"
CAPTIONS = """JSON.stringify([...document.querySelectorAll(
  '[data-testid="stMain"] [data-testid="stCaptionContainer"]')].map(e => e.innerText.trim()))"""
APP_ERRORS = """[...document.querySelectorAll('[data-testid="stException"], '
  + '[data-testid="stAlertContentError"]')].map(e => e.innerText).join(' / ')"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def serving(demo_run, tmp_path_factory) -> Path:
    """A private copy of the demo's serving database."""
    data, result = demo_run
    assert result.exit_code == 0, result.output
    copy = tmp_path_factory.mktemp("dashboard") / "serving.duckdb"
    shutil.copy(data / "serving.duckdb", copy)
    return copy


@pytest.fixture(scope="module")
def server(serving: Path, tmp_path_factory) -> Iterator[str]:
    """The dashboard on 127.0.0.1:<free port>; its base URL."""
    port = _free_port()
    log = tmp_path_factory.mktemp("dashboard_log") / "server.log"
    with log.open("wb") as out:
        proc = start(serving, port=port, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the dashboard did not start:\n" + log.read_text())
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from tests.cdp import Browser
    from tests.reliability.browser import require_chromium

    b = Browser(require_chromium(), tmp_path_factory.mktemp("chromium_profile"))
    try:
        yield b
    finally:
        b.close()


def _open(browser, base: str, page: str, **params: str) -> tuple[str, dict[str, str]]:
    """Load ``page`` with the filters ``params``; (its header, its metric cards)."""
    browser.goto(f"{base}/?{urlencode({'page': page, **params})}")
    state = browser.wait_for(READY, timeout=90)
    header, height = state.split("|")[0], int(state.split("|")[1])
    assert not browser.js(APP_ERRORS), f"{page}: {browser.js(APP_ERRORS)}"
    import json

    return header, json.loads(browser.js(METRICS)) | {"_height": str(height)}


def _one(con: duckdb.DuckDBPyConnection, sql: str, params: list) -> float:
    return con.execute(sql, params).fetchone()[0]


def test_every_page_loads_filters_change_numbers_to_the_marts(serving, server, browser):
    con = duckdb.connect(str(serving), read_only=True)
    [(first, last)] = con.execute(
        "SELECT min(date), max(date) FROM marts.engagement_daily "
        "WHERE creator_id = '__all__'").fetchall()
    creators = dict(con.execute(
        "SELECT c.creator_id, c.name FROM marts.creators AS c WHERE c.creator_id IN "
        "(SELECT creator_id FROM marts.engagement_daily GROUP BY 1 HAVING sum(dau) > 0) "
        "ORDER BY 1").fetchall())
    assert len(creators) >= 2
    (a, name_a), (b, name_b) = list(creators.items())[:2]
    whole = {"start": first.isoformat(), "end": last.isoformat()}
    late = {"start": (last - timedelta(days=2)).isoformat(), "end": last.isoformat()}

    # every page, all creators, the whole range: loads, no error, a screenshot
    SHOTS.mkdir(parents=True, exist_ok=True)
    for page, (title, _) in PAGES.items():
        header, metrics = _open(browser, server, page, creator=ALL_CREATORS, **whole)
        assert header.startswith(title), (page, header)
        browser.screenshot(SHOTS / f"{page}.png", int(metrics["_height"]) + 200)
    print(f"\ndashboard screenshots: {SHOTS}")

    def expected(creator: str, start: str, end: str) -> dict[str, str]:
        where = "creator_id = ? AND date BETWEEN ? AND ?"
        args = [creator, start, end]
        return {
            "mean DAU": formats.value(_one(con, "SELECT avg(dau) FROM "
                                           f"marts.engagement_daily WHERE {where}", args),
                                      "count"),
            "sessions": formats.value(_one(con, "SELECT sum(sessions) FROM "
                                           f"marts.engagement_daily WHERE {where}", args),
                                      "count"),
            "conversations": formats.value(_one(
                con, f"SELECT sum(conversations) FROM marts.conversation_daily WHERE {where}",
                args), "count"),
        }

    # the overview's headline numbers follow the creator and the dates
    seen = []
    for creator, name, span in ((ALL_CREATORS, "All creators", whole), (a, name_a, whole),
                                (a, name_a, late), (b, name_b, late)):
        header, metrics = _open(browser, server, "overview", creator=creator, **span)
        assert header == f"Overview: {name}"
        want = expected(creator, span["start"], span["end"])
        assert {k: metrics[k] for k in want} == want, (creator, span)
        # the sidebar's widgets show what the URL asked for
        assert browser.js(WIDGET.format(label="Creator")) == name
        seen.append(tuple(want.values()))
    assert len(set(seen)) == len(seen)  # each filter change changed the numbers

    # the drill: the users behind a day's DAU are as many as the DAU
    day = last - timedelta(days=1)
    _, metrics = _open(browser, server, "engagement", creator=a, day=day.isoformat(),
                       **whole)
    dau = _one(con, "SELECT dau FROM marts.engagement_daily WHERE creator_id = ? AND date = ?",
               [a, day])
    assert metrics[f"Active users on {day}"] == formats.count(dau)

    # learning: a topic's learners for the creator
    topic, learners = con.execute(
        "SELECT topic, count(DISTINCT user_id) FROM marts.topic_mastery WHERE creator_id = ? "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1", [b]).fetchone()
    _, metrics = _open(browser, server, "learning", creator=b, topic=topic, **whole)
    assert metrics[f"Learners of {topic}"] == formats.count(learners)

    # the revenue page's totals per currency for one creator and range
    _, metrics = _open(browser, server, "revenue", creator=a, **late)
    for currency, total in con.execute(
            "SELECT currency, sum(net_revenue) FROM marts.revenue_daily WHERE creator_id = ? "
            "AND date BETWEEN ? AND ? GROUP BY 1", [a, late["start"], late["end"]]).fetchall():
        assert metrics[f"net revenue ({currency})"] == formats.money(total, currency)

    browser.pump(1.0)
    assert browser.errors == [], browser.errors
    con.close()
    assert date.fromisoformat(whole["end"]) == last


DRILL_LIMIT = 500  # the drill queries' row limit (dashboard.queries)


def _shown(browser, what: str, total: int) -> None:
    """The drill's caption says it shows every row behind ``total`` (up to the limit)."""
    import json

    captions = json.loads(browser.js(CAPTIONS))
    want = f"{formats.count(min(total, DRILL_LIMIT))} of {formats.count(total)} {what} shown"
    assert any(c.startswith(want) for c in captions), (want, captions)


def test_new_sections_and_drills_show_the_marts_rows(serving, server, browser):
    con = duckdb.connect(str(serving), read_only=True)
    [(first, last)] = con.execute(
        "SELECT min(date), max(date) FROM marts.engagement_daily "
        "WHERE creator_id = '__all__'").fetchall()
    # the creator with the most conversations, and its busiest conversation day
    creator, day, conversations = con.execute(
        "SELECT creator_id, date, conversations FROM marts.conversation_daily "
        "WHERE creator_id <> '__all__' ORDER BY conversations DESC, creator_id, date "
        "LIMIT 1").fetchone()
    whole = {"start": first.isoformat(), "end": last.isoformat()}
    SHOTS.mkdir(parents=True, exist_ok=True)

    # conversations: the day's conversations drill into its sessions; agents and system
    # health are the marts' numbers for the creator and range
    _, metrics = _open(browser, server, "conversations", creator=creator,
                       day=day.isoformat(), **whole)
    assert metrics[f"Conversations on {day}"] == formats.count(conversations)
    _shown(browser, "sessions", conversations)
    calls, errors = con.execute(
        "SELECT sum(calls), sum(error_calls) FROM marts.api_health_daily WHERE creator_id = ? "
        "AND endpoint = '__all__' AND date BETWEEN ? AND ?", [creator, first, last]
    ).fetchone()
    assert metrics["API calls"] == formats.count(calls)
    assert metrics["API error rate"] == formats.rate(errors / calls if calls else None)
    ratings, satisfied = con.execute(
        "SELECT sum(ratings), sum(csat * ratings) FROM marts.agent_daily "
        "WHERE creator_id = ? AND date BETWEEN ? AND ?", [creator, first, last]).fetchone()
    assert metrics["rated sessions"] == formats.count(ratings)
    assert metrics["CSAT (all agents)"] == formats.rate(satisfied / ratings if ratings
                                                        else None)
    browser.screenshot(SHOTS / "drill_conversations.png", int(metrics["_height"]) + 200)

    # funnels: a step's users (the last step of the first funnel) are the mart's
    funnel, step, step_name, users = con.execute(
        "SELECT funnel, step, step_name, users FROM marts.funnel_steps WHERE creator_id = ? "
        "AND funnel = (SELECT min(funnel) FROM marts.funnel_steps) AND users > 0 "
        "ORDER BY step DESC LIMIT 1", [creator]).fetchone()
    _, metrics = _open(browser, server, "funnels", creator=creator, funnel=funnel,
                       step=str(step), **whole)
    assert metrics[f"Users who reached {step}. {step_name}"] == formats.count(users)
    _shown(browser, "users", users)
    browser.screenshot(SHOTS / "drill_funnels.png", int(metrics["_height"]) + 200)

    # engagement: the score band's users, counted from marts.user_engagement
    active = ("SELECT DISTINCT user_id FROM dashboard.user_days WHERE creator_id = ? "
              "AND date BETWEEN ? AND ?")
    band, band_users = con.execute(
        "SELECT least(CAST(floor(engagement_score / 10) AS INTEGER) * 10, 90) AS band, "
        f"count(*) FROM marts.user_engagement WHERE user_id IN ({active}) "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1", [creator, first, last]).fetchone()
    label = f"{band}-{band + 9 if band < 90 else 100}"
    _, metrics = _open(browser, server, "engagement", creator=creator, band=str(band),
                       day=day.isoformat(), **whole)
    assert metrics[f"Users scoring {label}"] == formats.count(band_users)
    dau = _one(con, "SELECT dau FROM marts.engagement_daily WHERE creator_id = ? AND date = ?",
               [creator, day])
    assert metrics[f"Active users on {day}"] == formats.count(dau)
    _shown(browser, "users", dau)

    # learning: lesson quality of the creator's range
    done, quality = con.execute(
        "SELECT sum(lessons_completed), sum(mean_quality * lessons_completed) "
        "/ sum(lessons_completed) FROM marts.lesson_quality_daily WHERE creator_id = ? "
        "AND topic = '__all__' AND date BETWEEN ? AND ?", [creator, first, last]).fetchone()
    _, metrics = _open(browser, server, "learning", creator=creator, **whole)
    if done:
        assert metrics["rated lesson completions"] == formats.count(done)
        assert metrics["mean lesson quality"] == formats.count(quality, 2)

    # anomalies: an anomaly drills into its day's numbers and users
    found = con.execute(
        "SELECT creator_id, CAST(date AS DATE) FROM ml.metric_anomalies "
        "ORDER BY creator_id = '__all__' DESC, date DESC LIMIT 1").fetchone()
    if found:
        who, when = found
        _, metrics = _open(browser, server, "anomalies", creator=who, day=when.isoformat(),
                           **whole)
        dau = _one(con, "SELECT dau FROM marts.engagement_daily WHERE creator_id = ? "
                   "AND date = ?", [who, when])
        assert metrics[f"DAU on {when}"] == formats.count(dau)
        _shown(browser, "users", dau)
        browser.screenshot(SHOTS / "drill_anomalies.png", int(metrics["_height"]) + 200)

    # data quality: model drift from ml.model_drift
    drift = con.execute("SELECT count(*), count(*) FILTER (WHERE status IN "
                        "('moderate', 'significant')) FROM ml.model_drift").fetchone()
    _, metrics = _open(browser, server, "data_quality", **whole)
    if drift[0]:
        assert metrics["drift measurements"] == formats.count(drift[0])
        assert metrics["moderate or significant drift"] == formats.count(drift[1])

    browser.pump(1.0)
    assert browser.errors == [], browser.errors
    con.close()
