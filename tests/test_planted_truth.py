"""The experiment's statistics against the generator's planted truth, over many seeds.

The generator (``sample_exports/world.py``) assigns the users who sign up from the
experiment start 50/50 and multiplies the treatment's probability of a first purchase
within 14 days by ``1 + experiment_lift``; the manifest's truth holds the expected rates
(``control_rate_expected``, ``treatment_rate_expected``). For each seed the world is drawn
(no events are simulated: the experiment needs users, assignments and payments only),
its assignments and charges become the two staging tables the mart reads, and the SQL
dbt compiles for ``marts.experiment_results`` runs on them; its users and conversions
also go through the Python analysis (``models_ml.experiments.analyse``, which fills
``ml.experiment_analysis``).

Only users whose 14-day window ended by the as-of date are kept (an experiment that
stopped assigning two weeks before the analysis), so their expected rates are exactly
the planted ones. Tolerances are binomial: over ``SEEDS`` seeds the count of intervals
that miss the true difference, and of null experiments called significant, must lie in
the central 99.8 % of Binomial(SEEDS, 0.05) (a test run fails by chance about twice in a
thousand; the seeds are fixed, so a given code either passes or fails).
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.stats import binom

from models_ml import experiments
from sample_exports import PlantedIncidents
from sample_exports.util import DAY_MS, Timeline
from sample_exports.world import CONVERSION_WINDOW_DAYS, EXPERIMENT_ID, build_world
from tests.dbt_support import compiled_sql, isolate_dbt_env
from warehouse.settings import load_settings

log = logging.getLogger(__name__)

SEEDS = 200
USERS = 2_000
DAYS = 60
ALPHA = 0.05  # the mart's significance level and the interval's 1 - confidence
BAND = 0.001  # each tail of the binomial band left out


def _band(n: int, p: float) -> tuple[int, int]:
    """The central 1 - 2 BAND of Binomial(n, p): counts outside it fail the test."""
    return int(binom.ppf(BAND, n, p)), int(binom.ppf(1 - BAND, n, p))


@pytest.fixture(scope="module")
def mart_sql(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The SQL of marts.experiment_results as dbt compiles it, for a warehouse 'warehouse'."""
    tmp = tmp_path_factory.mktemp("experiment_sql")
    with pytest.MonkeyPatch.context() as mp:
        isolate_dbt_env(mp, tmp / "warehouse.duckdb")
        return compiled_sql("experiment_results", load_settings().dbt_vars(), tmp)


def _staging(seed: int, lift: float) -> tuple[pd.DataFrame, pd.DataFrame, date, dict]:
    """Assignments (complete windows only) and payments of a generated world, as the
    staging models hold them, the as-of date and the world's planted truth. Each seed is
    its own experiment (``<experiment>_<seed>``) with its own users (``<seed>:<user>``),
    so one run of the mart's SQL tests every seed at once."""
    tl = Timeline(start=date(2026, 1, 1), days=DAYS)
    world = build_world(seed, USERS, tl, PlantedIncidents(experiment_lift=lift))
    u, p = world.users, world.payments
    as_of_t = DAYS - 2  # the last complete export day (the last one has no _SUCCESS)
    done = (u.variant >= 0) & (u.assigned_ms + CONVERSION_WINDOW_DAYS * DAY_MS
                               <= tl.day_ms(as_of_t + 1))
    ids = np.char.add(f"{seed}:", u.ids.astype(str))
    assignments = pd.DataFrame({
        "experiment_id": f"{EXPERIMENT_ID}_{seed}",
        "variant": np.where(u.variant[done] == 1, "treatment", "control"),
        "user_id": ids[done],
        "assigned_at": pd.to_datetime(u.assigned_ms[done], unit="ms"),
    })
    paid_at = pd.to_datetime(p.paid_ms, unit="ms")
    payments = pd.DataFrame({
        "user_id": ids[p.user],
        "payment_kind": np.where(p.refund, "refund", "charge"),
        "paid_at": paid_at,
        "paid_date": paid_at.date,
    })
    return assignments, payments, tl.date_of(as_of_t), world.truth()["experiment"]


def _mart(sql: str, seeds: range, lift: float) -> tuple[pd.DataFrame, dict[str, dict]]:
    """marts.experiment_results computed by the compiled dbt SQL on the worlds of
    ``seeds`` (one experiment each), and the planted truth by experiment."""
    parts = {s: _staging(s, lift) for s in seeds}
    assignments = pd.concat([a for a, *_ in parts.values()], ignore_index=True)
    payments = pd.concat([p for _, p, *_ in parts.values()], ignore_index=True)
    as_of = {d for _, _, d, _ in parts.values()}.pop()
    con = duckdb.connect()
    try:
        con.execute("ATTACH ':memory:' AS warehouse")
        con.execute("USE warehouse")
        for schema in ("staging", "intermediate"):
            con.execute(f"CREATE SCHEMA {schema}")
        con.register("a", assignments)
        con.register("p", payments)
        con.execute("CREATE TABLE staging.stg_experiment_assignments AS SELECT * FROM a")
        con.execute("CREATE TABLE staging.stg_payments AS SELECT * FROM p")
        con.execute("CREATE TABLE intermediate.int_as_of_date AS SELECT ?::date AS as_of_date",
                    [as_of])
        mart = con.execute(sql).df()
    finally:
        con.close()
    return mart, {f"{EXPERIMENT_ID}_{s}": t for s, (*_, t) in parts.items()}


