"""The LLM judge: does a generated answer say what the gold answer says?

Token metrics miss paraphrases ("May 7th" vs "7 May 2023"), so evaluations of
memory systems also report a judge. A judge's verdict is only as good as its
model and prompt, so both are recorded with every run (backend, model name,
prompt id, version and file), and unanswerable questions are never sent to it:
abstention is scored directly.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel
from pydantic import BaseModel

from agentrag.errors import AgentRagError
from agentrag.llm.structured import structured
from agentrag.prompts import PromptLibrary

log = logging.getLogger(__name__)

JUDGE_PROMPT = "evals/judge"


class JudgeGrade(BaseModel):
    """The judge's structured reply."""

    correct: bool


@dataclass
class Judge:
    """An LLM that grades answers against gold answers."""

    llm: BaseChatModel
    prompts: PromptLibrary
    backend: str
    model: str

    def info(self) -> dict[str, Any]:
        """What a reader needs to know to trust (or discount) the verdicts."""
        spec = self.prompts.spec(JUDGE_PROMPT)
        return {
            "backend": self.backend, "model": self.model, "prompt_id": spec.id, "prompt_version": spec.version,
            "prompt_file": f"prompts/{spec.id}.yaml",
        }

    def grade(self, question: str, golds: Sequence[str], prediction: str) -> bool | None:
        """True/False, or None when the judge's reply could not be used."""
        if not prediction.strip():
            return False
        prompt = self.prompts.render(JUDGE_PROMPT, question=question, gold=list(golds), prediction=prediction)
        try:
            return structured(self.llm, prompt, JudgeGrade, prompts=self.prompts).correct
        except AgentRagError as exc:
            log.warning("judge failed on %r: %s", question[:60], exc)
            return None


def judge_run(out_dir: Path, judge: Judge, concurrency: int = 1, regrade: bool = False) -> int:
    """Grade a finished run's recorded answers after the fact; returns how many were graded.

    Decoupled from answering so the judge can be another (stronger) model than the
    generator, and so a slow judge does not hold up a CPU run. Unanswerable
    questions are skipped (abstention is scored directly); an abstention on an
    answerable question is wrong without asking.
    """
    from concurrent.futures import ThreadPoolExecutor

    from evals.records import QuestionRecord, read_jsonl, write_json

    graded = 0
    for path in sorted((out_dir / "records").glob("*.jsonl")):
        records = read_jsonl(path, QuestionRecord)
        todo = [
            i for i, r in enumerate(records)
            if r.answerable and (regrade or r.judge is None)
        ]

        def grade(r: QuestionRecord) -> bool | None:
            if r.error or r.abstained:
                return False
            return judge.grade(r.question, r.gold, r.prediction)

        with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
            verdicts = list(pool.map(grade, [records[i] for i in todo]))
        for i, verdict in zip(todo, verdicts, strict=True):
            records[i] = records[i].model_copy(update={"judge": verdict})
        tmp = path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
        tmp.replace(path)
        graded += len(todo)
        log.info("judged %d answers in %s", len(todo), path.name)
    config_path = out_dir / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    config["judge"] = judge.info()
    write_json(config_path, config)
    return graded
