"""The pages: each runs its queries (dashboard.queries) and draws the frames, nothing
more. ``Context`` carries the reader, the filters and the creators' names."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from urllib.parse import urlencode

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


def _chart(chart, empty: str = "No values to chart for this creator and range.") -> None:
    """A chart spec of ``reports.specs`` (through ``dashboard.charts``), drawn with its
    own configuration (fonts, palette, axes: as in the reports), across the column, at
    the spec's height; ``empty`` said instead when there is nothing to draw (None)."""
    if chart is None:
        st.info(empty)
        return
    st.altair_chart(_fit(chart), width="stretch", height="content", theme=None)


def _has_legend(spec: dict) -> bool:
    layers = spec.get("layer", [spec])
    return any("field" in (layer.get("encoding", {}).get(ch) or {})
               for layer in layers for ch in ("color", "opacity"))


def _fit(chart):
    """The spec's height made the height of its plot: Streamlit stretches a chart to the
    column's width with Vega's ``fit`` autosize, which fits title, axes and legend into
    the declared height and would squeeze the plot (a heat map's rows to slivers)."""
    height = chart["height"]
    if not isinstance(height, int):
        return chart
    chart = chart.copy(deep=False)
    chart["height"] = height + 70 + (60 if _has_legend(chart.to_dict()) else 0)
    return chart


def _table(df: pd.DataFrame, rates: tuple[str, ...] = (), durations: tuple[str, ...] = (),
           names: dict[str, str] | None = None, **config) -> None:
    """A table across the page with one format per unit: rates as percentages with one
    decimal, durations in s / min / h / d, other decimals rounded to two; column names
    without underscores (or as ``names`` says)."""
    df = df.copy()
    cols: dict = {}
    for c in df.columns:
        if c in rates:
            df[c] = df[c] * 100
            cols[c] = st.column_config.NumberColumn(format="%.1f %%")
        elif c in durations:
            df[c] = [formats.duration(v) for v in df[c]]
        elif pd.api.types.is_datetime64_any_dtype(df[c]) and len(df) and (
                df[c].dropna() == df[c].dropna().dt.normalize()).all():
            df[c] = df[c].dt.date  # dates without a time of day shown as dates
        elif pd.api.types.is_float_dtype(df[c]):
            cols[c] = st.column_config.NumberColumn(format="%.2f")
        elif pd.api.types.is_integer_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]):
            cols[c] = st.column_config.NumberColumn(format="localized")  # 3,822
    labels = {c: (names or {}).get(c, c.replace("_", " ")) for c in df.columns}
    for c, label in labels.items():
        cols.setdefault(c, label)
        if isinstance(cols[c], dict) and not cols[c].get("label"):
            cols[c]["label"] = label
    st.dataframe(df, hide_index=True, width="stretch", column_config={**cols, **config})


def _drill(df: pd.DataFrame, total: int, what: str, **table) -> None:
    """The rows behind a number (the first ones when the drill query's limit cuts them),
    saying how many of how many are shown."""
    st.caption(f"{formats.count(len(df))} of {formats.count(total)} {what} shown"
               + (" (the first ones)" if len(df) < total else ""))
    _table(df, **table)


def _pick(label: str, options: list, asked, *, key: str, fmt=str):
    """A drill's selectbox, preset from the URL's parameter (``asked``) when valid."""
    index = options.index(asked) if asked in options else 0
    return st.selectbox(label, options, index=index, key=key, format_func=fmt)


def _days(f: q.Filters) -> list[date]:
    """The range's days, the latest first."""
    return [d.date() for d in pd.date_range(f.start, f.end, freq="D")][::-1]


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

