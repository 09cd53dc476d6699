"""``agentrag memory ...``: inspect and edit memory.

These commands never call a generator, so they read settings without the ``llm``
block (a broken ``AGENTRAG_LLM__KIND`` cannot stop them) and open the embedder
only when they embed (``add``, ``search``); ``list``/``history``/``stats`` never
load it. Errors follow ``agentrag.cli_common``: one line, exit 2, exit 3 for an
id or namespace that does not exist. Tables print ids whole (they are meant to
be copied into ``history``/``explain``); ``--json`` output is the stable format.
Heavy imports live inside the commands (see ``agentrag/cli.py``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from agentrag.cli_bench import bench_app
from agentrag.cli_common import App, console, print_json, say, settings_for, warn

if TYPE_CHECKING:
    from rich.table import Table

    from agentrag.memory.embedder import Embedder
    from agentrag.memory.store import MemoryStore
    from agentrag.types import Level, MemoryItem

memory_app = App(help="Inspect and edit memory.")
__all__ = ["bench_app", "memory_app", "namespace_hint"]

Namespace = Annotated[str, typer.Option("--namespace", "-n", help="whose memory (tenant / user / agent)")]
Json = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]

_embedder: Embedder | None = None


def shared_embedder(batch_size: int) -> Embedder:
    """One embedder per process (tests run many commands in one); the model itself loads on first embed."""
    global _embedder
    if _embedder is None:
        from agentrag.memory.embedder import default_embedder

        _embedder = default_embedder(batch_size)
    return _embedder


@contextmanager
def _store() -> Iterator[MemoryStore]:
    from agentrag.memory import open_store

    settings = settings_for(need_llm=False)
    store = open_store(settings, shared_embedder(settings.embedder_batch_size))
    try:
        yield store
    finally:
        store.close()


def namespace_hint(store: object, namespace: str, *, writing: bool = False) -> str | None:
    """A warning when a namespace is empty or unknown (usually a typo), naming close and known ones."""
    import difflib

    from agentrag.memory.namespaces import validate_namespace

    known = getattr(store, "namespaces", None)
    if writing or known is None:
        return None
    counts: dict[str, int] = known()
    if counts.get(validate_namespace(namespace), 0) > 0:
        return None
    state = "is empty" if namespace in counts else "does not exist"
    others = {n: c for n, c in counts.items() if c > 0}
    close = difflib.get_close_matches(namespace, list(others), n=1)
    listed = ", ".join(f"{n} ({c})" for n, c in list(others.items())[:8]) or "none yet"
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"namespace {namespace!r} {state}{hint} (namespaces with items: {listed}; see `agentrag memory namespaces`)"


def _hint(store: object, namespace: str) -> None:
    text = namespace_hint(store, namespace)
    if text:
        warn(text)


def _level(value: str | None) -> Level | None:
    from agentrag.errors import InputError
    from agentrag.types import LEVELS

    if value is None:
        return None
    if value not in LEVELS:
        raise InputError(f"unknown level {value!r}; valid choices: {', '.join(LEVELS)}")
    return value


def _when(value: str | None, what: str) -> datetime | None:
    from agentrag.errors import InputError
    from agentrag.memory.loaders import parse_time

    if value is None:
        return None
    try:
        return parse_time(value, what)
    except InputError as exc:
        raise InputError(f"{what} must be an ISO date or datetime (e.g. 2023-05-08T13:56), got {value!r}") from exc


def id_table(title: str, id_columns: Sequence[tuple[str, Sequence[str]]], *columns: str) -> Table:
    """A table whose id columns never wrap or truncate (ids are copied into other commands)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for name, ids in id_columns:
        table.add_column(name, no_wrap=True, min_width=max([len(name), *(len(i) for i in ids)]))
    for name in columns:
        table.add_column(name)
    return table


def _row(table: Table, *cells: object) -> None:
    from rich.text import Text

    table.add_row(*(Text("" if c is None else str(c)) for c in cells))


