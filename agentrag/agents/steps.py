"""One node body for the sync and the async graph paths.

A node that calls the generator is written once, as a generator function: it
``yield``s each LLM call it needs (``Ask`` for structured output, ``YesNo`` for a
calibrated decision) and receives the result (or has the call's exception thrown
in at the ``yield``, so its ``try``/``except`` work as usual). ``node`` turns it into
a LangGraph node with both bodies: ``invoke`` drives it with blocking calls, and
``ainvoke`` awaits the backend's async calls, so many runs in one process are in
flight together and a vLLM server batches them instead of one thread per run.

Only nodes whose other work is pure (no memory I/O) are written this way: the
event loop must never wait on a database. Memory nodes stay sync and LangGraph runs
them in its thread pool.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from langgraph._internal._runnable import RunnableCallable  # what add_node builds from a sync+async pair
from langgraph.runtime import Runtime
from pydantic import BaseModel

from agentrag.deps import Deps, deps_of
from agentrag.llm.decide import YesNo as YesNoResult
from agentrag.llm.decide import aask_yes_no, ask_yes_no
from agentrag.llm.structured import astructured, structured
from agentrag.prompts import RenderedPrompt

M = TypeVar("M", bound=BaseModel)
U = TypeVar("U")


@dataclass(frozen=True)
class Ask(Generic[M]):
    """A structured-output call: the prompt and the pydantic model of the reply."""

    prompt: RenderedPrompt
    schema: type[M]
    streamed: bool = True
    """False: the reply's tokens stay out of the graph's ``messages`` stream (a preliminary call)."""

    def run(self, deps: Deps) -> M:
        """Blocking call."""
        return structured(deps.llm, self.prompt, self.schema, prompts=deps.prompts, streamed=self.streamed)

    async def arun(self, deps: Deps) -> M:
        """Async call."""
        return await astructured(deps.llm, self.prompt, self.schema, prompts=deps.prompts, streamed=self.streamed)


@dataclass(frozen=True)
class YesNo:
    """A calibrated yes/no decision (``agentrag.llm.decide``)."""

    prompt: RenderedPrompt
    top_logprobs: int

    def run(self, deps: Deps) -> YesNoResult:
        """Blocking call."""
        return ask_yes_no(deps.llm, self.prompt, top_logprobs=self.top_logprobs)

    async def arun(self, deps: Deps) -> YesNoResult:
        """Async call."""
        return await aask_yes_no(deps.llm, self.prompt, top_logprobs=self.top_logprobs)


Call = Ask[Any] | YesNo
Steps = Generator[Call, Any, U]
"""A node body: yields calls, receives their results, returns the state update."""


def drive(steps: Steps[U], deps: Deps) -> U:
    """Run a node body with blocking calls."""
    try:
        call = next(steps)
        while True:
            try:
                result = call.run(deps)
            except Exception as exc:
                call = steps.throw(exc)
            else:
                call = steps.send(result)
    except StopIteration as done:
        out: U = done.value
        return out


async def adrive(steps: Steps[U], deps: Deps) -> U:
    """Run a node body awaiting async calls."""
    try:
        call = next(steps)
        while True:
            try:
                result = await call.arun(deps)
            except Exception as exc:
                call = steps.throw(exc)
            else:
                call = steps.send(result)
    except StopIteration as done:
        out: U = done.value
        return out


def node(body: Callable[[Any, Deps], Steps[U]], name: str | None = None) -> Any:
    """A LangGraph node running ``body(state, deps)`` with blocking calls on invoke, async ones on ainvoke."""

    def sync_node(state: Any, runtime: Runtime[Deps]) -> U:
        return drive(body(state, deps_of(runtime)), deps_of(runtime))

    async def async_node(state: Any, runtime: Runtime[Deps]) -> U:
        return await adrive(body(state, deps_of(runtime)), deps_of(runtime))

    label = name or body.__name__.removesuffix("_steps")
    sync_node.__name__ = async_node.__name__ = label
    return RunnableCallable(sync_node, async_node, name=label, trace=False)