def engagement(ctx: Context, day: date | None, band: int | None = None) -> None:
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
                            percent=True),
               empty="Stickiness (DAU / MAU): no value in this range yet (MAU needs 28 "
                     "days of history).")
    life = ctx.run(qs, "lifecycle")
    left, right = st.columns(2)
    with left:
        if not _empty(life, "lifecycle rows"):
            _chart(charts.stacked_bars(life, "period_start", "users", "status",
                                       f"Lifecycle per {f.grain}"))
    with right:
        stick = ctx.run(qs, "stickiness")
        if not _empty(stick, "stickiness rows"):
            _chart(charts.hbars(stick.assign(label=stick["days_active"].astype(str)
                                             + " days"), "label", "users",
                                "Users by active days per period", keep_order=True))
    depth = ctx.run(qs, "session_depth")
    if not depth.empty:
        left, right = st.columns(2)
        with left:
            _chart(charts.lines(depth, "period", ["bounce_rate"], "Session bounce rate",
                                percent=True))
        with right:
            _chart(charts.lines(depth.assign(mean_minutes=depth["mean_duration_s"] / 60),
                                "period", ["mean_minutes"], "Mean session duration (min)"))
    st.subheader("Drill: the users behind a day's DAU")
    chosen = _pick("Day", _days(f), day, key="drill_day")
    count = ctx.reader.rows(q.active_users_count(f, chosen))[0][0]
    st.metric(f"Active users on {chosen}", formats.count(count))
    _drill(ctx.reader.df(q.active_users(f, chosen)), count, "users",
           rates=("churn_probability",))
    _engagement_scores(ctx, qs, band)


def _engagement_scores(ctx: Context, qs: dict[str, q.Query], band: int | None) -> None:
    st.subheader("Engagement score (users active in the range)")
    st.caption("marts.user_engagement, as of the marts' date: 100 * (0.35 frequency + "
               "0.25 volume + 0.20 depth + 0.20 recency), see docs/metrics.md")
    scores = ctx.run(qs, "engagement_scores")
    if _empty(scores, "engagement scores"):
        return
    scores = scores.assign(label=[_band_label(b) for b in scores["band"]])
    left, right = st.columns(2)
    with left:
        _chart(charts.hbars(scores, "label", "users", "Users by engagement score",
                            keep_order=True))
    with right:
        bands = [int(b) for b in scores["band"]]
        chosen = _pick("Drill: users of a score band", bands, band, key="score_band",
                       fmt=_band_label)
        n = int(scores.loc[scores["band"] == chosen, "users"].iloc[0])
        mean = (scores["mean_score"] * scores["users"]).sum() / scores["users"].sum()
        a, b = st.columns(2)
        a.metric(f"Users scoring {_band_label(chosen)}", formats.count(n), border=True)
        b.metric("mean engagement score", formats.count(mean, 1), border=True)
    _drill(ctx.reader.df(q.engagement_score_users(ctx.filters, chosen)), n, "users")


def _band_label(band: int) -> str:
    return f"{band}-{band + q.SCORE_BAND - 1 if band < 90 else 100}"


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