def _items_table(items: Sequence[MemoryItem], title: str) -> Table:
    table = id_table(title, [("id", [it.id for it in items])], "level", "text", "speaker", "session", "when", "valid")
    for it in items:
        valid = "current" if it.valid_to is None else f"until {it.valid_to:%Y-%m-%d %H:%M}"
        when = "" if it.event_time is None else f"{it.event_time:%Y-%m-%d %H:%M}"
        _row(table, it.id, it.level, it.text, it.speaker, it.session_id, when, valid)
    return table


@memory_app.command("add")
def add_cmd(
    namespace: Namespace,
    text: Annotated[str | None, typer.Argument(help="text to remember (or --file / --locomo / --paragraphs)")] = None,
    file: Annotated[
        Path | None, typer.Option(help="a file in any format `agentrag ingest` reads (.txt .md .jsonl .json)")
    ] = None,
    locomo: Annotated[Path | None, typer.Option(help="a LoCoMo conversations JSON file")] = None,
    paragraphs: Annotated[Path | None, typer.Option(help="HotpotQA/MuSiQue corpus or question JSONL")] = None,
    level: Annotated[str, typer.Option(help="raw | fact | episode (for TEXT)")] = "raw",
    source: Annotated[
        str | None, typer.Option("--source", "--source-id", help="source id for TEXT or --file (default: hash / path)")
    ] = None,
    speaker: Annotated[str | None, typer.Option(help="speaker of TEXT")] = None,
    session: Annotated[str | None, typer.Option(help="session id of TEXT")] = None,
    time: Annotated[str | None, typer.Option("--time", help="when TEXT happened (ISO)")] = None,
    as_json: Json = False,
) -> None:
    """Add text, a file, LoCoMo conversations or QA paragraphs without deriving facts (idempotent).

    A changed file replaces its chunks; chunks it no longer has are retired (with history).
    """
    from agentrag.errors import InputError
    from agentrag.memory import loaders
    from agentrag.memory.formats import Loaded, load_path, retire_stale
    from agentrag.types import MemoryItem

    given = [x for x in (text, file, locomo, paragraphs) if x is not None]
    if len(given) != 1:
        raise InputError("give exactly one of TEXT, --file, --locomo or --paragraphs")
    loaded: Loaded | None = None
    if text is not None:
        lv = _level(level) or "raw"
        sid = source or "cli:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        extra: dict[str, Any] = {"speaker": speaker, "session_id": session, "event_time": _when(time, "--time")}
        items = [MemoryItem.new(namespace=namespace, level=lv, text=text, source_id=sid, **extra)]
    elif file is not None:
        if file.is_dir():
            raise InputError(f"{file}: is a folder; use `agentrag ingest {file} --no-derive`")
        loaded = load_path(file, namespace, source_id=source)
        items = loaded.items
    elif locomo is not None:
        items = loaders.locomo_items(locomo, namespace)
    else:
        assert paragraphs is not None
        items = loaders.paragraph_items(paragraphs, namespace)
    with _store() as store:
        res = store.add(namespace, items, actor="cli")
        retired = retire_stale(store, namespace, loaded, actor="cli") if loaded is not None else []
    if as_json:
        print_json(json.dumps({**res.model_dump(mode="json"), "retired": retired}))
        return
    say(f"added {len(res.added)}, updated {len(res.updated)}, unchanged {len(res.unchanged)}, retired {len(retired)}")
    if text is not None and res.added + res.updated + res.unchanged:
        say(f"id: {(res.added + res.updated + res.unchanged)[0]}")


