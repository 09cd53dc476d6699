"""A test whose prerequisite is missing: skipped on a developer's machine, a failure in CI.

``.ci/run`` installs every prerequisite (Postgres, Chromium, langgraph-cli) and runs as root,
so under ``CI`` a missing one means the run would silently test less: it fails instead.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def missing(why: str) -> NoReturn:
    """Skip, or fail when ``CI`` is set (``CI=true`` as CI services set it)."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"prerequisite missing in CI: {why}", pytrace=False)
    pytest.skip(why)
