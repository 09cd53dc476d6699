"""Fit the Judge's decision thresholds (``Settings.decisions``) on dev data, never on reported questions.

Silver labels come from the dev files themselves:

* **sufficient**: HotpotQA questions of the fit split (after the reported ones, ``--offset``):
  the gold answer string occurs in the raw top-k passages the Judge is shown;
* **relevant**: a shown HotpotQA passage is one of the question's supporting-fact paragraphs;
* **answerable**: LoCoMo questions of conversations that are not reported; category 5
  (adversarial) is "memory does not hold the answer", every other category is answerable;
* **conflict**: a few constructed statement pairs (``CONFLICT_PAIRS``), half contradictory.

For each item the generator's P("yes") is read from log-probabilities, exactly as the
answer graph reads it. Thresholds are chosen for precision (a confident decision
must be right at least ``TARGET_PRECISION`` of the time on the fit data) and, for
abstention, for at most ``MAX_OVER_ABSTENTION`` of answerable questions abstaining.
The result (thresholds, per-item probabilities, label rates, AUCs) is written to
``OUT/decisions.json`` and ``OUT/items.jsonl``; the thresholds are then copied into
``agentrag/settings.py`` defaults by hand, with the summary committed next to them.
"""

from __future__ import annotations

import json
import logging
import re
import string
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from agentrag.agents.evidence import add_hits, numbered
from agentrag.agents.retriever import related
from agentrag.api import AgentRAG
from agentrag.llm.decide import ask_yes_no
from agentrag.memory.store import SearchFilters
from agentrag.settings import load_settings
from agentrag.types import Hit
from evals.build import build_memory, namespace_for
from evals.datasets import Question, load_dataset
from evals.records import write_json

log = logging.getLogger(__name__)

TARGET_PRECISION = 0.9
MAX_OVER_ABSTENTION = 0.08
"""Below the issue's 0.1, leaving room for the difference between fit and report data."""
CONFLICT_PAIRS: tuple[tuple[str, str, bool], ...] = (
    ("Caroline lives in Boston.", "Caroline lives in Denver.", True),
    ("Melanie has two children.", "Melanie has three children.", True),
    ("John works as a nurse.", "John works as a teacher.", True),
    ("The meeting is on Monday.", "The meeting is on Friday.", True),
    ("Anna is vegetarian.", "Anna eats steak every day.", True),
    ("Tom is single.", "Tom is married to Lisa.", True),
    ("Maria's favourite colour is blue.", "Maria's favourite colour is green.", True),
    ("The shop closes at 5 pm.", "The shop closes at 9 pm.", True),
    ("Caroline lives in Boston.", "Caroline likes painting.", False),
    ("Melanie has two children.", "Melanie went camping in July.", False),
    ("John works as a nurse.", "John enjoys playing the guitar.", False),
    ("The meeting is on Monday.", "The meeting is about the budget.", False),
    ("Anna is vegetarian.", "Anna likes Italian food.", False),
    ("Tom is single.", "Tom has a dog named Max.", False),
    ("Maria's favourite colour is blue.", "Maria paints landscapes.", False),
    ("The shop closes at 5 pm.", "The shop sells books.", False),
)


def normalise(text: str) -> str:
    """SQuAD-style normalisation for the "gold string in the passages" label."""
    text = "".join(c for c in text.lower() if c not in string.punctuation)
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def auc(ps: Sequence[float], labels: Sequence[bool]) -> float | None:
    """Area under the ROC curve (probability a positive outranks a negative)."""
    pos = [p for p, y in zip(ps, labels, strict=True) if y]
    neg = [p for p, y in zip(ps, labels, strict=True) if not y]
    if not pos or not neg:
        return None
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a in pos for b in neg)
    return round(wins / (len(pos) * len(neg)), 3)


def precise_above(ps: Sequence[float], labels: Sequence[bool], target: float, min_n: int = 5) -> float:
    """Smallest t with precision(P >= t) >= target over at least ``min_n`` items; 1.0 if none."""
    pairs = sorted(zip(ps, labels, strict=True))
    for i, (t, _) in enumerate(pairs):
        rest = pairs[i:]
        if len(rest) < min_n:
            break
        if sum(y for _, y in rest) / len(rest) >= target:
            return round(t, 4)
    return 1.0


