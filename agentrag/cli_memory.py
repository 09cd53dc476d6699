"""``agentrag memory ...`` and ``agentrag bench memory``: inspect, edit and measure memory.

Settings come from the environment / ``AGENTRAG_CONFIG`` and, when mounted
under the main ``agentrag`` command, from its ``--data-dir``/``--config``
options. User errors print one red line and exit with status 2; tracebacks are
for bugs only.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer
from rich.console import Console
from rich.table import Table

from agentrag.cli_errors import print_error
from agentrag.errors import AgentRagError, InputError
from agentrag.memory.embedder import Embedder
from agentrag.memory.store import MemoryStore, SearchFilters, SearchMode
from agentrag.settings import Settings, load_settings
from agentrag.types import LEVELS, Level, MemoryItem

memory_app = typer.Typer(help="Inspect and edit memory.", no_args_is_help=True, pretty_exceptions_enable=False)
bench_app = typer.Typer(help="Benchmarks.", no_args_is_help=True, pretty_exceptions_enable=False)
console = Console()
err = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

Namespace = Annotated[str, typer.Option("--namespace", "-n", help="whose memory (tenant / user / agent)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]


def _settings() -> Settings:
    """Settings, honouring the main command's --data-dir/--config when mounted under it."""
    main = sys.modules.get("agentrag.cli")
    opts = getattr(main, "OPTS", None)
    overrides: dict[str, Any] = {}
    if getattr(opts, "data_dir", None) is not None:
        overrides["data_dir"] = opts.data_dir  # type: ignore[union-attr]
    return load_settings(getattr(opts, "config", None), **overrides)


def _debug() -> bool:
    return bool(getattr(getattr(sys.modules.get("agentrag.cli"), "OPTS", None), "debug", False))


def friendly(fn: F) -> F:
    """Turn AgentRagError into one red line and exit status 2."""

    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except AgentRagError as exc:
            if _debug():
                raise
            print_error(err, exc)
            raise typer.Exit(2) from None

    return cast(F, wrapper)


_embedder: Embedder | None = None


def _shared_embedder(settings: Settings) -> Embedder:
    """One embedder per process: a CLI process runs one command, but tests run many."""
    global _embedder
    if _embedder is None:
        from agentrag.memory.embedder import default_embedder

        _embedder = default_embedder(settings.embedder_batch_size)
    return _embedder


@contextmanager
def _store() -> Iterator[MemoryStore]:
    from agentrag.memory import open_store

    settings = _settings()
    store = open_store(settings, _shared_embedder(settings))
    try:
        yield store
    finally:
        store.close()


def _level(value: str | None) -> Level | None:
    if value is None:
        return None
    if value not in LEVELS:
        raise InputError(f"unknown level {value!r}; valid choices: {', '.join(LEVELS)}")
    return value


def _when(value: str | None, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"{what} must be an ISO date or datetime (e.g. 2023-05-08T13:56), got {value!r}") from exc


def _items_table(items: list[MemoryItem], title: str) -> Table:
    table = Table("id", "level", "text", "speaker", "session", "valid", title=title, title_justify="left")
    for it in items:
        valid = "current" if it.valid_to is None else f"until {it.valid_to:%Y-%m-%d %H:%M}"
        table.add_row(it.id, it.level, it.text, it.speaker or "", it.session_id or "", valid)
    return table


@memory_app.command("add")
@friendly
def add_cmd(
    namespace: Namespace,
    text: Annotated[str | None, typer.Argument(help="text to remember (or --file / --locomo / --paragraphs)")] = None,
    file: Annotated[Path | None, typer.Option(help="a .txt or .md file, chunked")] = None,
    locomo: Annotated[Path | None, typer.Option(help="a LoCoMo conversations JSON file")] = None,
    paragraphs: Annotated[Path | None, typer.Option(help="HotpotQA/MuSiQue corpus or question JSONL")] = None,
    level: Annotated[str, typer.Option(help="raw | fact | episode (for TEXT)")] = "raw",
    source: Annotated[str | None, typer.Option(help="source id for TEXT (default: a hash of the text)")] = None,
    speaker: Annotated[str | None, typer.Option(help="speaker of TEXT")] = None,
    session: Annotated[str | None, typer.Option(help="session id of TEXT")] = None,
    as_json: Json = False,
) -> None:
    """Add text, a file, LoCoMo conversations or QA paragraphs (idempotent: adding twice adds nothing)."""
    from agentrag.memory import loaders

    given = [x for x in (text, file, locomo, paragraphs) if x is not None]
    if len(given) != 1:
        raise InputError("give exactly one of TEXT, --file, --locomo or --paragraphs")
    if text is not None:
        lv = _level(level) or "raw"
        sid = source or "cli:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        items = [
            MemoryItem.new(namespace=namespace, level=lv, text=text, source_id=sid, speaker=speaker, session_id=session)
        ]
    elif file is not None:
        items = loaders.file_items(file, namespace)
    elif locomo is not None:
        items = loaders.locomo_items(locomo, namespace)
    else:
        assert paragraphs is not None
        items = loaders.paragraph_items(paragraphs, namespace)
    with _store() as store:
        res = store.add(namespace, items, actor="cli")
    if as_json:
        console.print_json(res.model_dump_json())
        return
    console.print(f"added {len(res.added)}, updated {len(res.updated)}, unchanged {len(res.unchanged)}")
    if text is not None and res.added + res.updated + res.unchanged:
        console.print(f"id: {(res.added + res.updated + res.unchanged)[0]}", highlight=False)