def _python(mart: pd.DataFrame) -> pd.DataFrame:
    """The treatment rows of the Python analysis on the mart's users and conversions."""
    counts = mart[["experiment_id", "variant", "users", "conversions"]].assign(
        metric="purchase_within_14d")
    out = experiments.analyse(counts, ALPHA, 0.8)
    return out[~out["is_control"].astype(bool)].set_index("experiment_id")


@pytest.fixture(scope="module")
def runs(mart_sql: str) -> dict[float, tuple[pd.DataFrame, pd.DataFrame, dict[str, dict]]]:
    """Per planted lift (the generator's 0.4 and none): the mart's treatment rows and the
    Python analysis' (one per seed, by experiment) and the planted truth."""
    out = {}
    for lift in (0.4, 0.0):
        mart, truth = _mart(mart_sql, range(1_000, 1_000 + SEEDS), lift)
        treat = mart[~mart["is_control"]].set_index("experiment_id")
        assert len(treat) == SEEDS
        out[lift] = (treat, _python(mart).loc[treat.index], truth)
    return out


def test_the_world_plants_the_lift_it_is_given():
    """The truth the tests rely on: the manifest names the planted lift and rates, and the
    realised rates of many seeds average to them."""
    for lift in (0.4, 0.0):
        rates = {"control": [], "treatment": []}
        for seed in range(40):
            assignments, payments, _, truth = _staging(500 + seed, lift)
            assert truth["true_relative_lift"] == lift
            charges = payments[payments["payment_kind"] == "charge"]
            j = assignments.merge(charges, on="user_id", how="left")
            hit = (j["paid_at"] >= j["assigned_at"]) & (
                j["paid_at"] <= j["assigned_at"] + pd.Timedelta(days=CONVERSION_WINDOW_DAYS))
            conv = j[hit].groupby("variant")["user_id"].nunique()
            users = assignments.groupby("variant")["user_id"].nunique()
            for v in rates:
                rates[v].append(conv.get(v, 0) / users[v])
        assert np.mean(rates["control"]) == pytest.approx(truth["control_rate_expected"], abs=0.01)
        assert np.mean(rates["treatment"]) == pytest.approx(truth["treatment_rate_expected"],
                                                            abs=0.012)


def test_the_interval_covers_the_planted_difference_at_its_confidence(runs):
    """With the generator's lift (0.25 -> 0.35), the mart's and the Python analysis' 95 %
    intervals of the difference of rates cover the true difference in about 95 % of the
    seeds (misses within the binomial band of 5 %)."""
    lo, hi = _band(SEEDS, ALPHA)
    mart, python, truth = runs[0.4]
    true_diff = pd.Series({e: t["treatment_rate_expected"] - t["control_rate_expected"]
                           for e, t in truth.items()}).loc[mart.index]
    assert (true_diff.round(6) == 0.1).all()
    for name, rows in (("mart", mart), ("python", python)):
        misses = int((~((rows["ci_low"] <= true_diff) & (true_diff <= rows["ci_high"]))).sum())
        log.info("%s: %d of %d intervals miss the planted difference (band %d-%d)",
                 name, misses, SEEDS, lo, hi)
        assert lo <= misses <= hi, (name, misses, (lo, hi))


def test_the_planted_lift_is_found_and_the_lift_column_estimates_it(runs):
    """The generator's lift (0.4 relative, 0.1 absolute) at about 770 users per seed: the
    mean of the mart's lift over the seeds is the planted lift (within 3 standard errors
    of that mean, plus 0.01 for the ratio's small-sample bias), and most seeds call it
    significant (the power is about 0.86)."""
    mart, _, truth = runs[0.4]
    planted = {t["true_relative_lift"] for t in truth.values()}.pop()
    se = mart["lift"].std(ddof=1) / np.sqrt(SEEDS)
    assert abs(mart["lift"].mean() - planted) <= 3 * se + 0.01, (mart["lift"].mean(), se)
    assert mart["significant"].sum() >= 0.75 * SEEDS, mart["significant"].sum()


def test_a_null_experiment_is_called_significant_at_most_at_alpha(runs):
    """With no lift planted, the mart's ``significant`` (and the Python analysis') is true
    in about alpha of the seeds: at most the binomial band's upper end, and not so rarely
    that the test could never find anything (the band's lower end); the mart's p-values
    are uniform (Kolmogorov-Smirnov)."""
    from scipy.stats import kstest

    lo, hi = _band(SEEDS, ALPHA)
    mart, python, truth = runs[0.0]
    assert {t["true_relative_lift"] for t in truth.values()} == {0.0}
    for name, rows in (("mart", mart), ("python", python)):
        called = int(rows["significant"].astype(bool).sum())
        log.info("%s: %d of %d null experiments significant (band %d-%d)",
                 name, called, SEEDS, lo, hi)
        assert lo <= called <= hi, (name, called, (lo, hi))
    assert kstest(mart["p_value"], "uniform").pvalue > 0.001


def test_the_manifest_of_a_generated_landing_names_the_planted_lift(tmp_path: Path):
    """generate_exports passes the planted lift through to the manifest's truth."""
    from sample_exports import generate_exports

    summary = generate_exports(tmp_path / "landing", seed=3, users=60, days=3,
                               incidents=PlantedIncidents(experiment_lift=0.0))
    truth = summary.truth["experiment"]
    assert truth["true_relative_lift"] == 0.0
    assert truth["treatment_rate_expected"] == truth["control_rate_expected"]
