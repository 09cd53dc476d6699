"""Test helpers shipped with the library, so apps can unit-test their own graphs."""

from agentrag.llm.scripted import Reply, ScriptedCall, ScriptedChatModel

__all__ = ["Reply", "ScriptedCall", "ScriptedChatModel"]
