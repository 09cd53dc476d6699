"""The ``agentrag`` command: demo, ingest, ask, serve, and the memory/bench/eval sub-apps.

Rules every CLI module follows (so ``agentrag --help`` and commands that need no
model start in well under half a second; ``benchmarks/cli.md`` measures it):

* **Lazy imports.** At module level import only ``typer`` and
  ``agentrag.cli_common``. Import rich, pydantic, settings, chromadb, torch,
  langgraph, sentence-transformers... inside the command function that needs
  them. Check with ``python -X importtime -m agentrag --help``.
* **Sub-apps register with one line** and are imported only when run:
  ``lazy_subapp("memory", "agentrag.cli_memory:memory_app", "Inspect and edit memory.")``.
  Build them with ``cli_common.App`` (not ``typer.Typer``) so they share the error path.
* **One error path.** ``App`` wraps every command with ``handle_errors``: an
  ``AgentRagError`` (or OSError) prints one ``error:`` line and exits 2, a
  ``NotFoundError`` exits 3, anything else is a bug: one line, exit 1, and the
  traceback only with ``--debug``. Library text is printed verbatim (``say``,
  ``error_line``), never as rich markup; help text is not markup either.
* **Settings** come from ``cli_common.settings_for`` (one precedence rule, see
  README "Settings precedence"); ``--script`` implies ``--backend scripted`` and
  ``--base-url`` implies ``--backend openai`` wherever a generator is used.
* Results go to stdout, errors/logs/progress to stderr; ``--json`` output is stable.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrag.cli_common import (
    OPTS,
    App,
    Backend,
    BaseUrl,
    LazyGroup,
    Model,
    Script,
    lazy_subapp,
    progress,
    say,
    settings_for,
    spinner,
    warn,
)

if TYPE_CHECKING:
    from agentrag.api import AgentRAG
    from agentrag.types import Answer

app = App(
    name="agentrag",
    help="Question answering and chat over a long-lived, multi-granularity memory.",
    cls=LazyGroup,
    add_completion=True,
)

lazy_subapp("memory", "agentrag.cli_memory:memory_app", "Inspect and edit memory.")
lazy_subapp("bench", "agentrag.cli_bench:bench_app", "Benchmarks.")
lazy_subapp("trace", "agentrag.cli_trace:trace_app", "See runs and memory as pages.")
lazy_subapp("router", "agentrag.cli_router:router_app", "The learned router: retrain its weights.")
lazy_subapp("queue", "agentrag.cli_queue:queue_app", "See the derivation queue (facts and episodes owed to turns).")
lazy_subapp("keys", "agentrag.cli_keys:keys_app", "API keys and tenants for `agentrag serve`.")
# The evaluation harness (evals/) ships in the wheel; without the `eval` extra the command prints the pip line.
lazy_subapp(
    "eval", "agentrag.cli_eval:eval_app", "Run evaluations against baselines (needs: pip install 'agentrag[eval]')."
)

__all__ = ["OPTS", "app"]


@app.callback()
def main(
    data_dir: Annotated[
        Path | None, typer.Option(help="where memory and checkpoints live [env AGENTRAG_DATA_DIR]")
    ] = None,
    config: Annotated[Path | None, typer.Option(help="YAML settings file [env AGENTRAG_CONFIG]")] = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="show logs")] = False,
    debug: Annotated[bool, typer.Option(help="show tracebacks on errors")] = False,
) -> None:
    """Set global options."""
    OPTS.data_dir, OPTS.config, OPTS.debug = data_dir, config, debug
    level = logging.INFO if verbose else logging.WARNING
    from rich.logging import RichHandler

    from agentrag.cli_common import console

    # The handler's own level matters: some libraries set DEBUG on their loggers.
    handler = RichHandler(console=console(True), show_path=False, level=level, markup=False)
    logging.basicConfig(level=level, format="%(message)s", handlers=[handler])


# -- ingest / ask -------------------------------------------------------------------
@app.command()
def ingest(
    path: Annotated[
        Path, typer.Argument(help="a .txt/.md file, JSON(L) of documents or chat messages, LoCoMo JSON, or a folder")
    ],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="tenant / user / agent to store under")],
    derive: Annotated[bool, typer.Option(help="also extract facts and episodes with the generator")] = True,
    sample: Annotated[list[str] | None, typer.Option(help="LoCoMo: only these conversations (e.g. conv-30)")] = None,
    source_id: Annotated[
        str | None, typer.Option(help="name this (single) document explicitly instead of by its path")
    ] = None,
    root: Annotated[
        Path | None, typer.Option(help="documents are named by their path relative to this folder (default: .)")
    ] = None,
    backend: Backend = None,
    base_url: BaseUrl = None,
    model: Model = None,
    script: Script = None,
) -> None:
    """Add documents or conversations to memory through the ingest graph.

    Idempotent: re-ingesting an unchanged document writes nothing; a changed one
    updates its chunks and retires (with history) the chunks it no longer has.
    """
    from agentrag.api import AgentRAG
    from agentrag.memory.formats import load_path, retire_stale

    settings = settings_for(backend=backend, base_url=base_url, model=model, script=script, need_llm=derive)
    loaded = load_path(
        path, namespace, root=root, source_id=source_id, max_chars=settings.max_input_chars, locomo_samples=sample
    )
    for skipped, why in loaded.skipped:
        warn(f"skipped {skipped}: {why}")
    what = f"{len(loaded.sources)} documents from {loaded.files} files"
    t0 = time.perf_counter()
    with AgentRAG(settings, llm=None if derive else _no_generator(), embedder=_embedder(settings)) as rag:
        with spinner("opening memory and loading the embedder"):
            _ = rag.memory
        if derive:
            with spinner("loading the generator"):
                _ = rag.llm
        with progress() as bar:
            task = bar.add_task(f"ingesting {what}", total=len(loaded.items))
            rep = rag.add_items(
                loaded.items, namespace=namespace, derive=derive, on_progress=lambda d, t: bar.update(task, completed=d)
            )
        retired = retire_stale(rag.memory, namespace, loaded, actor="ingest")
        counts = {lvl: rag.memory.count(namespace, lvl) for lvl in ("raw", "fact", "episode")}
    say(
        f"{what} -> {rep.raw} raw items, {rep.facts} facts, {rep.episodes} episodes "
        f"({rep.written} items written, {len(retired)} old chunks retired, {rep.duplicates} duplicate facts dropped, "
        f"{len(rep.superseded)} facts superseded, {len(loaded.skipped)} files skipped) "
        f"in {time.perf_counter() - t0:.1f}s; "
        f"tokens {rep.usage.prompt_tokens}+{rep.usage.completion_tokens} in {rep.usage.calls} calls\n"
        f"namespace {namespace} now holds raw={counts['raw']} fact={counts['fact']} episode={counts['episode']}"
    )


def _embedder(settings: Any) -> Any:
    """The process's one embedder (loaded on first embed, reused by every command run in this process)."""
    from agentrag.cli_memory import shared_embedder

    return shared_embedder(settings.embedder_batch_size)


