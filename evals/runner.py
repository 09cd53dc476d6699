"""Run methods x questions, concurrently, resumably, writing one record per question.

Questions of one method run concurrently under an asyncio semaphore, so an
OpenAI-compatible server (vLLM) sees many requests at once and batches them; the
local llama.cpp model serialises its calls anyway, so use ``--concurrency 1``
there. Methods run one after the other, in the canonical order, so per-method
wall time is meaningful. A re-run with the same folder skips every (method,
question) that already has a record.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, cast

from pydantic import BaseModel, ConfigDict, Field

from agentrag.agents.evidence import shown_to_answer
from agentrag.api import AgentRAG
from agentrag.errors import AgentRagError, ConfigError
from agentrag.llm.usage import UsageTracker
from agentrag.memory.store import MemoryStore
from agentrag.settings import LocalLLMConfig, OpenAIConfig, Settings, load_settings
from agentrag.state import AnswerState
from agentrag.types import Evidence, Hit, MemoryItem, Note, Route
from evals import metrics
from evals.build import build_memory, namespace_for
from evals.datasets import Dataset, DatasetName, Question, load_dataset
from evals.judge import Judge
from evals.llmcache import SqliteReplyCache, attach
from evals.machine import describe_machine
from evals.methods import MethodOptions, MethodSpec, get_methods
from evals.records import (
    BuildRecord,
    QuestionRecord,
    Timing,
    Usage,
    append_jsonl,
    read_jsonl,
    records_path,
    write_json,
)

log = logging.getLogger(__name__)

OUTPUT_KEYS = (
    "answer", "abstained", "citations", "evidence", "hits", "note", "route", "round", "stop_reason", "refreshed",
    "verdict", "truncation", "shown", "floor", "dropped", "budget", "decisions", "escalation", "notes_steps",
)
"""State channels read back after a run (more than the graphs' output schemas expose)."""


class RunConfig(BaseModel):
    """One evaluation run; saved as ``config.json`` and checked on resume."""

    model_config = ConfigDict(extra="forbid")

    dataset: DatasetName
    path: Path
    corpus: Path | None = None
    methods: tuple[str, ...]
    backend: Literal["local", "openai"] = "local"
    base_url: str | None = None
    model: str | None = None
    limit: int | None = None
    per_category: int | None = None
    interleave: bool = False
    """Question by question across methods (every method answers question 1, then question 2, ...),
    so a run stopped early still holds paired results; otherwise method by method."""
    offset: int = Field(0, ge=0)
    """Skip the first N selected questions (a fit split after the reported ones, or a quick check)."""
    samples: tuple[str, ...] = ()
    concurrency: int = Field(1, ge=1, le=256)
    top_k: int = 5
    judge: bool = True
    iter_rounds: int = 2
    window_tokens: int | None = None
    """full_context's window; default: the local model's n_ctx, 4096 for a server."""
    reply_cache: Path | None = None
    """Memoise the generator's replies in this SQLite file (``evals.llmcache``); greedy decoding
    makes a replayed reply identical, so answers do not change, only wall time."""
    out: Path

    def identity(self) -> dict[str, Any]:
        """What must match for a resumed run to continue the same experiment."""
        return self.model_dump(mode="json", include={"dataset", "backend", "model", "top_k", "iter_rounds"})


class Reporter(Protocol):
    """Progress sink (the CLI draws rich bars; tests pass nothing)."""

    def start(self, key: str, description: str, total: int, done: int = 0) -> None:
        """A new phase with ``total`` steps, ``done`` of them already finished."""

    def advance(self, key: str, n: int = 1) -> None:
        """Steps finished."""


class _Silent:
    def start(self, key: str, description: str, total: int, done: int = 0) -> None:
        pass

    def advance(self, key: str, n: int = 1) -> None:
        pass


def llm_config(backend: str, base_url: str | None = None, model: str | None = None) -> LocalLLMConfig | OpenAIConfig:
    """The generator config for a backend name; the error lists the valid ones."""
    match backend:
        case "local":
            return LocalLLMConfig(**({"model_path": model} if model else {}))
        case "openai":
            extra: dict[str, Any] = {"model": model} if model else {}
            return OpenAIConfig(base_url=base_url or OpenAIConfig().base_url, **extra)
        case _:
            raise ConfigError.invalid_choice("backend", backend, ("local", "openai"))


def run_settings(cfg: RunConfig) -> Settings:
    """Settings for the run: memory under the run folder, the chosen generator and top-k."""
    llm = llm_config(cfg.backend, cfg.base_url, cfg.model)
    return load_settings(data_dir=cfg.out / "memory", llm=llm, retrieval={"top_k": cfg.top_k})


def token_counter(rag: AgentRAG) -> Any:
    """Exact token counts for the local model (its own vocabulary); an estimate for a server."""
    from evals.methods import estimate_tokens

    if rag.settings.llm.kind != "local":
        return estimate_tokens
    from llama_cpp import Llama

    model_file = getattr(rag.llm, "model_file", None)
    if model_file is None:
        return estimate_tokens
    vocab = Llama(model_path=str(model_file), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=True, special=True)) + 16


