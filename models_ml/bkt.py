"""Bayesian Knowledge Tracing parameters by expectation maximisation (Baum-Welch).

A two-state hidden Markov model per topic: unknown -> known with p_transit after each
attempt, never forgetting; a correct answer with p_guess when unknown and 1 - p_slip when
known; the first attempt known with p_init. Sequences (one per user) are padded into a
matrix and the forward-backward recursions run over attempt positions for all users at
once, each position for the users whose sequence reaches it. Identifiability: p_guess
and p_slip are kept below 0.5 (and p_init, p_transit in [0.001, 0.999]), so "known"
always means the better-answering state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BOUNDS = {"p_init": (0.001, 0.999), "p_transit": (0.001, 0.999), "p_guess": (0.001, 0.45),
          "p_slip": (0.001, 0.45)}


@dataclass(frozen=True)
class BKTParams:
    p_init: float
    p_transit: float
    p_guess: float
    p_slip: float

    def clipped(self) -> BKTParams:
        return BKTParams(*(float(np.clip(getattr(self, k), *BOUNDS[k])) for k in BOUNDS))


def pad_sequences(seqs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Observations (users x positions, 0/1) and the mask of real attempts."""
    n, t = len(seqs), max((len(s) for s in seqs), default=0)
    obs = np.zeros((n, t))
    mask = np.zeros((n, t), dtype=bool)
    lengths = np.array([len(s) for s in seqs])
    mask[:] = np.arange(t)[None, :] < lengths[:, None]
    if n and t:
        obs[mask] = np.concatenate(seqs)
    return obs, mask


def sequences_from_frame(frame: pd.DataFrame) -> list[np.ndarray]:
    """Per user, the correctness of their attempts in order (frame sorted by user, order)."""
    ordered = frame.sort_values(["user_id", "attempt_number"], kind="stable")
    correct = ordered["is_correct"].to_numpy(dtype=float)
    bounds = np.flatnonzero(ordered["user_id"].to_numpy()[1:] != ordered["user_id"].to_numpy()[:-1])
    return np.split(correct, bounds + 1) if len(correct) else []


def _emissions(obs: np.ndarray, p: BKTParams) -> tuple[np.ndarray, np.ndarray]:
    """P(observation | unknown), P(observation | known)."""
    e0 = np.where(obs == 1, p.p_guess, 1 - p.p_guess)
    e1 = np.where(obs == 1, 1 - p.p_slip, p.p_slip)
    return e0, e1


def log_likelihood(obs: np.ndarray, mask: np.ndarray, p: BKTParams) -> float:
    """The sequences' log-likelihood (``mask``: each row a prefix, as pad_sequences
    makes it); each position computed for the sequences that reach it."""
    e0, e1 = _emissions(obs, p)
    a1 = np.full(len(obs), p.p_init)  # P(known) before the attempt
    ll = np.zeros(len(obs))
    for t in range(obs.shape[1]):
        m = np.flatnonzero(mask[:, t])
        a = a1[m]
        like = (1 - a) * e0[m, t] + a * e1[m, t]
        post = a * e1[m, t] / np.where(like > 0, like, 1)
        ll[m] += np.log(like)
        a1[m] = post + (1 - post) * p.p_transit
    return float(ll.sum())


def em_step(obs: np.ndarray, mask: np.ndarray, p: BKTParams) -> BKTParams:
    """One Baum-Welch update over all sequences (``mask``: each row a prefix, as
    pad_sequences makes it). Each position is computed for the sequences that reach it
    alone: the padding of a topic's many short sequences to its longest one (six cells
    in seven at 10M events) is never visited."""
    n, T = obs.shape
    e0, e1 = _emissions(obs, p)
    A = np.array([[1 - p.p_transit, p.p_transit], [0.0, 1.0]])
    alpha = np.zeros((n, T, 2))
    scale = np.ones((n, T))
    prior = np.array([1 - p.p_init, p.p_init])
    active = [np.flatnonzero(mask[:, t]) for t in range(T)]
    for t in range(T):
        m = active[t]
        pred = np.tile(prior, (len(m), 1)) if t == 0 else alpha[m, t - 1] @ A
        a = pred * np.stack([e0[m, t], e1[m, t]], axis=1)
        s = a.sum(axis=1)
        s = np.where(s > 0, s, 1.0)
        alpha[m, t] = a / s[:, None]
        scale[m, t] = s
    beta = np.ones((n, T, 2))
    for t in range(T - 2, -1, -1):
        m = active[t + 1]
        e_next = np.stack([e0[m, t + 1], e1[m, t + 1]], axis=1)
        beta[m, t] = (e_next * beta[m, t + 1]) @ A.T / scale[m, t + 1, None]
    gamma = alpha * beta
    gamma /= np.where(gamma.sum(axis=2, keepdims=True) > 0, gamma.sum(axis=2, keepdims=True), 1)
    # expected unknown->known transitions between consecutive real attempts
    trans_num = 0.0
    trans_den = 0.0
    for t in range(T - 1):
        m = active[t + 1]
        if not len(m):
            break
        e1n = e1[m, t + 1] * beta[m, t + 1, 1]
        xi01 = alpha[m, t, 0] * p.p_transit * e1n / scale[m, t + 1]
        trans_num += xi01.sum()
        trans_den += gamma[m, t, 0].sum()
    g1 = gamma[:, :, 1][mask]
    g0 = gamma[:, :, 0][mask]
    o = obs[mask]
    new = BKTParams(
        p_init=float(gamma[:, 0, 1][mask[:, 0]].mean()),
        p_transit=float(trans_num / trans_den) if trans_den > 0 else p.p_transit,
        p_guess=float((g0 * o).sum() / g0.sum()) if g0.sum() > 0 else p.p_guess,
        p_slip=float((g1 * (1 - o)).sum() / g1.sum()) if g1.sum() > 0 else p.p_slip,
    )
    return new.clipped()


def fit(seqs: list[np.ndarray], start: BKTParams, iterations: int = 60,
        tol: float = 1e-6) -> tuple[BKTParams, float, int]:
    """EM from ``start`` until the log-likelihood gains less than ``tol`` per attempt."""
    obs, mask = pad_sequences(seqs)
    p = start.clipped()
    ll = log_likelihood(obs, mask, p)
    n_obs = max(int(mask.sum()), 1)
    it = 0
    for it in range(1, iterations + 1):  # noqa: B007
        q = em_step(obs, mask, p)
        ll_new = log_likelihood(obs, mask, q)
        p = q
        if abs(ll_new - ll) / n_obs < tol:
            ll = ll_new
            break
        ll = ll_new
    return p, ll, it
