"""Rebuild a run's summary, Markdown tables and plots from its records alone.

Nothing here calls a model: answer metrics are recomputed from the stored
predictions and gold answers (so a metric fix never needs a rerun); only the
judge's verdicts and K-Precision, which need the model or the passages shown,
are read as recorded.
"""

from __future__ import annotations

import json
import logging
import random
import statistics
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from evals import firing, metrics
from evals.records import BuildRecord, QuestionRecord, Timing, load_records, read_jsonl, write_json

log = logging.getLogger(__name__)

RECALL_K = 5


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return round(statistics.fmean(vals), 4) if vals else None


def _pct(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    idx = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[idx], 3)


def bootstrap_ci(values: Sequence[float], n: int = 2000, seed: int = 0) -> tuple[float, float] | None:
    """95% percentile-bootstrap interval of the mean (seeded, so reports rebuild identically)."""
    if len(values) < 2:
        return None
    rng = random.Random(seed)
    k = len(values)
    means = sorted(statistics.fmean(rng.choices(values, k=k)) for _ in range(n))
    return round(means[int(0.025 * n)], 4), round(means[int(0.975 * n) - 1], 4)


def paired(base: Sequence[QuestionRecord], other: Sequence[QuestionRecord]) -> dict[str, Any] | None:
    """``base`` minus ``other`` on the questions both answered: mean score difference and its interval."""
    theirs = {r.qid: scored(r)["score"] for r in other}
    diffs = [(scored(r)["score"] or 0.0) - (theirs[r.qid] or 0.0) for r in base if r.qid in theirs]
    if not diffs:
        return None
    wins = sum(1 for d in diffs if d > 1e-9)
    losses = sum(1 for d in diffs if d < -1e-9)
    return {"n": len(diffs), "delta": round(statistics.fmean(diffs), 4), "ci": bootstrap_ci(diffs),
            "wins": wins, "losses": losses, "ties": len(diffs) - wins - losses}


def scored(r: QuestionRecord) -> dict[str, float | None]:
    """Every per-question metric of one record; a failed question is wrong, never a lucky abstention."""
    if r.error:
        m: dict[str, float | None] = {"score": 0.0, "abstain_ok": None if r.answerable else 0.0, "abstained": 0.0}
        m.update(dict.fromkeys(("em", "f1", "recall"), 0.0 if r.answerable else None))
    else:
        m = metrics.score(r.prediction, r.abstained, r.gold, r.answerable)
    m["kprec"] = r.kprec
    m["judge"] = None if r.judge is None or not r.answerable else float(r.judge)
    m.update(recall_columns(r))
    m["over_abstain"] = m["abstained"] if r.answerable else None
    return m


RECALL_KEYS = (f"recall@{RECALL_K}", f"direct_recall@{RECALL_K}", "recall@all", "direct_recall@all")
"""Credited recall (derived items count for their sources) and direct recall (raw hits only)."""


def _levels(r: QuestionRecord) -> list[str] | None:
    """Each retrieved item's level; for records made before levels were kept, known only when the
    evidence pool held nothing but raw items (then every hit was raw)."""
    if len(r.retrieved_levels) == len(r.retrieved):  # also when nothing was retrieved
        return list(r.retrieved_levels)
    if r.evidence and all(e.get("level") == "raw" for e in r.evidence):
        return ["raw"] * len(r.retrieved)
    return None


def recall_columns(r: QuestionRecord) -> dict[str, float | None]:
    """recall@k and recall@all, credited and direct; None where the method does not rank or levels are unknown."""
    shown = r.retrieval or bool(r.retrieved)
    levels = _levels(r)
    out: dict[str, float | None] = dict.fromkeys(RECALL_KEYS)
    for k, suffix, on in ((RECALL_K, str(RECALL_K), r.retrieval), (None, "all", shown)):
        if not on:
            continue
        out[f"recall@{suffix}"] = metrics.recall_at_k(r.retrieved, r.gold_evidence, k)
        if levels is not None:
            out[f"direct_recall@{suffix}"] = metrics.direct_recall_at_k(r.retrieved, levels, r.gold_evidence, k)
    return out


