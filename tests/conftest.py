"""Shared fixtures: one real embedder per test session, scripted-model AgentRAG factories.

Every run is made hostile to output-shape assumptions, so a test that passes
here passes on any machine: consoles are 60 columns wide and colourless (set
before agentrag is imported, inherited by CLI subprocesses), and temporary
folders sit under a deep path (see ``pytest_configure``). Tests compare CLI text
through ``clitext.flat`` (whitespace-normalised), never wrapped lines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
# Narrow and plain on purpose (rich reads these when a Console is created).
os.environ["COLUMNS"] = "60"
os.environ["NO_COLOR"] = "1"
os.environ.pop("FORCE_COLOR", None)
os.environ.pop("TTY_COMPATIBLE", None)
os.environ.pop("TTY_INTERACTIVE", None)

from chromaserver import chroma_server  # noqa: F401  (fixture: a real Chroma server on loopback)
from pgserver import pg_dsn, postgres_server  # noqa: F401  (fixtures: a real Postgres on loopback)

from agentrag.api import AgentRAG
from agentrag.memory.embedder import CachedEmbedder, default_embedder
from agentrag.settings import load_settings
from agentrag.testing import Reply, ScriptedChatModel

DEEP = ("deep-tmp-so-paths-in-messages", "are-longer-than-one-terminal-line")
_made_basetemp: list[Path] = []
_exit: list[int] = []

@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Put every tmp_path under a deep folder unless ``--basetemp`` was given.

    One folder per run (pid), so parallel runs never clear each other's; it is
    removed when the run passes and kept for a look when it fails.
    """
    if config.option.basetemp:
        return
    base = Path(tempfile.gettempdir(), f"agentrag-tests-{os.getuid()}", *DEEP, f"run-{os.getpid()}")
    base.parent.mkdir(parents=True, exist_ok=True)
    config.option.basetemp = str(base)
    _made_basetemp.append(base)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Remember how the run ended (fixtures are torn down after this hook)."""
    _exit.append(int(exitstatus))


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove this run's deep basetemp when every test passed."""
    if _made_basetemp and _exit == [0]:
        shutil.rmtree(_made_basetemp[0], ignore_errors=True)


@pytest.fixture(scope="session")
def embedder() -> CachedEmbedder:
    """The real all-MiniLM-L6-v2 embedder, loaded once."""
    return default_embedder()


NOTES_LOOP: dict[str, Reply] = {
    "notes/update": '{"note": "", "queries": [], "inferences": []}',
    "notes/review": '{"better": false}',
}
"""A notes loop that adds nothing (an empty note, no new queries, never better)."""


@pytest.fixture
def make_rag(tmp_path: Path, embedder: CachedEmbedder) -> Iterator[Callable[..., AgentRAG]]:
    """Build AgentRAG instances on real Chroma in a temp dir with a scripted generator."""
    made: list[AgentRAG] = []

    def factory(
        replies: dict[str, Reply], probabilities: dict[str, float | list[float]] | None = None, **settings: object
    ) -> AgentRAG:
        if "retriever/route" in replies:  # a test that scripts the plan means the LLM router to read it
            settings.setdefault("router", {"kind": "llm"})
        # With the shipped decisions (SmolLM2-135M's calibration: never confident) every question
        # escalates to the notes loop; a test that does not script the loop gets a plain one.
        replies = {**NOTES_LOOP, **replies}
        s = load_settings(data_dir=tmp_path / "data", **settings)
        llm = ScriptedChatModel(replies=replies, probabilities=probabilities or {})
        rag = AgentRAG(s, llm=llm, embedder=embedder)
        made.append(rag)
        return rag

    yield factory
    for rag in made:
        rag.close()
