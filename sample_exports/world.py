"""The sample world: creators, agents, programs, users, purchases, the experiment, content.

Everything that does not depend on day-by-day behaviour is drawn here, once, from the
seed: who signs up when (driven partly by creators' content), what they buy and refund,
which experiment variant they get. Behaviour (sessions, learning, goals, churn) is
simulated day by day in :mod:`sample_exports.events`, which also fills in when
enrollments complete.

Planted signal, documented in the generator manifest:

* **experiment** ``exp_onboarding_nudge``: users who sign up from the experiment start
  are assigned 50/50 at signup; treatment multiplies each user's probability of a first
  purchase within 14 days of assignment by ``1 + TRUE_LIFT`` (``PlantedIncidents.
  experiment_lift`` plants another lift, 0 included).
* **content drives signups**: each post's clicks convert to signups (acquisition channel
  = the post's platform); a few posts go viral and make signup spikes.
* **incident**: on one day one creator's agents answer slowly and their API calls fail.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from sample_exports import vocab
from sample_exports.util import (
    DAY_MS,
    STREAM_WORLD,
    Timeline,
    categorical,
    rng,
    rowwise_categorical,
    scramble,
)

log = logging.getLogger(__name__)

EXPERIMENT_ID = "exp_onboarding_nudge"
EXPERIMENT_METRIC = "purchase_within_14d"
BASE_CONVERSION = 0.25  # mean probability of a first purchase within 14 days (control)
TRUE_LIFT = 0.40  # relative lift of treatment on that probability
CONVERSION_WINDOW_DAYS = 14
CONTENT_SHARE = 0.30  # share of signups that come from creators' posts
CONTENT_LIFETIME_DAYS = 45
AGENT_ROLLOUT_DAYS = 7  # a new agent version reaches every session over a week

#: local-time hour-of-day activity profile (morning and evening peaks)
HOUR_WEIGHTS = np.array(
    [0.3, 0.2, 0.15, 0.1, 0.1, 0.2, 0.6, 1.2, 1.5, 1.2, 1.0, 1.0,
     1.2, 1.1, 1.0, 1.0, 1.1, 1.3, 1.6, 1.9, 2.0, 1.7, 1.1, 0.6]
)
#: Monday .. Sunday multipliers of activity and signups
WEEKDAY_ACTIVITY = np.array([1.05, 1.08, 1.06, 1.02, 0.95, 0.72, 0.68])
WEEKDAY_SIGNUPS = np.array([1.12, 1.10, 1.05, 1.0, 0.95, 0.85, 0.93])


def local_time_to_utc_ms(gen: np.random.Generator, day_start_ms: np.ndarray,
                         offset_minutes: np.ndarray) -> np.ndarray:
    """A time on the given UTC day, drawn from the local hour-of-day profile."""
    n = len(day_start_ms)
    hour = categorical(gen, HOUR_WEIGHTS, n)
    local_s = hour * 3600 + gen.random(n) * 3600
    utc_s = np.mod(local_s - offset_minutes * 60, 86400)
    return np.asarray(day_start_ms, dtype=np.int64) + (utc_s * 1000).astype(np.int64)


@dataclass
class Creators:
    """Coaches and creators; each sells in one currency and has a popularity weight."""

    ids: list[str]
    names: list[str]
    category: np.ndarray  # index into vocab.CATEGORIES
    eur: np.ndarray  # bool: sells in EUR
    joined_ms: np.ndarray
    popularity: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Agents:
    """Conversational agents of the creators, with their quality (fallbacks, latency)."""

    ids: list[str]
    creator: np.ndarray
    fallback_rate: np.ndarray
    rt_median_ms: np.ndarray


@dataclass
class Programs:
    """Each creator has one free program and 1-3 paid ones (some launched mid-window)."""

    ids: list[str]
    creator: np.ndarray
    titles: list[str]
    topics: np.ndarray  # (n, 3) topic codes, -1 padded
    n_topics: np.ndarray
    price: np.ndarray  # in the currency's units, 0 for free programs
    eur: np.ndarray
    launched_ms: np.ndarray
    n_lessons: np.ndarray
    difficulty: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Users:
    """Users sorted by signup time; index i has user_id ``ids[i]``."""

    ids: np.ndarray  # str
    signup_ms: np.ndarray
    country: np.ndarray
    creator: np.ndarray
    plan: np.ndarray
    acquisition: np.ndarray  # index into World.acquisition_channels
    channel: np.ndarray  # primary channel
    platform: np.ndarray  # primary platform
    p0: np.ndarray  # base daily activity probability
    tau_days: np.ndarray  # engagement decay time constant
    hazard: np.ndarray  # daily churn hazard
    learn_share: np.ndarray  # share of sessions that are learning sessions
    learn_rate: np.ndarray  # multiplier of the topics' learning probability
    mood: np.ndarray  # standard normal: sentiment and ratings
    variant: np.ndarray  # -1 not in the experiment, 0 control, 1 treatment
    assigned_ms: np.ndarray
    first_names: np.ndarray
    last_names: np.ndarray

    def __len__(self) -> int:
        return len(self.signup_ms)


@dataclass
class Enrollments:
    """Enrollments sorted by enrolled_at; completed_ms is filled by the simulation."""

    user: np.ndarray
    program: np.ndarray
    enrolled_ms: np.ndarray
    cancelled_ms: np.ndarray  # -1: never
    is_free: np.ndarray
    completed_ms: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lessons_done: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class Payments:
    """Charges and refunds sorted by paid_at."""

    user: np.ndarray
    program: np.ndarray
    amount_cents: np.ndarray
    eur: np.ndarray
    paid_ms: np.ndarray
    refund: np.ndarray  # bool: kind refund

    def __len__(self) -> int:
        return len(self.user)


@dataclass
class Content:
    """Creators' posts and their expected daily reach; conversions are realised signups."""

    creator: np.ndarray
    platform: np.ndarray
    published_ms: np.ndarray
    published_t: np.ndarray
    quality: np.ndarray
    viral: np.ndarray
    t0: int  # day index of column 0 of the matrices
    expected_impressions: np.ndarray  # (items, days)
    conversions: np.ndarray  # (items, days) signups attributed to the post that day

    def __len__(self) -> int:
        return len(self.creator)


