"""The ``agentrag`` command: demo, ingest, ask, and the memory/bench tools.

User errors print one clear red line (no traceback) and exit with status 2;
``-v`` shows logs, ``--debug`` shows tracebacks.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import yaml
from rich.console import Console
from rich.logging import RichHandler
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from agentrag.errors import AgentRagError, ConfigError
from agentrag.settings import LLM_KINDS, Settings, load_settings
from agentrag.types import Answer

app = typer.Typer(
    name="agentrag",
    help="Question answering and chat over a long-lived, multi-granularity memory.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


class _Opts:
    data_dir: Path | None = None
    config: Path | None = None
    debug: bool = False


OPTS = _Opts()


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
    # The handler's own level matters: some libraries set DEBUG on their loggers.
    logging.basicConfig(
        level=level, format="%(message)s", handlers=[RichHandler(console=err_console, show_path=False, level=level)]
    )


def handle_errors(fn: F) -> F:
    """Turn AgentRagError into a one-line message and exit status 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentRagError as exc:
            if OPTS.debug:
                raise
            err_console.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def settings_for(backend: str | None = None, base_url: str | None = None, model: str | None = None) -> Settings:
    """Settings from file + environment, with the command line's backend choice on top."""
    overrides: dict[str, Any] = {}
    if OPTS.data_dir:
        overrides["data_dir"] = OPTS.data_dir
    base = load_settings(OPTS.config, **overrides)
    if backend is None and base_url is None and model is None:
        return base
    kind = backend or base.llm.kind
    if kind not in LLM_KINDS:
        raise ConfigError.invalid_choice("backend", kind, LLM_KINDS)
    llm: dict[str, Any] = {"kind": kind}
    if kind == base.llm.kind:
        llm = base.llm.model_dump()
    if base_url:
        if kind != "openai":
            raise ConfigError("--base-url only applies to --backend openai")
        llm["base_url"] = base_url
    if model:
        llm["model" if kind in ("openai", "vllm") else "model_path"] = model
    return load_settings(OPTS.config, **overrides, llm=llm)


@contextmanager
def spinner(text: str) -> Iterator[None]:
    """A spinner for steps that take a second or more."""
    with console.status(text, spinner="dots"):
        yield


