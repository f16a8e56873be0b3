"""What a test does when something it needs (a browser, a program) is missing: skip
locally, with the reason; fail under CI (``CI=true``, which ``.ci/run`` sets), where
``.ci/run`` prepares every prerequisite, so a missing one is a broken CI machine, not a
test to leave out silently."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def missing(reason: str) -> NoReturn:
    """Skip the calling test (locally) or fail it (under CI), naming what is missing."""
    if in_ci():
        pytest.fail(f"CI=true and a prerequisite is missing: {reason}", pytrace=False)
    pytest.skip(reason)
