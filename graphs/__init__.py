"""LangGraph wiring for agentrag: which node runs after which. No business logic here.

Each module exposes ``build(checkpointer=None)`` returning a compiled graph and a
module-level ``graph`` (uncompiled-checkpointer variant) for ``langgraph.json``.
"""