def aggregate(records: Sequence[QuestionRecord]) -> dict[str, Any]:
    """Means of every metric, costs per question and latency percentiles."""
    rows = [scored(r) for r in records]
    keys = ("score", "em", "f1", "recall", "kprec", "judge", "abstain_ok", "over_abstain", *RECALL_KEYS)
    out: dict[str, Any] = {"n": len(records), "errors": sum(1 for r in records if r.error)}
    out.update({k: _mean([row[k] for row in rows]) for k in keys})
    for k in RECALL_KEYS[1::2]:  # direct recall over a subset of questions would not compare with credited
        if any(row[k] is None and row[k.removeprefix("direct_")] is not None for row in rows):
            out[k] = None
    out["score_ci"] = bootstrap_ci([row["score"] or 0.0 for row in rows])
    n = max(1, len(records))
    out["prompt_tokens"] = round(sum(r.usage.prompt_tokens for r in records) / n, 1)
    out["completion_tokens"] = round(sum(r.usage.completion_tokens for r in records) / n, 1)
    out["calls"] = round(sum(r.usage.calls for r in records) / n, 2)
    lat = [r.latency_s for r in records]
    out["latency_p50"], out["latency_p95"] = _pct(lat, 0.5), _pct(lat, 0.95)
    cut = [r.truncation for r in records if r.truncation]
    if cut:
        out["context_items_kept"] = _mean([c.get("items_kept") for c in cut])
        out["context_items_total"] = _mean([c.get("items_total") for c in cut])
        out["context_truncated"] = _mean([float(bool(c.get("truncated"))) for c in cut])
    return out


def summarise(out_dir: Path) -> dict[str, Any]:
    """The run's summary: config, per-method (and per-category) metrics, memory builds, timings."""
    cfg_path = out_dir / "config.json"
    config = json.loads(cfg_path.read_text(encoding="utf-8")) if cfg_path.is_file() else {}
    by_method = load_records(out_dir)
    order = list((config.get("methods") or {}).keys())
    methods = sorted(by_method, key=lambda m: (order.index(m) if m in order else len(order), m))
    categories = list(dict.fromkeys(r.category for m in methods for r in by_method[m]))
    builds = read_jsonl(out_dir / "memory_builds.jsonl", BuildRecord)
    timings = read_jsonl(out_dir / "timings.jsonl", Timing)
    reference = "agentrag" if "agentrag" in by_method else None
    return {
        "config": config,
        "categories": categories,
        "paired_vs_agentrag": {
            m: paired(by_method["agentrag"], by_method[m]) for m in methods if reference and m != reference
        },
        "methods": {
            m: {
                "overall": aggregate(by_method[m]),
                "by_category": {c: aggregate([r for r in by_method[m] if r.category == c]) for c in categories},
                "wall_s": round(sum(t.wall_s for t in timings if t.method == m), 1),
                "firing": firing.firing(by_method[m]),
            }
            for m in methods
        },
        "memory_builds": [b.model_dump() for b in builds],
        "extraction": firing.extraction(builds),
    }


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cache_note(counts: dict[str, int] | None) -> list[str]:
    """Say when replies were memoised: answers are the same, wall times are not each method's own."""
    if not counts:
        return []
    return [
        "",
        f"Generator replies were memoised across methods (`--reply-cache`; greedy decoding, so a replayed "
        f"reply is the one the call would get): {counts.get('hits', 0)} of "
        f"{counts.get('hits', 0) + counts.get('misses', 0)} calls were replayed. Prompt tokens and calls count "
        "every call; wall times of methods whose calls another method made first are understated.",
    ]


