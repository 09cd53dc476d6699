"""Evaluation datasets read from files: LoCoMo, HotpotQA, MuSiQue and the NQ toy set.

Every loader takes a path, so the dev split, the held-out split or a user's own
file in the same schema all work. A dataset is a set of *samples* (what goes into
one memory namespace: a conversation, one question's paragraphs, a pooled corpus)
and a list of *questions*. Each question names its sample and carries its gold
answers, a category and its gold evidence as memory ``source_id`` values (LoCoMo
dialog ids such as ``D1:3``, paragraph doc ids), so retrieval recall can be
computed from the items a method actually retrieved.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from agentrag.errors import InputError
from agentrag.ingest import Document
from agentrag.memory.loaders import locomo_items, paragraph_items
from agentrag.types import MemoryItem

log = logging.getLogger(__name__)

DatasetName = Literal["locomo", "hotpotqa", "musique", "nq"]
DATASETS: tuple[DatasetName, ...] = ("locomo", "hotpotqa", "musique", "nq")

LOCOMO_CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop", 5: "adversarial"}
"""The official mapping (snap-research/locomo ``task_eval/evaluation.py``); mem0's differs."""

_DIA = re.compile(r"D:?(\d+):(\d+)")


class Question(BaseModel):
    """One evaluation question with everything needed to score it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    qid: str
    sample_id: str
    question: str
    answers: tuple[str, ...] = ()
    """Acceptable gold strings; a match against any counts."""
    answerable: bool = True
    """False where the right behaviour is to abstain (LoCoMo category 5)."""
    category: str = "all"
    evidence: tuple[str, ...] = ()
    """Gold evidence as memory source ids."""
    adversarial_answer: str | None = None


@dataclass(frozen=True)
class Sample:
    """What one memory namespace holds: a conversation, a question's paragraphs, a corpus."""

    sample_id: str
    documents: tuple[Document, ...]


@dataclass
class Dataset:
    """Samples plus questions, with the category display order."""

    name: DatasetName
    path: Path
    samples: dict[str, Sample]
    questions: list[Question]
    categories: tuple[str, ...] = field(default=())

    def select(
        self,
        *,
        limit: int | None = None,
        per_category: int | None = None,
        samples: Sequence[str] = (),
        offset: int = 0,
    ) -> list[Question]:
        """A deterministic subset in file order.

        ``samples`` keeps only those samples' questions; ``per_category`` takes the
        first N of each category (LoCoMo files list questions grouped by category,
        so a plain prefix would miss whole categories); ``offset`` skips the first N of
        what is left (a fit split after the reported questions) and ``limit`` then caps the total.
        """
        qs = [q for q in self.questions if not samples or q.sample_id in samples]
        unknown = sorted(set(samples) - set(self.samples))
        if unknown:
            raise InputError(f"unknown samples {unknown}; this file has: {', '.join(sorted(self.samples))}")
        if per_category is not None:
            taken: dict[str, int] = {}
            kept = []
            for q in qs:
                if taken.get(q.category, 0) < per_category:
                    taken[q.category] = taken.get(q.category, 0) + 1
                    kept.append(q)
            qs = kept
        qs = qs[offset:]
        return qs[:limit] if limit is not None else qs


def load_dataset(name: str, path: Path, corpus: Path | None = None) -> Dataset:
    """Load a dataset by name; the error lists the valid names."""
    match name:
        case "locomo":
            return load_locomo(path)
        case "hotpotqa":
            return load_paragraph_qa("hotpotqa", path)
        case "musique":
            return load_paragraph_qa("musique", path)
        case "nq":
            return load_nq(path, corpus)
        case _:
            raise InputError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix == ".jsonl":
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: malformed JSON at line {exc.lineno}: {exc.msg}") from exc


# -- LoCoMo -------------------------------------------------------------------------


def parse_evidence(refs: Iterable[str]) -> tuple[str, ...]:
    """Gold dialog ids, repairing the known malformed references (``"D8:6; D9:17"``, ``"D:11:26"``)."""
    out: list[str] = []
    for ref in refs:
        for m in _DIA.finditer(str(ref)):
            dia = f"D{int(m.group(1))}:{int(m.group(2))}"
            if dia not in out:
                out.append(dia)
    return tuple(out)


def as_document(item: MemoryItem, source_id: str, *, session_id: str | None = None, chunk: bool = False) -> Document:
    """A loader's raw item as a document for the ingest graph, keyed by its gold-evidence id.

    Every method's memory is built through the same ``AgentRAG.add`` path, so raw
    items are identical across memory kinds; the gold key (dialog id, doc id) becomes
    the source id so recall can be read straight off retrieved items.
    """
    return Document(
        text=item.text, source_id=source_id, session_id=session_id or item.session_id, speaker=item.speaker,
        event_time=item.event_time, meta=dict(item.meta), chunk=chunk,
    )


