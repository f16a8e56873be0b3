"""Day-by-day behaviour: who is active, their conversations, lessons, exercises and goals.

:class:`Simulator` keeps per-user state across days (churn, habit, streaks, a latent
BKT knowledge state per user and topic, open goals, enrollment progress) and turns one
day into a :class:`~sample_exports.frame.Frame` of events, built column-wise with numpy
(no Python loop per event or per session; the only loops run over turn or exercise
*positions*, at most a dozen per day).

Behaviour that the marts and models downstream should find:

* weekly seasonality, a habit effect (active yesterday makes today likelier), engagement
  decaying with account age, churn (more likely after a bad conversation), rare comebacks;
* conversations: intents with a per-agent fallback share and low-confidence
  classifications, workflows calling APIs that sometimes fail, drop-offs that depend on
  the last intent, escalations to a human, ratings that follow the experience;
* learning: P(correct) follows a BKT process per user and topic (true per-topic guess,
  slip and learn probabilities, per-user learning speed), so mastery rises with practice;
* goals created after lessons and completed when their measure reaches the target.
"""

from __future__ import annotations

import numpy as np

from sample_exports import frame as fr
from sample_exports import vocab
from sample_exports.frame import Frame
from sample_exports.util import (
    DAY_MS,
    STREAM_SIM,
    categorical,
    position_in_segment,
    rng,
    segment_cumsum,
    segment_starts,
)
from sample_exports.world import STREAM_BOTS, WEEKDAY_ACTIVITY, World, local_time_to_utc_ms

ET = vocab.ET
# Standard BKT parameters (the metric's defaults): the "observer" estimate used for
# mastery goals, as the marts will compute it.
OBS_INIT, OBS_TRANSIT, OBS_GUESS, OBS_SLIP = 0.2, 0.15, 0.2, 0.1

_INTENT_WEIGHTS = np.array([i.weight for i in vocab.INTENTS])
_INTENT_DROPOFF = np.array([i.dropoff for i in vocab.INTENTS])
_INTENT_NEGATIVE = np.array([i.negative for i in vocab.INTENTS])
_INTENT_WORKFLOW = np.array(
    [vocab.WORKFLOW_CODE[i.workflow] if i.workflow else -1 for i in vocab.INTENTS]
)
_INTENT_N_ENT = np.array([len(i.entities) for i in vocab.INTENTS])
_INTENT_ENT = np.array(
    [[vocab.ENTITY_CODE[e] for e in i.entities] + [-1] * (2 - len(i.entities))
     for i in vocab.INTENTS]
)
_ENT_BASE = np.array([vocab.ENTITY_VALUE_BASE[e] for e in vocab.ENTITIES])
_ENT_N = np.array([len(vocab.ENTITY_VALUES[e]) for e in vocab.ENTITIES])
_WF_N_API = np.array([len(vocab.ENDPOINTS[w]) for w in vocab.WORKFLOWS])
_WF_ENDPOINT = np.array(
    [[vocab.ENDPOINT_CODE[e] for e in vocab.ENDPOINTS[w]] + [-1] * (2 - len(vocab.ENDPOINTS[w]))
     for w in vocab.WORKFLOWS]
)
_ENDPOINT_CREATES = np.array(
    [e.endswith(("bookings", "tickets", "generate")) for e in vocab.ENDPOINT_LIST]
)
_COUNTRY_OFFSET = np.array([c.offset_minutes for c in vocab.COUNTRIES])
_COUNTRY_WEIGHT = np.array([c.weight for c in vocab.COUNTRIES])
_COMMENT_TABLE = np.array(
    [list(vocab.COMMENTS_BY_RATING[r]) + [vocab.COMMENTS_BY_RATING[r][-1]]
     * (3 - len(vocab.COMMENTS_BY_RATING[r])) for r in range(1, 6)]
)
I_GREETING = vocab.INTENT_CODE["greeting"]
I_FALLBACK = vocab.INTENT_CODE["fallback"]
I_BILLING = vocab.INTENT_CODE["billing_question"]
I_CANCEL = vocab.INTENT_CODE["cancel_subscription"]
POS, NEU, NEG = 0, 1, 2
WEB, MOBILE, VOICE = 0, 1, 2  # channels
P_IOS, P_ANDROID, P_WEB = 0, 1, 2  # platforms
#: share of users whose events carry a device id (anonymous_id) and who browse signed out
#: before signing up (:meth:`Simulator._identities`)
DEVICE_SHARE = 0.3


def _device_user(user: np.ndarray) -> np.ndarray:
    """Whether each user (index) is of the device share: a fixed hash, no random draw."""
    with np.errstate(over="ignore"):
        h = (np.asarray(user, dtype=np.uint64) * np.uint64(2654435761)) % np.uint64(1000)
    return h < np.uint64(int(DEVICE_SHARE * 1000))