def precise_below(ps: Sequence[float], labels: Sequence[bool], target: float, min_n: int = 5) -> float:
    """Largest t with precision(not label | P < t) >= target over at least ``min_n`` items; 0.0 if none."""
    pairs = sorted(zip(ps, labels, strict=True))
    best = 0.0
    for i in range(min_n, len(pairs) + 1):
        head = pairs[:i]
        if sum(not y for _, y in head) / len(head) >= target:
            best = pairs[i][0] if i < len(pairs) else 1.0
    return round(best, 4)


def quantile_below(ps: Sequence[float], share: float) -> float:
    """A threshold under which at most ``share`` of ``ps`` fall."""
    s = sorted(ps)
    k = int(share * len(s))
    return round(s[k], 4) if k < len(s) else 1.0


class Calibrator:
    """Collects P("yes") with silver labels, then fits thresholds."""

    def __init__(self, rag: AgentRAG) -> None:
        self.rag = rag
        self.items: list[dict[str, Any]] = []

    def _p(self, prompt_id: str, **inputs: Any) -> float | None:
        cfg = self.rag.settings.decisions
        d = ask_yes_no(self.rag.llm, self.rag.prompts.render(prompt_id, **inputs), top_logprobs=cfg.top_logprobs)
        return d.p_yes

    def _floor(self, ns: str, question: str) -> list[Hit]:
        found = self.rag.memory.search(
            ns, question, k=self.rag.settings.retrieval.top_k, filters=SearchFilters(levels=("raw",)), mode="hybrid"
        )
        return [h for h in found if related(h)]

    def sufficiency(self, dataset: str, q: Question, kind: str = "raw", relevance: int = 0) -> None:
        """P(sufficient) for the raw top-k of one question, and P(relevant) for the first passages."""
        ns = namespace_for(dataset, q.sample_id, kind)
        hits = self._floor(ns, q.question)
        if not hits:
            return
        pool = add_hits([], hits)
        items = {h.item.id: h.item for h in hits}
        chars = self.rag.settings.decisions.judge_passage_chars
        shown = " ".join(normalise(h.item.text) for h in hits)
        has_gold = any(normalise(g) and normalise(g) in shown for g in q.answers)
        p = self._p("judge/sufficient", question=q.question, passages=numbered(pool, items, chars))
        self.items.append({"kind": "sufficient", "dataset": dataset, "qid": q.qid, "category": q.category,
                           "p_yes": p, "gold_in_passages": has_gold, "answerable": q.answerable})
        for h in hits[:relevance]:
            p = self._p("judge/relevant", question=q.question, passage=h.item.text[:chars])
            self.items.append({"kind": "relevant", "dataset": dataset, "qid": q.qid, "p_yes": p,
                               "supporting": h.item.source_id in set(q.evidence)})

    def conflicts(self) -> None:
        """P(contradiction) for the constructed pairs."""
        for older, newer, contradicts in CONFLICT_PAIRS:
            p = self._p("judge/contradict", older=older, newer=newer)
            self.items.append({"kind": "conflict", "p_yes": p, "contradicts": contradicts, "pair": [older, newer]})

    def fit(self) -> dict[str, Any]:
        """Thresholds and the evidence for them."""

        def rows(kind: str, label: str, **where: Any) -> tuple[list[float], list[bool]]:
            got = [i for i in self.items if i["kind"] == kind and i["p_yes"] is not None
                   and all(i.get(k) == v for k, v in where.items())]
            return [float(i["p_yes"]) for i in got], [bool(i[label]) for i in got]

        ps, ys = rows("sufficient", "gold_in_passages", answerable=True)
        sufficient_above = precise_above(ps, ys, TARGET_PRECISION)
        insufficient_below = min(sufficient_above, precise_below(ps, ys, TARGET_PRECISION))
        ans_ps, _ = rows("sufficient", "answerable", answerable=True)
        all_ps, all_ys = rows("sufficient", "answerable", dataset="locomo")
        abstain_below = quantile_below(ans_ps, MAX_OVER_ABSTENTION) if ans_ps else None
        rel_ps, rel_ys = rows("relevant", "supporting")
        drop_below = precise_below(rel_ps, rel_ys, TARGET_PRECISION)
        con_ps, con_ys = rows("conflict", "contradicts")
        conflict_above = precise_above(con_ps, con_ys, TARGET_PRECISION, min_n=3)
        refresh_above = max(conflict_above, max((p for p, y in zip(con_ps, con_ys, strict=True) if not y),
                                                default=0.0) + 1e-4)
        unanswerable = [p for p, y in zip(all_ps, all_ys, strict=True) if not y]
        summary = {
            "thresholds": {
                "sufficient_above": sufficient_above, "insufficient_below": insufficient_below,
                "abstain_below": abstain_below, "drop_below": drop_below,
                "conflict_above": conflict_above, "refresh_above": round(min(1.0, refresh_above), 4),
            },
            "data": {
                "sufficient": {"n": len(ps), "gold_in_passages": sum(ys), "auc": auc(ps, ys),
                               "confident_sufficient": sum(p >= sufficient_above for p in ps)},
                "answerable_vs_adversarial_locomo": {
                    "n": len(all_ps), "adversarial": len(unanswerable), "auc": auc(all_ps, all_ys),
                    "adversarial_below_abstain": sum(abstain_below is not None and p < abstain_below
                                                     for p in unanswerable),
                    "answerable_below_abstain": sum(abstain_below is not None and p < abstain_below for p in ans_ps),
                    "answerable_all_datasets": len(ans_ps),
                },
                "relevant": {"n": len(rel_ps), "supporting": sum(rel_ys), "auc": auc(rel_ps, rel_ys),
                             "dropped_at_threshold": sum(p < drop_below for p in rel_ps)},
                "conflict": {"n": len(con_ps), "contradictory": sum(con_ys), "auc": auc(con_ps, con_ys)},
                "unparsable": sum(i["p_yes"] is None for i in self.items),
            },
            "rule": {"target_precision": TARGET_PRECISION, "max_over_abstention": MAX_OVER_ABSTENTION},
        }
        return summary