def model_name(llm: Any) -> str:
    """The generator's name as recorded with results."""
    if hasattr(llm, "model_file"):
        return str(llm.model_file.name)
    if hasattr(llm, "model_name"):
        return str(llm.model_name)
    return type(llm).__name__


class Runner:
    """Owns the run folder, the AgentRAG instance (generator + memory) and the judge."""

    def __init__(self, cfg: RunConfig, rag: AgentRAG | None = None, reporter: Reporter | None = None) -> None:
        self.cfg = cfg
        self.rag = rag or AgentRAG(run_settings(cfg))
        self.reporter: Reporter = reporter or _Silent()
        self.methods = get_methods(list(cfg.methods))
        self.dataset: Dataset = load_dataset(cfg.dataset, cfg.path, cfg.corpus)
        self.questions = self.dataset.select(
            limit=cfg.limit, per_category=cfg.per_category, samples=cfg.samples, offset=cfg.offset
        )
        if not self.questions:
            raise ConfigError("no questions selected; check --samples, --limit and --per-category")
        self._sources: dict[tuple[str, str], list[str]] = {}
        self.reply_cache: SqliteReplyCache | None = None
        if cfg.reply_cache is not None:
            self.reply_cache = attach([self.rag.llm], cfg.reply_cache)

    # -- setup --------------------------------------------------------------------
    def _check_config(self) -> None:
        path = self.cfg.out / "config.json"
        if path.is_file():
            old = json.loads(path.read_text(encoding="utf-8"))
            mine = self.cfg.identity()
            theirs = {k: old.get("run", {}).get(k) for k in mine}
            if theirs != mine:
                raise ConfigError(
                    f"{self.cfg.out} holds a run with {theirs}, not {mine}; use another --out to start a new run"
                )

    def _previous_judge(self) -> Any:
        """Keep the record of a judge that graded this folder after the fact (``eval judge``)."""
        path = self.cfg.out / "config.json"
        return json.loads(path.read_text(encoding="utf-8")).get("judge") if path.is_file() else None

    def _options(self) -> MethodOptions:
        llm = self.rag.settings.llm
        window = self.cfg.window_tokens or (llm.n_ctx if isinstance(llm, LocalLLMConfig) else 4096)
        max_tokens = getattr(llm, "max_tokens", 384)
        return MethodOptions(
            iter_rounds=self.cfg.iter_rounds, window_tokens=window, reserve_tokens=max_tokens + 64,
            count_tokens=token_counter(self.rag),
        )

    def _judge(self) -> Judge | None:
        if not self.cfg.judge:
            return None
        return Judge(self.rag.llm, self.rag.prompts, backend=self.cfg.backend, model=model_name(self.rag.llm))

    # -- memory -------------------------------------------------------------------
    def build_memories(self) -> list[BuildRecord]:
        """Build every (sample, kind) the selected methods need that is not built yet."""
        kinds = sorted({m.memory for m in self.methods if m.memory != "none"})
        samples = list(dict.fromkeys(q.sample_id for q in self.questions))
        path = self.cfg.out / "memory_builds.jsonl"
        done = {(b.sample_id, b.kind) for b in self._present(path)}
        todo = [(s, k) for k in kinds for s in samples if (s, k) not in done]
        self.reporter.start("memory", "memory builds", len(samples) * len(kinds), len(samples) * len(kinds) - len(todo))
        built = []
        for sample_id, kind in todo:
            sample = self.dataset.samples[sample_id]
            label = f"  {kind} memory of {sample_id}"
            self.reporter.start("sessions", label, 0)
            record = build_memory(self.rag, self.cfg.dataset, sample, kind, on_session=self._session_bar(label))
            append_jsonl(path, record)
            built.append(record)
            self.reporter.advance("memory")
        return built

    def _present(self, path: Path) -> list[BuildRecord]:
        """The build records whose memory is still in the store; the others are dropped to be built again.

        A run folder copied or restored without its ``memory/`` (or with part of it) once resumed
        on empty namespaces and scored every method near 0 without a word; a build counts as done
        only while its namespace holds at least the raw items the build recorded.
        """
        builds = read_jsonl(path, BuildRecord)
        present = [b for b in builds if self.rag.memory.count(b.namespace, "raw") >= b.raw]
        if len(present) < len(builds):
            log.warning("%d of %d memory builds in %s are missing from the store; building them again",
                        len(builds) - len(present), len(builds), path.parent)
            path.write_text("".join(b.model_dump_json() + "\n" for b in present))
        return present

    def _session_bar(self, label: str) -> Callable[[int, int], None]:
        def advance(done: int, total: int) -> None:
            self.reporter.start("sessions", label, total, done)

        return advance

    # -- one question -------------------------------------------------------------
    def _sources_of(self, ns: str, item: MemoryItem, memory: MemoryStore, depth: int = 0) -> list[str]:
        """Gold-comparable sources behind an item: its own for raw items, its ancestors' otherwise."""
        key = (ns, item.id)
        if key in self._sources:
            return self._sources[key]
        if item.level == "raw" or not item.parents or depth > 3:
            found = [item.source_id] if item.level == "raw" else []
        else:
            found = []
            for parent in memory.get(ns, list(item.parents)):
                found += [s for s in self._sources_of(ns, parent, memory, depth + 1) if s not in found]
        self._sources[key] = found
        return found

    @staticmethod
    def _shown(out: dict[str, Any]) -> list[str]:
        """Texts the final prompt showed: the evidence it was given, and the note."""
        pool: list[Evidence] = list(out.get("evidence") or [])
        if out.get("shown") is not None:
            ids = set(out["shown"])
            shown = [e for e in pool if e.id in ids]
        else:
            shown = shown_to_answer(cast(AnswerState, out))
        note: Note | None = out.get("note")
        return [e.text for e in shown] + ([note.text] if note and note.text else [])

    def _record(
        self, method: MethodSpec, q: Question, ns: str, out: dict[str, Any], tracker: UsageTracker, latency: float
    ) -> QuestionRecord:
        memory = self.rag.memory
        hits: list[Hit] = list(out.get("hits") or [])
        pool: list[Evidence] = list(out.get("evidence") or [])
        levels = {h.item.id: h.item.level for h in hits}
        route: Route | None = out.get("route")
        prediction = str(out.get("answer") or "")
        abstained = bool(out.get("abstained"))
        t = tracker.total
        return QuestionRecord(
            method=method.name, qid=q.qid, sample_id=q.sample_id, namespace=ns, category=q.category,
            question=q.question, gold=list(q.answers), answerable=q.answerable,
            adversarial_answer=q.adversarial_answer, gold_evidence=list(q.evidence), prediction=prediction,
            abstained=abstained, citations=[c.item_id or c.evidence_id for c in out.get("citations") or []],
            evidence=[
                {"id": e.id, "item_id": e.item_id, "level": levels.get(e.item_id or ""), "status": e.status}
                for e in pool
            ],
            retrieved=[self._sources_of(ns, h.item, memory) for h in hits], retrieval=method.retrieves,
            retrieved_levels=[h.item.level for h in hits],
            route=route.model_dump(mode="json") if route else None, rounds=int(out.get("round") or 0),
            stop_reason=str(out.get("stop_reason") or ""), refreshed=list(out.get("refreshed") or []),
            truncation=out.get("truncation"), budget=out.get("budget"), decisions=list(out.get("decisions") or []),
            escalation=str(out.get("escalation") or ""), notes_steps=int(out.get("notes_steps") or 0),
            dropped=list(out.get("dropped") or []),
            usage=Usage(prompt_tokens=t.prompt_tokens, completion_tokens=t.completion_tokens, calls=t.calls),
            usage_by_node={
                k: Usage(prompt_tokens=v.prompt_tokens, completion_tokens=v.completion_tokens, calls=v.calls)
                for k, v in tracker.by_node.items()
            },
            latency_s=round(latency, 3),
            kprec=metrics.k_precision("" if abstained else prediction, self._shown(out)) if q.answerable else None,
        )

    async def _one(self, method: MethodSpec, graph: Any, q: Question, judge: Judge | None) -> QuestionRecord:
        kind = method.memory if method.memory != "none" else "raw"
        ns = namespace_for(self.cfg.dataset, q.sample_id, kind)
        tracker = UsageTracker()
        config: Any = {"callbacks": [tracker], "recursion_limit": 25 + 8 * self.rag.settings.max_rounds}
        keys = [k for k in OUTPUT_KEYS if k in graph.channels]
        t0 = time.perf_counter()
        try:
            inputs: dict[str, Any] = {"question": q.question, "namespace": ns}
            if "gold_evidence" in graph.channels:  # the gold_context diagnostic only
                inputs["gold_evidence"] = list(q.evidence)
            out = await graph.ainvoke(inputs, config, context=self.rag.deps, output_keys=keys)
            latency = time.perf_counter() - t0
            record = await asyncio.to_thread(self._record, method, q, ns, out, tracker, latency)
        except Exception as exc:  # one failed question must not end the run; it is recorded as wrong
            if not isinstance(exc, AgentRagError):
                log.exception("%s failed on %s", method.name, q.qid)
            record = QuestionRecord(
                method=method.name, qid=q.qid, sample_id=q.sample_id, namespace=ns, category=q.category,
                question=q.question, gold=list(q.answers), answerable=q.answerable, gold_evidence=list(q.evidence),
                adversarial_answer=q.adversarial_answer, retrieval=method.retrieves,
                latency_s=round(time.perf_counter() - t0, 3), error=f"{type(exc).__name__}: {exc}"[:2000],
                usage=Usage(prompt_tokens=tracker.total.prompt_tokens,
                            completion_tokens=tracker.total.completion_tokens, calls=tracker.total.calls),
            )
        if judge is not None and q.answerable and record.error is None and not record.abstained:
            verdict = await asyncio.to_thread(judge.grade, q.question, q.answers, record.prediction)
            record = record.model_copy(update={"judge": verdict})
        elif judge is not None and q.answerable:
            record = record.model_copy(update={"judge": False})
        return record

    # -- the run ------------------------------------------------------------------
    async def run_method(self, method: MethodSpec, options: MethodOptions, judge: Judge | None) -> int:
        """Answer every selected question not yet recorded for ``method``; returns how many ran."""
        path = records_path(self.cfg.out, method.name)
        done = {r.qid for r in read_jsonl(path, QuestionRecord)}
        todo = [q for q in self.questions if q.qid not in done]
        self.reporter.start(method.name, method.name, len(self.questions), len(self.questions) - len(todo))
        if not todo:
            return 0
        graph = method.build(options)
        gate = asyncio.Semaphore(self.cfg.concurrency)
        started = datetime.now(UTC).isoformat(timespec="seconds")
        t0 = time.perf_counter()

        async def guarded(q: Question) -> None:
            async with gate:
                record = await self._one(method, graph, q, judge)
            append_jsonl(path, record)
            self.reporter.advance(method.name)

        await asyncio.gather(*(guarded(q) for q in todo))
        wall = time.perf_counter() - t0
        append_jsonl(
            self.cfg.out / "timings.jsonl",
            Timing(method=method.name, questions=len(todo), wall_s=round(wall, 3),
                   concurrency=self.cfg.concurrency, started=started),
        )
        return len(todo)

    async def arun(self) -> None:
        """Build memory, then run each method in turn."""
        self.cfg.out.mkdir(parents=True, exist_ok=True)
        self._check_config()
        loop = asyncio.get_running_loop()
        # LangGraph runs sync nodes in the loop's default executor: size it for the concurrency asked.
        loop.set_default_executor(ThreadPoolExecutor(max_workers=self.cfg.concurrency + 4))
        judge = self._judge()
        write_json(
            self.cfg.out / "config.json",
            {
                "run": self.cfg.model_dump(mode="json"), "generator": model_name(self.rag.llm),
                "embedder": getattr(getattr(self.rag.memory, "embedder", None), "name", None),
                "judge": judge.info() if judge else self._previous_judge(), "questions": len(self.questions),
                "machine": describe_machine(),
                "methods": {m.name: {"memory": m.memory, "summary": m.summary} for m in self.methods},
            },
        )
        self.build_memories()
        options = self._options()
        if self.cfg.interleave:
            await self.run_interleaved(options, judge)
            return
        for method in self.methods:
            await self.run_method(method, options, judge)

    def _note_cache(self) -> None:
        """Add this session's reply-cache hits to ``config.json`` (reports say wall times are understated)."""
        if self.reply_cache is None:
            return
        path = self.cfg.out / "config.json"
        config = json.loads(path.read_text(encoding="utf-8"))
        seen = config.get("reply_cache") or {"hits": 0, "misses": 0}
        now = self.reply_cache.counts()
        config["reply_cache"] = {k: seen.get(k, 0) + now[k] for k in now}
        write_json(path, config)

    async def run_interleaved(self, options: MethodOptions, judge: Judge | None) -> None:
        """Every method on question 1, then on question 2, ...: partial runs stay paired."""
        graphs = {m.name: m.build(options) for m in self.methods}
        done = {m.name: {r.qid for r in read_jsonl(records_path(self.cfg.out, m.name), QuestionRecord)}
                for m in self.methods}
        for m in self.methods:
            self.reporter.start(m.name, m.name, len(self.questions), len(done[m.name]))
        for q in self.questions:
            for m in self.methods:
                if q.qid in done[m.name]:
                    continue
                t0 = time.perf_counter()
                record = await self._one(m, graphs[m.name], q, judge)
                append_jsonl(records_path(self.cfg.out, m.name), record)
                append_jsonl(self.cfg.out / "timings.jsonl", Timing(
                    method=m.name, questions=1, wall_s=round(time.perf_counter() - t0, 3), concurrency=1,
                    started=datetime.now(UTC).isoformat(timespec="seconds")))
                self.reporter.advance(m.name)

    def run(self) -> None:
        """Synchronous entry point; holds ``run.lock`` so ``eval judge`` never rewrites records in use."""
        self.cfg.out.mkdir(parents=True, exist_ok=True)
        lock = self.cfg.out / "run.lock"
        holder = lock.read_text(encoding="utf-8").strip() if lock.is_file() else ""
        if holder.isdigit() and alive(int(holder)):
            raise ConfigError(f"{self.cfg.out} is in use by process {holder}; wait for it or use another --out")
        lock.write_text(str(os.getpid()), encoding="utf-8")
        try:
            asyncio.run(self.arun())
        finally:
            self._note_cache()
            lock.unlink(missing_ok=True)

    def close(self) -> None:
        """Release the generator, the reply cache and the store."""
        if self.reply_cache is not None:
            self.reply_cache.close()
        self.rag.close()


def alive(pid: int) -> bool:
    """Whether a process (another run holding a folder's lock) still exists."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid != os.getpid()


def run_eval(cfg: RunConfig, reporter: Reporter | None = None, rag: AgentRAG | None = None) -> Path:
    """Run (or resume) an evaluation and rebuild its report; returns the run folder."""
    from evals.report import build_report

    runner = Runner(cfg, rag=rag, reporter=reporter)
    try:
        runner.run()
    finally:
        if rag is None:
            runner.close()
    build_report(cfg.out)
    return cfg.out


__all__: Sequence[str] = ["RunConfig", "Runner", "run_eval"]
