"""Wall time of everyday CLI commands: ``agentrag --help``, ``memory list``, ``memory search``.

Each command runs as a fresh process (``python -m agentrag ...``), as a user
would run it, ``--runs`` times; the median is reported with min and max. A
temporary data folder holds five items, added once before timing. The same
script measures several checkouts (``--checkout LABEL=PATH``, e.g. the code
before a change), alternating between them run by run so that they share the
machine's load; results are merged by label into ``benchmarks/cli.json`` and
rendered as ``benchmarks/cli.md`` with the machine and load average.

    python scripts/bench_cli.py --checkout "before (aa78a41)=/tmp/agentrag-aa78a41" --checkout "after=$PWD"
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "agentrag --help": ["--help"],
    "memory list": ["memory", "list", "-n", "bench"],
    "memory search": ["memory", "search", "-n", "bench", "tabby cat"],
}
ITEMS = [
    "I adopted a tabby cat named Milo.",
    "Caroline went to an LGBTQ support group on Tuesday.",
    "Melanie painted a sunrise over the lake last year.",
    "The quarterly report is due on the fifth of June.",
    "Paris is the capital of France.",
]


def _run(args: list[str], env: dict[str, str]) -> float:
    # Run from the data folder: ``python -m`` puts the working directory first on sys.path,
    # which would shadow PYTHONPATH when run from a checkout.
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "agentrag", *args],
        env=env,
        cwd=Path(env["AGENTRAG_DATA_DIR"]).parent,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"agentrag {' '.join(args)} failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return took


def _env(pythonpath: Path, data: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(pythonpath),
        "AGENTRAG_DATA_DIR": str(data),
        "HF_HUB_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "COLUMNS": "200",
    }
    env.pop("AGENTRAG_CONFIG", None)
    return env


def measure(checkouts: dict[str, Path], runs: int) -> dict[str, dict[str, dict[str, float]]]:
    """Median, min and max seconds per checkout and command; runs alternate between checkouts (same load)."""
    with tempfile.TemporaryDirectory() as tmp:
        envs = {label: _env(path, Path(tmp) / f"data-{n}") for n, (label, path) in enumerate(checkouts.items())}
        for env in envs.values():
            for text in ITEMS:
                _run(["memory", "add", "-n", "bench", text], env)
        times: dict[str, dict[str, list[float]]] = {label: {c: [] for c in COMMANDS} for label in checkouts}
        for name, args in COMMANDS.items():
            for env in envs.values():
                _run(args, env)  # warm the OS file cache once
            for _ in range(runs):
                for label, env in envs.items():
                    times[label][name].append(_run(args, env))
    return {
        label: {
            name: {"median_s": statistics.median(t), "min_s": min(t), "max_s": max(t), "runs": runs}
            for name, t in per.items()
        }
        for label, per in times.items()
    }


def machine() -> dict[str, object]:
    """What the numbers were measured on."""
    return {
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def to_markdown(results: dict[str, dict[str, object]]) -> str:
    """A table: one row per command, one column per label."""
    labels = list(results)
    lines = [
        "# CLI start-up and everyday commands (wall time, fresh process each run)",
        "",
        "Median (min-max) seconds of `python -m agentrag ...`; five items in memory. "
        "Written by `scripts/bench_cli.py`.",
        "",
        "| command | " + " | ".join(labels) + " |",
        "| --- |" + " --- |" * len(labels),
    ]
    for cmd in COMMANDS:
        cells = []
        for lb in labels:
            r = results[lb]["commands"].get(cmd)  # type: ignore[union-attr]
            cells.append(f"{r['median_s']:.2f} ({r['min_s']:.2f}-{r['max_s']:.2f})" if r else "")
        lines.append(f"| `{cmd}` | " + " | ".join(cells) + " |")
    lines += ["", "| label | code (PYTHONPATH) | measured at | machine |", "| --- | --- | --- | --- |"]
    for lb in labels:
        r = results[lb]
        m = r["machine"]
        lines.append(
            f"| {lb} | {r['code']} | {r['at']} | {m['cpus']} CPUs, load average {m['load_avg_1m']} "  # type: ignore[index]
            f"at start, Python {m['python']} |"  # type: ignore[index]
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    """Measure, merge under the labels, rewrite the JSON and the Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--checkout",
        action="append",
        default=[],
        metavar="LABEL=PATH",
        help="a checkout to measure (repeatable; runs alternate between them); default: after=<this checkout>",
    )
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "cli")
    args = ap.parse_args()
    checkouts = dict(c.split("=", 1) for c in args.checkout) or {"after": str(ROOT)}
    load = machine()
    measured = measure({k: Path(v) for k, v in checkouts.items()}, args.runs)
    path = args.out.with_suffix(".json")
    results = json.loads(path.read_text()) if path.exists() else {}
    for label, commands in measured.items():
        results[label] = {
            "code": checkouts[label],
            "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": load,
            "commands": commands,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(to_markdown(results))
    print(to_markdown(results))


if __name__ == "__main__":
    main()