@memory_app.command("search")
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
    as_of_event: Annotated[
        str | None,
        typer.Option(
            "--as-of-event",
            "--as-of",
            help="EVENT clock: what had happened by this time (ISO); items later superseded count "
            "if their successor happened after it; items without an event time are left out",
        ),
    ] = None,
    as_of_ingested: Annotated[
        str | None,
        typer.Option(help="INGESTION clock: memory exactly as it was stored at this time (ISO)"),
    ] = None,
    include_invalid: Annotated[bool, typer.Option(help="also superseded / invalidated items")] = False,
    as_json: Json = False,
) -> None:
    """Hybrid (or dense / sparse) search over currently valid memory, or memory as of a time on either clock."""
    from agentrag.errors import InputError
    from agentrag.memory.store import SearchFilters
    from agentrag.memory.temporal import search_as_of_event
    from agentrag.types import LEVELS

    if mode not in ("hybrid", "dense", "sparse"):
        raise InputError(f"unknown mode {mode!r}; valid choices: dense, hybrid, sparse")
    if as_of_event and as_of_ingested:
        raise InputError("give one clock: --as-of-event (when things happened) or --as-of-ingested (what was stored)")
    levels = tuple(_level(lv) for lv in level) if level else LEVELS
    filters = SearchFilters(
        levels=levels,
        speaker=speaker,
        session_id=session,
        time_from=_when(since, "--since"),
        time_to=_when(until, "--until"),
        as_of=_when(as_of_ingested, "--as-of-ingested"),
        include_invalid=include_invalid,
    )
    event_at = _when(as_of_event, "--as-of-event")
    with _store() as store:
        _hint(store, namespace)
        if event_at is not None:
            hits = search_as_of_event(store, namespace, query, when=event_at, k=k, filters=filters, mode=mode)
        else:
            hits = store.search(namespace, query, k=k, filters=filters, mode=mode)  # type: ignore[arg-type]
    if as_json:
        print_json(json.dumps([h.model_dump(mode="json") for h in hits]))
        return
    if not hits:
        say(f"nothing found in namespace {namespace!r}")
        return
    table = id_table(f"{mode} search: {query}", [("id", [h.item.id for h in hits])], "#", "score", "level", "text")
    for h in hits:
        _row(table, h.item.id, h.rank, f"{h.score:.4f}", h.item.level, h.item.text)
    console().print(table)


@memory_app.command("list")
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
        _hint(store, namespace)
        items = store.list(namespace, _level(level), limit=limit, offset=offset, include_invalid=include_invalid)
    if as_json:
        print_json(json.dumps([i.model_dump(mode="json") for i in items]))
        return
    console().print(_items_table(items, f"{namespace}: {len(items)} items from offset {offset}"))


@memory_app.command("namespaces")
def namespaces_cmd(as_json: Json = False) -> None:
    """Every namespace in this data folder, with its count of current items."""
    from agentrag.errors import InputError

    with _store() as store:
        lister = getattr(store, "namespaces", None)
        if lister is None:
            raise InputError(f"{type(store).__name__} cannot list namespaces")
        counts: dict[str, int] = lister()
    if as_json:
        print_json(json.dumps(counts))
        return
    if not counts:
        say("no namespaces yet; add some with `agentrag ingest PATH -n NAME` or `agentrag memory add`")
        return
    table = id_table("namespaces", [("namespace", list(counts))], "current items")
    for ns, n in counts.items():
        _row(table, ns, n)
    console().print(table)


def _not_found(what: str) -> None:
    from agentrag.errors import NotFoundError

    raise NotFoundError(what)


@memory_app.command("history")
def history_cmd(
    namespace: Namespace, item_id: Annotated[str, typer.Argument(help="item id")], as_json: Json = False
) -> None:
    """Every recorded change to an item (also after it was forgotten); exit status 3 if it has none."""
    with _store() as store:
        entries = store.history(namespace, item_id)
        if not entries:
            _hint(store, namespace)
    if not entries:
        _not_found(f"no item {item_id!r} in namespace {namespace!r} (it has no history)")
    if as_json:
        print_json(json.dumps([e.model_dump(mode="json") for e in entries]))
        return
    table = id_table(
        item_id, [("related", [e.related_id or "" for e in entries])], "#", "at", "event", "actor", "reason", "before",
        "after",
    )
    for e in entries:
        _row(table, e.related_id, e.seq, f"{e.at:%Y-%m-%d %H:%M:%S}", e.event, e.actor, e.reason, e.before, e.after)
    console().print(table)


