"""Silver labels and training data for the learned router, built from evaluation run folders.

Adaptive-RAG's recipe: a question's label is the cheapest method that answered
it correctly (``closed_book`` -> "none", ``naive_rag`` -> "single",
``iter_retgen`` / ``adaptive_note`` -> "iterative"); a question no method got
right takes its dataset's inductive bias (multi-hop datasets and LoCoMo's
multi-hop category -> "iterative", single-hop kinds -> "single"). The label's
source is kept with every row, so a reader can see how much of the training
signal is measured and how much is assumed.

Features need the run's memory: the probe (dense and sparse top scores, entity
hits) is computed against the raw namespace the run built, then stored in the
table by name with the question; the embedding and text features are recomputed
from the question at training time, so a table stays small and readable and
text-feature changes need no memory.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict

from agentrag.errors import ConfigError, InputError
from agentrag.memory.store import MemoryStore
from agentrag.routing.features import assemble, probe_features, probe_memory
from agentrag.routing.model import CLASSES, RouterModel, confusion, fit
from agentrag.types import RouteKind
from evals.records import QuestionRecord, load_records

log = logging.getLogger(__name__)

CORRECT_AT = 0.5
"""A method answered correctly when its score (F1, or abstention correctness) reaches this."""
METHOD_LABELS: tuple[tuple[str, RouteKind], ...] = (
    ("closed_book", "none"), ("naive_rag", "single"), ("iter_retgen", "iterative"), ("adaptive_note", "iterative"),
)
"""Cheapest first: the first method that got a question right gives its label."""
LABEL_METHODS = tuple(m for m, _ in METHOD_LABELS)


def inductive_bias(dataset: str, category: str) -> RouteKind:
    """The label a question takes when no method answered it: what its dataset was built to need."""
    if dataset in ("hotpotqa", "musique"):
        return "iterative"
    if dataset == "locomo" and category == "multi-hop":
        return "iterative"
    return "single"  # LoCoMo single-hop / temporal / open-domain / adversarial (abstaining needs a look), NQ


class Row(BaseModel):
    """One training question: who got it right, its label and its stored probe."""

    model_config = ConfigDict(extra="forbid")

    qid: str
    dataset: str
    sample_id: str
    category: str
    question: str
    label: RouteKind
    label_source: str
    """``method:<name>`` (cheapest correct method) or ``bias:<dataset>/<category>``."""
    scores: dict[str, float]
    """Each labelling method's score on the question."""
    probe: dict[str, float]
    entities: list[str]
    run: str = ""

    @property
    def key(self) -> str:
        """Unique across datasets (question ids are unique only within one)."""
        return f"{self.dataset}:{self.qid}"


def silver_label(
    dataset: str, category: str, scores: dict[str, float], *, answerable: bool = True
) -> tuple[RouteKind, str]:
    """Cheapest correct method's label, else the dataset's inductive bias.

    On an unanswerable question (LoCoMo category 5) a closed book that declines
    is "right" without looking, which says nothing about whether memory was
    needed: only methods that searched can label it.
    """
    for method, label in METHOD_LABELS:
        if method == "closed_book" and not answerable:
            continue
        if scores.get(method, 0.0) >= CORRECT_AT:
            return label, f"method:{method}"
    return inductive_bias(dataset, category), f"bias:{dataset}/{category}"


def _score(r: QuestionRecord) -> float:
    from evals.report import scored

    return float(scored(r)["score"] or 0.0)


def rows_from_run(
    run_dir: Path, memory: MemoryStore | None = None, *, k: int = 5, partial: bool = False
) -> list[Row]:
    """Label every question that the closed book and naive RAG both answered, and probe its memory.

    ``memory`` defaults to the run's own store (``RUN_DIR/memory``); it must hold
    the raw namespaces the records name. ``partial`` also labels questions only
    the closed book reached (naive RAG not run on them yet); their label source
    says so, because "single" was never tried on them.
    """
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file() or not (run_dir / "records").is_dir():
        raise InputError(f"{run_dir} is not a run folder (needs config.json and records/)")
    dataset = str(json.loads(cfg_path.read_text(encoding="utf-8")).get("run", {}).get("dataset", ""))
    records = load_records(run_dir)
    have = [m for m in LABEL_METHODS if m in records]
    if "closed_book" not in have or "naive_rag" not in have:
        raise InputError(f"{run_dir}: needs records of closed_book and naive_rag (has {sorted(records)})")
    by_q: dict[str, dict[str, QuestionRecord]] = {}
    for m in have:
        for r in records[m]:
            by_q.setdefault(r.qid, {})[m] = r
    own = memory is None
    if memory is None:
        memory = _open_memory(run_dir)
    rows: list[Row] = []
    try:
        for qid, recs in by_q.items():
            if "closed_book" not in recs or ("naive_rag" not in recs and not partial):
                continue  # a question only some cheap methods reached: its label would be a guess
            base = recs.get("naive_rag") or recs["closed_book"]
            scores = {m: round(_score(r), 4) for m, r in recs.items()}
            label, source = silver_label(dataset, base.category, scores, answerable=base.answerable)
            if "naive_rag" not in recs and not source.startswith("method:"):
                source += " (naive_rag not run)"
            probe = probe_memory(memory, base.namespace, base.question, k=k)
            rows.append(
                Row(
                    qid=qid, dataset=dataset, sample_id=base.sample_id, category=base.category,
                    question=base.question, label=label, label_source=source, scores=scores,
                    probe={n: round(v, 5) for n, v in probe_features(probe).items()}, entities=list(probe.entities),
                    run=run_dir.name,
                )
            )
    finally:
        if own:
            memory.close()
    log.info("%s: %d labelled questions", run_dir, len(rows))
    return rows


