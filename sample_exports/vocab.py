"""Fixed vocabularies of the sample world: countries, names, topics, intents, endpoints.

Everything here is plain data. The simulation refers to these lists by index (small
integer codes) and the renderer turns the codes back into strings, so the vocabularies
are the single source of every string value that appears in the exports.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.schema import EVENT_TYPES as CONTRACT_EVENT_TYPES

# --- event types -------------------------------------------------------------------

#: The event types of contract v1, in contract order (one list, shared with the loader).
#: Codes are indexes into this tuple.
EVENT_TYPES: tuple[str, ...] = CONTRACT_EVENT_TYPES
#: Event types a newer client sends that contract v1 does not know (kept, not rejected).
UNKNOWN_EVENT_TYPES: tuple[str, ...] = ("page_view_v2", "notification_opened", "paywall_shown")
ALL_EVENT_TYPES: tuple[str, ...] = EVENT_TYPES + UNKNOWN_EVENT_TYPES
ET = {name: code for code, name in enumerate(ALL_EVENT_TYPES)}

# --- people and places -------------------------------------------------------------


@dataclass(frozen=True)
class Country:
    """A country users live in: ISO code, IANA zone, UTC offset in January, weight."""

    code: str
    timezone: str
    offset_minutes: int
    weight: float
    eur: bool  # creators from here sell in EUR


COUNTRIES: tuple[Country, ...] = (
    Country("US", "America/New_York", -300, 16.0, False),
    Country("US", "America/Chicago", -360, 7.0, False),
    Country("US", "America/Los_Angeles", -480, 8.0, False),
    Country("CA", "America/Toronto", -300, 4.0, False),
    Country("MX", "America/Mexico_City", -360, 3.0, False),
    Country("BR", "America/Sao_Paulo", -180, 5.0, False),
    Country("GB", "Europe/London", 0, 8.0, False),
    Country("IE", "Europe/Dublin", 0, 1.5, True),
    Country("DE", "Europe/Berlin", 60, 9.0, True),
    Country("FR", "Europe/Paris", 60, 6.0, True),
    Country("ES", "Europe/Madrid", 60, 4.0, True),
    Country("IT", "Europe/Rome", 60, 3.0, True),
    Country("NL", "Europe/Amsterdam", 60, 3.0, True),
    Country("SE", "Europe/Stockholm", 60, 2.0, True),
    Country("PL", "Europe/Warsaw", 60, 2.0, True),
    Country("GR", "Europe/Athens", 120, 1.5, True),
    Country("ZA", "Africa/Johannesburg", 120, 1.5, False),
    Country("NG", "Africa/Lagos", 60, 2.0, False),
    Country("IN", "Asia/Kolkata", 330, 6.0, False),
    Country("JP", "Asia/Tokyo", 540, 2.0, False),
    Country("AU", "Australia/Sydney", 660, 3.0, False),
)

FIRST_NAMES: tuple[str, ...] = (
    "Olivia", "Liam", "Emma", "Noah", "Ava", "Mateo", "Sofia", "Lucas", "Mia", "Elias",
    "Amara", "Kenji", "Priya", "Arjun", "Chloé", "Léa", "Jonas", "Zoë", "Björn", "Ines",
    "Fatima", "Omar", "Yuki", "Hana", "Chidi", "Ngozi", "Sean", "Aoife", "Lucía", "Diego",
    "Anna", "Tomasz", "Eleni", "Nikos", "Sara", "Ahmed", "Grace", "Daniel", "Maya", "Leo",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "García", "Müller", "Schmidt", "Rossi", "Dubois", "Silva", "Santos",
    "Kowalski", "Nakamura", "Tanaka", "Patel", "Sharma", "Okafor", "Adeyemi", "O'Brien",
    "Murphy", "Andersson", "Papadopoulos", "van Dijk", "Jansen", "Martin", "Bernard",
    "Fernández", "López", "Nguyen", "Kim", "Brown", "Wilson", "Haddad", "Novak",
)

# Acquisition channels that are not a content platform
BASE_ACQUISITION: tuple[str, ...] = ("organic", "paid_search", "referral", "app_store", "email")
BASE_ACQUISITION_WEIGHTS: tuple[float, ...] = (0.38, 0.22, 0.18, 0.14, 0.08)
PLANS: tuple[str, ...] = ("free", "pro", "team")
PLAN_WEIGHTS: tuple[float, ...] = (0.74, 0.21, 0.05)

CHANNELS: tuple[str, ...] = ("web", "mobile", "voice")
PLATFORMS: tuple[str, ...] = ("ios", "android", "web")
SENTIMENTS: tuple[str, ...] = ("positive", "neutral", "negative")

# --- creators, programs, topics ----------------------------------------------------


@dataclass(frozen=True)
class Category:
    """A creator category with its learning topics and a typical program price."""

    name: str
    topics: tuple[str, ...]
    brand_words: tuple[str, ...]
    price_levels: tuple[int, ...]


CATEGORIES: tuple[Category, ...] = (
    Category("fitness", ("strength", "mobility", "cardio", "recovery"),
             ("Fit", "Strong", "Move"), (29, 49, 99, 149)),
    Category("nutrition", ("meal_planning", "macros", "hydration", "gut_health"),
             ("Fuel", "Plate", "Nourish"), (19, 39, 79)),
    Category("language", ("vocabulary", "grammar", "listening", "speaking"),
             ("Lingo", "Parla", "Speak"), (25, 59, 119)),
    Category("career", ("interviewing", "negotiation", "resume_writing", "leadership"),
             ("Career", "Ladder", "Pivot"), (49, 99, 199, 299)),
    Category("mindfulness", ("breathing", "sleep", "stress", "focus"),
             ("Calm", "Still", "Breathe"), (15, 35, 69)),
    Category("finance", ("budgeting", "investing", "debt_payoff", "taxes"),
             ("Money", "Wealth", "Budget"), (39, 89, 179)),
    Category("coding", ("python", "sql", "git", "testing"),
             ("Code", "Dev", "Byte"), (29, 79, 149, 249)),
    Category("music", ("rhythm", "theory", "ear_training", "technique"),
             ("Tune", "Chord", "Groove"), (19, 45, 95)),
)
TOPICS: tuple[str, ...] = tuple(t for c in CATEGORIES for t in c.topics)
TOPIC_CODE = {t: i for i, t in enumerate(TOPICS)}
SKILL_LEVELS: tuple[str, ...] = ("basics", "practice", "advanced")
#: skill code = topic code * len(SKILL_LEVELS) + level
SKILLS: tuple[str, ...] = tuple(f"{t}.{lvl}" for t in TOPICS for lvl in SKILL_LEVELS)

CREATOR_FIRST: tuple[str, ...] = (
    "Mia", "Coach Dan", "Dr. Lena", "Sam", "Aisha", "Marco", "Yara", "Jules", "Kofi", "Ingrid",
    "Ravi", "Noor", "Tess", "Hugo", "Emi", "Bruno",
)
PROGRAM_WORDS: tuple[str, ...] = (
    "Foundations", "30-Day Challenge", "Bootcamp", "Masterclass", "Starter Kit", "Deep Dive",
    "Accelerator", "Essentials",
)

# --- conversations -----------------------------------------------------------------


@dataclass(frozen=True)
class Intent:
    """A conversational intent: its base weight, workflow, entities and risk profile."""

    name: str
    weight: float
    workflow: str | None = None
    entities: tuple[str, ...] = ()
    dropoff: float = 0.07  # probability the user leaves after this intent (last turn)
    negative: float = 0.12  # probability the user message is negative


INTENTS: tuple[Intent, ...] = (
    Intent("greeting", 0.0, dropoff=0.05, negative=0.02),
    Intent("ask_question", 0.22, entities=("topic",), negative=0.08),
    Intent("book_session", 0.10, "book_session", ("date", "time"), dropoff=0.06),
    Intent("reschedule_session", 0.05, "reschedule_session", ("date", "time"), dropoff=0.08),
    Intent("progress_check", 0.10, "fetch_progress", dropoff=0.05, negative=0.06),
    Intent("plan_request", 0.12, "generate_plan", ("goal", "duration"), dropoff=0.06),
    Intent("motivation", 0.09, negative=0.20),
    Intent("billing_question", 0.05, "lookup_invoice", ("invoice_period",), dropoff=0.22,
           negative=0.35),
    Intent("cancel_subscription", 0.025, "cancel_subscription", dropoff=0.30, negative=0.55),
    Intent("technical_issue", 0.04, "create_support_ticket", ("device",), dropoff=0.25,
           negative=0.50),
    Intent("small_talk", 0.08, dropoff=0.10, negative=0.05),
    Intent("goodbye", 0.06, dropoff=0.02, negative=0.02),
    Intent("fallback", 0.0, dropoff=0.38, negative=0.35),
)
INTENT_NAMES: tuple[str, ...] = tuple(i.name for i in INTENTS)
INTENT_CODE = {n: i for i, n in enumerate(INTENT_NAMES)}
WORKFLOWS: tuple[str, ...] = tuple(sorted({i.workflow for i in INTENTS if i.workflow}))
WORKFLOW_CODE = {w: i for i, w in enumerate(WORKFLOWS)}

ENTITY_VALUES: dict[str, tuple[str, ...]] = {
    "topic": ("warm-up", "rest days", "pronunciation", "compound interest", "deep sleep"),
    "date": ("tomorrow", "next monday", "friday", "2026-02-14", "this weekend"),
    "time": ("7am", "12:30", "6pm", "evening", "after work"),
    "goal": ("lose weight", "run 5k", "pass interview", "save 10%", "meditate daily"),
    "duration": ("2 weeks", "30 days", "3 months"),
    "invoice_period": ("last month", "january", "this year"),
    "device": ("iphone", "android", "smart speaker", "laptop"),
}
ENTITIES: tuple[str, ...] = tuple(ENTITY_VALUES)
ENTITY_CODE = {e: i for i, e in enumerate(ENTITIES)}
#: entity value code = ENTITY_VALUE_BASE[entity] + value index
ENTITY_VALUE_LIST: tuple[str, ...] = tuple(v for e in ENTITIES for v in ENTITY_VALUES[e])
ENTITY_VALUE_BASE: dict[str, int] = {}
_base = 0
for _e in ENTITIES:
    ENTITY_VALUE_BASE[_e] = _base
    _base += len(ENTITY_VALUES[_e])

ENDPOINTS: dict[str, tuple[str, ...]] = {
    "book_session": ("/v1/calendar/availability", "/v1/calendar/bookings"),
    "reschedule_session": ("/v1/calendar/bookings",),
    "fetch_progress": ("/v1/progress/summary",),
    "generate_plan": ("/v1/plans/generate",),
    "lookup_invoice": ("/v1/billing/invoices",),
    "cancel_subscription": ("/v1/billing/subscriptions",),
    "create_support_ticket": ("/v1/support/tickets",),
}
ENDPOINT_LIST: tuple[str, ...] = tuple(sorted({e for v in ENDPOINTS.values() for e in v}))
ENDPOINT_CODE = {e: i for i, e in enumerate(ENDPOINT_LIST)}

ERROR_CODES: tuple[str, ...] = (
    "UPSTREAM_5XX", "UPSTREAM_TIMEOUT", "RATE_LIMITED", "NLU_TIMEOUT", "RENDER_ERROR",
)
ERROR_MESSAGES: tuple[str, ...] = (
    "upstream service returned a server error",
    "upstream service did not answer within 5 s",
    "too many requests, retry later",
    "intent classifier timed out, used fallback",
    "could not render rich card; sent plain text",
)

FEEDBACK_COMMENTS: tuple[str, ...] = (
    "Didn't understand me at all",  # 1
    "Kept asking the same thing",  # 1-2
    "Too slow",  # 2
    "ok",  # 3
    "Fine, but I had to repeat myself",  # 3
    "Helpful, thanks!",  # 4
    "Très utile 👍",  # 4-5
    "Exactly what I needed",  # 5
    "Love the \"daily plan\" feature",  # 5
)
#: comment codes per rating (1..5)
COMMENTS_BY_RATING: dict[int, tuple[int, ...]] = {
    1: (0, 1), 2: (1, 2), 3: (3, 4), 4: (5, 6), 5: (6, 7, 8),
}

CUSTOM_NAMES: tuple[str, ...] = ("reminder_opened", "streak_freeze_used", "share_clicked")
CLIENT_VERSIONS: tuple[str, ...] = ("5.0.0-beta.1", "5.0.0-beta.2")
UI_VARIANTS: tuple[str, ...] = ("compact", "cards")
#: agent versions (data.agent_version, an unlisted data field kept in the data JSON):
#: every agent starts on the first and rolls out the second during the window
AGENT_VERSIONS: tuple[str, ...] = ("1.4", "2.0")

GOAL_TYPES: tuple[str, ...] = ("streak", "sessions", "mastery", "custom")

# --- content -----------------------------------------------------------------------


@dataclass(frozen=True)
class ContentPlatform:
    """Typical funnel rates of a social platform for creators' posts."""

    name: str
    weight: float
    impressions: float  # median first-day impressions
    half_life_days: float
    view_rate: float
    watch_s: float  # mean watch time per view
    like_rate: float
    comment_rate: float
    share_rate: float
    ctr: float  # clicks per impression
    follow_rate: float  # followers gained per view


CONTENT_PLATFORMS: tuple[ContentPlatform, ...] = (
    ContentPlatform("youtube", 1.0, 1800, 6.0, 0.35, 210.0, 0.045, 0.006, 0.004, 0.012, 0.004),
    ContentPlatform("tiktok", 1.3, 5200, 1.5, 0.55, 14.0, 0.080, 0.004, 0.010, 0.004, 0.003),
    ContentPlatform("instagram", 1.2, 2600, 2.0, 0.40, 11.0, 0.060, 0.005, 0.006, 0.005, 0.002),
    ContentPlatform("x", 0.7, 2000, 0.8, 0.20, 6.0, 0.025, 0.004, 0.008, 0.007, 0.001),
    ContentPlatform("linkedin", 0.6, 900, 2.5, 0.30, 20.0, 0.030, 0.006, 0.004, 0.015, 0.002),
    ContentPlatform("reddit", 0.5, 1200, 1.2, 0.30, 35.0, 0.050, 0.020, 0.003, 0.010, 0.001),
)
CONTENT_PLATFORM_NAMES: tuple[str, ...] = tuple(p.name for p in CONTENT_PLATFORMS)
