"""The demo with the real local model and real Chroma reaches nothing but loopback.

Two levels of proof. The fast one patches Python's ``socket`` in this process
(netguard.py). The one that counts runs a fresh ``agentrag demo`` as a user
would (new HOME, no data, no offline switches set by the tests) in its own
network namespace, under strace, and fails on any attempt to reach a
non-loopback address or to look a name up; the demo must still succeed there.
"""

import os
import re
import socket
import sys
from pathlib import Path

import pytest
from clitext import flat
from netguard import no_remote_connections
from nettrace import INSTALL, isolated, links, missing_tools, remote_attempts

pytestmark = pytest.mark.real_model

AGENTRAG = Path(sys.executable).with_name("agentrag")
USAGE = re.compile(r"tokens: (\d+) prompt \+ (\d+) completion in (\d+) calls")
# What the tests set for themselves; a user running the demo has none of these.
NOT_A_USERS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "ANONYMIZED_TELEMETRY", "HF_HOME",
               "CI", "ORT_DISABLE_TELEMETRY")
"""Variables a user's shell would not have: ``CI`` also silences onnxruntime's telemetry, which CI must not hide."""


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


@pytest.fixture
def tools():
    lacking = missing_tools()
    if lacking:
        pytest.fail(f"{', '.join(lacking)} not installed; {INSTALL}", pytrace=False)


PROBE = """
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen()
socket.create_connection(srv.getsockname(), timeout=2).close()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"x", ("127.0.0.1", 9))
if sys.argv[1] == "remote":
    print(socket.socket().connect_ex(("203.0.113.7", 80)))
    try:
        socket.getaddrinfo("example.org", 443)
    except OSError as exc:
        print("lookup failed:", exc)
"""


@pytest.mark.parametrize("reach", ["loopback", "remote"])
def test_namespace_trace_sees_every_remote_attempt(tools, tmp_path, reach):
    """The detector itself: loopback traffic passes; a connect and a name lookup are both caught."""
    trace = tmp_path / "trace"
    proc = isolated([sys.executable, "-c", PROBE, reach], trace=trace, env=os.environ, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert links(trace) == ["lo"]
    bad = remote_attempts(trace.read_text())
    if reach == "loopback":
        assert bad == [], bad
    else:
        assert any('inet_addr("203.0.113.7")' in line for line in bad), bad
        assert any("htons(53)" in line for line in bad), bad  # the lookup tried the resolver


def test_fresh_demo_runs_in_a_loopback_only_namespace(tools, tmp_path):
    assert AGENTRAG.exists(), f"{AGENTRAG} not found; install agentrag into the test venv"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_USERS and not k.startswith(("AGENTRAG_", "XDG_"))}
    env["HOME"] = str(home)
    trace = tmp_path / "demo.trace"

    proc = isolated([AGENTRAG, "demo", "--limit", "2"], trace=trace, env=env, cwd=tmp_path, timeout=800)

    assert links(trace) == ["lo"]
    assert remote_attempts(trace.read_text()) == [], proc.stderr[-3000:]
    assert proc.returncode == 0, f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert (home / ".local" / "share" / "agentrag").is_dir()  # a fresh default data dir, not the tests'
    out = flat(proc.stdout)
    assert out.count("Q:") == 2
    assert len(re.findall(r"\b(?:answer|abstained): ", out)) == 2, out
    used = [tuple(map(int, m)) for m in USAGE.findall(out)]
    assert len(used) == 2, out
    for prompt_tokens, completion_tokens, calls in used:
        assert prompt_tokens > 0 and completion_tokens > 0 and calls >= 1, used  # the answer at least (learned router; notes loop off)