def funnels(ctx: Context, asked_funnel: str | None = None, asked_step: int | None = None
            ) -> None:
    qs = q.funnels(ctx.filters)
    st.header(f"Funnels: {ctx.who}")
    steps = ctx.run(qs, "funnel_steps")
    if _empty(steps, "funnels"):
        return
    names = list(dict.fromkeys(steps["funnel"]))
    funnel = _pick("Funnel", names, asked_funnel, key="funnel")
    _caption(ctx, dated=False, note="steps, breakdowns and time to convert; the trend "
             "follows the date range")
    part = steps[steps["funnel"] == funnel].assign(
        label=lambda d: d["step"].astype(str) + ". " + d["step_name"])
    _chart(charts.hbars(part, "label", "users", f"{funnel}: users per step",
                        keep_order=True))
    _table(part[["step", "step_name", "users", "conversion_rate", "dropoff_users",
                 "median_seconds_to_step"]].rename(
                     columns={"median_seconds_to_step": "median_time_to_step"}),
           rates=("conversion_rate",), durations=("median_time_to_step",))
    st.subheader("Drill: the users who reached a step")
    labels = dict(zip(part["step"].astype(int), part["label"], strict=True))
    step = _pick("Step", list(labels), asked_step, key="funnel_step", fmt=labels.get)
    count = ctx.reader.rows(q.funnel_step_users_count(ctx.filters, funnel, step))[0][0]
    st.metric(f"Users who reached {labels[step]}", formats.count(count))
    _drill(ctx.reader.df(q.funnel_step_users(ctx.filters, funnel, step)), count, "users")
    trend = ctx.run(qs, "funnel_trends")
    trend = trend[(trend["funnel"] == funnel) & (trend["step"] == trend["step"].max())]
    if not trend.empty:
        entry = "day" if ctx.filters.grain == "day" else "week"
        _chart(charts.lines(trend, "entry_period", ["conversion_rate"],
                            f"{funnel}: whole-funnel conversion by entry {entry}",
                            percent=True),
               empty=f"{funnel}: no whole-funnel conversion by entry {entry} in this "
                     "range yet.")
    bd = ctx.run(qs, "funnel_breakdowns")
    bd = bd[bd["funnel"] == funnel]
    st.subheader("Breakdown (whole-funnel conversion)")
    if bd.empty:
        st.info(f"The funnel {funnel} has no breakdowns configured.")
    else:
        groups = list(bd.groupby(["breakdown_field", "attribution"]))
        for cols, chunk in zip(_columns_for(len(groups)), groups, strict=False):
            (field, attribution), sub = chunk
            with cols:
                _chart(charts.hbars(sub, "breakdown_value", "conversion_rate",
                                    f"by {field} ({attribution})", percent=True))
    ttc = ctx.run(qs, "funnel_time_to_convert")
    st.subheader("Time to convert (from the first step)")
    _table(ttc[ttc["funnel"] == funnel].drop(columns=["funnel"]).rename(
        columns=lambda c: c.replace("_seconds", "")),
        durations=("p25", "p50", "p75", "p90"))


def _columns_for(n: int) -> list:
    """Two columns per row for ``n`` charts."""
    out: list = []
    while len(out) < n:
        out += st.columns(2)
    return out


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
                            keep_order=True))


# --- conversations --------------------------------------------------------------------

def conversations(ctx: Context, day: date | None = None) -> None:
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
    st.subheader("Drill: the sessions behind a day's conversations")
    chosen = _pick("Day", _days(f), day, key="conv_day")
    count = ctx.reader.rows(q.conversation_sessions_count(f, chosen))[0][0]
    st.metric(f"Conversations on {chosen}", formats.count(count))
    _drill(ctx.reader.df(q.conversation_sessions(f, chosen)), count, "sessions",
           durations=("duration_s",),
           names={"duration_s": "duration"})
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
    drop = ctx.run(qs, "drop_off")
    if not drop.empty:
        _chart(charts.hbars(drop, "drop_off_point", "share", "Where sessions end (to date)",
                            percent=True))
    st.subheader("Agents")
    agents = ctx.run(qs, "agents")
    ratings = agents["ratings"].sum()
    for col, (name, value) in zip(st.columns(4), [
            ("agents", formats.count(len(agents))),
            ("agent sessions", formats.count(agents["sessions"].sum())),
            ("rated sessions", formats.count(ratings)),
            ("CSAT (all agents)", formats.rate((agents["csat"] * agents["ratings"]).sum()
                                               / ratings if ratings else None))],
            strict=True):
        col.metric(name, value, border=True)
    _table(agents, rates=("automation_rate", "fallback_rate", "csat"),
           names={"mean_daily_response_ms_p50": "response ms (p50)"})
    st.markdown("**Agent versions** (all creators)")
    _table(ctx.run(qs, "agent_versions"),
           rates=("fallback_rate", "csat", "negative_sentiment_rate"),
           names={"median_daily_response_ms_p50": "response ms (p50)"})
    st.markdown("**Satisfaction by intent** (all creators)")
    _table(ctx.run(qs, "intent_satisfaction"), rates=("csat", "negative_sentiment_rate"))
    st.markdown("**Satisfaction by agent**")
    _table(ctx.run(qs, "satisfaction"), rates=("csat", "negative_sentiment_rate"))
    _system_health(ctx, qs)