def progress() -> Progress:
    """The progress bar used for ingestion and evaluation."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


# -- ingest / ask -------------------------------------------------------------------
@app.command()
@handle_errors
def ingest(
    path: Annotated[Path, typer.Argument(help="text/Markdown, JSON(L) of {id,title,text}, LoCoMo JSON, or a folder")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="tenant / user / agent to store under")],
    derive: Annotated[bool, typer.Option(help="also extract facts and episodes with the generator")] = True,
    sample: Annotated[list[str] | None, typer.Option(help="LoCoMo: only these conversations (e.g. conv-30)")] = None,
    backend: Annotated[str | None, typer.Option(help=f"generator for facts: {'|'.join(LLM_KINDS)}")] = None,
    base_url: Annotated[str | None, typer.Option(help="OpenAI-compatible server for --backend openai")] = None,
) -> None:
    """Add documents or conversations to memory through the ingest graph (idempotent)."""
    from agentrag.api import AgentRAG
    from agentrag.ingest import documents_from_path, to_raw_items
    from agentrag.memory import loaders

    settings = settings_for(backend, base_url)
    if _is_locomo(path):
        items = loaders.locomo_items(path, namespace, samples=sample or None)
        what = f"{len({i.session_id for i in items})} LoCoMo sessions"
    else:
        items = to_raw_items(documents_from_path(path, settings.max_input_chars), namespace)
        what = f"{len({i.source_id for i in items})} documents"
    t0 = time.perf_counter()
    with AgentRAG(settings) as rag:
        with spinner("opening memory and loading the embedder"):
            _ = rag.memory
        if derive:
            with spinner("loading the generator"):
                _ = rag.llm
        with progress() as bar:
            task = bar.add_task(f"ingesting {what}", total=len(items))
            rep = rag.add_items(
                items, namespace=namespace, derive=derive, on_progress=lambda d, t: bar.update(task, completed=d)
            )
        counts = {lvl: rag.memory.count(namespace, lvl) for lvl in ("raw", "fact", "episode")}
    console.print(
        f"{what} -> {rep.raw} raw items, {rep.facts} facts, {rep.episodes} episodes "
        f"({rep.written} items written, {rep.duplicates} duplicate facts dropped, "
        f"{len(rep.superseded)} facts superseded) in {time.perf_counter() - t0:.1f}s; "
        f"tokens {rep.usage.prompt_tokens}+{rep.usage.completion_tokens} in {rep.usage.calls} calls\n"
        f"namespace [bold]{namespace}[/] now holds "
        f"raw={counts['raw']} fact={counts['fact']} episode={counts['episode']}"
    )


def _is_locomo(path: Path) -> bool:
    """A LoCoMo file is a JSON list of records with a ``conversation`` mapping."""
    if path.suffix != ".json" or not path.is_file():
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False  # the generic reader reports the error with its line number
    first = data[0] if isinstance(data, list) and data else data
    return isinstance(first, dict) and isinstance(first.get("conversation"), dict)


@app.command()
@handle_errors
def ask(
    question: Annotated[str, typer.Argument(help="the question")],
    namespace: Annotated[str, typer.Option("--namespace", "-n", help="whose memory to answer from")],
    backend: Annotated[str | None, typer.Option(help=f"generator: {'|'.join(LLM_KINDS)}")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1")
    ] = None,
    model: Annotated[str | None, typer.Option(help="served model name (openai/vllm) or GGUF path (local)")] = None,
    script: Annotated[Path | None, typer.Option(help="YAML of prompt id -> reply, for --backend scripted")] = None,
    stream: Annotated[bool, typer.Option(help="print answer tokens as they arrive")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="print the full Answer as JSON")] = False,
    thread_id: Annotated[str | None, typer.Option(help="checkpoint thread id (resume or inspect later)")] = None,
) -> None:
    """Answer a question from memory, with citations."""
    from agentrag.api import AgentRAG

    settings = settings_for(backend, base_url, model)
    if script is not None:
        if settings.llm.kind != "scripted":
            raise ConfigError("--script only applies to --backend scripted")
        replies = yaml.safe_load(script.read_text(encoding="utf-8"))
        settings = load_settings(OPTS.config, data_dir=settings.data_dir, llm={"kind": "scripted", "replies": replies})
    with AgentRAG(settings) as rag:
        with spinner("loading memory and the generator"):
            _ = rag.memory, rag.llm
        result = _ask(rag, question, namespace, stream and not as_json, thread_id)
    if as_json:
        console.print_json(result.model_dump_json())
    else:
        show_answer(result, streamed=stream)


def _ask(rag: Any, question: str, namespace: str, stream: bool, thread_id: str | None) -> Answer:
    if not stream:
        with spinner("thinking"):
            answer: Answer = rag.ask(question, namespace=namespace, thread_id=thread_id)
        return answer
    final: Answer | None = None
    started = False
    for event in rag.stream(question, namespace=namespace, thread_id=thread_id):
        if event.kind == "node" and not started:
            console.print(f"[dim]· {event.node}[/]")
        elif event.kind == "token":
            if not started:
                console.print("[bold]answer:[/] ", end="")
                started = True
            console.print(event.text, end="", markup=False, highlight=False, soft_wrap=True)
        elif event.kind == "answer":
            final = event.data
    if started:
        console.print()
    if final is None:
        raise AgentRagError("the answer graph ended without an answer")
    return final


def show_answer(a: Answer, gold: str | None = None, streamed: bool = False) -> None:
    """Print an answer (unless its tokens were already streamed), its citations and the tokens it used."""
    style = "yellow" if a.abstained else "green"
    if not streamed or a.abstained:
        console.print(f"[bold {style}]{'abstained' if a.abstained else 'answer'}:[/] {a.text}", highlight=False)
    if gold is not None:
        console.print(f"[dim]gold:[/] {gold}", highlight=False)
    for c in a.citations:
        how = " [dim](by overlap)[/]" if c.by == "overlap" else ""
        console.print(f"  [cyan][{c.evidence_id}][/] {c.item_id}{how}  [dim]{c.text[:90]}[/]", highlight=False)
    u = a.usage
    console.print(
        f"[dim]tokens: {u.prompt_tokens} prompt + {u.completion_tokens} completion in {u.calls} calls; "
        f"rounds {a.rounds}; thread {a.thread_id}[/]"
    )


# -- demo ---------------------------------------------------------------------------
@app.command()
@handle_errors
def demo(
    backend: Annotated[str | None, typer.Option(help=f"generator: {'|'.join(LLM_KINDS)} (default: local)")] = None,
    base_url: Annotated[str | None, typer.Option(help="for --backend openai")] = None,
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "demo",
    limit: Annotated[int, typer.Option(help="how many demo questions to ask")] = 5,
) -> None:
    """Ingest a small HotpotQA excerpt (shipped with agentrag) and answer its questions."""
    from agentrag.api import AgentRAG
    from agentrag.ingest import Document

    settings = settings_for(backend, base_url)
    rows = [
        json.loads(line)
        for line in resources.files("agentrag.demo").joinpath("hotpotqa_demo.jsonl").read_text().splitlines()
    ]
    docs = {
        p["doc_id"]: Document(text=p["text"], source_id=p["doc_id"], title=p["title"])
        for r in rows
        for p in r["paragraphs"]
    }
    console.rule("[bold]agentrag demo")
    console.print(
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
        console.print(f"memory ready in {time.perf_counter() - t0:.1f}s")
        with spinner("loading the generator"):
            _ = rag.llm
        summary = Table("question", "answer", "gold", "cited", "tokens", "s")
        for r in rows[:limit]:
            console.rule()
            console.print(f"[bold]Q:[/] {r['question']}", highlight=False)
            t1 = time.perf_counter()
            streaming = sys.stdout.isatty()
            a = _ask(rag, r["question"], namespace, streaming, None)
            show_answer(a, gold=r["answer"], streamed=streaming)
            summary.add_row(
                r["question"][:50],
                a.text[:40],
                r["answer"],
                ", ".join(c.evidence_id for c in a.citations),
                str(a.usage.total_tokens),
                f"{time.perf_counter() - t1:.1f}",
            )
        console.rule()
        console.print(summary)


def _mount_subcommands() -> None:
    from agentrag.cli_memory import bench_app, memory_app

    app.add_typer(memory_app, name="memory", help="Inspect and edit memory.")
    app.add_typer(bench_app, name="bench", help="Benchmarks.")
    from agentrag.cli_router import router_app

    app.add_typer(router_app, name="router", help="The learned router: retrain its weights.")
    # The evaluation harness lives beside the library (evals/), present in a source checkout,
    # not in the wheel: the library never depends on it.
    try:
        from evals.cli import eval_app
    except ModuleNotFoundError as exc:
        if exc.name not in ("evals", "evals.cli"):
            raise
        return
    app.add_typer(eval_app, name="eval", help="Run evaluations (source checkout only).")


_mount_subcommands()


@app.command()
@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
    backend: Annotated[str | None, typer.Option(help=f"generator: {'|'.join(LLM_KINDS)}")] = None,
    base_url: Annotated[str | None, typer.Option(help="for --backend openai")] = None,
) -> None:
    """Serve the HTTP API for chat backends (needs the `server` extra)."""
    try:
        import uvicorn

        from agentrag.server.app import create_app
    except ImportError as exc:
        from agentrag.errors import MissingDependencyError

        raise MissingDependencyError("fastapi/uvicorn", extra="server", why="agentrag serve needs them") from exc
    uvicorn.run(create_app(settings_for(backend, base_url)), host=host, port=port)
