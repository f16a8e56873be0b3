"""A minimal columnar table of simulated events: a dict of equally long numpy arrays.

Every column has a fixed dtype and a *null sentinel* (``-1`` for codes and non-negative
integers, NaN for floats). Strings never live here: string values are small integer
codes into the vocabularies of :mod:`sample_exports.vocab` or into the world's id lists,
and are only materialised by the renderer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

#: column -> dtype of an event frame. Null is -1 for integer columns, NaN for floats.
EVENT_COLUMNS: dict[str, np.dtype] = {
    name: np.dtype(dtype)
    for name, dtype in (
        # identity and time
        ("eid", "int64"),  # global event number, rendered as a scrambled hex id
        ("ts", "int64"),  # epoch milliseconds, UTC
        ("etype", "int8"),  # code into vocab.ALL_EVENT_TYPES
        ("sess", "int64"),  # global session number
        ("skind", "int8"),  # 0 conversation, 1 learning
        ("user", "int32"),  # -1: anonymous
        ("device", "int64"),  # anonymous_id (contract 1.1) as a device number, -1 none
        ("creator", "int16"),
        ("agent", "int16"),
        ("program", "int16"),
        ("channel", "int8"),
        ("platform", "int8"),
        ("country", "int8"),  # index into vocab.COUNTRIES
        ("tsfmt", "int8"),  # 0: Z, 1: numeric offset of the user's zone, 2: naive
        # optional top-level values
        ("duration_ms", "int64"),
        ("response_time_ms", "int64"),
        ("confidence", "float64"),
        ("sentiment", "int8"),
        # data fields
        ("text_length", "int32"),
        ("intent", "int8"),
        ("entity", "int8"),
        ("entity_value", "int16"),
        ("workflow", "int8"),
        ("endpoint", "int8"),
        ("status_code", "int16"),
        ("latency_ms", "int32"),
        ("error_code", "int8"),
        ("rating", "int8"),
        ("comment", "int8"),
        ("topic", "int16"),
        ("lesson_no", "int16"),
        ("skill", "int16"),
        ("correct", "int8"),  # -1 null, 0 false, 1 true
        ("quality", "float64"),
        ("goal", "int32"),
        ("goal_type", "int8"),
        ("target_value", "float64"),
        ("escalated", "int8"),  # -1 absent, 0 false, 1 true
        ("custom", "int8"),
        # export bookkeeping
        ("export_t", "int32"),  # export day index the row is written on
        ("is_copy", "int8"),  # 1: a re-sent copy of an earlier line
        ("null_user", "int8"),  # 1: anonymous row written with an explicit "user_id": null
        ("hide_user", "int8"),  # 1: the user's row written without user_id (not signed in)
        ("client_version", "int8"),  # unknown top-level field (NDJSON only), -1 none
        ("ui_variant", "int8"),  # unknown data field, -1 none
        ("agent_version", "int8"),  # data.agent_version: code into vocab.AGENT_VERSIONS, -1 none
    )
}

Frame = dict[str, np.ndarray]


def _null_of(dtype: np.dtype) -> float | int:
    return np.nan if dtype.kind == "f" else -1


def make(n: int, columns: Mapping[str, np.ndarray | int | float] | None = None) -> Frame:
    """A frame of ``n`` rows: the given columns (arrays or scalars), the others null."""
    columns = columns or {}
    unknown = set(columns) - set(EVENT_COLUMNS)
    if unknown:
        raise KeyError(f"unknown event columns: {sorted(unknown)}")
    out: Frame = {}
    for name, dtype in EVENT_COLUMNS.items():
        value = columns.get(name)
        if value is None:
            out[name] = np.full(n, _null_of(dtype), dtype=dtype)
        elif np.isscalar(value):
            out[name] = np.full(n, value, dtype=dtype)
        else:
            arr = np.asarray(value)
            if arr.shape != (n,):
                raise ValueError(f"column {name}: expected {n} rows, got {arr.shape}")
            out[name] = arr.astype(dtype, copy=False)
    return out


def length(frame: Frame) -> int:
    return len(frame["ts"])


def concat(frames: Iterable[Frame]) -> Frame:
    """Rows of all frames, in order."""
    parts = [f for f in frames if length(f)]
    if not parts:
        return make(0)
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([f[name] for f in parts]) for name in EVENT_COLUMNS}


def take(frame: Frame, index: np.ndarray) -> Frame:
    """The rows at ``index`` (integer positions or a boolean mask)."""
    return {name: col[index] for name, col in frame.items()}
