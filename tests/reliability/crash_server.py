"""Fork server of the SIGKILL crash suite: load once, then fork a child per kill and per re-run.

Run as a subprocess by ``test_crash_kill.py`` (a fresh process, so no Chroma
client or thread pool of an earlier test is inherited by a fork). It imports
agentrag, Chroma and the real embedder once, with torch on one thread (fork-safe),
then answers commands read from stdin, one JSON object a line::

    {"op": "forget", "trials": 20, "seed": 7, "work": "/tmp/...", "admin_dsn": null}

For each command it builds the operation's starting memory once (in a child),
runs the operation uninterrupted once (the reference, counting its write stages
and timing it), then per trial: copies the starting memory, forks a child that
runs the operation and dies by SIGKILL (at a seeded write-stage count, sent by
the child to itself from the instrumentation hook, or at a seeded delay, sent by
this process), forks another child that completes the operation and dumps the
state, and compares the dump with the reference's. The answer is one line
``@@result <json>`` on stdout.
"""

from __future__ import annotations

import json
import os
import random
import select
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

import torch

torch.set_num_threads(1)  # no OpenMP pool in the parent: a forked child must not inherit one

import crash_ops  # noqa: E402

from agentrag.memory.embedder import default_embedder  # noqa: E402

KILL_TIMEOUT_S = 120.0
FINISH_TIMEOUT_S = 240.0