@memory_app.command("explain")
def explain_cmd(
    namespace: Namespace, item_id: Annotated[str, typer.Argument(help="item id")], as_json: Json = False
) -> None:
    """Where an item came from (down to raw text) and what replaced it; exit status 3 if there is no such item."""
    with _store() as store:
        why = store.explain(namespace, item_id)
    if as_json:
        print_json(why.model_dump_json())
        return
    console().print(_items_table([why.item], "item"))
    for title, items in (
        ("derived from (nearest first)", why.derived_from),
        ("superseded by (oldest first)", why.superseded_by),
        ("supersedes", why.supersedes),
    ):
        if items:
            console().print(_items_table(list(items), title))
    say(f"{len(why.history)} history entries; see `agentrag memory history -n {namespace} {item_id}`")


@memory_app.command("forget")
def forget_cmd(
    namespace: Namespace,
    item_ids: Annotated[list[str] | None, typer.Argument(help="item ids to delete for good")] = None,
    everything: Annotated[
        bool, typer.Option("--all", help="erase the whole namespace (one end user), items and runs")
    ] = False,
    reason: Annotated[str, typer.Option(help="why (kept in the history log)")] = "forgotten on request",
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Hard-delete items, what was derived from them and the runs that quoted them; the history keeps tombstones.

    Exit status 3 if any id is unknown, or with ``--all`` if the namespace holds nothing.
    """
    from agentrag.checkpoints import open_checkpointer
    from agentrag.errors import InputError
    from agentrag.forgetting import forget

    ids = list(item_ids or [])
    if everything == bool(ids):
        raise InputError("give item ids to forget, or --all for the whole namespace (not both)")
    what = f"everything in {namespace!r}" if everything else f"{len(ids)} item(s) from {namespace!r}"
    if not yes and not typer.confirm(f"permanently delete {what}?"):
        raise typer.Exit(1)
    settings = settings_for(need_llm=False)
    saver, close_saver = open_checkpointer(settings)
    try:
        with _store() as store:
            present = {it.id for it in store.get(namespace, ids)}
            report = forget(settings, store, saver, namespace, None if everything else ids, reason=reason, actor="cli")
    finally:
        close_saver()
    if everything:
        say(f"forgot all {report.items} item(s) and {report.threads} run thread(s) of {namespace!r}")
    else:
        derived = report.items - len(present)
        say(
            f"forgot {len(present)} of {len(ids)} item(s), {derived} derived from them,"
            f" and {report.threads} run thread(s) that quoted them"
        )
    missing = [i for i in ids if i not in present]
    if missing:
        _not_found(f"no item {', '.join(repr(i) for i in missing)} in namespace {namespace!r}")
    if everything and report.items == 0 and report.threads == 0:
        _not_found(f"namespace {namespace!r} holds nothing to forget")


@memory_app.command("stats")
def stats_cmd(namespace: Namespace, as_json: Json = False) -> None:
    """Counts per level, history and provenance sizes, BM25 state."""
    from rich.table import Table

    from agentrag.errors import InputError

    with _store() as store:
        stats_of = getattr(store, "stats", None)
        if stats_of is None:
            raise InputError(f"stats needs the Chroma store, not {type(store).__name__}")
        _hint(store, namespace)
        stats = stats_of(namespace)
    if as_json:
        print_json(json.dumps(stats))
        return
    table = Table(
        "level", "current", "all versions", title=f"{namespace} ({stats['backend']}, {stats['embedder']})",
        title_justify="left",
    )
    for lv, c in stats["levels"].items():
        _row(table, lv, c["valid"], c["total"])
    console().print(table)
    say(f"history entries: {stats['history_entries']}; provenance edges: {stats['provenance_edges']}")
