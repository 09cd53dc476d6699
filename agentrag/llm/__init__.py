"""Generator backends (LangChain chat models) and the structured-output helper."""

from agentrag.llm.base import AgentChatModel
from agentrag.llm.factory import make_llm
from agentrag.llm.structured import structured
from agentrag.llm.usage import UsageTracker

__all__ = ["AgentChatModel", "UsageTracker", "make_llm", "structured"]