@dataclass(frozen=True)
class PlantedIncidents:
    """Incidents planted on request (none by default, so the demo's numbers stay):

    * ``outage_day`` (day index t): a checkout outage losing ``outage_drop`` of that day's
      charges (and their refunds);
    * ``bot_day``: ``bot_share`` of the users signed up by then run ``bot_factor`` times
      their sessions that day (automated traffic; bots not otherwise active become active).

    ``repeat_purchases_per_day``: after their first purchase, each paying user buys again
    (a credit pack of the same program at the same price) at this rate a day, from its
    own random stream. The demo's few purchases a day (~5) cannot show a 70 % outage
    apart from noise (losing 3 of 5 is an ordinary day); a rate of 0.25 gives a shop's
    volume (tens a day) to measure the outage against. 0 by default.

    ``experiment_lift``: the true relative lift of the experiment's treatment
    (``TRUE_LIFT`` by default; 0 plants no effect, for checking the false-positive rate).
    ``churn_hazard_by_plan``: multipliers of the daily churn hazard of free, pro and team
    users (1 each by default): a churn signal a recency-only model cannot see. Neither
    draws from a random stream, so the defaults leave the data unchanged.
    """

    outage_day: int | None = None
    outage_drop: float = 0.7
    bot_day: int | None = None
    bot_share: float = 0.05
    bot_factor: float = 3.0
    repeat_purchases_per_day: float = 0.0
    experiment_lift: float = TRUE_LIFT
    churn_hazard_by_plan: tuple[float, float, float] = (1.0, 1.0, 1.0)


#: random streams of the planted incidents (apart from the world's and the days')
STREAM_OUTAGE, STREAM_BOTS, STREAM_REPEATS = 7_001, 7_002, 7_003


