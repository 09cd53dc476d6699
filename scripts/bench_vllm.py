"""Measure the loopback vLLM server: tokens/s for one request, 1 vs N concurrent requests.

    .venv/bin/python scripts/bench_vllm.py                       # starts its own server
    .venv/bin/python scripts/bench_vllm.py --base-url http://127.0.0.1:8000/v1

Each request streams a fixed number of tokens (``ignore_eos``, a vLLM extension, so
every request does the same work) and records time to first token and decode rate.
Prints one JSON object, then a small table. With no ``--base-url`` the server from
scripts/setup_vllm.sh is started and stopped around the run (scripts/vllm_server.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
import vllm_server

PROMPT = "Write a short story about a lighthouse keeper who finds a message in a bottle."


async def one_request(client: httpx.AsyncClient, base_url: str, model: str, max_tokens: int) -> dict[str, float]:
    """Stream one completion; return its wall time, time to first token and token count."""
    body = {
        "model": model,
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    t0 = time.perf_counter()
    first: float | None = None
    tokens = 0
    async with client.stream("POST", f"{base_url}/chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            part = json.loads(line[6:])
            if part.get("choices") and part["choices"][0]["delta"].get("content") and first is None:
                first = time.perf_counter() - t0
            if part.get("usage"):
                tokens = part["usage"]["completion_tokens"]
    wall = time.perf_counter() - t0
    ttft = first if first is not None else wall
    decode = (tokens - 1) / (wall - ttft) if tokens > 1 and wall > ttft else 0.0
    return {"wall_s": wall, "ttft_s": ttft, "completion_tokens": tokens, "decode_tok_s": decode}


async def batch(base_url: str, model: str, n: int, max_tokens: int) -> dict[str, Any]:
    """N requests in flight at once; wall time of the whole batch and aggregate throughput."""
    async with httpx.AsyncClient(timeout=600) as client:
        t0 = time.perf_counter()
        runs = await asyncio.gather(*(one_request(client, base_url, model, max_tokens) for _ in range(n)))
        wall = time.perf_counter() - t0
    tokens = sum(r["completion_tokens"] for r in runs)
    return {
        "requests": n,
        "wall_s": wall,
        "completion_tokens": tokens,
        "aggregate_tok_s": tokens / wall,
        "per_request_tok_s": statistics.median(r["completion_tokens"] / r["wall_s"] for r in runs),
        "ttft_s": statistics.median(r["ttft_s"] for r in runs),
    }


def median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Field-wise median over repeated runs."""
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


async def bench(base_url: str, model: str, concurrency: int, max_tokens: int, repeats: int) -> dict[str, Any]:
    """Warm up, then measure 1 and ``concurrency`` requests ``repeats`` times each."""
    await batch(base_url, model, 1, 8)  # warm-up: first request pays one-off costs
    single = [await batch(base_url, model, 1, max_tokens) for _ in range(repeats)]
    multi = [await batch(base_url, model, concurrency, max_tokens) for _ in range(repeats)]
    s, m = median_of(single), median_of(multi)
    return {
        "model": model,
        "base_url": base_url,
        "max_tokens": max_tokens,
        "repeats": repeats,
        "single": s,
        f"concurrent_{concurrency}": m,
        "slowdown_n_vs_1": m["wall_s"] / s["wall_s"],
        "speedup_vs_sequential": concurrency * s["wall_s"] / m["wall_s"],
    }


def table(result: dict[str, Any], concurrency: int) -> str:
    """A small fixed-width summary."""
    s, m = result["single"], result[f"concurrent_{concurrency}"]
    rows = [
        ("requests in flight", "1", str(concurrency)),
        ("wall time (s)", f"{s['wall_s']:.2f}", f"{m['wall_s']:.2f}"),
        ("completion tokens", f"{s['completion_tokens']:.0f}", f"{m['completion_tokens']:.0f}"),
        ("tokens/s per request", f"{s['per_request_tok_s']:.1f}", f"{m['per_request_tok_s']:.1f}"),
        ("tokens/s aggregate", f"{s['aggregate_tok_s']:.1f}", f"{m['aggregate_tok_s']:.1f}"),
        ("time to first token (s)", f"{s['ttft_s']:.2f}", f"{m['ttft_s']:.2f}"),
    ]
    lines = [f"{a:<26}{b:>10}{c:>10}" for a, b, c in rows]
    lines.append(
        f"{concurrency} concurrent take {result['slowdown_n_vs_1']:.2f}x the time of 1 "
        f"({result['speedup_vs_sequential']:.1f}x faster than one after another)"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", help="a running server; default: start one from scripts/setup_vllm.sh")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json-out", type=Path, help="also write the JSON here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = nullcontext(None) if args.base_url else vllm_server.running(Path(tmp) / "server.log")
        try:
            with ctx as server:
                base_url = args.base_url or server.base_url
                model = vllm_server.served_model(base_url)
                if model is None:
                    print(f"error: no OpenAI-compatible server answers at {base_url}", file=sys.stderr)
                    return 1
                result = asyncio.run(bench(base_url, model, args.concurrency, args.max_tokens, args.repeats))
        except vllm_server.ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    text = json.dumps(result, indent=2)
    print(text)
    if args.json_out:
        args.json_out.write_text(text + "\n", encoding="utf-8")
    print()
    print(table(result, args.concurrency))
    return 0


if __name__ == "__main__":
    sys.exit(main())
