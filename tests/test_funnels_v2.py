"""Funnels version 2 settings (metrics.md v2 "Funnels, version 2"; issue 17): steps are
selectors (version 1's event_type + filters still parse), order, window, exclusions,
hold constant, breakdowns and trend grains, what dbt gets from them, and one-line errors.
The SQL is tested by the dbt unit tests of int_funnel_attempts and the funnel marts
(tests/test_dbt_unit_tests.py) and against the pandas reference
(tests/test_bench_reference.py)."""

from __future__ import annotations

import pytest

from warehouse.settings import Funnel, Settings, SettingsError, parse_settings

V1 = {"name": "web_b", "steps": [
    {"name": "web_start", "event_type": "conversation_start", "filters": {"channel": "web"}},
    {"event_type": "user_message"}]}


def _funnels(*funnels: dict) -> list[dict]:
    return parse_settings({"metrics": {"funnels": list(funnels)}}).dbt_vars()["funnels"]


def test_version1_funnels_reach_dbt_unchanged():
    assert _funnels(V1) == [V1]
    shipped = Settings().dbt_vars()["funnels"]
    assert [f["name"] for f in shipped[:2]] == ["conversation", "learning"]
    assert all(set(f) == {"name", "steps"} for f in shipped[:2])


def test_a_version2_funnel_reaches_dbt_with_its_options_and_without_defaults():
    raw = {"name": "v2", "order": "strict", "window": {"minutes": 30},
           "steps": [{"selector": ["conversation_start", "user_message"]},
                     {"name": "big", "selector": {"event_type": "custom", "filters": [
                         {"field": "data.amount", "op": "gt", "value": 10}]}}],
           "exclusions": [{"selector": "error", "between": [1, 2]}],
           "hold_constant": ["channel"],
           "breakdowns": [{"field": "platform", "attribution": "step_k", "step": 2}]}
    [out] = _funnels(raw)
    assert out["order"] == "strict" and out["window"] == {"minutes": 30}
    assert out["steps"][0] == {"selector": {"any_of": [{"event_type": "conversation_start"},
                                                       {"event_type": "user_message"}]}}
    assert out["steps"][1]["selector"]["any_of"][0]["filters"] == [
        {"field": "data.amount", "op": "gt", "value": 10}]
    assert out["exclusions"] == [{"selector": {"any_of": [{"event_type": "error"}]},
                                  "between": [1, 2]}]
    assert out["hold_constant"] == ["channel"]
    assert out["breakdowns"] == [{"field": "platform", "attribution": "step_k", "step": 2}]
    assert "trend_grains" not in out  # the default (day and week) is left to dbt
    funnel = Funnel.model_validate(raw)
    assert funnel.window.seconds == 1800 and funnel.steps[0].label == (
        "conversation_start | user_message")
    assert funnel.breakdowns[0].label == "step_2"
    assert Funnel.model_validate({**raw, "window": "session"}).window == "session"


@pytest.mark.parametrize(("funnel", "message"), [
    ({"order": "loose"}, "expected one of 'ordered', 'strict' or 'any'"),
    ({"window": {"weeks": 1}}, "unknown setting `metrics.funnels[0] (f).window.weeks`"),
    ({"window": {"days": 1, "hours": 2}}, "a window is one of"),
    ({"window": "visit"}, "`metrics.funnels[0] (f).window`"),
    ({"exclusions": [{"selector": "error", "between": [1, 3]}]}, "two adjacent steps"),
    ({"exclusions": [{"selector": "error", "between": [2, 3]}]}, "the funnel has 2 steps"),
    ({"order": "any", "exclusions": [{"selector": "error", "between": [1, 2]}]},
     "not with order any"),
    ({"hold_constant": ["user_id"]}, "not an event column or data.<key>"),
    ({"breakdowns": [{"field": "channel", "attribution": "step_k"}]}, "needs step: k"),
    ({"breakdowns": [{"field": "channel", "attribution": "step_k", "step": 3}]},
     "the funnel has 2 steps"),
    ({"breakdowns": [{"field": "channel"}, {"field": "channel"}]}, "listed twice"),
    ({"breakdowns": [{"field": "feedback_comment"}]}, "not a breakdown"),
    ({"trend_grains": ["month"]}, "expected one of 'day' or 'week'"),
    ({"steps": [{"event_type": "lesson_started", "selector": "lesson_completed"}]},
     "either event_type"),
    ({"steps": [{"selector": "lesson_started", "filters": {"channel": "web"}}]},
     "filters go with event_type"),
    ({"steps": [{"event_type": "lesson_strated"}]}, "did you mean 'lesson_started'?"),
])
def test_a_bad_funnel_is_refused_in_one_line_naming_it(funnel, message):
    raw = {"name": "f", "steps": [{"event_type": "lesson_started"},
                                  {"event_type": "lesson_completed"}]} | funnel
    with pytest.raises(SettingsError) as info:
        parse_settings({"metrics": {"funnels": [raw]}})
    text = str(info.value)
    assert "\n" not in text and "(f)" in text and message in text, text
