"""A long-lived AgentRAG worker process for the cross-process tests.

Started as ``python worker.py '<settings json>'``; reads one JSON command per line on
stdin and answers one JSON line on stdout (``{"ok": true, "result": ...}`` or
``{"ok": false, "error": "ConflictError", "detail": "..."}``). It is a real worker:
one ``AgentRAG`` for its whole life, its own data dir, caches and connections.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from agentrag.api import AgentRAG
from agentrag.errors import AgentRagError
from agentrag.memory import SearchFilters
from agentrag.memory.embedder import default_embedder
from agentrag.settings import load_settings
from agentrag.types import MemoryItem


def _dump(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.model_dump(mode="json")))


def handle(rag: AgentRAG, cmd: dict[str, Any]) -> Any:
    ns = cmd.get("ns", "")
    match cmd["op"]:
        case "add":
            return _dump(rag.add(cmd["docs"], namespace=ns, derive=False))
        case "add_items":
            return _dump(rag.memory.add(ns, [MemoryItem.model_validate(i) for i in cmd["items"]]))
        case "search":
            flt = SearchFilters(levels=tuple(cmd.get("levels", ("raw", "fact", "episode"))))
            hits = rag.memory.search(ns, cmd["q"], k=cmd.get("k", 5), mode=cmd.get("mode", "hybrid"), filters=flt)
            return [{"id": h.item.id, "text": h.item.text} for h in hits]
        case "history":
            return _dump(rag.memory.history(ns, cmd["id"]))
        case "get":
            return _dump(rag.memory.get(ns, cmd["ids"]))
        case "supersede":
            time.sleep(max(0.0, cmd["at"] - time.time()))  # both workers fire at the same instant
            new = MemoryItem.model_validate(cmd["new"])
            return _dump(rag.memory.supersede(ns, cmd["old"], new, reason=cmd["reason"], actor=cmd["actor"]))
        case "ask":
            return _dump(rag.ask(cmd["q"], namespace=ns, thread_id=cmd.get("thread")))
        case "ask_until":  # run the answer graph and "die" after node ``stop``: a checkpointed, unfinished run
            scope = rag.runner.scope(ns, cmd["thread"])
            values = {"question": cmd["q"], "namespace": ns}
            for _mode, update in rag.runner.stream("answer", values, scope, rag.deps, [], ["updates"]):
                if cmd["stop"] in update:
                    break
            return rag.runner.graph("answer").get_state(rag.runner.config(scope, "answer")).next
        case "resume":
            return _dump(rag.resume(cmd["thread"], namespace=ns))
        case _:
            raise ValueError(f"unknown op {cmd['op']!r}")


def main() -> None:
    settings = load_settings(**json.loads(sys.argv[1]))
    with AgentRAG(settings, embedder=default_embedder()) as rag:
        _ = rag.memory, rag.llm
        print(json.dumps({"ok": True, "result": "ready"}), flush=True)
        for line in sys.stdin:
            cmd = json.loads(line)
            try:
                reply = {"ok": True, "result": handle(rag, cmd)}
            except AgentRagError as exc:
                reply = {"ok": False, "error": type(exc).__name__, "detail": str(exc)}
            print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
