"""A Chroma server and a Postgres cluster that a test may stop and start again on the same port and data.

The session fixtures (``chroma_server``, ``postgres_server``) are shared by many tests and
must never go away; these are private to one test module, so stopping them mid-run
hurts nobody else.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chromaserver import _chroma_cli, _free_port
from pgserver import _bin_dir, _run
from prereq import missing


class ChromaProcess:
    """``chroma run`` on a fixed port and folder; ``stop()`` kills it, ``start()`` brings it back."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        log = (self.root / f"server-{self.starts}.log").open("wb")
        env = {**os.environ, "ANONYMIZED_TELEMETRY": "False"}
        cmd = [_chroma_cli(), "run", "--path", str(self.root / "data"), "--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        log.close()
        self.starts += 1
        deadline = time.monotonic() + 90
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma exited with {self.proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("chroma server did not come up within 90 s")
            time.sleep(0.1)

    def stop(self) -> None:
        """Kill the server (SIGKILL: a crash, not a polite shutdown) and wait until the port is free."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=20)
        self.proc = None


@pytest.fixture
def chroma_proc(tmp_path: Path) -> Iterator[ChromaProcess]:
    """A Chroma server of this test only, running; stopped at the end whatever happened."""
    server = ChromaProcess(tmp_path / "chroma-server")
    server.root.mkdir()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class PostgresCluster:
    """A Postgres cluster of its own, stopped and started with ``pg_ctl`` on the same port and data."""

    def __init__(self) -> None:
        bins = _bin_dir()
        if bins is None:
            missing("Postgres server binaries not found; install them with: apt-get install -y postgresql")
        self.bins = bins
        self.as_postgres = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="agentrag-pgfault-"))
        os.chmod(self.root, 0o755)
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = "postgres" if self.as_postgres else os.environ.get("USER", "postgres")
        _run(
            [str(bins / "initdb"), "-D", str(self.data), "-A", "trust", "-U", self.user, "--no-sync"], self.as_postgres
        )
        self.restarts = 0

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/postgres"

    def _ctl(self, *args: str) -> None:
        _run([str(self.bins / "pg_ctl"), "-D", str(self.data), *args], self.as_postgres)

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", opts, "-l", str(self.root / "log"), "-w", "start")

    def stop(self) -> None:
        """Fast shutdown: every connection is cut, as in a restart or failover."""
        self._ctl("-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError):
                self._ctl("-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def pg_cluster() -> Iterator[PostgresCluster]:
    """A running Postgres of this test only; destroyed at the end."""
    cluster = PostgresCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()
