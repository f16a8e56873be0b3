"""Experiment statistics.

Conversion metrics: two-proportion z-test and confidence interval. Continuous metrics:
Welch's t-test, and CUPED (the pre-period value of the metric as covariate) when the
pre-period varies. Both: an always-valid mSPRT p-value (normal mixture, Johari et al.
2017) that stays valid however often the experiment is looked at, a Bayesian probability
to beat control, the sample ratio mismatch gate, Holm's correction across metrics and the
power to detect the pre-registered minimum detectable effect (not the post-hoc power of
the observed effect, which only restates the p-value). docs/experiments.md says when to
trust which."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chisquare, norm
from scipy.stats import t as student_t

#: a sample ratio mismatch this unlikely under the planned split voids the experiment
SRM_ALPHA = 0.001


def control_of(variants: list[str]) -> str:
    """'control' (case-insensitive) if present, else the first variant alphabetically."""
    for v in variants:
        if v.lower() == "control":
            return v
    return sorted(variants)[0]


def two_proportion_test(x1: int, n1: int, x0: int, n0: int,
                        alpha: float = 0.05) -> dict[str, float]:
    """Variant (1) against control (0): pooled z-test (two-sided) and the unpooled
    (1 - alpha) confidence interval of the difference of rates."""
    p1, p0 = x1 / n1, x0 / n0
    d = p1 - p0
    pooled = (x1 + x0) / (n1 + n0)
    if 0 < pooled < 1:
        z = d / np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        p = float(2 * norm.sf(abs(z)))
    else:
        z, p = float("nan"), float("nan")
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    q = norm.ppf(1 - alpha / 2)
    return {"rate_difference": d, "z_score": float(z), "p_value": p,
            "ci_low": d - q * se, "ci_high": d + q * se,
            "lift": d / p0 if p0 > 0 else float("nan")}


def srm_p_value(users: list[int]) -> float:
    """Chi-square test of the assigned users against an equal split."""
    if len(users) < 2:
        return float("nan")
    return float(chisquare(np.asarray(users, dtype=float)).pvalue)


def power(p0: float, p1: float, n0: int, n1: int, alpha: float = 0.05) -> float:
    """Power of the two-sided test to detect the difference p1 - p0 at these sizes (call
    it with the pre-registered effect, never the observed one)."""
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    return power_normal(p1 - p0, float(se), alpha)


def power_normal(effect: float, se: float, alpha: float = 0.05) -> float:
    """Power of a two-sided z-test with standard error ``se`` against ``effect``."""
    if not se > 0:
        return float("nan")
    q = norm.ppf(1 - alpha / 2)
    k = abs(effect) / se
    return float(norm.cdf(k - q) + norm.cdf(-k - q))


def mde(p0: float, n0: int, n1: int, alpha: float = 0.05, target_power: float = 0.8) -> float:
    """Minimum detectable absolute difference of rates at this power (control's variance)."""
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(target_power))
                 * np.sqrt(p0 * (1 - p0) * (1 / n0 + 1 / n1)))


def welch_test(y1: np.ndarray, y0: np.ndarray, alpha: float = 0.05) -> dict[str, float]:
    """Variant (1) against control (0) on a continuous metric: difference of means,
    Welch's t-test (two-sided) and its (1 - alpha) confidence interval."""
    y1, y0 = np.asarray(y1, dtype=float), np.asarray(y0, dtype=float)
    n1, n0 = len(y1), len(y0)
    d = float(y1.mean() - y0.mean())
    v1 = y1.var(ddof=1) / n1 if n1 > 1 else np.nan
    v0 = y0.var(ddof=1) / n0 if n0 > 1 else np.nan
    se = float(np.sqrt(v1 + v0))
    if not se > 0:
        return {"mean_difference": d, "se": se, "df": np.nan, "t_stat": np.nan,
                "p_value": np.nan, "ci_low": np.nan, "ci_high": np.nan}
    df = float((v1 + v0) ** 2 / (v1 ** 2 / (n1 - 1) + v0 ** 2 / (n0 - 1)))
    t = d / se
    q = float(student_t.ppf(1 - alpha / 2, df))
    return {"mean_difference": d, "se": se, "df": df, "t_stat": float(t),
            "p_value": float(2 * student_t.sf(abs(t), df)),
            "ci_low": d - q * se, "ci_high": d + q * se}


def cuped_theta(y: np.ndarray, x: np.ndarray) -> float:
    """The CUPED coefficient cov(y, x) / var(x), pooled over all arms (0 when the
    covariate does not vary)."""
    y, x = np.asarray(y, dtype=float), np.asarray(x, dtype=float)
    vx = float(np.var(x, ddof=1)) if len(x) > 1 else 0.0
    if not vx > 0:
        return 0.0
    return float(np.cov(y, x, ddof=1)[0, 1] / vx)


