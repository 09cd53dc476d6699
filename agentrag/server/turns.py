"""One chat turn for the server: answer from memory, then remember what the user said.

The OpenAI-compatible route calls only these two functions, so how a turn is
remembered changes in this one module: with ``queue.mode: background`` (the
default) the raw turn is written before the reply and its facts and episodes are
queued for the derivation workers (``agentrag.derivation``); ``inline`` derives
them in the request.
``chat_turn`` is ``AgentRAG.chat`` run off the event loop; ``stream_turn`` runs the
same ``chat`` graph streamed, yielding answer tokens as the answerer writes them
and the final ``Answer`` once the turn is remembered.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.concurrency import run_in_threadpool

from agentrag.api import _MODES, AgentRAG, _answer, _events, check_question
from agentrag.llm.usage import UsageTracker
from agentrag.streaming import AnswerTextStream, StreamEvent
from agentrag.types import Answer


async def chat_turn(rag: AgentRAG, message: str, *, namespace: str, session_id: str | None) -> Answer:
    """Answer ``message`` and remember it; the session is also the checkpoint thread."""
    return await run_in_threadpool(
        rag.chat, message, namespace=namespace, session_id=session_id, thread_id=session_id,
        derive=rag.settings.queue.mode,
    )


async def stream_turn(
    rag: AgentRAG, message: str, *, namespace: str, session_id: str | None
) -> AsyncIterator[StreamEvent]:
    """``chat_turn`` streamed: node and token events, then one ``answer`` event after the turn is written."""
    q = check_question(message)
    scope, tracker = rag.runner.scope(namespace, session_id), UsageTracker()
    session = session_id or scope.thread_id
    background = rag.settings.queue.mode == "background"
    state = {"question": q, "namespace": scope.namespace, "session_id": session, "speaker": "user",
             "derive": not background}
    text = AnswerTextStream()
    async with rag.runner.async_graph("chat") as graph:
        cfg = rag.runner.config(scope, "chat", [tracker])
        with rag.runner.running(scope):
            # The answer runs as a subgraph of chat: its tokens reach the stream only with subgraphs=True.
            async for where, mode, payload in graph.astream(
                state, cfg, context=rag.deps, stream_mode=_MODES, subgraphs=True
            ):
                inside_answer = mode == "messages" and bool(where) and str(where[0]).startswith("answer:")
                if inside_answer or (mode == "updates" and not where):
                    for event in _events(mode, payload, text):
                        yield event
        final = (await graph.aget_state(cfg)).values
    if background:
        from agentrag.derivation import enqueue_items

        await run_in_threadpool(enqueue_items, rag, scope.namespace, final.get("items", []))
    yield StreamEvent(kind="answer", data=_answer(q, final, tracker, scope.thread_id, scope.run_id))
