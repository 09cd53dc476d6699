"""How often each agent part actually fired, on which question types, and what fact extraction yielded.

The first evaluation found that the notes loop never ran inside agentrag and that
the Judge's verdicts were almost all "sufficient"; a score alone would not have
shown it. These tables make such facts visible in every report: escalations and
their reasons, notes-loop runs, evidence revisions, memory refreshes, Judge drops
and abstentions, the evidence token budget used, and the fact-extraction yield of
the derived memory builds (with the share of degenerate replies rejected).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from evals.records import BuildRecord, QuestionRecord


def _fired(r: QuestionRecord) -> dict[str, bool]:
    statuses = {e.get("status") for e in r.evidence}
    return {
        "escalated": bool(r.escalation),
        "notes": r.notes_steps > 0,
        "revision": bool(statuses & {"revised", "retracted"}),
        "refresh": bool(r.refreshed),
        "dropped": bool(r.dropped),
        "judge_abstained": r.stop_reason == "judge: answer not in memory",
        "focused": any(d.get("kind") == "focus" and str(d.get("outcome")).startswith("answered") for d in r.decisions),
        "echo_replaced": any(d.get("kind") == "answer_check" and d.get("outcome") == "replaced" for d in r.decisions),
    }


def firing(records: Sequence[QuestionRecord]) -> dict[str, Any]:
    """Counts of each part firing, overall and per category, with decision sources and budget use."""
    fired = [_fired(r) for r in records]
    parts = ("escalated", "notes", "revision", "refresh", "dropped", "judge_abstained", "focused", "echo_replaced")
    cats = sorted({r.category for r in records})
    suff = [d for r in records for d in r.decisions if d.get("kind") == "sufficient"]
    budgets = [r.budget for r in records if r.budget]
    return {
        "n": len(records),
        "counts": {p: sum(f[p] for f in fired) for p in parts},
        "by_category": {
            c: {p: sum(f[p] for f, r in zip(fired, records, strict=True) if r.category == c) for p in parts}
            for c in cats
        },
        "escalation_reasons": dict(Counter(r.escalation.split(" (")[0] for r in records if r.escalation)),
        "sufficiency_outcomes": dict(Counter(str(d.get("outcome")) for d in suff)),
        "focus_outcomes": dict(Counter(str(d.get("outcome")) for r in records for d in r.decisions
                                       if d.get("kind") == "focus")),
        "focus_hops": sum(1 for r in records for d in r.decisions if d.get("kind") == "focus" and d.get("hop")),
        "answer_checks": dict(Counter(str(d.get("outcome")) for r in records for d in r.decisions
                                      if d.get("kind") == "answer_check")),
        "decision_sources": dict(Counter(str(d.get("source")) for r in records for d in r.decisions)),
        "mean_p_sufficient": _mean_p(suff),
        "budget_tokens": budgets[0].get("budget_tokens") if budgets else None,
        "floor_tokens": round(sum(b.get("floor_tokens", 0) for b in budgets) / len(budgets), 1) if budgets else None,
        "added_tokens": round(sum(b.get("added_tokens", 0) for b in budgets) / len(budgets), 1) if budgets else None,
        "over_budget_skipped": sum(b.get("skipped", 0) for b in budgets),
    }


def _mean_p(decisions: Sequence[dict[str, Any]]) -> float | None:
    ps = [float(d["p_yes"]) for d in decisions if d.get("p_yes") is not None]
    return round(sum(ps) / len(ps), 3) if ps else None


def extraction(builds: Sequence[BuildRecord]) -> dict[str, Any] | None:
    """Fact-extraction totals over the derived builds: yield, rejections, fallback and support."""
    derived = [b for b in builds if b.kind == "derived" and b.extraction]
    if not derived:
        return None
    tot: Counter[str] = Counter()
    for b in derived:
        tot.update(b.extraction)
    raw = sum(b.raw for b in derived)
    stored = tot["stored"]
    return {
        "builds": len(derived),
        "raw_items": raw,
        "replies": int(tot["batches"]),
        "failed_replies": int(tot["failed_replies"]),
        "degenerate_replies": int(tot["degenerate_replies"]),
        "degenerate_share": round(tot["degenerate_replies"] / tot["batches"], 3) if tot["batches"] else None,
        "facts_proposed": int(tot["proposed"]),
        "rejected": {k: int(tot[k]) for k in ("repetition", "prompt copy", "unsupported")},
        "model_facts": int(tot["model_facts"]),
        "fallback_batches": int(tot["fallback_batches"]),
        "fallback_facts": int(tot["fallback_facts"]),
        "facts_stored": int(stored),
        "model_yield": round(tot["model_facts"] / tot["proposed"], 3) if tot["proposed"] else None,
        "facts_per_raw_item": round(stored / raw, 3) if raw else None,
        "mean_support": round(tot["support_sum"] / stored, 3) if stored else None,
    }


def section(summary: dict[str, Any]) -> list[str]:
    """Markdown: what fired, per method, and the extraction yield."""
    rows = {m: v["firing"] for m, v in summary["methods"].items() if v.get("firing", {}).get("n")}
    rows = {m: f for m, f in rows.items() if any(f["counts"].values()) or f["decision_sources"]}
    out = ["## What fired (questions where each part acted)", ""]
    if rows:
        out += ["| method | n | escalated | notes loop | revision | refresh | Judge drop | Judge abstain | "
                "sufficiency outcomes | decision sources | mean P(suff.) | evidence tok (floor + added / budget) |",
                "| --- " * 12 + "|"]
        for m, f in rows.items():
            c = f["counts"]
            out.append(
                f"| {m} | {f['n']} | {c['escalated']} | {c['notes']} | {c['revision']} | {c['refresh']} | "
                f"{c['dropped']} | {c['judge_abstained']} | {_kv(f['sufficiency_outcomes'])} | "
                f"{_kv(f['decision_sources'])} | {f['mean_p_sufficient']} | "
                f"{f['floor_tokens']} + {f['added_tokens']} / {f['budget_tokens']} |"
            )
        focus = {m: f for m, f in rows.items() if f.get("focus_outcomes") or f.get("answer_checks")}
        if focus:
            out += ["", "The answer node's own steps: the focused first read (outcomes; how many reads saw a "
                    "second-hop passage outside naive retrieval's top N) and the echo check "
                    "(`decisions.echo_retry`):", ""]
            out += [f"- {m}: focused read {_kv(f.get('focus_outcomes', {}))}, with a second-hop passage "
                    f"{f.get('focus_hops', 0)}; echo check {_kv(f.get('answer_checks', {}))}" for m, f in focus.items()]
        out += ["", "Per question type (notes loop / revision / refresh / Judge abstain / focused answer):", ""]
        for m, f in rows.items():
            per = "; ".join(
                f"{cat}: {v['notes']}/{v['revision']}/{v['refresh']}/{v['judge_abstained']}/{v['focused']}"
                for cat, v in f["by_category"].items()
            )
            out.append(f"- {m}: {per}")
    else:
        out.append("No method recorded Judge decisions or loop activity.")
    ex = summary.get("extraction")
    if ex:
        out += [
            "", "## Fact extraction (derived memory builds)", "",
            f"{ex['replies']} extraction replies over {ex['raw_items']} raw items: {ex['failed_replies']} unparsable, "
            f"{ex['degenerate_replies']} degenerate (share {ex['degenerate_share']}) and rejected; "
            f"{ex['facts_proposed']} facts proposed, rejected {_kv(ex['rejected'])}; "
            f"{ex['model_facts']} model facts kept (yield {ex['model_yield']}); {ex['fallback_batches']} batches fell "
            f"back to {ex['fallback_facts']} sentence-level facts; {ex['facts_stored']} stored "
            f"({ex['facts_per_raw_item']} per raw item), mean support against the source {ex['mean_support']}.",
        ]
    return [*out, ""]


def _kv(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items()) or "-"
