"""Every dbt unit test of the project passes.

The pipeline's ``dbt build`` leaves unit tests out (they check the models' SQL on fixed
inputs, not the day's data: dbt's advice for production builds), so they run here, all
of them, on a copy of the demo warehouse (unit tests need their models' parents to
exist, for the column types of the fixtures)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.dbt_support import dbt_invoke, isolate_dbt_env, parsed_project
from warehouse.settings import load_settings

pytestmark = pytest.mark.slow


def test_every_dbt_unit_test_runs_and_passes(demo_warehouse: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_dbt_env(monkeypatch, demo_warehouse)
    dbt_vars = load_settings().dbt_vars()
    result = dbt_invoke(["test", "--resource-type", "unit_test"], dbt_vars, tmp_path)
    assert result.exception is None, result.exception
    nodes = list(result.result or [])
    failed = [(r.node.unique_id, str(r.status), r.message) for r in nodes
              if str(r.status) != "pass"]
    assert result.success and not failed, failed
    manifest, _ = parsed_project(dbt_vars, demo_warehouse.stem)
    ran = {r.node.unique_id for r in nodes}
    assert ran == set(manifest.unit_tests), sorted(set(manifest.unit_tests) ^ ran)
    assert len(ran) >= 37  # the project's unit tests at the time of writing
