"""Segments: k-means on standardised engagement features, k chosen by silhouette, each
segment named from its profile (z-scores of its centre)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import pairwise_distances, silhouette_score
from sklearn.preprocessing import StandardScaler

SEGMENT_FEATURES = ("active_days_28", "events_28", "sessions_28", "attempts_28",
                    "days_since_last_active", "activity_trend", "goals_completed",
                    "charges_to_date")


@dataclass
class Segmentation:
    labels: np.ndarray
    names: dict[int, str]
    k: int
    silhouettes: dict[int, float]
    profiles: pd.DataFrame  # mean raw feature values (and engagement score) per segment


def silhouette_sample(n: int, size: int, seed: int) -> np.ndarray:
    """The rows ``silhouette_score(X, labels, sample_size=size, random_state=seed)`` draws,
    in its order."""
    return np.random.RandomState(seed).permutation(n)[:size]


def choose_k(X: np.ndarray, k_min: int, k_max: int, seed: int) -> tuple[int, dict[int, float]]:
    """k with the best silhouette, on a sample of at most 5000 rows: the sample
    ``silhouette_score`` would draw, the same for every k, so its distance matrix is
    computed once and reused (scores equal to ``silhouette_score``'s to rounding)."""
    scores: dict[int, float] = {}
    n = len(X)
    rows = silhouette_sample(n, min(n, 5000), seed)
    distances: np.ndarray | None = None
    for k in range(k_min, min(k_max, n - 1) + 1):
        labels = KMeans(n_clusters=k, n_init=5, random_state=seed).fit_predict(X)
        if len(np.unique(labels)) < 2:
            continue
        if distances is None:
            distances = pairwise_distances(X[rows])
        scores[k] = float(silhouette_score(distances, labels[rows], metric="precomputed"))
    if not scores:
        return 1, scores
    return max(scores, key=lambda k: (scores[k], -k)), scores


def name_segments(centres_z: pd.DataFrame) -> dict[int, str]:
    """Names from profiles: the most engaged segment is 'power learners' (or 'power
    users' when learning is not its strength), the least recent 'dormant', a recent
    segment falling in activity 'at risk', paying ones 'paying regulars'; the rest
    'casual' (or 'steady' when above average). A name two segments share is told apart
    by the trait that differs most between them ('at risk, more lapsed')."""
    names: dict[int, str] = {}
    z = centres_z
    engagement = z[["active_days_28", "events_28", "sessions_28"]].mean(axis=1)
    for seg in z.index:
        row = z.loc[seg]
        if row["days_since_last_active"] > 1.0:
            name = "dormant"
        elif engagement[seg] == engagement.max() and engagement[seg] > 0.5:
            name = "power learners" if row["attempts_28"] > 0.5 else "power users"
        elif row["activity_trend"] < -0.5 or (row["days_since_last_active"] > 0.3
                                              and engagement[seg] < 0):
            name = "at risk"
        elif row["charges_to_date"] > 1.0:
            name = "paying regulars"
        elif row["attempts_28"] > 1.0:
            name = "learners"
        elif engagement[seg] > 0:
            name = "steady"
        else:
            name = "casual"
        names[int(seg)] = name
    # a name given twice: each keeps it with the trait that sets it apart from the other
    for base in sorted({n for n in names.values() if list(names.values()).count(n) > 1}):
        same = [seg for seg in names if names[seg] == base]
        for seg in same:
            others = z.loc[[s for s in same if s != seg]].mean()
            gap = (z.loc[seg] - others).drop(labels=["activity_trend"], errors="ignore")
            feature = str(gap.abs().idxmax())
            word = "more" if gap[feature] > 0 else "less"
            names[seg] = f"{base}, {word} {TRAIT_WORDS.get(feature, feature)}"
    return names


TRAIT_WORDS = {"active_days_28": "active days", "events_28": "events",
               "sessions_28": "sessions", "attempts_28": "exercises",
               "days_since_last_active": "lapsed", "goals_completed": "goals",
               "charges_to_date": "paying"}


def segment(features: pd.DataFrame, k_min: int, k_max: int, seed: int) -> Segmentation:
    cols = list(SEGMENT_FEATURES)
    raw = features[cols].astype(float)
    X = StandardScaler().fit_transform(np.log1p(raw.clip(lower=0)).assign(
        activity_trend=raw["activity_trend"]))
    k, sil = choose_k(X, k_min, k_max, seed)
    if k < 2:
        labels = np.zeros(len(X), dtype=int)
    else:
        labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(X)
    # renumber segments by engagement (0 = most engaged) so ids are stable across runs
    zframe = pd.DataFrame(X, columns=cols)
    centres = zframe.groupby(labels).mean()
    eng = centres[["active_days_28", "events_28", "sessions_28"]].mean(axis=1)
    remap = np.empty(len(eng), dtype=int)
    remap[eng.sort_values(ascending=False).index.to_numpy()] = np.arange(len(eng))
    labels = remap[labels]
    centres = zframe.groupby(labels).mean()
    profiles = raw.groupby(labels).mean()
    if "engagement_score" in features:  # the documented score, described, not clustered on
        profiles["engagement_score"] = (
            features["engagement_score"].astype(float).groupby(labels).mean().to_numpy())
    profiles["users"] = pd.Series(labels).value_counts().sort_index()
    return Segmentation(labels, name_segments(centres), k, sil, profiles)