def _system_health(ctx: Context, qs: dict[str, q.Query]) -> None:
    st.subheader("System health")
    api = ctx.run(qs, "api_health_trend")
    if not api.empty:
        calls, errors = api["calls"].sum(), api["error_calls"].sum()
        for col, (name, value) in zip(st.columns(4), [
                ("API calls", formats.count(calls)), ("API errors", formats.count(errors)),
                ("API error rate", formats.rate(errors / calls if calls else None))],
                strict=False):
            col.metric(name, value, border=True)
        left, right = st.columns(2)
        with left:
            _chart(charts.lines(api, "period", ["error_rate"], "API error rate",
                                percent=True))
        with right:
            _chart(charts.lines(api, "period", ["latency_ms_p95", "latency_ms_p99"],
                                "API latency (ms, worst day of the period)"))
    st.markdown("**API endpoints**")
    _table(ctx.run(qs, "api_endpoints"), rates=("error_rate",),
           names={"mean_daily_latency_ms_p50": "latency ms p50",
                  "worst_daily_latency_ms_p95": "latency ms p95 (worst day)",
                  "worst_daily_latency_ms_p99": "latency ms p99 (worst day)"})
    st.markdown("**Errors and workflow failures** (most frequent)")
    fails = ctx.run(qs, "failure_reasons")
    if not _empty(fails, "errors or failures"):
        _table(fails)


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
        chosen = _pick("Drill: learners of a topic", topics, topic, key="topic")
        learners = ctx.reader.df(q.mastery_users(f, chosen))
        n = mastery.loc[mastery["topic"] == chosen, "learners"].sum()
        st.metric(f"Learners of {chosen}", formats.count(n))
        _drill(learners, int(n), "learners", rates=("mastery",))
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
    st.subheader("Lesson quality")
    quality = ctx.run(qs, "lesson_quality_trend")
    if not _empty(quality, "rated lesson completions"):
        done = quality["lessons_completed"].sum()
        mean = (quality["mean_quality"] * quality["lessons_completed"]).sum() / done
        for col, (name, value) in zip(st.columns(4), [
                ("rated lesson completions", formats.count(done)),
                ("mean lesson quality", formats.count(mean, 2))], strict=False):
            col.metric(name, value, border=True)
        left, right = st.columns(2)
        with left:
            _chart(charts.lines(quality, "period", ["mean_quality"],
                                f"Mean lesson quality score (0-1) per {f.grain}"))
        with right:
            _chart(charts.lines(quality, "period", ["low_quality_rate"],
                                "Share of lessons below 0.5", percent=True))
        _table(ctx.run(qs, "lesson_quality_topics"), rates=("low_quality_rate",))


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
    st.subheader("Scenarios (all creators)")
    st.caption("ml.business_scenarios: revenue over the forecast horizon if a lever moves "
               "by the change shown, against the forecast (the baseline)")
    scen = ctx.run(qs, "business_scenarios")
    if not _empty(scen, "scenarios"):
        _table(scen, rates=("change",))


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
    _business_forecasts(ctx, qs)


def _business_forecasts(ctx: Context, qs: dict[str, q.Query]) -> None:
    st.subheader("Business forecasts (all creators)")
    st.caption("ml.business_forecasts: net revenue per currency and new users, with 80 % "
               "and 95 % intervals; net revenue beside its actuals of the range")
    fc = ctx.run(qs, "business_forecast")
    if _empty(fc, "business forecasts"):
        return
    groups = list(fc.groupby(["metric", "currency"], sort=True))
    for col, ((metric, currency), part) in zip(_columns_for(len(groups)), groups,
                                                strict=False):
        unit = "" if currency == q.ALL_CREATORS else f" ({currency})"
        with col:
            _chart(charts.forecast_band(part, f"{metric.replace('_', ' ')}{unit}"))
            row = part[part["kind"] == "forecast"].iloc[0]
            if pd.notna(row["backtest_mase"]) and pd.notna(row["seasonal_naive_mase"]):
                beats = row["backtest_mase"] < row["seasonal_naive_mase"]
                st.caption(f"Backtest: {row['method']}, MASE {row['backtest_mase']:.2f} "
                           f"against the seasonal naive baseline's "
                           f"{row['seasonal_naive_mase']:.2f}: "
                           + ("beats the baseline" if beats
                              else "**does not beat the baseline**"))


