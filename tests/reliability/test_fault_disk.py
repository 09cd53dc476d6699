"""The disk full: memory on a small tmpfs, filled to the last byte, then freed.

Mounting needs root; elsewhere the test skips and says so. The mount is removed at the
end whatever happens (lazily if something still holds a file open).
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from faulthelpers import FIRST, NS, SECOND, consistent, error_body, one_line_error, scripted_rag, state
from prereq import missing

from agentrag.errors import StoreUnavailableError
from agentrag.ingest import documents_from, to_raw_items

SIZE = "32m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A fresh tmpfs of ``SIZE`` mounted under the test's folder; unmounted afterwards."""
    if os.geteuid() != 0:
        missing("a full disk is simulated with a small tmpfs, and mounting one needs root (run as root)")
    mnt = tmp_path / "small-disk"
    mnt.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={SIZE}", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs here ({done.stderr.strip()}); the container needs CAP_SYS_ADMIN")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(mnt: Path) -> Path:
    """Write zeros until the filesystem refuses a single byte more; returns the filler file."""
    filler = mnt / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 20, 1 << 16, 1 << 12, 1):
            while True:
                try:
                    os.write(fd, b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
                    break
    finally:
        os.close(fd)
    return filler


def test_disk_full_fails_cleanly_and_recovers_when_freed(small_disk, reference, embedder, http_client, cli, tmp_path):
    rag = scripted_rag(embedder, small_disk / "data")
    try:
        rag.add(FIRST, namespace=NS)
        store = rag.memory
        before = state(store, NS)
        client = http_client(rag)
        filler = fill(small_disk)

        # The graph (its checkpoint) and the store itself (its ledger) each refuse with one typed error.
        with pytest.raises(StoreUnavailableError, match="no space left"):
            rag.add(SECOND, namespace=NS)
        raw = to_raw_items(documents_from(SECOND), NS)
        with pytest.raises(StoreUnavailableError, match="no space left"):
            store.add(NS, raw)  # type: ignore[arg-type]
        assert state(store, NS) == before
        consistent(store, NS)

        # HTTP: writes get 503 in the one shape; reads and /healthz still answer.
        resp = client.post(f"/v1/{NS}/memory", json={"messages": SECOND, "derive": False})
        assert "no space left" in error_body(resp, 503).detail
        assert client.get(f"/v1/{NS}/search", params={"q": "Paris"}).status_code == 200
        assert client.get("/healthz").json() == {"status": "ok"}
        # CLI: one line, exit 2.
        notes = tmp_path / "bob.txt"
        notes.write_text("Bob lives in Boston and works nights.\n")
        res = cli("--data-dir", str(small_disk / "data"), "ingest", str(notes), "-n", NS, "--no-derive")
        assert res.code == 2 and "no space left" in one_line_error(res)
        assert state(store, NS) == before

        # Space freed: the same call completes, ending where an uninterrupted run ends.
        filler.unlink()
        rag.add(SECOND, namespace=NS)
        assert state(store, NS) == reference
        consistent(store, NS)
        assert client.get(f"/v1/{NS}/search", params={"q": "Boston"}).status_code == 200
    finally:
        rag.close()
