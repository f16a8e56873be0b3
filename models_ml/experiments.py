"""Experiment statistics on conversion counts: two-proportion z-test, confidence interval,
sample ratio mismatch, power, minimum detectable effect and Holm's correction."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import chisquare, norm


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
    """Power of the two-sided test to detect the difference p1 - p0 at these sizes."""
    se = np.sqrt(p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0)
    if se == 0:
        return float("nan")
    q = norm.ppf(1 - alpha / 2)
    k = abs(p1 - p0) / se
    return float(norm.cdf(k - q) + norm.cdf(-k - q))


def mde(p0: float, n0: int, n1: int, alpha: float = 0.05, target_power: float = 0.8) -> float:
    """Minimum detectable absolute difference of rates at this power (control's variance)."""
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(target_power))
                 * np.sqrt(p0 * (1 - p0) * (1 / n0 + 1 / n1)))


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


def analyse(counts: pd.DataFrame, alpha: float, target_power: float) -> pd.DataFrame:
    """One row per experiment x metric x variant from counts (experiment_id, metric,
    variant, users, conversions). Holm's correction runs over every (metric, variant)
    comparison of an experiment."""
    rows = []
    for (exp, metric), g in counts.groupby(["experiment_id", "metric"], sort=True):
        variants = list(g["variant"])
        ctrl = control_of(variants)
        c = g.set_index("variant").loc[ctrl]
        n0, x0 = int(c["users"]), int(c["conversions"])
        srm = srm_p_value(list(g["users"].astype(int)))
        for _, r in g.sort_values("variant").iterrows():
            n1, x1 = int(r["users"]), int(r["conversions"])
            row = {"experiment_id": exp, "metric": metric, "variant": r["variant"],
                   "users": n1, "conversions": x1, "conversion_rate": x1 / n1,
                   "is_control": r["variant"] == ctrl, "control_variant": ctrl,
                   "srm_p_value": srm}
            if r["variant"] == ctrl:
                row.update(rate_difference=np.nan, z_score=np.nan, p_value=np.nan,
                           ci_low=np.nan, ci_high=np.nan, lift=np.nan, power=np.nan)
            else:
                row.update(two_proportion_test(x1, n1, x0, n0, alpha))
                row["power"] = power(x0 / n0, x1 / n1, n0, n1, alpha)
            row["mde"] = mde(x0 / n0, n0, n1, alpha, target_power)
            row["mde_lift"] = row["mde"] / (x0 / n0) if x0 > 0 else np.nan
            rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["p_value_holm"] = np.nan
    for _, idx in out.groupby("experiment_id").groups.items():
        out.loc[idx, "p_value_holm"] = holm(out.loc[idx, "p_value"].to_numpy())
    out["significant"] = (out["p_value_holm"] < alpha).fillna(False).astype(bool)
    return out
