"""Regenerate docs/run-page.png and docs/memory-page.png: a scripted multi-round run rendered by headless Chromium.

Run from the repository root: ``python docs/make_screenshots.py`` (needs chromium; see scripts/ensure_test_tools.sh).
The run is the one the page tests use (tests/tracing/scripted_runs.py): every node of the answer graph, two
rounds with a note, a fact superseded by the Refresher and evidence revised.
"""

# ruff: noqa: E402  (the test helpers are put on sys.path first)
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests" / "tracing"), str(ROOT / "tests" / "pages")]

from chromium import screenshot
from scripted_runs import visit_every_node

from agentrag.api import AgentRAG
from agentrag.memory.embedder import default_embedder
from agentrag.pages.pages import memory_page, run_page
from agentrag.settings import load_settings
from agentrag.testing import ScriptedChatModel


def main() -> None:
    """Run, export both pages, screenshot them into docs/."""
    with tempfile.TemporaryDirectory() as tmp:
        embedder = default_embedder()

        def make_rag(replies: dict[str, object], **settings: object) -> AgentRAG:
            s = load_settings(data_dir=Path(tmp) / "data", **settings)
            return AgentRAG(s, llm=ScriptedChatModel(replies=replies), embedder=embedder)

        rag, _ = visit_every_node(make_rag, ns="alice", thread_id="demo-thread")
        run = Path(tmp) / "run.html"
        mem = Path(tmp) / "memory.html"
        run.write_text(run_page(rag.settings, "demo-thread", "alice", rag.memory, "memory.html"), encoding="utf-8")
        mem.write_text(memory_page(rag.memory, "alice"), encoding="utf-8")
        rag.close()
        screenshot(run, ROOT / "docs" / "run-page.png", 1400, 2050)
        screenshot(mem, ROOT / "docs" / "memory-page.png", 1400, 1000)


if __name__ == "__main__":
    main()