def _child(log: Path, body: Callable[[], int]) -> int:
    """Fork; the child runs ``body`` with stdout/stderr in ``log`` and never returns."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        code = body()
    except BaseException:
        traceback.print_exc()
        code = 3
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _wait(pid: int, timeout: float) -> tuple[str, int]:
    """("exit", code) or ("signal", signum), killing the child first when it hangs."""
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "hung", -1
        time.sleep(0.01)
    if os.WIFSIGNALED(status):
        return "signal", os.WTERMSIG(status)
    return "exit", os.WEXITSTATUS(status)


class Server:
    """One loaded process; forks per step."""

    def __init__(self) -> None:
        self.duration = 1.0
        self.embedder = default_embedder()
        texts = [t["content"] for t in (*crash_ops.S1, *crash_ops.S2, *crash_ops.S3)]
        self.embedder.embed([*texts, *crash_ops.FACTS.values()])  # warm: most embeddings come from the cache
        # Import (and compile once) what every child would otherwise load itself: ~3 s a child -> ~0.5 s.
        # Nothing here opens Chroma, SQLite or a thread pool.
        import chromadb.api.rust
        import chromadb.api.segment  # noqa: F401
        import langgraph.checkpoint.sqlite  # noqa: F401

        import agentrag.checkpoints
        import agentrag.tracing.observe  # noqa: F401
        from agentrag.prompts import default_library
        from agentrag.runner import GRAPHS, build_graph

        for name in GRAPHS:
            build_graph(name, None)
        default_library()

    # -- one state store per step -------------------------------------------------------
    def _db(self, admin: str | None, name: str, template: str | None = None) -> str | None:
        if admin is None:
            return None
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            for attempt in range(50):  # a child that just exited may still show as connected to the template
                try:
                    conn.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else ""))
                    break
                except psycopg.errors.ObjectInUse:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        return admin.rsplit("/", 1)[0] + "/" + name

    def _drop_db(self, admin: str | None, name: str) -> None:
        if admin is None:
            return
        import psycopg

        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    # -- steps --------------------------------------------------------------------------
    def setup(self, op: crash_ops.Operation, data: Path, dsn: str | None) -> None:
        def body() -> int:
            rag = crash_ops.open_rag(data, self.embedder, dsn)
            op.setup(rag)
            rag.close()
            return 0

        data.mkdir(parents=True)
        how = _wait(_child(data.parent / "setup.log", body), FINISH_TIMEOUT_S)
        if how != ("exit", 0):
            raise RuntimeError(f"setup of {op.name} failed ({how}); see {data.parent / 'setup.log'}")

    def reference(self, op: crash_ops.Operation, data: Path, dsn: str | None) -> dict[str, Any]:
        """The uninterrupted run: its dump, how many write stages it passed, and how long it took."""
        out = data.parent / "reference.json"

        def body() -> int:
            rag = crash_ops.open_rag(data, self.embedder, dsn)
            missed: list[str] = []
            real = self.embedder.inner.embed

            def embed(texts: Any) -> Any:
                missed.extend(texts)
                return real(texts)

            self.embedder.inner.embed = embed  # type: ignore[method-assign]
            stages: list[str] = []
            crash_ops.instrument(rag, stages.append)
            t0 = time.perf_counter()
            extra = op.run(rag)
            seconds = time.perf_counter() - t0
            stages.append("(end)")
            if op.then is not None:
                extra |= op.then(rag)
            state = crash_ops.dump(rag, data, extra)
            rag.close()
            out.write_text(json.dumps({"state": state, "stages": stages, "seconds": seconds, "missed": missed}))
            return 0

        how = _wait(_child(data.parent / "reference.log", body), FINISH_TIMEOUT_S)
        if how != ("exit", 0):
            raise RuntimeError(f"reference run of {op.name} failed ({how}); see {data.parent / 'reference.log'}")
        ref = dict(json.loads(out.read_text()))
        if ref["missed"]:  # what the children would embed: once here, then every fork finds it cached
            self.embedder.embed(ref["missed"])
        return ref

    def kill_run(self, op: crash_ops.Operation, data: Path, dsn: str | None, plan: dict[str, Any]) -> str:
        """Run the operation in a child and SIGKILL it as planned; how it ended."""
        rfd, wfd = os.pipe()

        def body() -> int:
            os.close(rfd)
            rag = crash_ops.open_rag(data, self.embedder, dsn)
            if plan["kind"] == "stage":
                seen = [0]

                def hook(stage: str) -> None:
                    seen[0] += 1
                    if seen[0] == plan["at"]:
                        os.write(wfd, f"k{stage}\n".encode())
                        os.kill(os.getpid(), signal.SIGKILL)

                crash_ops.instrument(rag, hook)
            os.write(wfd, b"g")
            op.run(rag)
            rag.close()
            return 0

        log = data.parent / "kill.log"
        pid = _child(log, body)
        os.close(wfd)
        started = None
        if plan["kind"] == "timer":
            ready, _, _ = select.select([rfd], [], [], KILL_TIMEOUT_S)
            if ready and os.read(rfd, 1) == b"g":
                started = time.perf_counter()
                time.sleep(plan["at"])
                os.kill(pid, signal.SIGKILL)  # (an exited child stays a zombie until waited for: no race)
        how = _wait(pid, KILL_TIMEOUT_S)
        if plan["kind"] == "timer" and how == ("exit", 0) and started is not None:
            self.duration = min(self.duration, time.perf_counter() - started)  # kills land inside the run
        where = b""
        while chunk := os.read(rfd, 4096):
            where += chunk
        os.close(rfd)
        if how == ("signal", signal.SIGKILL):
            stage = where.decode(errors="replace").partition("k")[2].strip()
            return f"killed{' before ' + stage if stage else ''}"
        if how == ("exit", 0):
            return "completed"
        return f"child failed ({how[0]} {how[1]}); see {log}"

    def finish(self, op: crash_ops.Operation, data: Path, dsn: str | None) -> dict[str, Any] | str:
        """Complete the operation in a fresh child and dump the state (or say why that failed)."""
        out = data.parent / "after.json"

        def body() -> int:
            rag = crash_ops.open_rag(data, self.embedder, dsn)
            extra = op.finish(rag)
            state = crash_ops.dump(rag, data, extra)
            rag.close()
            out.write_text(json.dumps(state))
            return 0

        log = data.parent / "finish.log"
        how = _wait(_child(log, body), FINISH_TIMEOUT_S)
        if how != ("exit", 0):
            return f"re-run failed ({how[0]} {how[1]}); see {log}: {_tail(log)}"
        return dict(json.loads(out.read_text()))

    # -- a command ----------------------------------------------------------------------
    def command(self, cmd: dict[str, Any]) -> dict[str, Any]:
        op = crash_ops.OPERATIONS[cmd["op"]]
        seed, trials, admin = int(cmd["seed"]), int(cmd["trials"]), cmd.get("admin_dsn")
        work = Path(cmd["work"])
        tag = f"c{os.getpid()}_{op.name}"
        t0 = time.perf_counter()
        base_dsn = self._db(admin, f"{tag}_base")
        self.setup(op, work / "base" / "data", base_dsn)
        shutil.copytree(work / "base" / "data", work / "ref" / "data")
        ref = self.reference(op, work / "ref" / "data", self._db(admin, f"{tag}_ref", f"{tag}_base"))
        self._drop_db(admin, f"{tag}_ref")
        expected = ref["state"]
        self.duration = float(ref["seconds"])
        outcomes: dict[str, int] = {}
        failures: list[dict[str, Any]] = []
        dups = lost = 0
        phases = {"copy": 0.0, "kill": 0.0, "finish": 0.0}
        for i in range(trials):
            rng = random.Random(f"{seed}:{op.name}:{i}")
            if i % 2 == 0:
                plan = {"kind": "stage", "at": rng.randint(1, ref["stages"].index("(end)"))}
            else:  # a fraction of the run's duration (the reference's, then the fastest seen uninterrupted)
                plan = {"kind": "timer", "at": round(rng.uniform(0.0, 1.0) * self.duration, 4)}
            trial = work / f"t{i:04d}"
            t1 = time.perf_counter()
            shutil.copytree(work / "base" / "data", trial / "data")
            db = f"{tag}_t{i}"
            dsn = self._db(admin, db, f"{tag}_base")
            t2 = time.perf_counter()
            ended = self.kill_run(op, trial / "data", dsn, plan)
            t3 = time.perf_counter()
            key = f"{plan['kind']}: {ended.split(' before ')[0] if ended.startswith('killed') else ended}"
            outcomes[key] = outcomes.get(key, 0) + 1
            got = ended if ended.startswith("child failed") else self.finish(op, trial / "data", dsn)
            phases["copy"] += t2 - t1
            phases["kill"] += t3 - t2
            phases["finish"] += time.perf_counter() - t3
            self._drop_db(admin, db)
            problems = [got] if isinstance(got, str) else compare(expected, got)
            if isinstance(got, dict):
                d, lo = count_dups_lost(expected, got)
                dups, lost = dups + d, lost + lo
            if problems:
                failures.append({"trial": i, "plan": plan, "ended": ended, "problems": problems[:8],
                                 "dir": str(trial)})
            else:
                shutil.rmtree(trial, ignore_errors=True)
        self._drop_db(admin, f"{tag}_base")
        return {
            "op": op.name, "seed": seed, "trials": trials, "outcomes": outcomes, "failures": failures,
            "duplicates": dups, "lost": lost, "reference_stages": ref["stages"].index("(end)"),
            "reference_seconds": round(ref["seconds"], 3), "seconds": round(time.perf_counter() - t0, 1),
            "stage_names": sorted(set(ref["stages"]) - {"(end)"}),
            "phase_seconds": {k: round(v, 1) for k, v in phases.items()},
        }


def count_dups_lost(expected: dict[str, Any], got: dict[str, Any]) -> tuple[int, int]:
    """Items the re-run has that the reference has not (or repeated texts), and items it lost."""
    want, have = set(expected["items"]), set(got["items"])
    return len(have - want) + max(0, got["duplicate_texts"] - expected["duplicate_texts"]), len(want - have)


def compare(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    """What differs, one line each (empty: equal)."""
    problems: list[str] = []
    for key in sorted(set(expected) | set(got)):
        a, b = expected.get(key), got.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if a.get(k) != b.get(k):
                    problems.append(f"{key}[{k}]: expected {_short(a.get(k))}, got {_short(b.get(k))}")
        else:
            problems.append(f"{key}: expected {_short(a)}, got {_short(b)}")
    return problems


def _short(v: object) -> str:
    s = json.dumps(v)
    return s if len(s) < 400 else s[:400] + "..."


def _tail(log: Path) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:])
    except OSError:
        return ""


def main() -> None:
    server = Server()
    print("@@ready", flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            result: dict[str, Any] = server.command(json.loads(line))
        except Exception as exc:  # report and keep serving
            result = {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc()}
        print("@@result " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
