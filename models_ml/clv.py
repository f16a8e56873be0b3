"""Probabilistic customer lifetime value: BG/NBD purchases with Gamma-Gamma spend.

Pure maths on per-customer summaries (days as the time unit):

- ``x``: repeat transactions (transaction days after the first one) up to the cut-off,
- ``t_x``: days from the first to the last transaction,
- ``T``: days from the first transaction to the cut-off,
- ``n_tx`` and ``m``: transactions (the first included) and their mean value, for the
  spend model.

BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way"): while alive a
customer buys as a Poisson process with rate lambda ~ Gamma(r, alpha); after each repeat
purchase they drop out with probability p ~ Beta(a, b). Gamma-Gamma (Fader, Hardie & Lee
2005, "RFM and CLV"; Colombo & Jiang 1999): a transaction's value is Gamma(p, nu) with the
customer's nu ~ Gamma(q, v), independent of the purchase process; the value of a
customer with ``n_tx`` transactions of mean ``m`` is shrunk towards the population mean.

Written here with scipy rather than taken from a package: ``lifetimes`` is archived
(last release 2020), ``btyd`` is an alpha that pins PyMC 4 / Aesara, and
``pymc-marketing`` brings PyMC, PyTensor and numba (some thirty packages) for two
maximum-likelihood fits. The tests check the fits on simulated populations with known
parameters.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, gammaln, hyp2f1

_BOUNDS = [(-12.0, 12.0)] * 4


@dataclass(frozen=True)
class BGNBD:
    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    v: float

    @property
    def mean(self) -> float:
        """The population's mean transaction value (needs q > 1)."""
        return self.p * self.v / (self.q - 1) if self.q > 1 else float("nan")


def _arrays(*xs: np.ndarray) -> list[np.ndarray]:
    return [np.asarray(v, dtype=float) for v in xs]