def _no_generator() -> Any:
    """The generator for ``--no-derive``: none is configured or loaded; a call would fail naming its prompt."""
    from agentrag.testing import ScriptedChatModel

    return ScriptedChatModel(replies={})


def _warn_if_empty(rag: AgentRAG, namespace: str) -> None:
    """Say so when a namespace holds nothing (a typo is the usual reason), naming the ones that exist."""
    from agentrag.cli_memory import namespace_hint

    hint = namespace_hint(rag.memory, namespace)
    if hint:
        warn(hint)


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="the question")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="whose memory to answer from")],
    backend: Backend = None,
    base_url: BaseUrl = None,
    model: Model = None,
    script: Script = None,
    stream: Annotated[bool, typer.Option(help="print answer tokens as they arrive")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the full Answer as JSON")] = False,
    thread_id: Annotated[str | None, typer.Option(help="checkpoint thread id (resume or inspect later)")] = None,
) -> None:
    """Answer a question from memory, with citations."""
    from agentrag.api import AgentRAG
    from agentrag.cli_common import print_json

    settings = settings_for(backend=backend, base_url=base_url, model=model, script=script)
    with AgentRAG(settings, embedder=_embedder(settings)) as rag:
        _warn_if_empty(rag, namespace)
        with spinner("loading memory and the generator"):
            _ = rag.memory, rag.llm
        result = _ask(rag, question, namespace, stream and not as_json, thread_id)
    if as_json:
        print_json(result.model_dump_json())
    else:
        show_answer(result, streamed=stream)


def _ask(rag: AgentRAG, question: str, namespace: str, stream: bool, thread_id: str | None) -> Answer:
    from agentrag.errors import AgentRagError

    if not stream:
        with spinner("thinking"):
            answer: Answer = rag.ask(question, namespace=namespace, thread_id=thread_id)
        return answer
    final: Answer | None = None
    started = False
    for event in rag.stream(question, namespace=namespace, thread_id=thread_id):
        if event.kind == "node" and not started:
            say(f"· {event.node}", style="dim")
        elif event.kind == "token":
            if not started:
                say("answer: ", style="bold", end="")
                started = True
            say(event.text or "", end="")
        elif event.kind == "answer":
            final = event.data
    if started:
        say("")
    if final is None:
        raise AgentRagError("the answer graph ended without an answer")
    return final


def show_answer(a: Answer, gold: str | None = None, streamed: bool = False) -> None:
    """Print an answer (unless its tokens were already streamed), its citations and the tokens it used."""
    style = "yellow" if a.abstained else "green"
    if not streamed or a.abstained:
        say(f"{'abstained' if a.abstained else 'answer'}: {a.text}", style=style)
    if gold is not None:
        say(f"gold: {gold}", style="dim")
    for c in a.citations:
        how = " (by overlap)" if c.by == "overlap" else ""
        say(f"  [{c.evidence_id}] {c.item_id}{how}  {c.text[:90]}")
    u = a.usage
    say(
        f"tokens: {u.prompt_tokens} prompt + {u.completion_tokens} completion in {u.calls} calls; "
        f"rounds {a.rounds}; thread {a.thread_id}",
        style="dim",
    )