@dataclass
class World:
    seed: int
    timeline: Timeline
    creators: Creators
    agents: Agents
    programs: Programs
    users: Users
    enrollments: Enrollments
    payments: Payments
    content: Content
    acquisition_channels: tuple[str, ...]
    topic_guess: np.ndarray
    topic_slip: np.ndarray
    topic_transit: np.ndarray
    experiment_start_t: int
    incident_t: int | None
    incident_creator: int | None
    creator_agents: list[np.ndarray]
    planted: PlantedIncidents = field(default_factory=PlantedIncidents)

    def agent_release_t(self, agent: np.ndarray) -> np.ndarray:
        """Export day each agent starts rolling out version 2 (between 40% and 75% of the
        window; a fixed function of the agent index, so no random stream is drawn)."""
        frac = (np.asarray(agent, dtype=np.float64) * 0.6180339887) % 1.0
        return np.floor(self.timeline.days * (0.4 + 0.35 * frac)).astype(np.int64)

    def agent_version(self, agent: np.ndarray, t: int, sess: np.ndarray) -> np.ndarray:
        """The version code (vocab.AGENT_VERSIONS) serving each session: version 2 reaches
        a share of sessions growing linearly over AGENT_ROLLOUT_DAYS from the agent's
        release day; which sessions get it is a hash of the session number."""
        agent = np.asarray(agent, dtype=np.int64)
        share = np.clip((t - self.agent_release_t(agent) + 1) / AGENT_ROLLOUT_DAYS, 0.0, 1.0)
        h = (scramble(np.asarray(sess, dtype=np.int64), 0xA6E27) % 1000) / 1000.0
        return (h < share).astype(np.int8)

    def agent_version_worse(self, agent: np.ndarray, version: np.ndarray) -> np.ndarray:
        """Whether the session ran a version that rates worse: version 2 of every third
        agent (ratings about 0.6 lower, more negative messages)."""
        return (np.asarray(version) == 1) & (np.asarray(agent) % 3 == 0)

    def truth(self) -> dict:
        """The planted ground truth, for the manifest."""
        u = self.users
        assigned = u.variant >= 0
        tl = self.timeline
        return {
            "experiment": {
                "experiment_id": EXPERIMENT_ID,
                "variants": ["control", "treatment"],
                "metric": EXPERIMENT_METRIC,
                "metric_definition": (
                    "the user has a payments row of kind 'charge' with assigned_at <= paid_at "
                    f"< assigned_at + {CONVERSION_WINDOW_DAYS} days"
                ),
                "start_date": tl.date_of(self.experiment_start_t).isoformat(),
                "assigned_users": int(assigned.sum()),
                "control_rate_expected": BASE_CONVERSION,
                "treatment_rate_expected": round(
                    BASE_CONVERSION * (1 + self.planted.experiment_lift), 6),
                "true_relative_lift": self.planted.experiment_lift,
            },
            "incident": None if self.incident_t is None else {
                "date": tl.date_of(self.incident_t).isoformat(),
                "creator_id": self.creators.ids[self.incident_creator],
                "effect": "bot_response response_time_ms x3, api_call 5xx rate 35%, more "
                          "workflow_failed and error events",
            },
            "planted": {
                "outage": None if self.planted.outage_day is None else {
                    "date": tl.date_of(self.planted.outage_day).isoformat(),
                    "drop": self.planted.outage_drop},
                "bot_burst": None if self.planted.bot_day is None else {
                    "date": tl.date_of(self.planted.bot_day).isoformat(),
                    "share": self.planted.bot_share, "factor": self.planted.bot_factor},
                "repeat_purchases_per_day": self.planted.repeat_purchases_per_day,
                "churn_hazard_by_plan": dict(zip(vocab.PLANS, self.planted.churn_hazard_by_plan,
                                                 strict=True)),
            },
            "agent_versions": {
                "versions": list(vocab.AGENT_VERSIONS),
                "rollout_days": AGENT_ROLLOUT_DAYS,
                "release_dates": {
                    a: tl.date_of(int(r)).isoformat()
                    for a, r in zip(self.agents.ids,
                                    self.agent_release_t(np.arange(len(self.agents.ids))),
                                    strict=True)
                },
                "worse_version_agents": [
                    a for i, a in enumerate(self.agents.ids)
                    if self.agent_version_worse(np.array([i]), np.array([1]))[0]
                ],
                "worse_effect": "mean rating about 0.6 lower, negative sentiment +8 points",
            },
            "viral_content": int(self.content.viral.sum()),
            "bkt_true_params": {
                t: {
                    "p_guess": round(float(self.topic_guess[i]), 3),
                    "p_slip": round(float(self.topic_slip[i]), 3),
                    "p_transit": round(float(self.topic_transit[i]), 3),
                }
                for i, t in enumerate(vocab.TOPICS)
            },
            "creators": len(self.creators),
            "programs": len(self.programs),
            "users": len(self.users),
        }


