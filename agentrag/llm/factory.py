"""Build a generator backend from its config, dispatched on ``kind``."""

from __future__ import annotations

from agentrag.llm.base import AgentChatModel
from agentrag.settings import LLMConfig, LocalLLMConfig, OpenAIConfig, ScriptedConfig, VLLMConfig


def make_llm(config: LLMConfig) -> AgentChatModel:
    """The chat model for a backend config; heavy imports happen on first use."""
    match config:
        case LocalLLMConfig():
            from agentrag.llm.local import LocalChatModel

            return LocalChatModel(config=config)
        case OpenAIConfig():
            from agentrag.llm.openai_server import OpenAIChatModel

            return OpenAIChatModel(config=config)
        case VLLMConfig():
            from agentrag.llm.vllm_inproc import VLLMChatModel

            return VLLMChatModel(config=config)
        case ScriptedConfig():
            from agentrag.llm.scripted import ScriptedChatModel

            return ScriptedChatModel(replies=dict(config.replies), hold=dict(config.hold))