def locomo_documents(sample: dict[str, Any]) -> tuple[Document, ...]:
    """A conversation's turns (parsed by ``agentrag.memory.loaders``) as chat documents keyed by dialog id."""
    items = locomo_items([sample], "parse")
    return tuple(as_document(i, i.meta["dia_id"]) for i in items)


def locomo_questions(sample: dict[str, Any]) -> list[Question]:
    """Questions with the official categories; category 5 is unanswerable (abstaining is right)."""
    sid = sample["sample_id"]
    out = []
    for i, qa in enumerate(sample["qa"]):
        cat = int(qa["category"])
        answer = qa.get("answer")
        out.append(
            Question(
                qid=f"{sid}/{i}", sample_id=sid, question=str(qa["question"]).strip(),
                answers=(str(answer),) if answer is not None and str(answer).strip() else (),
                answerable=cat != 5, category=LOCOMO_CATEGORIES.get(cat, str(cat)),
                evidence=parse_evidence(qa.get("evidence", [])),
                adversarial_answer=str(qa["adversarial_answer"]) if qa.get("adversarial_answer") is not None else None,
            )
        )
    return out


def load_locomo(path: Path) -> Dataset:
    """LoCoMo in its original schema (a JSON list of conversations, e.g. ``locomo10.dev.json``)."""
    data = _read_json(path)
    if not isinstance(data, list) or not data or "conversation" not in data[0]:
        raise InputError(f"{path}: expected LoCoMo's original schema (a list of objects with 'conversation' and 'qa')")
    samples = {s["sample_id"]: Sample(s["sample_id"], locomo_documents(s)) for s in data}
    questions = [q for s in data for q in locomo_questions(s)]
    return Dataset("locomo", path, samples, questions, tuple(LOCOMO_CATEGORIES.values()))


# -- HotpotQA and MuSiQue (the normalised schema shared by both) --------------------


def load_paragraph_qa(name: Literal["hotpotqa", "musique"], path: Path) -> Dataset:
    """One sample per question holding its own paragraphs (the distractor setting).

    The paragraphs share a session id (the question id), so the Constructor
    batches them into few fact-extraction calls and writes one episode per question.
    """
    rows = _read_json(path)
    if not isinstance(rows, list) or not rows or "paragraphs" not in rows[0]:
        raise InputError(f"{path}: expected the normalised {name} JSONL (one question with 'paragraphs' per line)")
    samples: dict[str, Sample] = {}
    questions: list[Question] = []
    for row in rows:
        qid = str(row["id"])
        items = paragraph_items([row], "parse", dataset=name)
        samples[qid] = Sample(qid, tuple(as_document(i, i.source_id, session_id=qid, chunk=True) for i in items))
        golds = [row["answer"], *row.get("answer_aliases", [])]
        answers = tuple(dict.fromkeys(str(a) for a in golds if str(a).strip()))
        questions.append(
            Question(
                qid=qid, sample_id=qid, question=str(row["question"]).strip(), answers=answers,
                answerable=bool(row.get("answerable", True)), category=str(row.get("type") or "all"),
                evidence=tuple(row.get("supporting_doc_ids", ())),
            )
        )
    cats = tuple(dict.fromkeys(q.category for q in questions))
    return Dataset(name, path, samples, questions, cats)


# -- NQ toy (FlashRAG quick start) ----------------------------------------------------


def default_nq_corpus(path: Path) -> Path:
    """The corpus beside the question file, as laid out in ``shared/data/flashrag_toy``."""
    return path.parent / "raw" / "wiki_sample_corpus1000.jsonl"


def load_nq(path: Path, corpus: Path | None = None) -> Dataset:
    """NQ questions over one pooled Wikipedia sample (plumbing only: most answers are not in it)."""
    rows = _read_json(path)
    corpus_path = corpus or default_nq_corpus(path)
    docs = []
    for i, rec in enumerate(_read_json(corpus_path)):
        contents = str(rec.get("contents") or rec.get("text") or "")
        title, _, body = contents.partition("\n")
        if not body.strip():
            title, body = "", contents
        if body.strip():
            docs.append(Document(text=body.strip(), title=title.strip('"') or None, source_id=f"nq-{rec.get('id', i)}"))
    samples = {"corpus": Sample("corpus", tuple(docs))}
    questions = [
        Question(
            qid=str(r["id"]), sample_id="corpus", question=str(r["question"]).strip(),
            answers=tuple(str(a) for a in r.get("golden_answers", [])), category="nq",
        )
        for r in rows
    ]
    return Dataset("nq", path, samples, questions, ("nq",))