def markdown(summary: dict[str, Any]) -> str:
    """The run's tables: accuracy, accuracy per category, costs, memory builds."""
    cfg = summary["config"]
    run = cfg.get("run", {})
    machine = cfg.get("machine", {})
    methods: dict[str, Any] = summary["methods"]
    cats: list[str] = summary["categories"]
    judge = cfg.get("judge")
    parts = [
        f"# {run.get('dataset', '?')}: {len(methods)} methods on {cfg.get('questions', '?')} questions",
        "",
        f"Generator `{cfg.get('generator')}` ({run.get('backend')}), embedder `{cfg.get('embedder')}`, "
        f"top-k {run.get('top_k')}, concurrency {run.get('concurrency')}. Data: `{run.get('path')}`. "
        f"Machine: {machine.get('cpu')}, {machine.get('cores')} cores, {machine.get('memory_gib')} GiB; "
        f"commit {machine.get('git_commit')}.",
        "",
        "**score** = F1 on answerable questions, abstention correctness on unanswerable ones; "
        "**EM/F1/recall** (token recall of the gold answer) over answerable questions; **K-prec** = share of "
        "answer tokens found in the passages shown (faithfulness); **abstain** = abstention accuracy on "
        "unanswerable questions; **over-abstain** = share of answerable questions the method declined; "
        f"**R@{RECALL_K}** / **R@all** = gold evidence among the first {RECALL_K} / all retrieved items, "
        "**credited**: a fact or episode counts for every turn it was derived from; **direct**: only raw "
        "items retrieved as themselves count (a derived item takes its rank but finds nothing), so raw-only "
        "baselines have equal credited and direct recall "
        "(for full_context, R@all is the gold evidence that fitted in the window); "
        + (
            f"**judge** = LLM judge `{judge['model']}` ({judge['backend']}) with `{judge['prompt_file']}` "
            f"v{judge['prompt_version']}."
            if judge else "no LLM judge in this run."
        ),
        *_cache_note(cfg.get("reply_cache")),
        "",
        "## Accuracy",
        "",
        _table(
            ["method", "n", "score", "score 95% CI", "EM", "F1", "recall", "K-prec", "judge", "abstain",
             "over-abstain", f"R@{RECALL_K} credited", f"R@{RECALL_K} direct", "R@all credited", "R@all direct",
             "errors"],
            [
                [m, o["n"], o["score"], _ci(o.get("score_ci")), o["em"], o["f1"], o["recall"], o["kprec"], o["judge"],
                 o["abstain_ok"], o["over_abstain"], *[o.get(k) for k in RECALL_KEYS], o["errors"]]
                for m, v in methods.items() for o in [v["overall"]]
            ],
        ),
        "",
        *_paired_section(summary),
        "## Score per category",
        "",
        _table(
            ["method", *[f"{c} (n={_cat_n(methods, c)})" for c in cats]],
            [[m, *[v["by_category"][c]["score"] for c in cats]] for m, v in methods.items()],
        ),
        "",
        "## Token recall per category (answerable questions; kinder to verbose answers than F1)",
        "",
        _table(
            ["method", *[c for c in cats if _has(methods, c, "recall")]],
            [[m, *[v["by_category"][c]["recall"] for c in cats if _has(methods, c, "recall")]]
             for m, v in methods.items()],
        ),
        "",
        "## Cost per question",
        "",
        _table(
            ["method", "prompt tok", "completion tok", "LLM calls", "p50 s", "p95 s", "wall s (all questions)"],
            [
                [m, o["prompt_tokens"], o["completion_tokens"], o["calls"], o["latency_p50"], o["latency_p95"],
                 v["wall_s"]]
                for m, v in methods.items() for o in [v["overall"]]
            ],
        ),
    ]
    cut = {m: v["overall"] for m, v in methods.items() if v["overall"].get("context_items_total") is not None}
    for m, o in cut.items():
        parts += [
            "",
            f"{m}: on average {_fmt(o['context_items_kept'], 1)} of {_fmt(o['context_items_total'], 1)} raw items "
            f"fitted in the {run.get('window_tokens') or 'model'}-token window; "
            f"{_fmt(100 * o['context_truncated'], 0)}% of prompts were truncated (oldest items dropped).",
        ]
    builds = summary["memory_builds"]
    if builds:
        parts += [
            "",
            "## One-time memory builds",
            "",
            _table(
                ["sample", "kind", "seconds", "LLM calls", "prompt tok", "completion tok", "raw", "facts", "episodes",
                 "duplicates", "conflicts", "superseded"],
                [
                    [b["sample_id"], b["kind"], b["seconds"], b["usage"]["calls"], b["usage"]["prompt_tokens"],
                     b["usage"]["completion_tokens"], b["raw"], b["facts"], b["episodes"], b["duplicates"],
                     b["conflicts"], b["superseded"]]
                    for b in _build_rows(builds)
                ],
            ),
        ]
    parts += ["", *firing.section(summary)]
    parts += ["", "![score vs prompt tokens](plots/score_vs_tokens.png)", "",
              "![score per category](plots/per_category.png)", ""]
    return "\n".join(parts)


def _ci(ci: Sequence[float] | None) -> str:
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "-"


