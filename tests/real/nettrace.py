"""Run a command in its own network namespace under strace and list every non-loopback attempt.

The Python socket guard (netguard.py) sees only Python's ``socket`` module in
the test process. This sees the operating system's view of any process tree:
native code (llama.cpp, Chroma's Rust core, tokenizers), subprocesses, UDP and
name lookups all end in ``connect``/``sendto``/``sendmsg`` system calls, which
strace records with their addresses. The namespace has only ``lo`` (brought
up), so nothing could leave even if an attempt slipped past the parser.

Fine: AF_UNIX and AF_NETLINK (local IPC, interface queries), AF_UNSPEC (a UDP
socket dissociating), AF_INET 127.0.0.0/8 and AF_INET6 ::1 (and v4-mapped
loopback). Flagged: any other AF_INET/AF_INET6 address, any other family, and
any DNS query (port 53), even to a loopback resolver, because a lookup means
the program meant to reach a named host.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

TOOLS = ("unshare", "ip", "strace")
INSTALL = "apt-get install -y strace iproute2 util-linux (the Makefile's test target does this as root)"
_CALL = re.compile(r"^(?:\[pid\s+)?(?P<pid>\d+)\]?\s+(?P<call>connect|sendto|sendmsg|sendmmsg)\((?P<args>.*)$")
_FAMILY = re.compile(r"sa_family=(AF_[A-Z0-9]+)")
_V4 = re.compile(r'sin_addr=inet_addr\("([^"]+)"\)')
_V6 = re.compile(r'inet_pton\(AF_INET6,\s*"([^"]+)"')
_PORT = re.compile(r"sin6?_port=htons\((\d+)\)")
LOCAL_FAMILIES = frozenset({"AF_UNIX", "AF_LOCAL", "AF_NETLINK", "AF_UNSPEC"})


def missing_tools() -> list[str]:
    """The commands this needs that are not on PATH."""
    return [t for t in TOOLS if shutil.which(t) is None]


def _loopback(addr: str) -> bool:
    ip = ipaddress.ip_address(addr.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def remote_attempts(trace: str) -> list[str]:
    """The strace lines that try to reach anything but loopback or a local socket (or look a name up)."""
    bad: list[str] = []
    for line in trace.splitlines():
        m = _CALL.match(line.strip())
        if m is None:
            continue
        families = _FAMILY.findall(m["args"])
        if not families:  # sendto/sendmsg on a connected socket: its connect() was checked
            continue
        for family in families:
            if family in LOCAL_FAMILIES:
                continue
            addrs = _V4.findall(m["args"]) if family == "AF_INET" else _V6.findall(m["args"])
            if family not in ("AF_INET", "AF_INET6") or not addrs or not all(_loopback(a) for a in addrs):
                bad.append(line.strip())
                break
            if "53" in _PORT.findall(m["args"]):
                bad.append(line.strip())
                break
    return bad


def isolated(
    cmd: Sequence[str | os.PathLike[str]],
    *,
    trace: Path,
    env: Mapping[str, str],
    cwd: Path,
    timeout: float,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` in a fresh network namespace (only ``lo``, up) under ``strace -f -e trace=network``.

    As root ``unshare --net`` is enough; otherwise a user namespace maps the
    caller to root inside it (``--map-root-user``), where the kernel allows it.
    """
    unshare = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    strace = ["strace", "-f", "--seccomp-bpf", "-qq", "-e", "trace=network", "-e", "signal=none", "-o", str(trace)]
    script = 'ip link set lo up && ip -o link show > "$0.links" && exec "$@"'
    return subprocess.run(
        [*unshare, "--", "sh", "-c", script, str(trace), *strace, "--", *map(str, cmd)],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def links(trace: Path) -> list[str]:
    """The interface names the namespace had (written beside the trace)."""
    text = Path(f"{trace}.links").read_text(encoding="utf-8")
    return [line.split(":")[1].strip().split("@")[0] for line in text.splitlines() if line.strip()]