def _creators(gen: np.random.Generator, n: int, tl: Timeline) -> Creators:
    """Creators across categories; a couple join during the export window."""
    cats = np.array([i % len(vocab.CATEGORIES) for i in gen.permutation(n)])
    eur = gen.random(n) < 0.4
    eur[0], eur[min(1, n - 1)] = False, True  # both currencies always present
    joined_days = -tl.pre_days - gen.uniform(20, 400, n)
    late = max(0, min(2, n // 6))  # a couple of creators join during the export window
    if late and tl.days >= 10:
        joined_days[-late:] = gen.uniform(0.15, 0.5, late) * tl.days
    joined_ms = (tl.start_ms + joined_days * DAY_MS).astype(np.int64)
    suffixes = ("Lab", "Club", "Academy", "Studio", "Hub", "Collective")
    names = []
    for i in range(n):
        cat = vocab.CATEGORIES[cats[i]]
        first = vocab.CREATOR_FIRST[i % len(vocab.CREATOR_FIRST)]
        brand = cat.brand_words[i % len(cat.brand_words)]
        names.append(f"{first}'s {brand}{suffixes[(i // 3) % len(suffixes)]}")
    return Creators(
        ids=[f"cr_{i + 1:03d}" for i in range(n)],
        names=names,
        category=cats,
        eur=eur,
        joined_ms=joined_ms,
        popularity=gen.lognormal(0.0, 0.6, n),
    )


def _agents(gen: np.random.Generator, creators: Creators) -> tuple[Agents, list[np.ndarray]]:
    """One or two agents per creator; also the agent indexes of each creator."""
    n_per = 1 + (gen.random(len(creators)) < 0.35)
    creator = np.repeat(np.arange(len(creators)), n_per)
    n = len(creator)
    per_creator: list[np.ndarray] = []
    start = 0
    for k in n_per:
        per_creator.append(np.arange(start, start + k))
        start += k
    return Agents(
        ids=[f"ag_{i + 1:03d}" for i in range(n)],
        creator=creator,
        fallback_rate=gen.uniform(0.04, 0.16, n),
        rt_median_ms=gen.uniform(600, 1500, n),
    ), per_creator


def _programs(gen: np.random.Generator, creators: Creators, tl: Timeline) -> Programs:
    """Programs with 2-3 topics of their creator's category, prices and launch dates."""
    creator, titles, topics, n_topics, price, launched, free = [], [], [], [], [], [], []
    for c in range(len(creators)):
        cat = vocab.CATEGORIES[creators.category[c]]
        n_paid = int(gen.integers(1, 4))
        brand = cat.brand_words[c % len(cat.brand_words)]
        words = gen.permutation(len(vocab.PROGRAM_WORDS))
        for k in range(1 + n_paid):
            k_topics = int(gen.integers(2, 4))
            chosen = gen.choice(len(cat.topics), size=k_topics, replace=False)
            codes = [vocab.TOPIC_CODE[cat.topics[j]] for j in chosen]
            creator.append(c)
            titles.append(f"{brand} {vocab.PROGRAM_WORDS[words[k % len(words)]]}"
                          + (" (free)" if k == 0 else ""))
            topics.append(codes + [-1] * (3 - len(codes)))
            n_topics.append(len(codes))
            free.append(k == 0)
            price.append(0.0 if k == 0 else float(gen.choice(cat.price_levels)))
            joined = creators.joined_ms[c]
            if k == 0:
                launched.append(joined)
            elif k == n_paid and n_paid >= 2 and gen.random() < 0.6:
                # a launch during the export window: a revenue bump for this creator
                launch_t = gen.uniform(0.1, 0.8) * tl.days
                launched.append(max(joined, int(tl.start_ms + launch_t * DAY_MS)))
            else:
                launched.append(int(joined + gen.uniform(1, 30) * DAY_MS))
    n = len(creator)
    creator_arr = np.array(creator, dtype=np.int16)
    return Programs(
        ids=[f"pg_{i + 1:03d}" for i in range(n)],
        creator=creator_arr,
        titles=titles,
        topics=np.array(topics, dtype=np.int16),
        n_topics=np.array(n_topics, dtype=np.int16),
        price=np.array(price),
        eur=creators.eur[creator_arr],
        launched_ms=np.array(launched, dtype=np.int64),
        n_lessons=gen.integers(6, 17, n).astype(np.int16),
        difficulty=gen.uniform(0.0, 1.0, n),
    )


def _content(gen: np.random.Generator, creators: Creators, tl: Timeline, n_users: int) -> Content:
    """Posts, their expected daily impressions (decaying, a few viral) and the signups
    their clicks bring (CONTENT_SHARE of all signups)."""
    t0 = -tl.pre_days - 20
    plat_w = np.array([p.weight for p in vocab.CONTENT_PLATFORMS])
    creator, platform, pub_t, pub_ms = [], [], [], []
    for c in range(len(creators)):
        rate = gen.uniform(0.2, 0.6)
        first_t = max(t0, int(np.floor((creators.joined_ms[c] - tl.start_ms) / DAY_MS)))
        span = tl.days - first_t
        k = int(gen.poisson(rate * span))
        if k == 0:
            continue
        ts = np.sort(gen.integers(first_t, tl.days, k))
        pref = gen.dirichlet(plat_w * 2)
        creator.extend([c] * k)
        platform.extend(categorical(gen, pref, k).tolist())
        pub_t.extend(ts.tolist())
        pub_ms.extend((tl.start_ms + ts * DAY_MS + gen.integers(6, 22, k) * 3_600_000
                       + gen.integers(0, 3_600_000, k)).tolist())
    creator_a = np.array(creator, dtype=np.int16)
    platform_a = np.array(platform, dtype=np.int8)
    pub_t_a = np.array(pub_t, dtype=np.int32)
    pub_ms_a = np.array(pub_ms, dtype=np.int64)
    n = len(creator_a)
    quality = gen.lognormal(0.0, 0.35, n)
    viral = gen.random(n) < 0.03
    base = np.array([vocab.CONTENT_PLATFORMS[p].impressions for p in platform_a]) if n else \
        np.zeros(0)
    base = base * gen.lognormal(0.0, 0.8, n) * np.sqrt(creators.popularity[creator_a]) \
        * np.where(viral, 8.0, 1.0)
    half_life = np.array([vocab.CONTENT_PLATFORMS[p].half_life_days for p in platform_a]) \
        if n else np.zeros(0)
    days = np.arange(t0, tl.days)
    age = days[None, :] - pub_t_a[:, None]
    live = (age >= 0) & (age < CONTENT_LIFETIME_DAYS)
    first_day_share = 1.0 - ((pub_ms_a - tl.start_ms) % DAY_MS) / DAY_MS
    decay = np.where(live, 0.5 ** (np.maximum(age, 0) / half_life[:, None]), 0.0)
    decay = np.where(age == 0, decay * first_day_share[:, None], decay)
    weekday = WEEKDAY_ACTIVITY[tl.weekday(days)]
    expected = base[:, None] * decay * weekday[None, :]
    # clicks -> signups, scaled so content brings CONTENT_SHARE of the signups
    ctr = np.array([vocab.CONTENT_PLATFORMS[p].ctr for p in platform_a]) if n else np.zeros(0)
    clicks = expected * (ctr * quality)[:, None]
    in_window = days >= -tl.pre_days
    total = clicks[:, in_window].sum()
    scale = CONTENT_SHARE * n_users / total if total > 0 else 0.0
    conversions = np.zeros_like(expected, dtype=np.int32)
    if total > 0:
        conversions[:, in_window] = gen.poisson(clicks[:, in_window] * scale)
    overflow = conversions.sum() - int(0.6 * n_users)
    if overflow > 0:  # tiny worlds: never let content bring more than 60% of users
        flat = conversions.ravel()
        nz = np.flatnonzero(flat)
        drop = gen.choice(np.repeat(nz, flat[nz]), size=overflow, replace=False)
        np.subtract.at(flat, drop, 1)
        conversions = flat.reshape(conversions.shape)
    return Content(creator_a, platform_a, pub_ms_a, pub_t_a, quality, viral, t0, expected,
                   conversions)


def _users(gen: np.random.Generator, n: int, tl: Timeline, creators: Creators,
           content: Content) -> tuple[Users, tuple[str, ...]]:
    """Users from content conversions plus growing, weekly-seasonal other signups."""
    acq_names = vocab.BASE_ACQUISITION + vocab.CONTENT_PLATFORM_NAMES
    # signups from content: one user per realised conversion
    item_day = np.argwhere(content.conversions > 0)
    reps = content.conversions[item_day[:, 0], item_day[:, 1]]
    c_item = np.repeat(item_day[:, 0], reps)
    c_t = np.repeat(item_day[:, 1] + content.t0, reps)
    n_content = len(c_item)
    n_base = n - n_content
    # other signups: growing over time, weekly seasonality
    days = np.arange(-tl.pre_days, tl.days)
    growth = np.exp(np.log(2.2) / max(tl.days, 30) * days)
    w = growth * WEEKDAY_SIGNUPS[tl.weekday(days)]
    b_t = days[categorical(gen, w, n_base)]
    joined_t = np.floor((creators.joined_ms - tl.start_ms) / DAY_MS).astype(np.int64)
    avail = (joined_t[None, :] <= b_t[:, None]) * creators.popularity[None, :]
    b_creator = rowwise_categorical(gen, avail)
    b_creator = np.where(b_creator < 0, int(np.argmin(joined_t)), b_creator)
    signup_t = np.concatenate([c_t, b_t]).astype(np.int64)
    creator = np.concatenate([content.creator[c_item], b_creator]).astype(np.int16)
    acq = np.concatenate([
        len(vocab.BASE_ACQUISITION) + content.platform[c_item].astype(np.int64),
        categorical(gen, np.array(vocab.BASE_ACQUISITION_WEIGHTS), n_base),
    ])
    # country: EUR creators draw more European users
    weights = np.array([c.weight for c in vocab.COUNTRIES])
    eu_boost = np.where([c.eur for c in vocab.COUNTRIES], 4.0, 1.0)
    country = np.where(
        creators.eur[creator],
        categorical(gen, weights * eu_boost, n),
        categorical(gen, weights, n),
    ).astype(np.int8)
    offsets = np.array([c.offset_minutes for c in vocab.COUNTRIES])[country]
    signup_ms = local_time_to_utc_ms(gen, tl.start_ms + signup_t * DAY_MS, offsets)
    # a user whose creator joined that very day signs up after the creator
    signup_ms = np.maximum(signup_ms, creators.joined_ms[creator] + 60_000)
    order = np.argsort(signup_ms, kind="stable")
    signup_ms, creator, acq, country = signup_ms[order], creator[order], acq[order], country[order]

    plan = categorical(gen, np.array(vocab.PLAN_WEIGHTS), n).astype(np.int8)
    platform = categorical(gen, np.array([0.38, 0.32, 0.30]), n).astype(np.int8)
    channel = np.where(platform == 2, 0, np.where(gen.random(n) < 0.15, 2, 1)).astype(np.int8)
    p0 = gen.beta(2.0, 2.6, n) * np.array([1.0, 1.15, 1.25])[plan]
    width = max(6, len(str(n)))
    ids = np.char.add("u", np.char.zfill(np.arange(1, n + 1).astype(str), width))
    users = Users(
        ids=ids,
        signup_ms=signup_ms,
        country=country,
        creator=creator,
        plan=plan,
        acquisition=acq.astype(np.int8),
        channel=channel,
        platform=platform,
        p0=np.clip(p0, 0.02, 0.95),
        tau_days=gen.lognormal(np.log(40.0), 0.5, n),
        hazard=0.010 * gen.lognormal(0.0, 0.6, n),
        learn_share=gen.beta(2.0, 2.2, n),
        learn_rate=gen.lognormal(0.0, 0.35, n),
        mood=gen.standard_normal(n),
        variant=np.full(n, -1, dtype=np.int8),
        assigned_ms=np.full(n, -1, dtype=np.int64),
        first_names=gen.integers(0, len(vocab.FIRST_NAMES), n),
        last_names=gen.integers(0, len(vocab.LAST_NAMES), n),
    )
    return users, acq_names


def _experiment(gen: np.random.Generator, users: Users, tl: Timeline) -> int:
    """Assign users who sign up from the experiment start, 50/50, at signup; return start day."""
    start_t = min(7, max(0, tl.days // 6))
    eligible = users.signup_ms >= tl.day_ms(start_t)
    k = int(eligible.sum())
    users.variant[eligible] = (gen.random(k) < 0.5).astype(np.int8)
    users.assigned_ms[eligible] = users.signup_ms[eligible] + gen.integers(1_000, 20_000, k)
    return start_t


def _purchases(gen: np.random.Generator, users: Users, programs: Programs,
               creators: Creators, tl: Timeline,
               true_lift: float = TRUE_LIFT) -> tuple[Payments, Enrollments]:
    """Charges (first purchase within 14 days: the experiment's metric; a later one),
    refunds, and the enrollments they create (plus free ones at signup)."""
    n = len(users)
    # purchase propensity in [0.5, 1.5], mean 1, higher for engaged users
    rank = np.argsort(np.argsort(users.p0 + 0.3 * gen.standard_normal(n)))
    propensity = 0.5 + rank / max(n - 1, 1)
    lift = np.where(users.variant == 1, 1.0 + true_lift, 1.0)
    first = gen.random(n) < BASE_CONVERSION * propensity * lift
    anchor = np.where(users.assigned_ms >= 0, users.assigned_ms, users.signup_ms)
    first_ms = anchor + (gen.uniform(0.01, CONVERSION_WINDOW_DAYS - 0.01, n) * DAY_MS).astype(
        np.int64)
    second = gen.random(n) < 0.10 * propensity
    second_ms = users.signup_ms + (gen.uniform(15, 75, n) * DAY_MS).astype(np.int64)
    buyer = np.concatenate([np.flatnonzero(first), np.flatnonzero(second)])
    paid_ms = np.concatenate([first_ms[first], second_ms[second]])
    end_ms = tl.day_ms(tl.days)
    keep = paid_ms < end_ms
    buyer, paid_ms = buyer[keep], paid_ms[keep]
    # program: a paid program launched by then, mostly from the user's own creator
    paid_prog = np.flatnonzero(programs.price > 0)
    launched = programs.launched_ms[paid_prog][None, :] <= paid_ms[:, None]
    home = programs.creator[paid_prog][None, :] == users.creator[buyer][:, None]
    weights = launched * np.where(home, 25.0, 1.0) * creators.popularity[
        programs.creator[paid_prog]][None, :]
    pick = rowwise_categorical(gen, weights) if len(buyer) else np.zeros(0, dtype=np.int64)
    ok = pick >= 0
    buyer, paid_ms, program = buyer[ok], paid_ms[ok], paid_prog[pick[ok]]
    discount = np.where(gen.random(len(buyer)) < 0.12, 0.8, 1.0)
    cents = np.round(programs.price[program] * 100 * discount).astype(np.int64)
    # refunds: ~8% of charges, mostly within the first week, mostly in full
    refunded = gen.random(len(buyer)) < 0.08
    r_days = np.minimum(0.5 + gen.exponential(4.0, len(buyer)), 30.0)
    r_ms = paid_ms + (r_days * DAY_MS).astype(np.int64)
    r_full = gen.random(len(buyer)) < 0.8
    r_cents = np.where(r_full, cents, cents // 2)
    r_keep = refunded & (r_ms < end_ms)
    pay = Payments(
        user=np.concatenate([buyer, buyer[r_keep]]).astype(np.int32),
        program=np.concatenate([program, program[r_keep]]).astype(np.int16),
        amount_cents=np.concatenate([cents, r_cents[r_keep]]),
        eur=np.concatenate([programs.eur[program], programs.eur[program[r_keep]]]),
        paid_ms=np.concatenate([paid_ms, r_ms[r_keep]]),
        refund=np.concatenate([np.zeros(len(buyer), bool), np.ones(int(r_keep.sum()), bool)]),
    )
    order = np.argsort(pay.paid_ms, kind="stable")
    pay = Payments(*(getattr(pay, f)[order] for f in
                     ("user", "program", "amount_cents", "eur", "paid_ms", "refund")))

    # enrollments: the creator's free program at signup (most users) + one per charge
    free_prog = np.full(len(creators), -1, dtype=np.int64)
    for p in range(len(programs)):
        if programs.price[p] == 0 and free_prog[programs.creator[p]] < 0:
            free_prog[programs.creator[p]] = p
    takes_free = (gen.random(n) < 0.85) & (free_prog[users.creator] >= 0)
    f_users = np.flatnonzero(takes_free)
    f_ms = users.signup_ms[f_users] + 5_000
    f_cancel = np.where(gen.random(len(f_users)) < 0.12,
                        f_ms + (gen.uniform(3, 50, len(f_users)) * DAY_MS).astype(np.int64), -1)
    p_cancel = np.where(r_keep & r_full, r_ms, -1)
    enr = Enrollments(
        user=np.concatenate([f_users, buyer]).astype(np.int32),
        program=np.concatenate([free_prog[users.creator[f_users]], program]).astype(np.int16),
        enrolled_ms=np.concatenate([f_ms, paid_ms + 2_000]),
        cancelled_ms=np.concatenate([f_cancel, p_cancel]).astype(np.int64),
        is_free=np.concatenate([np.ones(len(f_users), bool), np.zeros(len(buyer), bool)]),
    )
    order = np.argsort(enr.enrolled_ms, kind="stable")
    enr = Enrollments(enr.user[order], enr.program[order], enr.enrolled_ms[order],
                      enr.cancelled_ms[order], enr.is_free[order])
    enr.completed_ms = np.full(len(enr), -1, dtype=np.int64)
    enr.lessons_done = np.zeros(len(enr), dtype=np.int32)
    return pay, enr


def _repeat_purchases(seed: int, pay: Payments, timeline: Timeline, rate: float) -> Payments:
    """The payments plus, per first charge, repeat charges of the same program and amount
    at ``rate`` a day until the end of the timeline (none when ``rate`` is 0)."""
    if rate <= 0:
        return pay
    gen = rng(seed, STREAM_REPEATS)
    first = np.flatnonzero(~pay.refund)
    _, idx = np.unique(pay.user[first], return_index=True)
    first = first[idx]
    end_ms = timeline.day_ms(timeline.days)
    span_days = np.maximum(0.0, (end_ms - pay.paid_ms[first]) / DAY_MS)
    k = gen.poisson(rate * span_days)
    src = np.repeat(first, k)
    at = pay.paid_ms[src] + (gen.random(len(src)) * (end_ms - pay.paid_ms[src])).astype(
        np.int64)
    fields = ("user", "program", "amount_cents", "eur", "paid_ms", "refund")
    extra = {f: getattr(pay, f)[src] for f in fields}
    extra["paid_ms"], extra["refund"] = at, np.zeros(len(src), dtype=bool)
    merged = [np.concatenate([getattr(pay, f), extra[f]]) for f in fields]
    order = np.argsort(merged[4], kind="stable")
    return Payments(*(m[order] for m in merged))


def _outage(seed: int, pay: Payments, timeline: Timeline,
            planted: PlantedIncidents) -> Payments:
    """The payments without ``outage_drop`` of the outage day's charges (and without the
    refunds of the dropped charges)."""
    if planted.outage_day is None:
        return pay
    day0 = timeline.day_ms(planted.outage_day)
    on_day = np.flatnonzero(~pay.refund & (pay.paid_ms >= day0) & (pay.paid_ms < day0 + DAY_MS))
    gen = rng(seed, STREAM_OUTAGE)
    lost = on_day[gen.random(len(on_day)) < planted.outage_drop]
    lost_keys = set(zip(pay.user[lost].tolist(), pay.program[lost].tolist(), strict=True))
    keep = np.ones(len(pay), dtype=bool)
    keep[lost] = False
    for i in np.flatnonzero(pay.refund):
        if (int(pay.user[i]), int(pay.program[i])) in lost_keys:
            keep[i] = False
    return Payments(*(getattr(pay, f)[keep] for f in
                      ("user", "program", "amount_cents", "eur", "paid_ms", "refund")))


def build_world(seed: int, n_users: int, timeline: Timeline,
                planted: PlantedIncidents | None = None) -> World:
    """Draw the whole world for ``n_users`` users from the seed (with ``planted``
    incidents, none by default)."""
    planted = planted or PlantedIncidents()
    gen = rng(seed, STREAM_WORLD)
    n_creators = int(np.clip(round(n_users / 125), 6, 80))
    creators = _creators(gen, n_creators, timeline)
    agents, creator_agents = _agents(gen, creators)
    programs = _programs(gen, creators, timeline)
    content = _content(gen, creators, timeline, n_users)
    users, acq_names = _users(gen, n_users, timeline, creators, content)
    users.hazard = users.hazard * np.asarray(planted.churn_hazard_by_plan)[users.plan]
    exp_start = _experiment(gen, users, timeline)
    payments, enrollments = _purchases(gen, users, programs, creators, timeline,
                                       planted.experiment_lift)
    payments = _repeat_purchases(seed, payments, timeline, planted.repeat_purchases_per_day)
    payments = _outage(seed, payments, timeline, planted)
    n_topics = len(vocab.TOPICS)
    incident_t = int(timeline.days * 0.6) if timeline.days >= 10 else None
    incident_creator = int(np.argsort(-creators.popularity)[1]) if incident_t is not None \
        else None
    world = World(
        seed=seed,
        timeline=timeline,
        creators=creators,
        agents=agents,
        programs=programs,
        users=users,
        enrollments=enrollments,
        payments=payments,
        content=content,
        acquisition_channels=acq_names,
        topic_guess=gen.uniform(0.12, 0.3, n_topics),
        topic_slip=gen.uniform(0.05, 0.15, n_topics),
        topic_transit=gen.uniform(0.06, 0.25, n_topics),
        experiment_start_t=exp_start,
        incident_t=incident_t,
        incident_creator=incident_creator,
        creator_agents=creator_agents,
        planted=planted,
    )
    log.debug("world: %d users, %d creators, %d programs, %d posts, %d payments",
              len(users), len(creators), len(programs), len(content), len(payments))
    return world
