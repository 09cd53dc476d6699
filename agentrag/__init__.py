"""agentrag: question answering and chat over a long-lived, multi-granularity memory.

The entry point for app builders is :class:`agentrag.AgentRAG`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from agentrag.api import AgentRAG
    from agentrag.types import Answer

__all__ = ["AgentRAG", "Answer", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import agentrag` stays fast and the CLI's --help does not load torch.
    if name == "AgentRAG":
        from agentrag.api import AgentRAG

        return AgentRAG
    if name == "Answer":
        from agentrag.types import Answer

        return Answer
    raise AttributeError(f"module 'agentrag' has no attribute {name!r}")