def cuped_adjust(y: np.ndarray, x: np.ndarray, theta: float, x_mean: float) -> np.ndarray:
    """y - theta (x - mean x): same expectation, variance reduced by corr(y, x)^2."""
    return np.asarray(y, dtype=float) - theta * (np.asarray(x, dtype=float) - x_mean)


def cuped_test(y1: np.ndarray, x1: np.ndarray, y0: np.ndarray, x0: np.ndarray,
               alpha: float = 0.05) -> dict[str, float]:
    """Welch's test on the CUPED-adjusted metric (theta pooled over both arms), with
    theta and the variance reduction against the unadjusted metric."""
    y = np.concatenate([y1, y0])
    x = np.concatenate([x1, x0])
    theta = cuped_theta(y, x)
    xm = float(np.mean(x))
    out = welch_test(cuped_adjust(y1, x1, theta, xm), cuped_adjust(y0, x0, theta, xm), alpha)
    raw = welch_test(y1, y0, alpha)
    out["theta"] = theta
    out["variance_reduction"] = float(1 - (out["se"] / raw["se"]) ** 2) \
        if raw["se"] > 0 else float("nan")
    return out


def msprt_p_value(diff: np.ndarray | float, variance: np.ndarray | float,
                  tau: float) -> np.ndarray:
    """Always-valid p-values of the mixture SPRT (normal mixture N(0, tau^2) over the
    difference, Johari, Pekelis & Walsh 2017) for a sequence of looks at a difference
    with (estimated) variance ``variance``: p_t = min(1, min_{s<=t} 1 / Lambda_s). Rejecting
    whenever p_t < alpha keeps the false-positive rate at or under alpha however many
    looks are taken. A scalar gives the p-value of a single look."""
    d = np.atleast_1d(np.asarray(diff, dtype=float))
    v = np.atleast_1d(np.asarray(variance, dtype=float))
    tau2 = float(tau) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        log_lambda = 0.5 * np.log(v / (v + tau2)) + tau2 * d ** 2 / (2 * v * (v + tau2))
        p = np.minimum(1.0, np.exp(-log_lambda))
    p = np.where(np.isfinite(p), p, 1.0)
    return np.minimum.accumulate(p, axis=-1)


def prob_beat_control_beta(x1: int, n1: int, x0: int, n0: int, draws: int = 40_000,
                           seed: int = 0) -> float:
    """P(rate1 > rate0) under independent Beta(1 + x, 1 + n - x) posteriors (uniform
    priors), by Monte Carlo with a fixed seed."""
    gen = np.random.default_rng(seed)
    a = gen.beta(1 + x1, 1 + n1 - x1, draws)
    b = gen.beta(1 + x0, 1 + n0 - x0, draws)
    return float(np.mean(a > b))


def prob_beat_control_normal(diff: float, se: float) -> float:
    """P(mean1 > mean0) under a flat prior and the normal approximation of the difference."""
    if not se > 0:
        return float("nan")
    return float(norm.cdf(diff / se))


