"""The demo with the real local model and real Chroma, proving no remote host is contacted."""

import socket

import pytest
from netguard import no_remote_connections
from typer.testing import CliRunner

from agentrag.cli import app

pytestmark = pytest.mark.real_model


def test_guard_refuses_remote_and_allows_loopback():
    with no_remote_connections() as attempts:
        with pytest.raises(OSError):
            socket.create_connection(("203.0.113.7", 80), timeout=1)
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        socket.create_connection(srv.getsockname(), timeout=1).close()
        srv.close()
    assert attempts == ["connect ('203.0.113.7', 80)"]


def test_demo_runs_offline_with_real_model(tmp_path):
    with no_remote_connections() as attempts:
        result = CliRunner().invoke(app, ["--data-dir", str(tmp_path), "demo", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert attempts == [], attempts
    out = result.output
    assert out.count("Q:") == 2
    assert "tokens:" in out and "prompt +" in out
    assert "answer:" in out or "abstained:" in out
