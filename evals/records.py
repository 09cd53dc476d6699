"""The run folder: per-question records (JSONL), memory-build records, timings, config.

A run folder is append-only while a run is in progress, which is what makes a
run resumable: a re-run reads which (method, question) pairs already have a
record and skips them. Every table and plot is rebuilt from these files.

    DIR/config.json            the run's configuration and machine
    DIR/records/<method>.jsonl one record per question
    DIR/memory_builds.jsonl    one record per (sample, memory kind) built
    DIR/timings.jsonl          wall time of each method phase of each invocation
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)
T = TypeVar("T", bound=BaseModel)


class Usage(BaseModel):
    """Tokens and calls."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    calls: int = 0


class QuestionRecord(BaseModel):
    """Everything one method did on one question, enough to rescore it without rerunning."""

    model_config = ConfigDict(extra="ignore")

    method: str
    qid: str
    sample_id: str
    namespace: str
    category: str
    question: str
    gold: list[str]
    answerable: bool
    adversarial_answer: str | None = None
    gold_evidence: list[str] = Field(default_factory=list)
    prediction: str = ""
    abstained: bool = False
    citations: list[str] = Field(default_factory=list)
    """Memory item ids the answer cited."""
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    """The evidence pool: id, item id, level, status."""
    retrieved: list[list[str]] = Field(default_factory=list)
    """Per retrieved item, in rank order: the gold-comparable source ids it rests on."""
    retrieved_levels: list[str] = Field(default_factory=list)
    """Per retrieved item, its memory level (raw, fact, episode); empty in records made before it existed."""
    retrieval: bool = True
    route: dict[str, Any] | None = None
    rounds: int = 0
    stop_reason: str = ""
    refreshed: list[str] = Field(default_factory=list)
    truncation: dict[str, Any] | None = None
    budget: dict[str, int] | None = None
    """The evidence token budget and what was used (``floor_tokens``, ``added_tokens``, ``skipped``)."""
    decisions: list[dict[str, Any]] = Field(default_factory=list)
    """The Judge's calibrated decisions: kind, P(yes), threshold, outcome, source."""
    escalation: str = ""
    """Why the question went to the notes loop ("" when it did not)."""
    notes_steps: int = 0
    dropped: list[str] = Field(default_factory=list)
    usage: Usage = Usage()
    usage_by_node: dict[str, Usage] = Field(default_factory=dict)
    latency_s: float = 0.0
    kprec: float | None = None
    judge: bool | None = None
    error: str | None = None


class BuildRecord(BaseModel):
    """The one-time cost of building one sample's memory of one kind."""

    model_config = ConfigDict(extra="ignore")

    sample_id: str
    kind: str
    namespace: str
    seconds: float
    usage: Usage = Usage()
    raw: int = 0
    facts: int = 0
    episodes: int = 0
    duplicates: int = 0
    conflicts: int = 0
    superseded: int = 0
    extraction: dict[str, float] = Field(default_factory=dict)
    """Fact-extraction counts (replies, degenerate replies, rejections, fallback facts, support sum)."""


class Timing(BaseModel):
    """Wall time of one method over the questions one invocation ran."""

    method: str
    questions: int
    wall_s: float
    concurrency: int
    started: str


def append_jsonl(path: Path, record: BaseModel) -> None:
    """Append one record and flush, so a crash loses at most the question in flight."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as f:
        f.write(record.model_dump_json() + "\n")
        f.flush()


def read_jsonl(path: Path, model: type[T]) -> list[T]:
    """Records of a JSONL file; a torn last line (a crash mid-write) is skipped with a warning."""
    if not path.is_file():
        return []
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            out.append(model.model_validate_json(line))
        except ValueError:
            log.warning("%s line %d is not a complete record; skipped", path, n)
    return out


def records_path(out: Path, method: str) -> Path:
    """Where a method's per-question records go."""
    return out / "records" / f"{method}.jsonl"


def load_records(out: Path) -> dict[str, list[QuestionRecord]]:
    """All records of a run folder by method (the last record wins for a repeated question)."""
    found: dict[str, list[QuestionRecord]] = {}
    for path in sorted((out / "records").glob("*.jsonl")):
        latest = {r.qid: r for r in read_jsonl(path, QuestionRecord)}
        if latest:
            found[path.stem] = list(latest.values())
    return found


def write_json(path: Path, data: Any) -> None:
    """Pretty JSON, written whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", encoding="utf-8")
