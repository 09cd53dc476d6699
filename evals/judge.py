"""The LLM judge: does a generated answer say what the gold answer says?

Token metrics miss paraphrases ("May 7th" vs "7 May 2023"), so evaluations of
memory systems also report a judge. A judge's verdict is only as good as its
model and prompt, so both are recorded with every run (backend, model name,
prompt id, version and file), and unanswerable questions are never sent to it:
abstention is scored directly.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
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