# --- anomalies ------------------------------------------------------------------------

def anomalies(ctx: Context, day: date | None = None) -> None:
    qs = q.anomalies_page(ctx.filters)
    st.header(f"Anomalies and alerts: {ctx.who}")
    _caption(ctx)
    st.subheader("Metric anomalies")
    an = ctx.run(qs, "anomalies")
    if not _empty(an, "anomalies"):
        _table(an)
        _anomaly_drill(ctx, an, day)
    st.subheader("Alerts fired")
    al = ctx.run(qs, "alerts")
    if not _empty(al, "alerts"):
        _table(al)
    st.subheader("Users with anomalous behaviour (active in the range)")
    _table(ctx.run(qs, "user_anomalies"))


def _anomaly_drill(ctx: Context, an: pd.DataFrame, day: date | None) -> None:
    """From an anomaly to its day: the day's numbers in the marts and its active users."""
    st.subheader("Drill: an anomaly's day")
    rows = an.assign(day=pd.to_datetime(an["date"]).dt.date)
    options = list(range(len(rows)))
    asked = next((i for i, d in enumerate(rows["day"]) if d == day), None)

    def label(i: int) -> str:
        r = rows.iloc[i]
        return f"{r['day']} · {r['metric']} {r['direction']} ({r['severity']})"

    chosen = rows.iloc[_pick("Anomaly", options, asked, key="anomaly", fmt=label)]
    the_day = chosen["day"]
    numbers = ctx.reader.df(q.anomaly_day(ctx.filters, the_day))
    if not numbers.empty:
        r = numbers.iloc[0]
        for col, (name, value) in zip(st.columns(4), [
                (f"DAU on {the_day}", formats.count(r["dau"])),
                (f"sessions on {the_day}", formats.count(r["sessions"])),
                (f"conversations on {the_day}", formats.count(r["conversations"])),
                (f"automation rate on {the_day}", formats.rate(r["automation_rate"]))],
                strict=True):
            col.metric(name, value, border=True)
    st.markdown(f"**The users active on {the_day}**")
    total = ctx.reader.rows(q.active_users_count(ctx.filters, the_day))[0][0]
    _drill(ctx.reader.df(q.active_users(ctx.filters, the_day)), total, "users",
           rates=("churn_probability",))
    link = {**q.to_params(ctx.filters), "page": "engagement", "day": the_day.isoformat()}
    st.markdown(f"[Open {the_day} on the engagement page](?{urlencode(link)})")


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
    st.subheader("Model drift")
    st.caption("ml.model_drift: population stability index (PSI) of each model's input "
               "features and predictions between its training window and the latest "
               "scoring date")
    drift = ctx.run(qs, "model_drift")
    if not _empty(drift, "drift measurements"):
        bad = drift[drift["status"].isin(["moderate", "significant"])]
        for col, (name, value) in zip(st.columns(4), [
                ("drift measurements", formats.count(len(drift))),
                ("moderate or significant drift", formats.count(len(bad))),
                ("worst PSI", formats.count(drift["psi"].max(), 2))], strict=False):
            col.metric(name, value, border=True)
        if len(bad):
            st.warning(f"{len(bad)} of {len(drift)} drift measurements show moderate or "
                       "significant drift "
                       f"(worst PSI {drift['psi'].max():.2f}).")
        _table(drift, psi=st.column_config.NumberColumn("PSI", format="%.3f"))