def _paired_section(summary: dict[str, Any]) -> list[str]:
    pairs = {m: p for m, p in (summary.get("paired_vs_agentrag") or {}).items() if p}
    if not pairs:
        return []
    methods = summary["methods"]
    tokens = methods["agentrag"]["overall"]["prompt_tokens"]
    return [
        "## agentrag against each method, question by question",
        "",
        "Mean of (agentrag score - method score) over the same questions, with a 95% bootstrap interval; "
        "an interval that contains 0 means this sample cannot tell the two apart.",
        "",
        _table(
            ["method", "n", "agentrag - method", "95% CI", "agentrag better / worse / tied", "prompt tokens ratio"],
            [
                [m, p["n"], p["delta"], _ci(p["ci"]), f"{p['wins']} / {p['losses']} / {p['ties']}",
                 f"{tokens / max(methods[m]['overall']['prompt_tokens'], 1.0):.1f}x"]
                for m, p in pairs.items()
            ],
        ),
        "",
    ]


def _has(methods: dict[str, Any], cat: str, key: str) -> bool:
    return any(v["by_category"][cat][key] is not None for v in methods.values())


def _cat_n(methods: dict[str, Any], cat: str) -> int:
    return max((v["by_category"][cat]["n"] for v in methods.values()), default=0)


def _build_rows(builds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per sample and kind when few; per kind (summed over samples) when many."""
    if len(builds) <= 8:
        return builds
    rows: dict[str, dict[str, Any]] = {}
    for b in builds:
        row = rows.setdefault(
            b["kind"], {"sample_id": "", "kind": b["kind"], "seconds": 0.0, "usage": {"calls": 0, "prompt_tokens": 0,
                        "completion_tokens": 0}, "raw": 0, "facts": 0, "episodes": 0, "duplicates": 0,
                        "conflicts": 0, "superseded": 0, "n": 0},
        )
        row["n"] += 1
        row["sample_id"] = f"{row['n']} samples"
        row["seconds"] = round(row["seconds"] + b["seconds"], 1)
        for k in ("calls", "prompt_tokens", "completion_tokens"):
            row["usage"][k] += b["usage"][k]
        for k in ("raw", "facts", "episodes", "duplicates", "conflicts", "superseded"):
            row[k] += b[k]
    return list(rows.values())


def plots(summary: dict[str, Any], out_dir: Path) -> list[Path]:
    """Score against prompt tokens per question, and score per category, one bar per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    methods: dict[str, Any] = summary["methods"]
    if not methods:
        return []
    folder = out_dir / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    title = summary["config"].get("run", {}).get("dataset", "")
    paths = []

    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    markers = "osD^vP*X"
    top = 0.0
    for i, (name, v) in enumerate(methods.items()):
        o = v["overall"]
        x, y = max(o["prompt_tokens"], 1.0), o["score"] or 0.0
        top = max(top, y)
        ax.scatter([x], [y], s=70, marker=markers[i % len(markers)], label=f"{name} ({x:,.0f} tok, {y:.3f})")
    ax.set_xscale("log")
    ax.set_ylim(0, max(0.05, top * 1.25))
    ax.set_xlabel("mean prompt tokens per question (log scale)")
    ax.set_ylabel("mean score (F1 / abstention)")
    ax.set_title(f"{title}: score vs prompt tokens per question")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.grid(True, alpha=0.3)
    paths.append(_save(fig, folder / "score_vs_tokens.png", plt.close))

    cats: list[str] = summary["categories"]
    fig, ax = plt.subplots(figsize=(max(7, 1.4 * len(cats) + 3), 4.5))
    width = 0.8 / len(methods)
    for i, (name, v) in enumerate(methods.items()):
        ys = [v["by_category"][c]["score"] or 0.0 for c in cats]
        ax.bar([j + i * width for j in range(len(cats))], ys, width, label=name)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(cats))], cats)
    ax.set_ylabel("score")
    ax.set_title(f"{title}: score per category")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(True, axis="y", alpha=0.3)
    paths.append(_save(fig, folder / "per_category.png", plt.close))
    return paths


def _save(fig: Any, path: Path, close: Callable[[Any], None]) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    close(fig)
    return path


def build_report(out_dir: Path) -> dict[str, Any]:
    """Write ``summary.json``, ``report.md`` and ``plots/*.png`` from the folder's records."""
    summary = summarise(out_dir)
    write_json(out_dir / "summary.json", summary)
    (out_dir / "report.md").write_text(markdown(summary), encoding="utf-8")
    plots(summary, out_dir)
    log.info("report written to %s", out_dir / "report.md")
    return summary