# -- demo ---------------------------------------------------------------------------
@app.command()
def demo(
    backend: Backend = None,
    base_url: BaseUrl = None,
    model: Model = None,
    script: Script = None,
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "demo",
    limit: Annotated[int, typer.Option(help="how many demo questions to ask")] = 5,
) -> None:
    """Ingest a small HotpotQA excerpt (shipped with agentrag) and answer its questions."""
    import json
    import sys
    from importlib import resources

    from rich.table import Table
    from rich.text import Text

    from agentrag.api import AgentRAG
    from agentrag.cli_common import console
    from agentrag.ingest import Document

    settings = settings_for(backend=backend, base_url=base_url, model=model, script=script)
    rows = [
        json.loads(line)
        for line in resources.files("agentrag.demo").joinpath("hotpotqa_demo.jsonl").read_text().splitlines()
    ]
    docs = {
        p["doc_id"]: Document(text=p["text"], source_id=p["doc_id"], title=p["title"])
        for r in rows
        for p in r["paragraphs"]
    }
    console().rule("agentrag demo")
    say(
        f"data dir: {settings.data_dir}\ngenerator: {settings.llm.kind}; memory: Chroma ({settings.chroma.kind}); "
        f"{len(docs)} Wikipedia paragraphs from HotpotQA (CC BY-SA 4.0)"
    )
    with AgentRAG(settings) as rag:
        with spinner("loading the embedder and opening memory"):
            _ = rag.memory
        t0 = time.perf_counter()
        with progress() as bar:
            task = bar.add_task("ingesting paragraphs", total=len(docs))
            values = list(docs.values())
            for i in range(0, len(values), 16):
                rag.add(values[i : i + 16], namespace=namespace, derive=False)
                bar.advance(task, len(values[i : i + 16]))
        say(f"memory ready in {time.perf_counter() - t0:.1f}s")
        with spinner("loading the generator"):
            _ = rag.llm
        summary = Table("question", "answer", "gold", "cited", "tokens", "s")
        for r in rows[:limit]:
            console().rule()
            say(f"Q: {r['question']}", style="bold")
            t1 = time.perf_counter()
            streaming = sys.stdout.isatty()
            a = _ask(rag, r["question"], namespace, streaming, None)
            show_answer(a, gold=r["answer"], streamed=streaming)
            cells: list[Any] = [
                r["question"][:50],
                a.text[:40],
                r["answer"],
                ", ".join(c.evidence_id for c in a.citations),
                str(a.usage.total_tokens),
                f"{time.perf_counter() - t1:.1f}",
            ]
            summary.add_row(*(Text(str(c)) for c in cells))
        console().rule()
        console().print(summary)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    backend: Backend = None,
    base_url: BaseUrl = None,
    model: Model = None,
    script: Script = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="no API keys: local development only, refused unless host is loopback")
    ] = False,
    workers: Annotated[
        int, typer.Option(help="worker processes on the port (>1 needs a Chroma server and Postgres state)")
    ] = 1,
) -> None:
    """Serve the HTTP API for chat backends (needs the `server` extra); docs at /docs.

    Requests need `Authorization: Bearer KEY` (see `agentrag keys create`), unless --no-auth.
    """
    try:
        import uvicorn

        from agentrag.server.app import create_app
    except ImportError as exc:
        from agentrag.errors import MissingDependencyError

        raise MissingDependencyError("fastapi/uvicorn", extra="server", why="agentrag serve needs them") from exc
    from agentrag.server.auth import serve_auth

    settings = settings_for(backend=backend, base_url=base_url, model=model, script=script)
    auth = serve_auth(settings, host, no_auth)
    if workers != 1:  # N processes on the port, over shared state (agentrag.server.workers)
        from agentrag.server.workers import serve as serve_workers

        return serve_workers(settings, host, port, workers, auth=auth)
    uvicorn.run(create_app(settings, auth=auth), host=host, port=port)


@app.command()
def worker(
    drain: Annotated[bool, typer.Option(help="exit once no job is pending or running (else: until stopped)")] = False,
    threads: Annotated[int, typer.Option(min=1, help="jobs run at once (other namespaces than each other)")] = 1,
    backend: Backend = None,
    base_url: BaseUrl = None,
    model: Model = None,
    script: Script = None,
) -> None:
    """Derive facts and episodes for queued chat turns (the queue in the state store; see `agentrag queue`)."""
    import signal
    import threading

    from agentrag.api import AgentRAG
    from agentrag.derivation import Worker

    settings = settings_for(backend=backend, base_url=base_url, model=model, script=script)
    with AgentRAG(settings) as rag:
        workers = [Worker(rag) for _ in range(threads)]
        stop = threading.Event()

        def on_signal(*_: object) -> None:  # finish the current jobs, then exit
            stop.set()
            for w in workers:
                w.request_stop()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
        runs = [threading.Thread(target=w.drain if drain else w.serve, name=f"w{i}") for i, w in enumerate(workers)]
        for t in runs:
            t.start()
        for t in runs:
            t.join()
        say(f"worker stopped{' (queue drained)' if drain and not stop.is_set() else ''}")
