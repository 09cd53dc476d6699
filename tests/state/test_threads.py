"""Threads are scoped to their namespace and every question is a fresh run (issue 10, the security bug).

The reproduction from the issue: ``ask "What is the vault code?" --namespace alpha --thread-id t1``,
then ``ask "What is on the lunch menu?" --namespace beta --thread-id t1``: beta's answer must
carry nothing of alpha's run. Run here in one process through the API and across two
processes through the real CLI (scripted generator, real Chroma and embedder).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agentrag.errors import InputError

ROUTE = json.dumps({"kind": "single", "queries": [], "time": ""})
SUFFICIENT = json.dumps({"relevant": [1, 2], "sufficient": True, "missing": [], "conflicts": []})
CITE = json.dumps({"answer": "see the evidence", "citations": [1]})
REPLIES = {
    "retriever/route": ROUTE,
    "judge/verdict": SUFFICIENT,
    "answerer/cited": CITE,
    # the shipped (never confident) decisions escalate every question: into the notes loop when it is on
    "notes/update": json.dumps({"note": "", "queries": [], "inferences": []}),
    "notes/review": json.dumps({"better": False}),
}
SECRET = "The vault code is 4711, kept by the night porter."
ALPHA_DOCS = [
    {"text": SECRET, "source_id": "vault"},
    {"text": "Alpha's office is on the fourth floor.", "source_id": "office"},
]
BETA_DOCS = [{"text": "On the lunch menu: lentil soup, rye bread and apples.", "source_id": "menu"}]


def _texts(answer_or_state: object) -> str:
    return json.dumps(
        answer_or_state, default=lambda o: o.model_dump(mode="json") if hasattr(o, "model_dump") else str(o)
    )


def test_same_thread_id_in_another_namespace_carries_nothing_over(make_rag) -> None:  # type: ignore[no-untyped-def]
    rag = make_rag(REPLIES)
    rag.add(ALPHA_DOCS, namespace="alpha", derive=False)
    rag.add(BETA_DOCS, namespace="beta", derive=False)
    a = rag.ask("What is the vault code?", namespace="alpha", thread_id="t1")
    assert any("4711" in e.text for e in a.evidence)  # the secret really was in alpha's run
    b = rag.ask("What is on the lunch menu?", namespace="beta", thread_id="t1")
    assert b.evidence and "4711" not in _texts(b) and "fourth floor" not in _texts(b)
    state = rag.last_state("t1", namespace="beta")
    assert state["namespace"] == "beta" and "4711" not in _texts(state)  # hits, evidence, notes: all beta's
    assert {h.item.namespace for h in state["hits"]} == {"beta"}
    assert rag.last_state("t1", namespace="alpha")["question"] == "What is the vault code?"


def test_a_new_question_on_a_thread_starts_a_fresh_run(make_rag) -> None:  # type: ignore[no-untyped-def]
    rag = make_rag(REPLIES)
    rag.add(ALPHA_DOCS + BETA_DOCS, namespace="alpha", derive=False)
    rag.ask("What is the vault code?", namespace="alpha", thread_id="t1")
    first = rag.last_state("t1", namespace="alpha")
    rag.ask("What is on the lunch menu?", namespace="alpha", thread_id="t1")
    second = rag.last_state("t1", namespace="alpha")
    assert second["question"] == "What is on the lunch menu?" and second["round"] == first["round"]  # not accumulated
    # the merged hits of the first question are not carried into the second
    assert {h.item.id for h in first["hits"]} - {h.item.id for h in second["hits"]}
    assert second["evidence"][0].text.startswith("On the lunch menu")
    assert "What is the vault code?" not in json.dumps(second["asked"] + second["queries"])


def test_resume_only_finds_threads_of_its_own_namespace(make_rag) -> None:  # type: ignore[no-untyped-def]
    rag = make_rag(REPLIES)
    rag.add(ALPHA_DOCS, namespace="alpha", derive=False)
    rag.ask("What is the vault code?", namespace="alpha", thread_id="t1")
    with pytest.raises(InputError, match="no checkpointed run with thread id 't1' in namespace 'beta'"):
        rag.resume("t1", namespace="beta")
    assert "4711" in _texts(rag.resume("t1", namespace="alpha"))  # the owner still can
    with pytest.raises(InputError, match="thread id"):
        rag.ask("What is the vault code?", namespace="alpha", thread_id="")


def _cli(tmp_path: Path, *args: str) -> dict:  # type: ignore[type-arg]
    env = {**os.environ, "AGENTRAG_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(Path.cwd())}
    env.pop("AGENTRAG_CONFIG", None)
    cmd = [sys.executable, "-c", "from agentrag.cli import app; app()", *args]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout) if "--json" in args else {}


def test_thread_reuse_across_two_cli_processes(tmp_path: Path, make_rag) -> None:  # type: ignore[no-untyped-def]
    """The issue's reproduction, each ``ask`` its own process, on one data dir."""
    rag = make_rag(REPLIES)
    rag.add(ALPHA_DOCS, namespace="alpha", derive=False)
    rag.add(BETA_DOCS, namespace="beta", derive=False)
    rag.close()
    script = tmp_path / "replies.yaml"
    script.write_text(yaml.safe_dump(REPLIES))
    common = ["--backend", "scripted", "--script", str(script), "--json", "--thread-id", "t1"]
    a = _cli(tmp_path, "ask", "What is the vault code?", "--namespace", "alpha", *common)
    assert "4711" in json.dumps(a["evidence"])
    b = _cli(tmp_path, "ask", "What is on the lunch menu?", "--namespace", "beta", *common)
    assert b["evidence"] and "4711" not in json.dumps(b) and "fourth floor" not in json.dumps(b)
    assert all(c["item_id"] is None or c["item_id"].startswith("r-") for c in b["citations"])