def calibrate(
    out: Path, hotpotqa: Path, locomo: Path | None, offset: int, limit: int, locomo_samples: Sequence[str],
    locomo_per_category: int, relevance: int = 3,
) -> dict[str, Any]:
    """Run the calibration and write ``decisions.json`` and ``items.jsonl`` under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    rag = AgentRAG(load_settings(data_dir=out / "memory"))
    cal = Calibrator(rag)
    try:
        hp = load_dataset("hotpotqa", hotpotqa)
        for q in hp.select(offset=offset, limit=limit):
            if not (out / "memory").exists() or not rag.memory.search(
                namespace_for("hotpotqa", q.sample_id, "raw"), q.question, k=1, mode="dense"
            ):
                build_memory(rag, "hotpotqa", hp.samples[q.sample_id], "raw")
            cal.sufficiency("hotpotqa", q, relevance=relevance)
        if locomo is not None and locomo_samples:
            lo = load_dataset("locomo", locomo)
            for sid in locomo_samples:
                build_memory(rag, "locomo", lo.samples[sid], "raw")
            for q in lo.select(samples=locomo_samples, per_category=locomo_per_category):
                cal.sufficiency("locomo", q)
        cal.conflicts()
    finally:
        rag.close()
    summary = cal.fit()
    summary["fit_split"] = {"hotpotqa": {"path": str(hotpotqa), "offset": offset, "limit": limit},
                            "locomo": {"path": str(locomo), "samples": list(locomo_samples),
                                       "per_category": locomo_per_category}}
    write_json(out / "decisions.json", summary)
    with (out / "items.jsonl").open("w", encoding="utf-8") as fh:
        for item in cal.items:
            fh.write(json.dumps(item) + "\n")
    return summary
