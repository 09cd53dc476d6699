"""Cut the demo's data from the HotpotQA dev file beside the repo (../shared/data).

The demo must work where ../shared does not exist, so its small excerpt is
committed under agentrag/demo/ (CC BY-SA 4.0, attribution in ATTRIBUTION.md).
Run: python scripts/make_demo_data.py [PATH_TO_hotpotqa.dev.jsonl]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

IDS = [  # easy bridge questions from HotpotQA (train part of the dev split)
    "5ac0eb285542992a796dedb7",
    "5ade144d55429975fa854e2a",
    "5adff9ea55429942ec259bb1",
    "5a7bbded554299042af8f7d2",
    "5a809f815542996402f6a5b7",
]


def main() -> None:
    """Write agentrag/demo/hotpotqa_demo.jsonl from the HotpotQA dev file."""
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/hotpotqa/hotpotqa.dev.jsonl")
    rows = {r["id"]: r for r in map(json.loads, src.read_text().splitlines())}
    out = Path(__file__).resolve().parents[1] / "agentrag" / "demo" / "hotpotqa_demo.jsonl"
    with out.open("w") as f:
        for qid in IDS:
            r = rows[qid]
            keep = {
                "id": r["id"],
                "question": r["question"].strip(),
                "answer": r["answer"],
                "paragraphs": [
                    {"doc_id": p["doc_id"], "title": p["title"], "text": p["text"], "is_supporting": p["is_supporting"]}
                    for p in r["paragraphs"]
                ],
            }
            f.write(json.dumps(keep, ensure_ascii=False) + "\n")
    sys.stdout.write(f"wrote {len(IDS)} questions to {out}\n")


if __name__ == "__main__":
    main()
