"""The settings layer: typed sections, one default each, fail-fast one-line errors, and
the CLI refusing bad settings with exit code 2 before doing anything."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import yaml

from warehouse.settings import (
    DEFAULT_SETTINGS_FILE,
    MLSettings,
    Settings,
    SettingsError,
    load_settings,
    parse_settings,
    read_paths,
)

REPO = Path(__file__).resolve().parents[1]
SHIPPED = yaml.safe_load(DEFAULT_SETTINGS_FILE.read_text())


def _error(raw: dict) -> str:
    with pytest.raises(SettingsError) as info:
        parse_settings(raw, source="s.yaml")
    message = str(info.value)
    assert "\n" not in message
    return message


def test_the_shipped_file_states_every_default_of_the_models():
    """config/settings.yaml documents the defaults; they are the models' own defaults,
    so the file and the code cannot drift apart."""
    shipped = parse_settings(SHIPPED)
    assert shipped.model_dump(exclude={"paths"}) == Settings().model_dump(exclude={"paths"})


def test_dbt_vars_are_the_metrics_section_with_its_defaults():
    vars_ = parse_settings(SHIPPED).dbt_vars()
    for key, value in SHIPPED["metrics"].items():
        assert vars_[key] == value, key
    # a key left out of the file still reaches dbt, with the one default
    minimal = parse_settings({"metrics": {"wau_window_days": 5}}).dbt_vars()
    assert minimal["wau_window_days"] == 5 and minimal["mau_window_days"] == 30
    assert minimal["funnels"] == SHIPPED["metrics"]["funnels"]
    assert parse_settings({"metrics": {"as_of_date": "2026-02-01"}}).dbt_vars()[
        "as_of_date"] == "2026-02-01"


@pytest.mark.parametrize(("raw", "expected"), [
    ({"metrics": {"wau_window_day": 7}},
     "unknown setting `metrics.wau_window_day` — did you mean `wau_window_days`?"),
    ({"metricz": {}}, "unknown setting `metricz` — did you mean `metrics`?"),
    ({"ml": {"seeed": 1}}, "did you mean `seed`?"),
    ({"alerts": {"rules": [{"name": "r", "kind": "threshold", "table": "a.b",
                            "metric": "m", "abov": 1}]}},
     "unknown setting `alerts.rules[0] (r).abov` — did you mean `above`?"),
    ({"metrics": {"funnels": [{"name": "f", "steps": [{"event_typ": "x"}]}]}},
     "`metrics.funnels[0] (f).steps[0].event_typ` — did you mean `event_type`?"),
])
def test_an_unknown_key_is_named_with_the_closest_known_one(raw, expected):
    assert expected in _error(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ({"metrics": {"wau_window_days": "seven"}},
     "`metrics.wau_window_days` = 'seven': expected a whole number"),
    ({"metrics": {"wau_window_days": 0}}, "`metrics.wau_window_days` = 0: expected a value "
     "greater than or equal to 1"),
    ({"metrics": {"low_confidence_threshold": 1.5}}, "`metrics.low_confidence_threshold`"),
    ({"ingest": {"first_export_date": "2025-13-01"}},
     "`ingest.first_export_date` = '2025-13-01': expected a date YYYY-MM-DD"),
    ({"data_quality": {"volume_blocking": "maybe"}}, "expected true or false"),
    ({"alerts": {"rules": [{"name": "r", "kind": "thresold", "table": "a.b"}]}},
     "`alerts.rules[0] (r).kind` = 'thresold': expected one of"),
    ({"alerts": {"sinks": [{"type": "webhook", "url": "file:///etc/passwd"}]}},
     "url must be an http(s) URL"),
    ({"ml": {"segments_k_min": 5, "segments_k_max": 3}}, "segments_k_min must not exceed"),
    ({"metrics": {"funnels": [{"name": "f", "steps": [{"event_type": "user_message"}]},
                              {"name": "f", "steps": [{"event_type": "bot_response"}]}]}},
     "defined twice"),
    ({"metrics": {"retention": [{"name": "r", "grain": "year"}]}},
     "`metrics.retention[0] (r).grain` = 'year': expected one of 'day', 'week' or 'month'"),
    ({"metrics": {"retention": [{"name": "r", "mode": "brackets"}]}},
     "mode brackets needs brackets"),
    ({"metrics": {"retention": [{"name": "r", "start": {"event_type": "custom", "filters": [
        {"field": "data.k", "op": "in", "value": 1}]}}]}}, "in needs a non-empty list"),
    ({"metrics": {"active_events": ["user message"]}}, "metrics.active_events"),
    ({"reports": {"retention_definition": "conversation_brackets"}},
     ": reports.retention_definition 'conversation_brackets' is not an `on` or "
     "`on_or_after` definition of metrics.retention (signup_any_weekly,"),
])
def test_a_wrong_type_or_range_names_the_key_the_value_and_what_is_expected(raw, expected):
    assert expected in _error(raw)


def test_an_invalid_time_zone_names_metrics_reporting_timezone():
    message = _error({"metrics": {"reporting_timezone": "Mars/Olympus"}})
    assert "`metrics.reporting_timezone` = 'Mars/Olympus': not an IANA time zone" in message
    assert parse_settings({"metrics": {"reporting_timezone": "Europe/Berlin"}}
                          ).reporting_timezone == "Europe/Berlin"


def test_sections_are_typed_and_frozen():
    settings = parse_settings({"ingest": {"first_export_date": "2024-06-01"},
                               "ml": {"experiment_windows_days": [3, 7]}})
    assert settings.ingest.first_export_date == date(2024, 6, 1)
    assert settings.ml.experiment_windows_days == (3, 7)
    with pytest.raises(ValueError):
        settings.ml.seed = 1  # type: ignore[misc]
    # the model version hash reads as_params: every field that can change a result, in
    # declaration order; how the work runs (the worker processes) is not one of them
    workers = ("forecast_workers", "model_workers")
    assert list(MLSettings().as_params()) == [
        f for f in MLSettings.model_fields if f not in workers]
    assert not set(workers) & set(
        MLSettings(forecast_workers=1, model_workers=1).as_params())


def test_paths_come_from_the_environment(tmp_path: Path):
    env = {"INSIGHTS_WAREHOUSE": str(tmp_path / "w.duckdb"),
           "INSIGHTS_ANALYSES_DIR": str(tmp_path / "a"), "INSIGHTS_ANALYSES_MAX_ROWS": "50"}
    paths = read_paths(env)
    assert paths.warehouse == tmp_path / "w.duckdb"
    assert paths.analyses == tmp_path / "a"
    assert paths.analyses_max_rows == 50
    assert paths.landing == (Path("data") / "landing").resolve()
    with pytest.raises(SettingsError, match="INSIGHTS_ANALYSES_MAX_ROWS='lots'"):
        read_paths({"INSIGHTS_ANALYSES_MAX_ROWS": "lots"})
    loaded = load_settings({**env, "INSIGHTS_SETTINGS": str(DEFAULT_SETTINGS_FILE)})
    assert loaded.require_paths().warehouse == tmp_path / "w.duckdb"
    with pytest.raises(SettingsError, match="no settings file at"):
        load_settings({"INSIGHTS_SETTINGS": str(tmp_path / "missing.yaml")})


def test_the_alerts_file_sink_lives_under_the_reports_folder(tmp_path: Path):
    alerts = parse_settings(SHIPPED).alerts.placed(tmp_path)
    assert alerts.sinks[0].path == tmp_path / "alerts" / "alerts.jsonl"
    assert alerts.rules[0].name == "dau_drop" and alerts.rules[0].per_creator is True
    anomaly = next(r for r in alerts.rules if r.kind == "anomaly")
    assert anomaly.table == "ml.metric_anomalies" and anomaly.schema_name == "ml"


def test_yaml_that_does_not_parse_is_one_line(tmp_path: Path):
    bad = tmp_path / "s.yaml"
    bad.write_text("metrics:\n  wau_window_days: [7\n")
    with pytest.raises(SettingsError, match=r"s.yaml line \d+: not valid YAML"):
        load_settings({"INSIGHTS_SETTINGS": str(bad)})


def _insights() -> list[str]:
    script = Path(sys.executable).with_name("insights")
    return [str(script)] if script.exists() else [sys.executable, "-m", "orchestration"]


@pytest.mark.parametrize("command", ["run", "demo", "ui", "check"])
@pytest.mark.parametrize(("old", "new", "named"), [
    ("  wau_window_days: 7\n", "  wau_window_day: 7\n", "`metrics.wau_window_day`"),
    ("  wau_window_days: 7\n", "  wau_window_days: seven\n", "`metrics.wau_window_days`"),
    ("  reporting_timezone: UTC\n", "  reporting_timezone: Mars/Olympus\n",
     "`metrics.reporting_timezone`"),
])
def test_the_cli_refuses_bad_settings_in_one_line_before_any_work(
        tmp_path: Path, command: str, old: str, new: str, named: str):
    text = DEFAULT_SETTINGS_FILE.read_text()
    assert old in text
    settings = tmp_path / "settings.yaml"
    settings.write_text(text.replace(old, new))
    data = tmp_path / "data"
    env = {**os.environ, "INSIGHTS_SETTINGS": str(settings),
           "INSIGHTS_WAREHOUSE": str(data / "warehouse.duckdb"),
           "INSIGHTS_LANDING_DIR": str(data / "landing"),
           "INSIGHTS_REPORTS_DIR": str(data / "reports"),
           "INSIGHTS_SERVING_DB": str(data / "serving.duckdb"),
           "DAGSTER_HOME": str(data / "dagster_home"), "COLUMNS": "200"}
    started = time.monotonic()
    done = subprocess.run([*_insights(), command], env=env, capture_output=True, text=True,
                          timeout=60, cwd=tmp_path, check=False)
    took = time.monotonic() - started
    assert done.returncode == 2, done.stdout + done.stderr
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, done.stderr
    prefix = "problem settings: " if command == "check" else "settings error: "
    assert lines[0].startswith(prefix) and named in lines[0]
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert took < 10, f"{command} took {took:.1f} s to refuse"
    assert not data.exists(), "nothing may be created: no lock file, no landing folder"


def test_insights_check_passes_on_a_valid_setup_and_names_problems(tmp_path: Path):
    landing = tmp_path / "landing" / "events" / "2026-01-01"
    landing.mkdir(parents=True)
    (landing / "a.ndjson").write_text("{}\n")
    (landing / "_SUCCESS").touch()
    analyses = tmp_path / "analyses"
    analyses.mkdir()
    (analyses / "ok.yaml").write_text("name: ok\nschedule: daily\nsql: select 1\n")
    env = {**os.environ, "INSIGHTS_LANDING_DIR": str(tmp_path / "landing"),
           "INSIGHTS_ANALYSES_DIR": str(analyses), "COLUMNS": "200"}
    done = subprocess.run([*_insights(), "check", "--no-dbt"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 0, done.stderr
    assert "1 complete export day folders" in done.stderr
    (analyses / "bad.yaml").write_text("name: Bad Name\nschedule: hourly\nsql: 1\n")
    done = subprocess.run([*_insights(), "check", "--no-dbt"], env=env, capture_output=True,
                          text=True, timeout=120, cwd=REPO, check=False)
    assert done.returncode == 2
    assert "problem analyses: analysis file" in done.stderr and "bad.yaml" in done.stderr
