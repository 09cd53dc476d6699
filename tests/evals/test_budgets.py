"""Every method's answer gets the same token budget, and full_context reserves exactly that."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from agentrag.prompts import default_library
from evals.methods.common import MethodOptions
from evals.methods.full_context import TEMPLATE_MARGIN, answer_budget

ANSWER_PROMPTS = ("answerer/cited", "baselines/closed_book")
"""The prompts that produce a method's final answer (every retrieval method ends in answerer/cited)."""


def _budget(prompt_id: str) -> int | None:
    extra: dict[str, Any] = {"passages": [], "note": ""} if prompt_id == "answerer/cited" else {}
    return default_library().render(prompt_id, question="q?", **extra).max_tokens


def test_every_answer_prompt_declares_the_same_budget() -> None:
    budgets = {p: _budget(p) for p in ANSWER_PROMPTS}
    assert None not in budgets.values(), budgets  # else the backend's default (384) applies to that method
    assert len(set(budgets.values())) == 1, budgets


def test_full_context_reserves_the_answer_prompts_budget() -> None:
    deps: Any = SimpleNamespace(prompts=default_library())
    assert answer_budget(deps, MethodOptions(reserve_tokens=999)) == _budget("answerer/cited")
    assert TEMPLATE_MARGIN > 0
