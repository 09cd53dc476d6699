"""Fit the speaker-attribution abstention rule on LoCoMo dev conversations (never the reported one).

LoCoMo's unanswerable questions (category 5) are mostly real events pinned on the wrong
person ("What did Caroline realize after her charity race?" when Melanie ran it). The rule
in ``agentrag.agents.attribution`` abstains when the question names one speaker and the
retrieved turns that best match the rest of the question were all said by someone else.
This script builds each fit conversation's memory with the real store (raw turns, real
embedder, hybrid search, no generator), searches every question as ``agentrag`` does, and
picks the smallest margin that keeps over-abstention on answerable questions under
``MAX_OVER_ABSTENTION``. The held-out conversation's rates are reported, never fitted.

Run: ``python -m evals.calibrate_attribution --hold-out conv-26``.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
from pathlib import Path

from agentrag.agents.attribution import attribution_lead
from agentrag.agents.judge import ATTRIBUTION_K
from agentrag.api import AgentRAG
from agentrag.memory.store import SearchFilters
from agentrag.settings import ScriptedConfig, load_settings
from agentrag.types import MemoryItem
from evals.build import build_memory, namespace_for
from evals.datasets import Dataset, load_dataset

log = logging.getLogger(__name__)
OUT = Path(__file__).parent / "calibration" / "attribution.json"
MAX_OVER_ABSTENTION = 0.08
"""Issue 9 allows over-abstention on answerable questions up to 0.1 in all; the rule may take 0.08 of it on
the fit conversations, leaving 0.02 for the generator's own abstentions (0.0-0.02 on LoCoMo runs so far).
It was 0.05 before 3 December: margin 0.25, 20% of the fit conversations' adversarial questions caught."""


def margins(rag: AgentRAG, data: Dataset, samples: list[str], k: int) -> list[tuple[str, bool, float]]:
    """(sample id, answerable, other-minus-own lead) for each question naming exactly one speaker."""
    rows: list[tuple[str, bool, float]] = []
    for sid in samples:
        build_memory(rag, "locomo", data.samples[sid], "raw")
        ns = namespace_for("locomo", sid, "raw")

        def own_turns(speaker: str | None, query: str, ns: str = ns) -> list[MemoryItem]:
            f = SearchFilters(levels=("raw",), speaker=speaker)
            return [h.item for h in rag.memory.search(ns, query, k=ATTRIBUTION_K, filters=f)]

        for q in data.select(samples=[sid]):
            hits = rag.search(q.question, namespace=ns, k=k)  # what the answer graph's first retrieval brings
            found = attribution_lead(q.question, [h.item for h in hits], own_turns)
            if found is not None:
                rows.append((sid, q.answerable, found[1]))
    return rows


def rate(leads: list[float], margin: float) -> float:
    """Share of questions the rule would abstain on."""
    return round(sum(x > margin for x in leads) / max(len(leads), 1), 3)


def main() -> None:
    """Fit and write the margin."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--path", type=Path, default=Path("../shared/data/locomo/locomo10.dev.json"))
    ap.add_argument("--hold-out", default="conv-26")
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    data = load_dataset("locomo", a.path)
    fit = sorted(s for s in data.samples if s != a.hold_out)
    with tempfile.TemporaryDirectory() as tmp:
        rag = AgentRAG(load_settings(data_dir=Path(tmp), llm=ScriptedConfig()))
        try:
            rows = margins(rag, data, fit, a.top_k)
            held = margins(rag, data, [a.hold_out], a.top_k)
        finally:
            rag.close()
    ans = sorted(x for _, ok, x in rows if ok)
    adv = [x for _, ok, x in rows if not ok]
    margin = ans[min(int(len(ans) * (1 - MAX_OVER_ABSTENTION)), len(ans) - 1)]
    report = {
        "margin_above": round(margin, 4), "max_over_abstention": MAX_OVER_ABSTENTION, "top_k": a.top_k,
        "fit": {"conversations": fit, "answerable": len(ans), "adversarial": len(adv),
                "over_abstention": rate(ans, margin), "adversarial_abstention": rate(adv, margin)},
        "held_out": {"conversation": a.hold_out,
                     "answerable": sum(ok for _, ok, _ in held), "adversarial": sum(not ok for _, ok, _ in held),
                     "over_abstention": rate([x for _, ok, x in held if ok], margin),
                     "adversarial_abstention": rate([x for _, ok, x in held if not ok], margin),
                     "note": "measured after the fit; not used to choose the margin"},
        "scope": "questions naming exactly one of the conversation's speakers (found by a speaker-filtered search)",
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log.warning("%s", json.dumps(report, indent=2))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    main()