@memory_app.command("search")
@friendly
def search_cmd(
    namespace: Namespace,
    query: Annotated[str, typer.Argument(help="what to look for")],
    k: Annotated[int, typer.Option("-k", help="how many results")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid | dense | sparse")] = "hybrid",
    level: Annotated[list[str] | None, typer.Option(help="restrict to levels (repeatable)")] = None,
    speaker: Annotated[str | None, typer.Option()] = None,
    session: Annotated[str | None, typer.Option()] = None,
    since: Annotated[str | None, typer.Option(help="event time from (ISO)")] = None,
    until: Annotated[str | None, typer.Option(help="event time to (ISO)")] = None,
    as_of: Annotated[str | None, typer.Option(help="search memory as it was at this time (ISO)")] = None,
    include_invalid: Annotated[bool, typer.Option(help="also superseded / invalidated items")] = False,
    as_json: Json = False,
) -> None:
    """Hybrid (or dense / sparse) search over currently valid memory."""
    if mode not in ("hybrid", "dense", "sparse"):
        raise InputError(f"unknown mode {mode!r}; valid choices: dense, hybrid, sparse")
    levels = tuple(_level(lv) for lv in level) if level else LEVELS
    filters = SearchFilters(
        levels=cast(tuple[Level, ...], levels),
        speaker=speaker,
        session_id=session,
        time_from=_when(since, "--since"),
        time_to=_when(until, "--until"),
        as_of=_when(as_of, "--as-of"),
        include_invalid=include_invalid,
    )
    with _store() as store:
        hits = store.search(namespace, query, k=k, filters=filters, mode=cast(SearchMode, mode))
    if as_json:
        console.print_json(json.dumps([h.model_dump(mode="json") for h in hits]))
        return
    if not hits:
        console.print(f"nothing found in namespace {namespace!r}", highlight=False)
        return
    table = Table(
        "#", "score", "dense", "bm25", "id", "level", "text", title=f"{mode} search: {query}", title_justify="left"
    )
    for h in hits:
        table.add_row(
            str(h.rank),
            f"{h.score:.4f}",
            "" if h.dense_score is None else f"{h.dense_score:.3f}",
            "" if h.sparse_score is None else f"{h.sparse_score:.2f}",
            h.item.id,
            h.item.level,
            h.item.text,
        )
    console.print(table)


@memory_app.command("list")
@friendly
def list_cmd(
    namespace: Namespace,
    level: Annotated[str | None, typer.Option(help="raw | fact | episode")] = None,
    limit: Annotated[int, typer.Option()] = 20,
    offset: Annotated[int, typer.Option()] = 0,
    include_invalid: Annotated[bool, typer.Option(help="also superseded / invalidated items")] = False,
    as_json: Json = False,
) -> None:
    """List items, oldest first."""
    with _store() as store:
        items = store.list(namespace, _level(level), limit=limit, offset=offset, include_invalid=include_invalid)
    if as_json:
        console.print_json(json.dumps([i.model_dump(mode="json") for i in items]))
        return
    console.print(_items_table(items, f"{namespace}: {len(items)} items from offset {offset}"))


@memory_app.command("history")
@friendly
def history_cmd(
    namespace: Namespace, item_id: Annotated[str, typer.Argument(help="item id")], as_json: Json = False
) -> None:
    """Every recorded change to an item (also after it was forgotten)."""
    with _store() as store:
        entries = store.history(namespace, item_id)
    if as_json:
        console.print_json(json.dumps([e.model_dump(mode="json") for e in entries]))
        return
    if not entries:
        console.print(f"no history for {item_id!r} in namespace {namespace!r}", highlight=False)
        return
    table = Table(
        "#", "at", "event", "actor", "reason", "before", "after", "related", title=item_id, title_justify="left"
    )
    for e in entries:
        table.add_row(
            str(e.seq),
            f"{e.at:%Y-%m-%d %H:%M:%S}",
            e.event,
            e.actor,
            e.reason,
            e.before or "",
            e.after or "",
            e.related_id or "",
        )
    console.print(table)


@memory_app.command("explain")
@friendly
def explain_cmd(
    namespace: Namespace, item_id: Annotated[str, typer.Argument(help="item id")], as_json: Json = False
) -> None:
    """Where an item came from (down to raw text) and what replaced it."""
    with _store() as store:
        why = store.explain(namespace, item_id)
    if as_json:
        console.print_json(why.model_dump_json())
        return
    console.print(_items_table([why.item], "item"))
    for title, items in (
        ("derived from (nearest first)", why.derived_from),
        ("superseded by (oldest first)", why.superseded_by),
        ("supersedes", why.supersedes),
    ):
        if items:
            console.print(_items_table(list(items), title))
    console.print(
        f"{len(why.history)} history entries; see `agentrag memory history -n {namespace} {item_id}`", highlight=False
    )


@memory_app.command("forget")
@friendly
def forget_cmd(
    namespace: Namespace,
    item_ids: Annotated[list[str], typer.Argument(help="item ids to delete for good")],
    reason: Annotated[str, typer.Option(help="why (kept in the history log)")] = "forgotten on request",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Hard-delete items (the only hard delete; the history log keeps a record)."""
    if not yes and not typer.confirm(f"permanently delete {len(item_ids)} item(s) from {namespace!r}?"):
        raise typer.Exit(1)
    with _store() as store:
        n = store.forget(namespace, item_ids, reason=reason, actor="cli")
    console.print(f"forgot {n} of {len(item_ids)} item(s)")


@memory_app.command("stats")
@friendly
def stats_cmd(namespace: Namespace, as_json: Json = False) -> None:
    """Counts per level, history and provenance sizes, BM25 state."""
    from agentrag.memory import ChromaStore

    with _store() as store:
        if not isinstance(store, ChromaStore):
            raise InputError("stats needs the Chroma store")
        stats = store.stats(namespace)
    if as_json:
        console.print_json(json.dumps(stats))
        return
    table = Table(
        "level",
        "current",
        "all versions",
        title=f"{namespace} ({stats['backend']}, {stats['embedder']})",
        title_justify="left",
    )
    for lv, c in stats["levels"].items():
        table.add_row(lv, str(c["valid"]), str(c["total"]))
    console.print(table)
    console.print(f"history entries: {stats['history_entries']}; provenance edges: {stats['provenance_edges']}")


@bench_app.callback()
def bench_main() -> None:
    """Benchmarks (a callback keeps ``bench`` a group even with one command)."""


@bench_app.command("memory")
@friendly
def bench_memory(
    items: Annotated[int, typer.Option(help="how many memory items")] = 10_000,
    queries: Annotated[int, typer.Option(help="questions timed per search mode")] = 200,
    repeats: Annotated[int, typer.Option(help="interleaved search passes over the questions")] = 3,
    embed_sample: Annotated[int, typer.Option(help="items for the with-embedding ingest run")] = 2000,
    corpus: Annotated[Path | None, typer.Option(help="data folder with locomo/, hotpotqa/, musique/")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="where corpus vectors are cached between runs")] = None,
    record: Annotated[Path | None, typer.Option(help="merge into <PATH>.json and rewrite <PATH>.md")] = None,
    variants: Annotated[
        str, typer.Option(help="vectors of repeated-with-variation items: embed | perturb (base vector + noise)")
    ] = "embed",
    as_json: Json = False,
) -> None:
    """Ingest throughput and dense / BM25 / hybrid search latency at N items."""
    from agentrag.memory.bench import record as record_result
    from agentrag.memory.bench import run_memory_bench, to_markdown

    if variants not in ("embed", "perturb"):
        raise InputError(f"unknown --variants {variants!r}; valid choices: embed, perturb")
    if items < 1 or queries < 1 or embed_sample < 1 or repeats < 1:
        raise InputError("--items, --queries, --embed-sample and --repeats must be positive")
    if corpus is not None and not (corpus / "locomo").is_dir():
        raise InputError(f"{corpus} has no locomo/ folder; point --corpus at the shared data folder")
    cache = cache_dir or _settings().data_dir / "bench-cache"
    result = run_memory_bench(
        items,
        corpus_dir=corpus,
        cache_dir=cache,
        n_queries=queries,
        embed_sample=embed_sample,
        repeats=repeats,
        variants=variants,
        progress=lambda msg: err.print(f"[dim]{msg}[/]"),
    )
    if record is not None:
        record_result(result, record)
    if as_json:
        console.print_json(result.model_dump_json())
    else:
        console.print(to_markdown([result]))