def holm(p_values: np.ndarray) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (NaN stays NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def benjamini_hochberg(p_values: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values; NaN stays NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    ranked = p[order] * m / np.arange(1, m + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(ranked[::-1])[::-1])
    return out


def _msprt_tau(mde_rel: float, control_mean: float) -> float:
    """The mixture's scale: the pre-registered effect in the metric's units (a mixture
    centred on plausible effects gives the sequential test its power there)."""
    return max(abs(mde_rel * control_mean), 1e-12)


def analyse(counts: pd.DataFrame, alpha: float, target_power: float,
            mde_rel: float = 0.10) -> pd.DataFrame:
    """One row per experiment x metric x variant from counts (experiment_id, metric,
    variant, users, conversions). ``power`` is the power to detect the pre-registered
    relative lift ``mde_rel`` at the observed sizes; ``mde`` the absolute difference
    detectable at ``target_power``. Holm's correction runs over every (metric, variant)
    comparison of an experiment (see :func:`holm_by_experiment`)."""
    rows = []
    for (exp, metric), g in counts.groupby(["experiment_id", "metric"], sort=True):
        variants = list(g["variant"])
        ctrl = control_of(variants)
        c = g.set_index("variant").loc[ctrl]
        n0, x0 = int(c["users"]), int(c["conversions"])
        p0 = x0 / n0
        srm = srm_p_value(list(g["users"].astype(int)))
        for _, r in g.sort_values("variant").iterrows():
            n1, x1 = int(r["users"]), int(r["conversions"])
            row = {"experiment_id": exp, "metric": metric, "metric_kind": "conversion",
                   "test": "two_proportion_z", "variant": r["variant"],
                   "users": n1, "conversions": x1, "conversion_rate": x1 / n1,
                   "mean_value": x1 / n1,
                   "is_control": r["variant"] == ctrl, "control_variant": ctrl,
                   "srm_p_value": srm}
            if r["variant"] == ctrl:
                row.update(rate_difference=np.nan, z_score=np.nan, p_value=np.nan,
                           ci_low=np.nan, ci_high=np.nan, lift=np.nan,
                           msprt_p_value=np.nan, prob_beat_control=np.nan)
            else:
                row.update(two_proportion_test(x1, n1, x0, n0, alpha))
                pooled = (x1 + x0) / (n1 + n0)
                var = pooled * (1 - pooled) * (1 / n1 + 1 / n0)
                row["msprt_p_value"] = float(msprt_p_value(
                    x1 / n1 - p0, var, _msprt_tau(mde_rel, p0))[-1]) if var > 0 else np.nan
                row["prob_beat_control"] = prob_beat_control_beta(x1, n1, x0, n0)
            row["mean_difference"] = row["rate_difference"]
            row["mde_preregistered"] = mde_rel
            row["power"] = power(p0, min(1.0, p0 * (1 + mde_rel)), n0, n1, alpha) \
                if 0 < p0 < 1 else np.nan
            row["mde"] = mde(p0, n0, n1, alpha, target_power)
            row["mde_lift"] = row["mde"] / p0 if x0 > 0 else np.nan
            rows.append(row)
    return holm_by_experiment(pd.DataFrame(rows), alpha)


def analyse_continuous(values: pd.DataFrame, alpha: float, target_power: float,
                       mde_rel: float = 0.10) -> pd.DataFrame:
    """One row per experiment x metric x variant from per-user values (experiment_id,
    metric, variant, user_id, value, pre_value): Welch's test, or CUPED on ``pre_value``
    when the pre-period varies (``test`` says which), the mSPRT p-value, the normal
    approximation's probability to beat control, power against the pre-registered lift."""
    rows = []
    q = norm.ppf(1 - alpha / 2) + norm.ppf(target_power)
    for (exp, metric), g in values.groupby(["experiment_id", "metric"], sort=True):
        ctrl = control_of(list(g["variant"].unique()))
        c = g[g["variant"] == ctrl]
        y0, x0 = c["value"].to_numpy(float), c["pre_value"].to_numpy(float)
        m0 = float(y0.mean()) if len(y0) else np.nan
        srm = srm_p_value(list(g.groupby("variant").size().astype(int)))
        use_cuped = bool(np.nanvar(g["pre_value"].to_numpy(float)) > 0)
        for variant, v in g.groupby("variant", sort=True):
            y1, x1 = v["value"].to_numpy(float), v["pre_value"].to_numpy(float)
            row = {"experiment_id": exp, "metric": metric, "metric_kind": "continuous",
                   "test": "cuped_welch" if use_cuped else "welch", "variant": variant,
                   "users": len(v), "mean_value": float(y1.mean()),
                   "is_control": variant == ctrl, "control_variant": ctrl,
                   "srm_p_value": srm, "mde_preregistered": mde_rel}
            res = cuped_test(y1, x1, y0, x0, alpha) if use_cuped else welch_test(y1, y0, alpha)
            se = res["se"]
            if variant == ctrl:
                res = {k: np.nan for k in res}
                row.update(msprt_p_value=np.nan, prob_beat_control=np.nan, lift=np.nan)
            else:
                row["msprt_p_value"] = float(msprt_p_value(
                    res["mean_difference"], se ** 2, _msprt_tau(mde_rel, m0))[-1]) \
                    if se > 0 else np.nan
                row["prob_beat_control"] = prob_beat_control_normal(res["mean_difference"], se)
                row["lift"] = res["mean_difference"] / m0 if m0 else np.nan
            row.update({k: res.get(k, np.nan) for k in (
                "mean_difference", "p_value", "ci_low", "ci_high", "variance_reduction")})
            row["t_stat"] = res.get("t_stat", np.nan)
            # the detectable difference at these sizes, from the control's spread
            sd0 = float(np.std(y0, ddof=1)) if len(y0) > 1 else np.nan
            se_design = sd0 * np.sqrt(1 / len(y1) + 1 / len(y0))
            row["power"] = power_normal(mde_rel * m0, se_design, alpha)
            row["mde"] = float(q * se_design)
            row["mde_lift"] = row["mde"] / m0 if m0 else np.nan
            rows.append(row)
    return holm_by_experiment(pd.DataFrame(rows), alpha)


def holm_by_experiment(out: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Holm-adjusted p-values over every comparison of an experiment (all its metrics
    and variants) and the significance flag: Holm p < alpha and no sample ratio mismatch
    (``srm_ok``: srm_p_value >= SRM_ALPHA or unknown): with a broken split no effect
    is trusted."""
    if out.empty:
        return out
    out = out.reset_index(drop=True)
    out["p_value_holm"] = np.nan
    for _, idx in out.groupby("experiment_id").groups.items():
        out.loc[idx, "p_value_holm"] = holm(out.loc[idx, "p_value"].to_numpy())
    out["srm_ok"] = ~(out["srm_p_value"] < SRM_ALPHA)
    out["significant"] = ((out["p_value_holm"] < alpha).fillna(False)
                          & out["srm_ok"]).astype(bool)
    return out
