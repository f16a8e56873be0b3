"""dbt command lines, built by pure functions (unit-tested)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any


def vars_args(dbt_vars: Mapping[str, Any]) -> list[str]:
    """``--vars`` with the settings, as a stable JSON document."""
    return ["--vars", json.dumps(dict(dbt_vars), sort_keys=True, default=str)]


def parse_args(dbt_vars: Mapping[str, Any]) -> list[str]:
    return ["parse", "--quiet", *vars_args(dbt_vars)]


def build_args(
    dbt_vars: Mapping[str, Any],
    *,
    full_refresh: bool = False,
    select: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> list[str]:
    """``dbt build`` (models, seeds, snapshots and their tests) with the settings as vars."""
    args = ["build", *vars_args(dbt_vars)]
    if full_refresh:
        args.append("--full-refresh")
    if select:
        args += ["--select", *select]
    if exclude:
        args += ["--exclude", *exclude]
    return args


def passthrough_args(user_args: Sequence[str], dbt_vars: Mapping[str, Any]) -> list[str]:
    """A hand-typed dbt command with the settings added as vars (unless it sets its own).

    Commands that take no vars (``deps``, ``clean``, ``debug``, ``--version``) pass unchanged.
    """
    args = list(user_args)
    if not args or args[0] in ("deps", "clean", "debug", "init") or args[0].startswith("-"):
        return args
    if "--vars" in args:
        return args
    return [*args, *vars_args(dbt_vars)]
