"""A missing prerequisite is a skip on a developer's machine and a failure under CI."""

from __future__ import annotations

import pytest
from prereq import missing


def test_skips_outside_ci_and_fails_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no chromium"):
        missing("no chromium")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="prerequisite missing in CI: no chromium"):
        missing("no chromium")
