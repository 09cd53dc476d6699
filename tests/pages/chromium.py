"""Headless Chromium (Debian's package) for page tests: the DOM after scripts ran, and screenshots."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
]


def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        raise RuntimeError("headless Chromium is missing: run scripts/ensure_test_tools.sh (apt-get install chromium)")
    return path


def _run(args: list[str], timeout: float = 90) -> str:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        out = subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
                             capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"chromium failed ({out.returncode}): {out.stderr[-2000:]}")
    return out.stdout


def dump_dom(page: Path) -> str:
    """The DOM as Chromium holds it after the page's scripts ran."""
    return _run(["--virtual-time-budget=3000", "--dump-dom", page.resolve().as_uri()])


def screenshot(page: Path, png: Path, width: int = 1400, height: int = 2000) -> Path:
    """A PNG of the page as Chromium renders it."""
    _run([f"--screenshot={png.resolve()}", f"--window-size={width},{height}", page.resolve().as_uri()])
    return png