_SESSION_COLUMNS = ("sess", "skind", "user", "creator", "agent", "program", "channel",
                    "platform", "country", "tsfmt", "export_t")


class Sessions:
    """Column arrays describing sessions of one kind (all of equal length)."""

    def __init__(self, **cols: np.ndarray) -> None:
        self.cols = cols

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name]

    def __len__(self) -> int:
        return len(self.cols["start"])

    def rows(self, si: np.ndarray, etype: int | np.ndarray, ts: np.ndarray, **cols) -> Frame:
        """Events of the sessions at positions ``si`` with the sessions' shared columns."""
        base = {name: self.cols[name][si] for name in _SESSION_COLUMNS}
        if "agent_version" in self.cols:  # conversation sessions carry their agent's version
            base["agent_version"] = self.cols["agent_version"][si]
        base["etype"] = etype
        base["ts"] = ts
        base.update(cols)
        return fr.make(len(si), base)


class Simulator:
    """Simulates the world's users day by day; ``day(t)`` gives that day's events."""

    def __init__(self, world: World) -> None:
        self.w = world
        n = len(world.users)
        k = len(vocab.TOPICS)
        self.churned = np.zeros(n, dtype=bool)
        self.last_active = np.full(n, -10_000, dtype=np.int32)
        self.run = np.zeros(n, dtype=np.int32)
        self.sessions_total = np.zeros(n, dtype=np.int32)
        self.frustrated_until = np.full(n, -10_000, dtype=np.int32)
        self.knows = np.zeros((n, k), dtype=bool)
        self.mastery = np.full((n, k), OBS_INIT, dtype=np.float32)
        self.goal_open = np.zeros(n, dtype=bool)
        self.goal_id = np.full(n, -1, dtype=np.int32)
        self.goal_type = np.zeros(n, dtype=np.int8)
        self.goal_target = np.zeros(n, dtype=np.float64)
        self.goal_topic = np.full(n, -1, dtype=np.int16)
        self.goal_created_t = np.zeros(n, dtype=np.int32)
        self.goal_base = np.zeros(n, dtype=np.int32)
        self.next_goal = 0
        self.next_session = 0
        self.next_event = 0
        e = world.enrollments
        self.enr_signup_t = np.floor(
            (world.users.signup_ms[e.user] - world.timeline.start_ms) / DAY_MS
        ).astype(np.int32)
        self._warm_start()

    def _warm_start(self) -> None:
        """Progress made before the simulation starts: lessons done, enrollments completed,
        topics already known (users who signed up weeks ago are not beginners)."""
        w = self.w
        e, u, p = w.enrollments, w.users, w.programs
        gen = rng(w.seed, STREAM_SIM, 7)
        t0_ms = w.timeline.day_ms(-w.timeline.warmup_days)
        old = np.flatnonzero(e.enrolled_ms < t0_ms)
        if not len(old):
            return
        user = e.user[old]
        days = (t0_ms - e.enrolled_ms[old]) / DAY_MS
        age = np.maximum(0.0, (t0_ms - u.signup_ms[user]) / DAY_MS)
        rate = u.p0[user] * u.learn_share[user] * 0.6 * np.exp(-0.5 * age / u.tau_days[user])
        stop = np.where(e.cancelled_ms[old] >= 0, e.cancelled_ms[old], t0_ms)
        days = np.minimum(days, np.maximum(0.0, (stop - e.enrolled_ms[old]) / DAY_MS))
        lessons = gen.poisson(rate * days)
        n_less = p.n_lessons[e.program[old]].astype(np.int64)
        finished = lessons >= n_less
        e.lessons_done[old] = np.minimum(lessons, n_less)
        took = n_less / np.maximum(rate, 1e-6) * gen.uniform(0.8, 1.0, len(old))
        done_ms = e.enrolled_ms[old] + (took * DAY_MS).astype(np.int64)
        e.completed_ms[old[finished]] = np.minimum(done_ms[finished], t0_ms - 3_600_000)
        # practice so far: each lesson holds ~4 attempts on one of the program's topics
        prog = e.program[old]
        for k in range(p.topics.shape[1]):
            topic = p.topics[prog, k].astype(np.int64)
            has = topic >= 0
            share = np.where(has, e.lessons_done[old] / np.maximum(p.n_topics[prog], 1), 0)
            tr = np.clip(w.topic_transit[np.maximum(topic, 0)] * u.learn_rate[user], 0, 0.6)
            p_known = 1.0 - (1.0 - tr) ** (4.0 * share)
            learned = has & (gen.random(len(old)) < p_known)
            self.knows[user[learned], topic[learned]] = True

    # --- helpers -------------------------------------------------------------------

    def _current_enrollments(self, t: int) -> np.ndarray:
        """Per user, the enrollment their learning sessions use today (-1: none)."""
        w = self.w
        e = w.enrollments
        day0 = w.timeline.day_ms(t)
        usable = (
            ((e.enrolled_ms < day0) | (e.is_free & (self.enr_signup_t == t)))
            & (e.completed_ms < 0)
            & ((e.cancelled_ms < 0) | (e.cancelled_ms > day0))
        )
        n_enr = len(e)
        prio = np.arange(n_enr, dtype=np.int64) + np.where(e.is_free, 0, n_enr)
        best = np.full(len(w.users), -1, dtype=np.int64)
        np.maximum.at(best, e.user[usable], prio[usable])
        return np.where(best >= 0, best % max(n_enr, 1), -1)

    # --- conversations -------------------------------------------------------------

    def _conversations(self, gen: np.random.Generator, t: int, s: Sessions,
                       mood: np.ndarray) -> tuple[list[Frame], np.ndarray]:
        """Events of conversation sessions, and per session whether it went badly."""
        w = self.w
        n = len(s)
        voice = s["channel"] == VOICE
        n_turns = np.minimum(1 + gen.poisson(np.where(voice, 1.6, 2.6)), 12)
        nt = int(n_turns.sum())
        ts_ = np.repeat(np.arange(n), n_turns)
        pos = position_in_segment(n_turns)
        agent = s["agent"][ts_]
        incident = (s["creator"][ts_] == w.incident_creator) & (t == w.incident_t)
        v = voice[ts_]

        intent = categorical(gen, _INTENT_WEIGHTS, nt)
        intent = np.where((pos == 0) & (gen.random(nt) < 0.45), I_GREETING, intent)
        is_fb = gen.random(nt) < w.agents.fallback_rate[agent] + np.where(v, 0.05, 0.0)
        intent = np.where(is_fb, I_FALLBACK, intent)
        hard = gen.random(nt) < 0.12
        conf = np.where(is_fb, gen.beta(2.0, 3.5, nt),
                        np.where(hard, gen.beta(4.0, 2.2, nt), gen.beta(9.0, 1.2, nt)))
        conf = np.round(conf, 3)

        n_ent = _INTENT_N_ENT[intent]
        has_ent = (n_ent > 0) & (gen.random(nt) < 0.6)
        ent = _INTENT_ENT[intent, gen.integers(0, 1 << 20, nt) % np.maximum(n_ent, 1)]
        ent_value = np.where(has_ent, _ENT_BASE[ent] + gen.integers(0, 1 << 20, nt)
                             % _ENT_N[ent], -1)

        wf = _INTENT_WORKFLOW[intent]
        has_wf = (wf >= 0) & (gen.random(nt) < 0.75)
        wf_turns = np.flatnonzero(has_wf)
        n_api = _WF_N_API[wf[wf_turns]]
        api_turn = np.repeat(wf_turns, n_api)
        api_k = position_in_segment(n_api)
        na = len(api_turn)
        endpoint = _WF_ENDPOINT[wf[api_turn], api_k]
        r = gen.random(na)
        p5 = np.where(incident[api_turn], 0.35, 0.02)
        status = np.where(_ENDPOINT_CREATES[endpoint], 201, 200)
        status = np.where(r < p5 + 0.035, np.where(gen.random(na) < 0.5, 400, 404), status)
        status = np.where(r < p5 + 0.01, 429, status)
        status = np.where(r < p5, np.array([500, 503, 504])[gen.integers(0, 3, na)], status)
        latency = gen.lognormal(np.log(160.0), 0.6, na) * np.where(incident[api_turn], 4.0, 1.0)
        latency = np.where(status == 504, 5000 + gen.integers(0, 800, na), latency)
        latency = latency.astype(np.int64) + 5
        turn_lat = np.bincount(api_turn, latency, minlength=nt).astype(np.int64)
        bad = (status >= 500) | (status == 429)
        turn_bad = np.bincount(api_turn, bad, minlength=nt) > 0
        turn_4xx = np.bincount(api_turn, (status >= 400) & ~bad, minlength=nt) > 0
        rf = gen.random(nt)
        wf_failed = has_wf & ((turn_bad & (rf < 0.9)) | (turn_4xx & (rf < 0.5)) | (rf < 0.04))

        rt_med = w.agents.rt_median_ms[agent] * np.where(v, 1.5, 1.0) * np.where(incident, 3, 1)
        rt = gen.lognormal(np.log(rt_med), 0.45).astype(np.int64) + turn_lat + has_wf * 40
        rt = np.maximum(rt, 250 + turn_lat)
        gap = gen.lognormal(np.log(22_000.0), 0.8, nt).astype(np.int64)
        t0 = s["start"][ts_] + 1500 + segment_cumsum(rt + gap, n_turns)
        t_ic = t0 + gen.integers(40, 200, nt)
        t_ws = t_ic + 15
        api_end = t_ws[api_turn] + 5 + segment_cumsum(latency, n_api) + latency
        t_wf_end = t_ws + 5 + turn_lat + 3
        t_br = t0 + rt

        m = mood[ts_]
        worse = w.agent_version_worse(s["agent"], s["agent_version"])  # per session
        neg = np.clip(_INTENT_NEGATIVE[intent] - 0.06 * m + 0.08 * worse[ts_], 0.01, 0.9)
        posp = np.clip(0.32 + 0.06 * m - neg / 2, 0.02, 0.9)
        rs = gen.random(nt)
        sentiment = np.where(rs < neg, NEG, np.where(rs < neg + posp, POS, NEU))
        um_len = np.clip(gen.lognormal(np.log(42.0), 0.8, nt) * np.where(v, 0.8, 1.0), 1, 4000)
        br_len = np.clip(gen.lognormal(np.log(160.0), 0.6, nt), 5, 4000)

        # session outcome
        last = segment_starts(n_turns) + n_turns - 1
        last_intent = intent[last]
        n_fb = np.bincount(ts_, is_fb, minlength=n)
        any_failed = np.bincount(ts_, wf_failed, minlength=n) > 0
        mean_rt = np.bincount(ts_, rt, minlength=n) / n_turns
        p_esc = (0.02 + 0.2 * (last_intent == I_FALLBACK) + 0.25 * any_failed
                 + 0.1 * np.isin(last_intent, (I_BILLING, I_CANCEL))
                 + 0.08 * (sentiment[last] == NEG))
        esc = gen.random(n) < p_esc
        p_drop = _INTENT_DROPOFF[last_intent] + 0.2 * wf_failed[last] + np.where(voice, 0.04, 0)
        dropped = ~esc & (gen.random(n) < p_drop)
        feedback = ~dropped & (gen.random(n) < 0.3)
        mu = (4.4 - 0.9 * (n_fb > 0) - 0.5 * (n_fb > 1) - 1.2 * any_failed - 0.7 * esc
              + 0.25 * mood - 0.5 * (mean_rt > 3000) - 0.6 * worse)
        rating = np.clip(np.rint(mu + gen.normal(0, 0.75, n)), 1, 5).astype(np.int64)
        comment = np.where(gen.random(n) < 0.45,
                           _COMMENT_TABLE[rating - 1, gen.integers(0, 3, n)], -1)
        fb_sent = np.where(rating >= 4, POS, np.where(rating == 3, NEU, NEG))
        t_last_br = t_br[last]
        t_fb = t_last_br + gen.integers(3_000, 20_000, n)
        t_end = np.where(feedback, t_fb, t_last_br) + gen.integers(500, 4_000, n)

        all_s = np.arange(n)
        frames = [
            s.rows(all_s, ET["conversation_start"], s["start"]),
            s.rows(ts_, ET["user_message"], t0, text_length=um_len.astype(np.int64),
                   sentiment=sentiment),
            s.rows(ts_, ET["intent_classified"], t_ic, intent=intent, confidence=conf),
        ]
        e_idx = np.flatnonzero(has_ent)
        frames.append(s.rows(ts_[e_idx], ET["entity_extracted"], t_ic[e_idx] + 5,
                             entity=ent[e_idx], entity_value=ent_value[e_idx]))
        frames.append(s.rows(ts_[wf_turns], ET["workflow_started"], t_ws[wf_turns],
                             workflow=wf[wf_turns]))
        frames.append(s.rows(ts_[api_turn], ET["api_call"], api_end, endpoint=endpoint,
                             status_code=status, latency_ms=latency))
        wf_outcome = np.where(wf_failed[wf_turns], ET["workflow_failed"], ET["workflow_completed"])
        frames.append(s.rows(ts_[wf_turns], wf_outcome, t_wf_end[wf_turns],
                             workflow=wf[wf_turns],
                             duration_ms=t_wf_end[wf_turns] - t_ws[wf_turns]))
        err_api = np.flatnonzero(bad & (gen.random(na) < 0.8))
        err_code = np.where(status[err_api] == 429, 2, np.where(status[err_api] == 504, 1, 0))
        frames.append(s.rows(ts_[api_turn[err_api]], ET["error"], api_end[err_api] + 1,
                             error_code=err_code))
        err_turn = np.flatnonzero(gen.random(nt) < 0.004)
        frames.append(s.rows(ts_[err_turn], ET["error"], t_ic[err_turn] + 2,
                             error_code=3 + gen.integers(0, 2, len(err_turn))))
        br_esc = np.full(nt, -1, dtype=np.int8)
        br_esc[last[esc]] = 1
        frames.append(s.rows(ts_, ET["bot_response"], t_br, text_length=br_len.astype(np.int64),
                             response_time_ms=rt, escalated=br_esc))
        f_idx = np.flatnonzero(feedback)
        frames.append(s.rows(f_idx, ET["user_feedback"], t_fb[f_idx], rating=rating[f_idx],
                             comment=comment[f_idx], sentiment=fb_sent[f_idx]))
        end_idx = np.flatnonzero(~dropped)
        frames.append(s.rows(end_idx, ET["conversation_end"], t_end[end_idx],
                             duration_ms=t_end[end_idx] - s["start"][end_idx],
                             escalated=esc[end_idx].astype(np.int8)))
        # a few custom and not-yet-contracted event types from newer clients
        mobile = s["platform"] != P_WEB
        c_idx = np.flatnonzero(mobile & (gen.random(n) < 0.03))
        frames.append(s.rows(c_idx, ET["custom"], s["start"][c_idx] + 300,
                             custom=gen.integers(0, len(vocab.CUSTOM_NAMES), len(c_idx))))
        pv = np.flatnonzero(~mobile & (gen.random(n) < 0.015))
        frames.append(s.rows(pv, ET["page_view_v2"], s["start"][pv] - 800))
        no = np.flatnonzero(mobile & (gen.random(n) < 0.008))
        frames.append(s.rows(no, ET["notification_opened"], s["start"][no] - 2000))

        bad_session = (feedback & (rating <= 2)) | (dropped & (last_intent == I_FALLBACK)) | (
            esc & any_failed)
        return frames, bad_session

    # --- learning ------------------------------------------------------------------

    def _learning(self, gen: np.random.Generator, s: Sessions,
                  enr: np.ndarray) -> tuple[list[Frame], np.ndarray, np.ndarray]:
        """Events of learning sessions; returns frames, session end times and topics."""
        w = self.w
        e, p = w.enrollments, w.programs
        n = len(s)
        user = s["user"]
        prog = e.program[enr]
        lesson_no = e.lessons_done[enr] + 1
        n_less = p.n_lessons[prog].astype(np.int64)
        topic = p.topics[prog, (lesson_no - 1) % p.n_topics[prog]].astype(np.int64)
        level = np.minimum(2, (lesson_no - 1) * 3 // n_less)
        n_ex = np.clip(1 + gen.poisson(3.0, n), 1, 10)
        ne = int(n_ex.sum())
        ex_s = np.repeat(np.arange(n), n_ex)
        starts = segment_starts(n_ex)
        correct = np.zeros(ne, dtype=bool)
        transit = np.clip(w.topic_transit[topic] * w.users.learn_rate[user], 0.0, 0.6)
        for j in range(int(n_ex.max(initial=0))):
            sel = np.flatnonzero(n_ex > j)
            u, tp = user[sel], topic[sel]
            known = self.knows[u, tp]
            p_correct = np.where(known, 1.0 - w.topic_slip[tp], w.topic_guess[tp])
            c = gen.random(len(sel)) < p_correct
            correct[starts[sel] + j] = c
            m = self.mastery[u, tp].astype(np.float64)
            post = np.where(
                c,
                m * (1 - OBS_SLIP) / (m * (1 - OBS_SLIP) + (1 - m) * OBS_GUESS),
                m * OBS_SLIP / (m * OBS_SLIP + (1 - m) * (1 - OBS_GUESS)),
            )
            self.mastery[u, tp] = post + (1 - post) * OBS_TRANSIT
            learn = ~known & (gen.random(len(sel)) < transit[sel])
            self.knows[u[learn], tp[learn]] = True
        ex_level = np.clip(level[ex_s] + (gen.random(ne) < 0.2) - (gen.random(ne) < 0.2), 0, 2)
        skill = topic[ex_s] * len(vocab.SKILL_LEVELS) + ex_level
        quality = np.round(np.where(correct, gen.beta(8, 2, ne), gen.beta(2, 6, ne)), 3)
        ex_dur = gen.lognormal(np.log(35_000.0), 0.5, ne).astype(np.int64)
        ex_ts = s["start"][ex_s] + 15_000 + segment_cumsum(ex_dur, n_ex) + ex_dur
        frac = np.bincount(ex_s, correct, minlength=n) / n_ex
        p_done = 0.4 + 0.5 * frac - 0.25 * p.difficulty[prog] + 0.1 * w.users.p0[user]
        done = gen.random(n) < np.clip(p_done, 0.05, 0.97)
        last_ex = ex_ts[starts + n_ex - 1]
        t_done = last_ex + gen.integers(5_000, 40_000, n)
        l_quality = np.round(np.clip(0.25 + 0.7 * frac + gen.normal(0, 0.08, n), 0, 1), 3)
        l_sent = np.where(l_quality > 0.7, POS, np.where(l_quality < 0.35, NEG, NEU))

        all_s = np.arange(n)
        frames = [
            s.rows(all_s, ET["lesson_started"], s["start"], topic=topic, lesson_no=lesson_no),
            s.rows(ex_s, ET["exercise_attempted"], ex_ts, topic=topic[ex_s], skill=skill,
                   correct=correct.astype(np.int8), quality=quality, duration_ms=ex_dur),
        ]
        d = np.flatnonzero(done)
        frames.append(s.rows(d, ET["lesson_completed"], t_done[d], topic=topic[d],
                             lesson_no=lesson_no[d], quality=l_quality[d], sentiment=l_sent[d],
                             duration_ms=t_done[d] - s["start"][d]))
        free = e.is_free[enr]
        pw = np.flatnonzero(free & (gen.random(n) < 0.01))
        frames.append(s.rows(pw, ET["paywall_shown"], np.where(done, t_done, last_ex)[pw] + 900))

        # progress of the enrollments
        e.lessons_done[enr[d]] += 1
        finished = d[e.lessons_done[enr[d]] >= n_less[d]]
        e.completed_ms[enr[finished]] = t_done[finished]
        end = np.where(done, t_done, last_ex)
        return frames, end, topic

    # --- goals ---------------------------------------------------------------------

    def _goals_created(self, gen: np.random.Generator, t: int, s: Sessions, end: np.ndarray,
                       topic: np.ndarray) -> Frame:
        u = s["user"]
        age = (self.w.timeline.day_ms(t) - self.w.users.signup_ms[u]) / DAY_MS
        create = ~self.goal_open[u] & (gen.random(len(s)) < np.where(age < 7, 0.45, 0.06))
        c = np.flatnonzero(create)
        uc = u[c]
        gtype = categorical(gen, np.array([0.3, 0.35, 0.2, 0.15]), len(c))
        k = gen.integers(0, 4, len(c))
        target = np.select(
            [gtype == 0, gtype == 1, gtype == 2],
            [np.array([3, 5, 7, 14])[k], np.array([3, 5, 10, 20])[k],
             np.array([0.8, 0.9, 0.95, 0.9])[k]],
            1.0,
        ).astype(np.float64)
        gid = self.next_goal + np.arange(len(c))
        self.next_goal += len(c)
        self.goal_open[uc] = True
        self.goal_id[uc] = gid
        self.goal_type[uc] = gtype
        self.goal_target[uc] = target
        self.goal_topic[uc] = np.where(gtype == 2, topic[c], -1)
        self.goal_created_t[uc] = t
        return s.rows(c, ET["goal_created"], end[c] + 3_000, goal=gid, goal_type=gtype,
                      target_value=target, topic=np.where(gtype == 2, topic[c], -1))

    def _goals_completed(self, gen: np.random.Generator, t: int, frames: list[Frame]) -> Frame:
        """goal_completed events for open goals whose measure reached the target today."""
        day = {k: np.concatenate([f[k] for f in frames]) for k in (*_SESSION_COLUMNS, "ts")}
        user = day["user"]
        known = user >= 0
        known[known] = self.goal_open[user[known]]
        if not known.any():
            return fr.make(0)
        idx = np.flatnonzero(known)
        order = idx[np.lexsort((day["ts"][idx], day["user"][idx]))]
        users_sorted = day["user"][order]
        last_pos = np.flatnonzero(np.r_[users_sorted[1:] != users_sorted[:-1], True])
        last_row = order[last_pos]
        u = day["user"][last_row]
        has = self.goal_open[u]
        gtype = self.goal_type[u]
        target = self.goal_target[u]
        topic = np.maximum(self.goal_topic[u], 0)
        reached = np.select(
            [gtype == 0, gtype == 1, gtype == 2],
            [self.run[u] >= target,
             self.sessions_total[u] - self.goal_base[u] >= target,
             self.mastery[u, topic] >= target],
            (gen.random(len(u)) < 0.08) & (self.goal_created_t[u] < t),
        )
        done = np.flatnonzero(has & reached)
        rows = last_row[done]
        ud = u[done]
        out = {k: v[rows] for k, v in day.items()}
        n = len(rows)
        out = fr.make(n, {
            **{k: out[k] for k in _SESSION_COLUMNS},
            "etype": ET["goal_completed"],
            "ts": out["ts"] + 2_000,
            "goal": self.goal_id[ud],
            "goal_type": self.goal_type[ud],
            "target_value": self.goal_target[ud],
        })
        self.goal_open[ud] = False
        return out

    # --- one day -------------------------------------------------------------------

    def _bots(self, t: int, n_su: int) -> np.ndarray:
        """The users of a planted bot burst on day ``t`` (none on other days): a share of
        the users signed up by then, from the planted incidents' own random stream."""
        planted = self.w.planted
        if planted.bot_day is None or t != planted.bot_day:
            return np.zeros(0, dtype=np.int64)
        k = round(planted.bot_share * n_su)
        return np.sort(rng(self.w.seed, STREAM_BOTS).choice(n_su, size=k, replace=False))

    def day(self, t: int) -> Frame:
        """All events of sessions that start on day ``t``, sorted by time, with event ids."""
        w = self.w
        u = w.users
        tl = w.timeline
        gen = rng(w.seed, STREAM_SIM, t + 1_000)
        day0 = tl.day_ms(t)
        day_end = day0 + DAY_MS
        n_su = int(np.searchsorted(u.signup_ms, day_end, side="left"))
        idx = np.arange(n_su)
        new_today = u.signup_ms[:n_su] >= day0
        age = np.maximum(0.0, (day0 - u.signup_ms[:n_su]) / DAY_MS)
        since = t - self.last_active[:n_su]
        habit = np.where(since == 1, 1.35, np.where(since > 14, 0.7, 0.9))
        frust = np.where(self.frustrated_until[:n_su] >= t, 0.8, 1.0)
        p = u.p0[:n_su] * np.exp(-age / u.tau_days[:n_su]) * habit * frust
        p = p * WEEKDAY_ACTIVITY[tl.weekday(t)]
        p = np.where(new_today, 0.92, np.clip(p, 0.0, 0.95))
        active = ~self.churned[:n_su] & (gen.random(n_su) < p)
        bots = self._bots(t, n_su)
        active[bots] = True
        act = idx[active]

        n_sess = 1 + gen.poisson(0.15 + 0.5 * u.p0[act])
        if len(bots):  # automated traffic: the bots run factor x their sessions
            n_sess = np.where(np.isin(act, bots),
                              np.round(n_sess * w.planted.bot_factor).astype(n_sess.dtype),
                              n_sess)
        su = np.repeat(act, n_sess)
        ns = len(su)
        first = position_in_segment(n_sess) == 0
        offs = _COUNTRY_OFFSET[u.country[su]]
        start = local_time_to_utc_ms(gen, np.full(ns, day0), offs)
        signup = u.signup_ms[su]
        newu = new_today[su]
        start = np.where(
            newu,
            np.where(first, signup + 20_000 + gen.integers(0, 600_000, ns),
                     signup + (gen.random(ns) * (day_end - signup)).astype(np.int64)),
            start,
        )
        cur = self._current_enrollments(t)
        want = gen.random(ns) < np.where(newu & first, 0.6, u.learn_share[su])
        learn = want & (cur[su] >= 0)
        li = np.flatnonzero(learn)
        keep_first = np.zeros(ns, dtype=bool)
        if len(li):
            _, first_l = np.unique(su[li], return_index=True)
            keep_first[li[first_l]] = True
        learn = keep_first

        switch = gen.random(ns) < 0.15
        channel = np.where(switch, WEB, u.channel[su])
        platform = np.where(switch, P_WEB, u.platform[su])
        r = gen.random(ns)
        mobile = platform != P_WEB
        tsfmt = np.where(mobile, np.where(r < 0.22, 1, np.where(r < 0.23, 2, 0)),
                         np.where(r < 0.06, 2, np.where(r < 0.09, 1, 0)))
        tsfmt = np.where(channel == VOICE, 0, tsfmt)
        rl = gen.random(ns)
        lag = np.where(mobile & (channel == MOBILE) & (rl < 0.035),
                       np.minimum(7, gen.geometric(0.5, ns)), 0)
        lag = np.where(~mobile & (rl < 0.003), 1, lag)
        sess_no = self.next_session + np.arange(ns)
        self.next_session += ns
        creator = u.creator[su]
        agents = w.creator_agents
        agent_pick = gen.integers(0, 1 << 20, ns)
        n_ag = np.array([len(a) for a in agents])[creator]
        first_ag = np.array([a[0] for a in agents])[creator]
        agent = first_ag + agent_pick % n_ag

        def sessions(mask: np.ndarray, kind: int) -> Sessions:
            return Sessions(
                sess=sess_no[mask], skind=np.full(int(mask.sum()), kind), user=su[mask],
                creator=creator[mask], agent=agent[mask] if kind == 0 else
                np.full(int(mask.sum()), -1), program=np.full(int(mask.sum()), -1),
                channel=channel[mask], platform=platform[mask], country=u.country[su[mask]],
                tsfmt=tsfmt[mask], export_t=t + lag[mask], start=start[mask],
                **({"agent_version": w.agent_version(agent[mask], t, sess_no[mask])}
                   if kind == 0 else {}),
            )

        conv = sessions(~learn, 0)
        # anonymous visitors on creators' web widgets
        n_anon = int(gen.poisson(0.05 * len(conv)))
        joined = w.creators.joined_ms < day_end
        a_creator = categorical(gen, w.creators.popularity * joined, n_anon)
        a_country = categorical(gen, _COUNTRY_WEIGHT, n_anon)
        a_agent = np.array([a[0] for a in agents])[a_creator] if n_anon else np.zeros(0, int)
        a_no = self.next_session + np.arange(n_anon)
        self.next_session += n_anon
        anon = Sessions(
            sess=a_no, skind=np.zeros(n_anon), user=np.full(n_anon, -1), creator=a_creator,
            agent=a_agent, program=np.full(n_anon, -1), channel=np.zeros(n_anon),
            platform=np.full(n_anon, P_WEB), country=a_country,
            tsfmt=np.where(gen.random(n_anon) < 0.06, 2, 0), export_t=np.full(n_anon, t),
            start=local_time_to_utc_ms(gen, np.full(n_anon, day0), _COUNTRY_OFFSET[a_country]),
            agent_version=w.agent_version(a_agent, t, a_no),
        )
        all_conv = Sessions(**{k: np.concatenate([conv[k], anon[k]]) for k in conv.cols})
        mood = np.concatenate([u.mood[conv["user"]], np.zeros(n_anon)])
        frames, bad = self._conversations(gen, t, all_conv, mood)

        ls = sessions(learn, 1)
        enr = cur[ls["user"]]
        ls.cols["program"] = w.enrollments.program[enr]
        ls.cols["creator"] = w.programs.creator[ls["program"]]
        l_frames, l_end, l_topic = self._learning(gen, ls, enr)
        frames += l_frames
        frames.append(self._goals_created(gen, t, ls, l_end, l_topic))

        # day-end state: streaks, sessions, goals, frustration, churn
        self.run[act] = np.where(self.last_active[act] == t - 1, self.run[act] + 1, 1)
        self.last_active[act] = t
        created_today = self.goal_open[act] & (self.goal_created_t[act] == t)
        self.sessions_total[act] += n_sess.astype(np.int32)
        self.goal_base[act[created_today]] = self.sessions_total[act[created_today]]
        frames.append(self._goals_completed(gen, t, frames))
        day = fr.concat(frames)
        stale = self.goal_open & (self.goal_created_t < t - 30)
        self.goal_open[stale] = False

        bad_users = conv["user"][bad[: len(conv)]]
        self.frustrated_until[bad_users] = t + 7
        alive = np.flatnonzero(~self.churned[:n_su])
        hz = u.hazard[alive] * np.where(self.frustrated_until[alive] >= t, 2.5, 1.0)
        self.churned[alive[gen.random(len(alive)) < hz]] = True
        dead = np.flatnonzero(self.churned[:n_su])
        self.churned[dead[gen.random(len(dead)) < 0.004]] = False

        order = np.lexsort((day["sess"], day["ts"]))
        day = fr.take(day, order)
        day["eid"] = self.next_event + np.arange(len(order), dtype=np.int64)
        self.next_event += len(order)
        self._identities(day, act[new_today[act]])
        return day

    # --- identity (contract 1.1: anonymous_id) --------------------------------------

    def _identities(self, day: Frame, new_users: np.ndarray) -> None:
        """Devices and signed-out rows, in place. Deterministic without a random draw (the
        other planted behaviour keeps its random streams):

        * users of the device share (``DEVICE_SHARE``) carry their device id as
          ``anonymous_id`` on every event; anonymous widget visitors carry one of their
          own (never identified);
        * on their signup day, such users browse before signing in: in their first
          session the first half of its events is written without user_id (a session
          mixing anonymous and identified events); users with a later session that day
          (every second one) browse the whole first session anonymously, identified only
          by the later session on the same device.

        The ``user`` column keeps the true user: the resolved user of metrics.md (Identity)
        is that user for every signed-out row, so the frame's truths stand for the marts.
        """
        user = day["user"]
        n_users = len(self.w.users)
        has_device = (user >= 0) & (_device_user(np.maximum(user, 0)))
        day["device"] = np.where(has_device, user, -1).astype(np.int64)
        anon_visitor = user < 0
        day["device"][anon_visitor] = n_users + day["sess"][anon_visitor]
        day["hide_user"][:] = 0
        new = np.zeros(n_users, dtype=bool)
        new[new_users] = True
        rows = np.flatnonzero(has_device & new[np.maximum(user, 0)])
        if not len(rows):
            return
        ru, rs = user[rows], day["sess"][rows]
        # each user's first session today (the smallest session number: sessions are
        # numbered in start order per user) and how many sessions they have today
        by_user = np.lexsort((rs, ru))
        users_u, first_pos = np.unique(ru[by_user], return_index=True)
        first_sess = rs[by_user][first_pos]
        n_sess = np.array([len(np.unique(seg)) for seg in
                           np.split(rs[by_user], first_pos[1:])], dtype=np.int64)
        k = np.searchsorted(users_u, ru)
        in_first = rs == first_sess[k]
        whole = (n_sess[k] >= 2) & (ru % 2 == 0)
        fr_rows = rows[in_first]  # rows of first sessions, in time order (day is sorted)
        f_sess = day["sess"][fr_rows]
        by_sess = np.lexsort((np.arange(len(fr_rows)), f_sess))
        _, counts = np.unique(f_sess[by_sess], return_counts=True)
        pos = np.empty(len(fr_rows), dtype=np.int64)
        pos[by_sess] = position_in_segment(counts)
        size = np.empty(len(fr_rows), dtype=np.int64)
        size[by_sess] = np.repeat(counts, counts)
        hide = whole[in_first] | (pos < (size + 1) // 2)
        day["hide_user"][fr_rows[hide]] = 1
