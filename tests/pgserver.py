"""A real Postgres on loopback for the tests: initdb in a temp dir, pg_ctl start on a free port, stop by pid.

As root (CI, these machines) the server runs as the ``postgres`` user through
``runuser``; as anyone else it runs as that user. Skips only when the
binaries are missing (``apt-get install -y postgresql`` on Debian).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from prereq import missing


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def _run(cmd: list[str], as_postgres: bool) -> None:
    full = ["runuser", "-u", "postgres", "--", *cmd] if as_postgres else cmd
    subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=120)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """DSN of a fresh Postgres cluster on 127.0.0.1 (trust auth, superuser ``postgres``), for the session."""
    bins = _bin_dir()
    if bins is None:
        missing("Postgres server binaries not found; install them with: apt-get install -y postgresql")
    as_postgres = os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="agentrag-pg-"))
    os.chmod(root, 0o755)
    data = root / "data"
    if as_postgres:
        shutil.chown(root, "postgres", "postgres")
    port = _free_port()
    user = "postgres" if as_postgres else os.environ.get("USER", "postgres")
    _run([str(bins / "initdb"), "-D", str(data), "-A", "trust", "-U", user, "--no-sync"], as_postgres)
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run([str(bins / "pg_ctl"), "-D", str(data), "-o", opts, "-l", str(root / "log"), "-w", "start"], as_postgres)
    pid = int((data / "postmaster.pid").read_text().splitlines()[0])
    try:
        yield f"postgresql://{user}@127.0.0.1:{port}/postgres"
    finally:
        os.kill(pid, signal.SIGINT)  # "fast" shutdown
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_dsn(postgres_server: str) -> str:
    """A DSN of a fresh, empty database on the session's server (one per test)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return postgres_server.rsplit("/", 1)[0] + "/" + name
