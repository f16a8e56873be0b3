"""The pages: each runs its queries (dashboard.queries) and draws the frames, nothing
more. ``Context`` carries the reader, the filters and the creators' names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pandas as pd
import streamlit as st

from dashboard import charts, formats
from dashboard import queries as q
from dashboard.data import ServingReader


@dataclass(frozen=True)
class Context:
    reader: ServingReader
    filters: q.Filters
    names: dict[str, str]  # creator_id -> display name, with ALL_CREATORS

    @property
    def who(self) -> str:
        return self.names.get(self.filters.creator, self.filters.creator)

    def run(self, queries: dict[str, q.Query], name: str) -> pd.DataFrame:
        return self.reader.df(queries[name])


def _caption(ctx: Context, *, dated: bool = True, note: str = "") -> None:
    f = ctx.filters
    span = f"{f.start} to {f.end}, by {f.grain}" if dated else "to date (the marts' as-of)"
    st.caption(f"{ctx.who} · {span}" + (f" · {note}" if note else ""))


def _chart(chart) -> None:
    """The chart at its own height (Streamlit would otherwise squeeze a chart of many
    categories into its default height)."""
    height = chart.height if isinstance(chart.height, int) else None
    st.altair_chart(chart, width="stretch", height=height + 90 if height else "content")


def _table(df: pd.DataFrame, rates: tuple[str, ...] = (), **config) -> None:
    """A table with one format per unit: rates as percentages with one decimal, other
    decimals rounded to two."""
    df = df.copy()
    cols: dict = {}
    for c in df.columns:
        if c in rates:
            df[c] = df[c] * 100
            cols[c] = st.column_config.NumberColumn(format="%.1f %%")
        elif pd.api.types.is_float_dtype(df[c]):
            cols[c] = st.column_config.NumberColumn(format="%.2f")
    st.dataframe(df, hide_index=True, column_config={**cols, **config})


def _rows(items: list, per_row: int = 4) -> list:
    """``items`` paired with columns, ``per_row`` to a row (metric cards stay readable)."""
    out = []
    for i in range(0, len(items), per_row):
        out += zip(st.columns(per_row), items[i:i + per_row], strict=False)
    return out


def _empty(df: pd.DataFrame, what: str) -> bool:
    if df.empty:
        st.info(f"No {what} for {'this creator and range'}.")
        return True
    return False


# --- overview -------------------------------------------------------------------------

def _headline_values(df: pd.DataFrame) -> dict[tuple[str, str], float | None]:
    return {(m, u): (None if pd.isna(v) else float(v))
            for m, u, v in df.itertuples(index=False)}


def overview(ctx: Context) -> None:
    f = ctx.filters
    qs = q.overview(f)
    st.header(f"Overview: {ctx.who}")
    _caption(ctx)
    now = _headline_values(ctx.run(qs, "headline"))
    before = _headline_values(ctx.run(qs, "headline_previous"))
    day = _headline_values(ctx.run(qs, "headline_day"))
    week = _headline_values(ctx.run(qs, "headline_week_before"))
    prev = q.previous_period(f)
    st.markdown(f"**The range**, change vs the previous {f.days} days "
                f"({prev.start} to {prev.end})")
    for col, ((metric, unit), value) in _rows(list(now.items())):
        label = metric if unit in ("count", "rate") else f"{metric} ({unit})"
        col.metric(label, formats.value(value, unit),
                   delta=formats.change(value, before.get((metric, unit))), border=True)
    last, week_before = q.same_weekday_last_week(f)
    st.markdown(f"**{last.end:%A %Y-%m-%d}**, change vs the same weekday a week earlier "
                f"({week_before.end})")
    for col, (metric, unit) in _rows(list(now)):
        label = metric if unit in ("count", "rate") else f"{metric} ({unit})"
        value = day.get((metric, unit))
        col.metric(f"{label}, {last.end:%a}", formats.value(value, unit),
                   delta=formats.change(value, week.get((metric, unit))), border=True)
    trend = ctx.run(qs, "dau_trend")
    if not _empty(trend, "activity"):
        _chart(charts.lines(trend, "period", ["dau"], f"Mean DAU per {f.grain}"))
    st.subheader("Top insights")
    ins = ctx.run(qs, "top_insights")
    if not _empty(ins, "insights"):
        for row in ins.itertuples(index=False):
            st.markdown(f"**{row.rank}. {row.title}**  \n{row.recommendation or ''} "
                        f"_({row.kind}, {row.status})_")


# --- engagement -----------------------------------------------------------------------

def engagement(ctx: Context, day: date | None) -> None:
    f = ctx.filters
    qs = q.engagement(f)
    st.header(f"Engagement and lifecycle: {ctx.who}")
    _caption(ctx)
    trend = ctx.run(qs, "engagement_trend")
    if _empty(trend, "activity"):
        return
    left, right = st.columns(2)
    with left:
        _chart(charts.lines(trend, "period", ["dau", "wau", "mau"],
                            f"Active users (mean per {f.grain})"))
    with right:
        _chart(charts.lines(trend, "period", ["stickiness"], "Stickiness (DAU / MAU)",
                            percent=True))
    life = ctx.run(qs, "lifecycle")
    left, right = st.columns(2)
    with left:
        if not _empty(life, "lifecycle rows"):
            _chart(charts.stacked_bars(life, "period_start", "users", "status",
                                       f"Lifecycle per {f.grain}"))
    with right:
        stick = ctx.run(qs, "stickiness")
        if not _empty(stick, "stickiness rows"):
            _chart(charts.stacked_bars(stick, "days_active", "users", "days_active",
                                       "Users by active days per period", temporal=False))
    depth = ctx.run(qs, "session_depth")
    if not depth.empty:
        _chart(charts.lines(depth, "period", ["bounce_rate"], "Session bounce rate",
                            percent=True))
    st.subheader("Drill: the users behind a day's DAU")
    days = [d.date() if hasattr(d, "date") else d
            for d in pd.date_range(f.start, f.end, freq="D")][::-1]
    chosen = st.selectbox("Day", days, index=days.index(day) if day in days else 0,
                          key="drill_day")
    count = ctx.reader.rows(q.active_users_count(f, chosen))[0][0]
    st.metric(f"Active users on {chosen}", formats.count(count))
    _table(ctx.reader.df(q.active_users(f, chosen)), rates=("churn_probability",))


# --- retention ------------------------------------------------------------------------

def retention(ctx: Context) -> None:
    qs = q.retention_page(ctx.filters)
    st.header(f"Retention: {ctx.who}")
    _caption(ctx, note="cohorts starting in the range (from its month's start)")
    curves = ctx.run(qs, "retention_curves")
    cohorts = ctx.run(qs, "retention")
    if _empty(cohorts, "retention cohorts"):
        return
    curves["definition (mode)"] = curves["definition"] + " (" + curves["mode"] + ")"
    _chart(charts.curves(curves, "period", "retention_rate", "definition (mode)",
                         "Mean retention by period (every definition and mode)"))
    for (definition, mode), part in cohorts.groupby(["definition", "mode"], sort=True):
        st.subheader(f"{definition} ({mode})")
        _chart(charts.heatmap(part.assign(cohort=part["cohort_start"].astype(str)),
                              "period", "cohort", "retention_rate",
                              f"{definition}: retention by cohort and period", percent=True))


# --- funnels --------------------------------------------------------------------------

def funnels(ctx: Context) -> None:
    qs = q.funnels(ctx.filters)
    st.header(f"Funnels: {ctx.who}")
    steps = ctx.run(qs, "funnel_steps")
    if _empty(steps, "funnels"):
        return
    names = list(dict.fromkeys(steps["funnel"]))
    funnel = st.selectbox("Funnel", names, key="funnel")
    _caption(ctx, dated=False, note="steps, breakdowns and time to convert; the trend "
             "follows the date range")
    part = steps[steps["funnel"] == funnel].assign(
        label=lambda d: d["step"].astype(str) + ". " + d["step_name"])
    left, right = st.columns(2)
    with left:
        _chart(charts.hbars(part, "label", "users", f"{funnel}: users per step",
                            keep_order=True))
    with right:
        _table(part[["step", "step_name", "users", "conversion_rate", "dropoff_users",
                     "median_seconds_to_step"]], rates=("conversion_rate",))
    trend = ctx.run(qs, "funnel_trends")
    trend = trend[(trend["funnel"] == funnel) & (trend["step"] == trend["step"].max())]
    if not trend.empty:
        entry = "day" if ctx.filters.grain == "day" else "week"
        _chart(charts.lines(trend, "entry_period", ["conversion_rate"],
                            f"{funnel}: whole-funnel conversion by entry {entry}",
                            percent=True))
    bd = ctx.run(qs, "funnel_breakdowns")
    bd = bd[bd["funnel"] == funnel]
    st.subheader("Breakdown (whole-funnel conversion)")
    if bd.empty:
        st.info(f"The funnel {funnel} has no breakdowns configured.")
    else:
        for (field, attribution), part in bd.groupby(["breakdown_field", "attribution"]):
            _chart(charts.hbars(part, "breakdown_value", "conversion_rate",
                                f"by {field} ({attribution})", percent=True))
    ttc = ctx.run(qs, "funnel_time_to_convert")
    st.subheader("Time to convert (seconds from the first step)")
    _table(ttc[ttc["funnel"] == funnel].drop(columns=["funnel"]))


# --- paths ----------------------------------------------------------------------------

def paths(ctx: Context) -> None:
    qs = q.paths(ctx.filters)
    st.header(f"Paths: {ctx.who}")
    _caption(ctx, dated=False, note="the 8 most taken transitions per step")
    edges = ctx.run(qs, "path_edges")
    if _empty(edges, "paths"):
        return
    for path, part in edges.groupby("path"):
        st.subheader(path)
        part = part.assign(transition=lambda d: "step " + d["step"].astype(str) + ": "
                           + d["source"] + " → " + d["target"])
        _chart(charts.hbars(part, "transition", "users", f"{path}: transitions",
                            color="step", keep_order=True))


# --- conversations --------------------------------------------------------------------

def conversations(ctx: Context) -> None:
    f = ctx.filters
    qs = q.conversations(f)
    st.header(f"Conversations and NLU: {ctx.who}")
    _caption(ctx)
    conv = ctx.run(qs, "conversation_trend")
    if _empty(conv, "conversations"):
        return
    left, right = st.columns(2)
    with left:
        _chart(charts.lines(conv, "period", ["conversations"], f"Conversations per {f.grain}"))
    with right:
        _chart(charts.lines(conv, "period", ["automation_rate", "workflow_completion_rate"],
                            "Automation and workflow completion", percent=True))
    nlu = ctx.run(qs, "nlu_trend")
    left, right = st.columns(2)
    with left:
        if not nlu.empty:
            _chart(charts.lines(nlu, "period", ["low_confidence_rate", "fallback_rate"],
                                "NLU: low confidence and fallback", percent=True))
    with right:
        intents = ctx.run(qs, "top_intents")
        if not intents.empty:
            _chart(charts.hbars(intents, "intent", "classifications", "Top intents"))
    left, right = st.columns(2)
    with left:
        drop = ctx.run(qs, "drop_off")
        if not drop.empty:
            _chart(charts.hbars(drop, "drop_off_point", "share",
                                "Where sessions end (to date)", percent=True))
    with right:
        st.markdown("**Satisfaction by agent**")
        _table(ctx.run(qs, "satisfaction"), rates=("csat", "negative_sentiment_rate"))


# --- learning -------------------------------------------------------------------------

def learning(ctx: Context, topic: str | None) -> None:
    f = ctx.filters
    qs = q.learning(f)
    st.header(f"Learning: {ctx.who}")
    mastery = ctx.run(qs, "mastery")
    _caption(ctx, dated=False, note="mastery to date; streaks and goals of the users "
             "active in the range")
    if not _empty(mastery, "mastery"):
        _chart(charts.heatmap(mastery, "level", "topic", "learners",
                              "Learners by topic and mastery level",
                              x_order=["attempted", "familiar", "proficient", "mastered"]))
        topics = sorted(mastery["topic"].unique())
        chosen = st.selectbox("Drill: learners of a topic", topics,
                              index=topics.index(topic) if topic in topics else 0,
                              key="topic")
        learners = ctx.reader.df(q.mastery_users(f, chosen))
        st.metric(f"Learners of {chosen}", formats.count(len(learners)))
        _table(learners, rates=("mastery",))
    left, right = st.columns(2)
    with left:
        streaks = ctx.run(qs, "streaks")
        if not _empty(streaks, "streaks"):
            _chart(charts.stacked_bars(streaks.assign(kind="users"), "current_streak", "users",
                                       "kind", "Current streaks (days, 30 = 30 or more)",
                                       temporal=False))
    with right:
        goals = ctx.run(qs, "goals")
        if not _empty(goals, "goals"):
            _chart(charts.stacked_bars(goals, "goal_type", "goals", "status",
                                       "Goals created in the range", temporal=False))


# --- revenue --------------------------------------------------------------------------

def revenue(ctx: Context) -> None:
    f = ctx.filters
    qs = q.revenue(f)
    st.header(f"Revenue and LTV: {ctx.who}")
    _caption(ctx)
    rev = ctx.run(qs, "revenue_trend")
    if not _empty(rev, "revenue"):
        totals = rev.groupby("currency")["net_revenue"].sum()
        cols = st.columns(len(totals))
        for col, (currency, total) in zip(cols, totals.items(), strict=True):
            col.metric(f"net revenue ({currency})", formats.money(total, currency), border=True)
        for currency, part in rev.groupby("currency"):
            _chart(charts.lines(part, "period", ["charges", "refunds", "net_revenue"],
                                f"Revenue per {f.grain} ({currency})"))
    st.subheader("Lifetime value (users active in the range)")
    _table(ctx.run(qs, "ltv"))
    st.markdown("**Drill: highest predicted 90-day revenue**")
    _table(ctx.run(qs, "ltv_users"))


# --- content --------------------------------------------------------------------------

def content(ctx: Context) -> None:
    f = ctx.filters
    qs = q.content(f)
    st.header(f"Content: {ctx.who}")
    _caption(ctx)
    trend = ctx.run(qs, "content_trend")
    if not _empty(trend, "content metrics"):
        _chart(charts.stacked_bars(trend, "period", "impressions", "platform",
                                   f"Impressions per {f.grain} by platform"))
    st.subheader("Top content (to date)")
    _table(ctx.run(qs, "top_content"), rates=("engagement_rate", "ctr"))
    st.subheader("Best posting slots (all creators; 95 % intervals)")
    _table(ctx.run(qs, "content_timing"),
           rates=("mean_engagement_rate", "ci_low", "ci_high"))


# --- experiments ----------------------------------------------------------------------

def experiments(ctx: Context) -> None:
    qs = q.experiments(ctx.filters)
    st.header("Experiments")
    st.caption("All creators; to date. Lift and intervals against the control; p-values "
               "Holm-adjusted across each experiment's metrics.")
    res = ctx.run(qs, "experiment_results")
    if _empty(res, "experiments"):
        return
    for exp, part in res.groupby("experiment_id"):
        st.subheader(exp)
        _table(part.drop(columns=["experiment_id"]),
               rates=("conversion_rate", "lift", "ci_low", "ci_high", "power"))


# --- forecasts ------------------------------------------------------------------------

def forecasts(ctx: Context) -> None:
    qs = q.forecasts(ctx.filters)
    st.header(f"Forecasts: {ctx.who}")
    _caption(ctx, note="actuals of the range, the forecast with 80 % and 95 % intervals")
    fc = ctx.run(qs, "forecast")
    bt = ctx.run(qs, "backtest")
    if _empty(fc, "forecasts"):
        return
    for metric, part in fc.groupby("metric"):
        row = bt[bt["metric"] == metric]
        verdict = ""
        if not row.empty:
            r = row.iloc[0]
            chosen = r.get(f"mase_{r['chosen']}")
            naive = r["mase_seasonal_naive"]
            if pd.notna(chosen) and pd.notna(naive):
                verdict = (f"Backtest: {r['chosen']} chosen, MASE {chosen:.2f} against the "
                           f"seasonal naive baseline's {naive:.2f}: "
                           + ("beats the baseline" if chosen < naive
                              else "**does not beat the baseline**"))
        _chart(charts.forecast_band(part, f"{metric}"))
        if verdict:
            st.caption(verdict)
    st.subheader("Backtest")
    _table(bt, rates=("coverage_80", "coverage_95"))


# --- anomalies ------------------------------------------------------------------------

def anomalies(ctx: Context) -> None:
    qs = q.anomalies_page(ctx.filters)
    st.header(f"Anomalies and alerts: {ctx.who}")
    _caption(ctx)
    st.subheader("Metric anomalies")
    an = ctx.run(qs, "anomalies")
    if not _empty(an, "anomalies"):
        _table(an)
    st.subheader("Alerts fired")
    al = ctx.run(qs, "alerts")
    if not _empty(al, "alerts"):
        _table(al)
    st.subheader("Users with anomalous behaviour (active in the range)")
    _table(ctx.run(qs, "user_anomalies"))


# --- data quality ---------------------------------------------------------------------

def data_quality(ctx: Context) -> None:
    qs = q.data_quality(ctx.filters)
    st.header("Data quality")
    st.caption("The latest validation of every check (all creators).")
    checks = ctx.run(qs, "dq_checks")
    if _empty(checks, "checks"):
        return
    counts = checks["status"].value_counts()
    cols = st.columns(len(counts))
    for col, (status, n) in zip(cols, counts.items(), strict=True):
        col.metric(f"checks {status}", formats.count(n), border=True)
    fails = ctx.run(qs, "dq_failures")
    st.subheader("Failed expectations")
    if fails.empty:
        st.success("Every expectation passed in the latest validation.")
    else:
        _table(fails, observed=st.column_config.TextColumn(width="medium"))
    st.subheader("Checks")
    _table(checks)