def bgnbd_loglik(params: BGNBD, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of (x, t_x, T) under the BG/NBD (FHL 2005, eq. 6)."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = betaln(a, b + x) - betaln(a, b)
    a3 = -(r + x) * np.log(alpha + T)
    with np.errstate(divide="ignore", invalid="ignore"):
        a4 = np.where(x > 0, np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                      - (r + x) * np.log(alpha + t_x), -np.inf)
    return a1 + a2 + np.logaddexp(a3, a4)


def fit_bgnbd(x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> BGNBD:
    """Maximum likelihood (L-BFGS-B on log-parameters; deterministic)."""
    x, t_x, T = _arrays(x, t_x, T)
    if len(x) == 0:
        raise ValueError("no customers to fit")
    scale = max(float(np.mean(T)), 1.0)  # alpha in the units of T: a neutral start

    def nll(theta: np.ndarray) -> float:
        r, alpha, a, b = np.exp(theta)
        ll = bgnbd_loglik(BGNBD(r, alpha, a, b), x, t_x, T)
        return float(-np.sum(ll)) / len(x)

    start = np.log([1.0, scale, 1.0, 1.0])
    res = minimize(nll, start, method="L-BFGS-B", bounds=_BOUNDS)
    return BGNBD(*(float(v) for v in np.exp(res.x)))


def bgnbd_expected(params: BGNBD, t: float, x: np.ndarray, t_x: np.ndarray,
                   T: np.ndarray) -> np.ndarray:
    """Expected transactions in (T, T + t] given (x, t_x, T) (FHL 2005, eq. 10)."""
    x, t_x, T = _arrays(x, t_x, T)
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    if t <= 0:
        return np.zeros_like(x)
    z = t / (alpha + T + t)
    head = (a + b + x - 1) / (a - 1)
    tail = 1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp2f1(r + x, b + x, a + b + x - 1, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        alive_odds = np.where(x > 0, a / np.maximum(b + x - 1, 1e-300)
                              * ((alpha + T) / (alpha + t_x)) ** (r + x), 0.0)
    out = head * tail / (1 + alive_odds)
    return np.maximum(np.nan_to_num(out, nan=0.0, posinf=0.0), 0.0)


def gamma_gamma_loglik(params: GammaGamma, n_tx: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Per-customer log-likelihood of the mean value ``m`` of ``n_tx`` transactions."""
    n, m = _arrays(n_tx, m)
    p, q, v = params.p, params.q, params.v
    return (gammaln(p * n + q) - gammaln(p * n) - gammaln(q) + q * np.log(v)
            + (p * n - 1) * np.log(m) + p * n * np.log(n) - (p * n + q) * np.log(v + n * m))


def fit_gamma_gamma(n_tx: np.ndarray, m: np.ndarray) -> GammaGamma:
    """Maximum likelihood on the customers with a positive mean value."""
    n, m = _arrays(n_tx, m)
    ok = (n > 0) & (m > 0)
    n, m = n[ok], m[ok]
    if len(n) == 0:
        raise ValueError("no customers with a positive value to fit")

    def nll(theta: np.ndarray) -> float:
        p, q, v = np.exp(theta)
        return float(-np.sum(gamma_gamma_loglik(GammaGamma(p, q, v), n, m))) / len(n)

    # start at p = 1, q = 2 and v = mean value (the population mean matches the data)
    start = np.log([1.0, 2.0, float(np.mean(m))])
    res = minimize(nll, start, method="L-BFGS-B", bounds=_BOUNDS[:3])
    return GammaGamma(*(float(v) for v in np.exp(res.x)))


def gamma_gamma_mean(params: GammaGamma, n_tx: np.ndarray, m: np.ndarray) -> np.ndarray:
    """E[transaction value | n_tx transactions of mean m]; the population mean for a
    customer without a positive value."""
    n, m = _arrays(n_tx, m)
    p, q, v = params.p, params.q, params.v
    known = (n > 0) & (m > 0)
    cond = p * (v + n * np.where(known, m, 0.0)) / (p * n + q - 1)
    return np.where(known, cond, params.mean)


def simulate(n: int, purchase: BGNBD, spend: GammaGamma, T: np.ndarray, horizon: float,
             seed: int) -> dict[str, np.ndarray]:
    """A BG/NBD + Gamma-Gamma population: each customer's first purchase at 0, observed
    until ``T`` (calibration), then ``horizon`` more days. Returns the calibration
    summaries (x, t_x, T, n_tx, m) and the holdout truth (``future_tx``, ``future_value``)."""
    gen = np.random.default_rng(seed)
    T = np.broadcast_to(np.asarray(T, dtype=float), (n,)).copy()
    lam = gen.gamma(purchase.r, 1 / purchase.alpha, n)
    drop = gen.beta(purchase.a, purchase.b, n)
    nu = gen.gamma(spend.q, 1 / spend.v, n)
    end = T + horizon
    x = np.zeros(n)
    t_x = np.zeros(n)
    value = gen.gamma(spend.p, 1 / nu)  # the first purchase, at time 0
    future_tx = np.zeros(n)
    future_value = np.zeros(n)
    now = np.zeros(n)
    active = np.ones(n, dtype=bool)
    while active.any():
        idx = np.flatnonzero(active)
        now[idx] += gen.exponential(1 / lam[idx])
        done = now[idx] > end[idx]
        active[idx[done]] = False
        idx = idx[~done]
        amount = gen.gamma(spend.p, 1 / nu[idx])
        calib = now[idx] <= T[idx]
        c, h = idx[calib], idx[~calib]
        x[c] += 1
        t_x[c] = now[c]
        value[c] += amount[calib]
        future_tx[h] += 1
        future_value[h] += amount[~calib]
        dies = gen.random(len(idx)) < drop[idx]
        active[idx[dies]] = False
    n_tx = x + 1
    return {"x": x, "t_x": t_x, "T": T, "n_tx": n_tx, "m": value / n_tx,
            "future_tx": future_tx, "future_value": future_value}