def rows_for_questions(
    questions: Sequence[str], label: RouteKind, source: str, memory: MemoryStore, namespace: str, *, k: int = 5
) -> list[Row]:
    """Rows for hand-written questions whose label is known by construction (greetings, arithmetic)."""
    rows = []
    for i, q in enumerate(questions):
        probe = probe_memory(memory, namespace, q, k=k)
        rows.append(
            Row(
                qid=f"{source}-{i}", dataset=source, sample_id=namespace, category=label, question=q, label=label,
                label_source=source, scores={}, probe={n: round(v, 5) for n, v in probe_features(probe).items()},
                entities=list(probe.entities),
            )
        )
    return rows


def _open_memory(run_dir: Path) -> MemoryStore:
    from agentrag.memory import open_store
    from agentrag.settings import load_settings

    if not (run_dir / "memory").is_dir():
        raise InputError(
            f"{run_dir}/memory is missing; the probe features need the run's raw memory "
            "(re-run the same `python -m evals run` command with --methods naive_rag to rebuild it)"
        )
    return open_store(load_settings(data_dir=run_dir / "memory"))


def read_table(path: Path) -> list[Row]:
    """Rows of a saved training table (JSONL)."""
    if not path.is_file():
        raise InputError(f"{path}: no such training table")
    try:
        return [Row.model_validate_json(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except ValueError as exc:
        raise InputError(f"{path}: not a router training table: {exc}") from exc


def write_table(path: Path, rows: Iterable[Row]) -> Path:
    """Save rows as JSONL, one question per line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(r.model_dump_json() + "\n" for r in rows), encoding="utf-8")
    return path


def is_dev(key: str, dev_share: float) -> bool:
    """Deterministic held-out split by a hash of the question key (stable across reruns and machines)."""
    h = int(hashlib.sha256(f"router-split:{key}".encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < dev_share


def matrix(rows: Sequence[Row]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Feature rows: the question's embedding and text features recomputed, the probe as stored."""
    from agentrag.memory.embedder import default_embedder

    if not rows:
        return np.zeros((0, 0))
    emb = np.asarray(default_embedder().embed([r.question for r in rows]), dtype=np.float64)
    return np.stack([assemble(r.question, e, r.probe) for r, e in zip(rows, emb, strict=True)])


def train(
    rows: Sequence[Row], *, dev_share: float = 0.2, l2: float | None = None, embed_l2: float = 3.0,
    balance: float = 0.5,
) -> tuple[RouterModel, dict[str, Any]]:
    """Fit on the rows outside the held-out part; return the model and its held-out evaluation.

    ``l2`` None picks the penalty by 5-fold cross-validation on the fit part only
    (the held-out part is never looked at before the final evaluation).
    """
    uniq = list({r.key: r for r in rows}.values())
    if len(uniq) < 2:
        raise ConfigError(f"need at least 2 labelled questions to train, got {len(uniq)}")
    dev = [r for r in uniq if is_dev(r.key, dev_share)]
    fit_rows = [r for r in uniq if not is_dev(r.key, dev_share)] or dev
    x_fit, x_dev = matrix(fit_rows), matrix(dev)
    cv: dict[str, float] = {}
    if l2 is None:
        cv = cross_validate(fit_rows, x_fit, embed_l2=embed_l2, balance=balance)
        l2 = float(max(cv, key=lambda k: (cv[k], float(k))))
    meta = {
        "trained_on": f"{len(fit_rows)} silver-labelled dev questions ({', '.join(sorted({r.dataset for r in uniq}))})",
        "label_counts": dict(Counter(r.label for r in fit_rows)), "l2": l2, "embed_l2": embed_l2, "balance": balance,
        "dev_share": dev_share, "correct_at": CORRECT_AT, "cv_accuracy_by_l2": cv,
    }
    model = fit(x_fit, [r.label for r in fit_rows], l2=l2, embed_l2=embed_l2, balance=balance, meta=meta)
    report = evaluation(model, fit_rows, dev, x_fit, x_dev)
    return model, report


L2_GRID = (1.0, 10.0, 100.0, 1000.0)


def cross_validate(
    rows: Sequence[Row], x: Any, *, embed_l2: float, balance: float, folds: int = 5
) -> dict[str, float]:
    """Mean accuracy of each L2 penalty over deterministic folds (by question-key hash)."""
    fold = np.asarray([int(hashlib.sha256(r.key.encode()).hexdigest()[:8], 16) % folds for r in rows])
    labels = [r.label for r in rows]
    out: dict[str, float] = {}
    for l2 in L2_GRID:
        accs = []
        for f in range(folds):
            tr, te = np.flatnonzero(fold != f), np.flatnonzero(fold == f)
            if not len(te) or len({labels[i] for i in tr}) < 2:
                continue
            m = fit(x[tr], [labels[i] for i in tr], l2=l2, embed_l2=embed_l2, balance=balance, steps=1500)
            accs.append(confusion(m, x[te], [labels[i] for i in te])["accuracy"])
        out[str(l2)] = round(float(np.mean(accs)), 4) if accs else 0.0
    return out


def evaluation(
    model: RouterModel, fit_rows: Sequence[Row], dev: Sequence[Row], x_fit: Any, x_dev: Any
) -> dict[str, Any]:
    """Held-out accuracy, per class and per dataset, the confusion matrix and the label counts."""

    def counts(rows: Sequence[Row]) -> dict[str, Any]:
        return {
            "labels": {c: sum(r.label == c for r in rows) for c in CLASSES},
            "label_sources": dict(sorted(Counter(r.label_source for r in rows).items())),
            "datasets": dict(sorted(Counter(r.dataset for r in rows).items())),
        }

    out: dict[str, Any] = {
        "fit": {
            "n": len(fit_rows), **counts(fit_rows),
            "train_accuracy": confusion(model, x_fit, [r.label for r in fit_rows])["accuracy"],
        },
        "held_out": {**counts(dev), **confusion(model, x_dev, [r.label for r in dev])} if dev else {"n": 0},
        "majority_baseline": None,
    }
    if dev:
        top = Counter(r.label for r in fit_rows).most_common(1)[0][0]
        out["majority_baseline"] = {"label": top, "accuracy": round(sum(r.label == top for r in dev) / len(dev), 3)}
        by_ds: dict[str, Any] = {}
        for ds in sorted({r.dataset for r in dev}):
            idx = [i for i, r in enumerate(dev) if r.dataset == ds]
            by_ds[ds] = confusion(model, x_dev[idx], [dev[i].label for i in idx])["accuracy"]
        out["held_out"]["accuracy_by_dataset"] = by_ds
    return out


def collect(paths: Sequence[Path], *, k: int = 5, partial: bool = False) -> list[Row]:
    """Rows from run folders (probed now) and saved tables (``*.jsonl``), later duplicates winning."""
    rows: dict[str, Row] = {}
    for p in paths:
        got = read_table(p) if p.is_file() else rows_from_run(p, k=k, partial=partial)
        rows.update({r.key: r for r in got})
    return list(rows.values())


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m evals.router handwritten FILE RUN_DIR NAMESPACE --out TABLE``: label hand-written questions.

    Each line of FILE is a question that needs no memory (a greeting, arithmetic,
    a general instruction); they are probed against a run's memory so their
    probe features look like a real deployment's (memory full of unrelated items).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m evals.router")
    sub = parser.add_subparsers(dest="cmd", required=True)
    hw = sub.add_parser("handwritten", help="label hand-written no-retrieval questions")
    hw.add_argument("file", type=Path)
    hw.add_argument("run_dir", type=Path)
    hw.add_argument("namespace")
    hw.add_argument("--label", default="none", choices=CLASSES)
    hw.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    questions = [q.strip() for q in args.file.read_text(encoding="utf-8").splitlines() if q.strip()]
    memory = _open_memory(args.run_dir)
    try:
        rows = rows_for_questions(questions, args.label, f"handwritten-{args.label}", memory, args.namespace)
    finally:
        memory.close()
    write_table(args.out, rows)
    log.warning("%d rows -> %s", len(rows), args.out)


if __name__ == "__main__":
    main()
