"""Test helpers shipped with the library, so apps can unit-test their own graphs.

``agentrag.testing.ledger_contract.LedgerContractTests`` is the ``Ledger`` contract and
``agentrag.testing.queue_contract.QueueContractTests`` the derivation queue's,
as pytest mixins (each imported from its module, so importing this package needs no pytest).
"""

from agentrag.llm.scripted import Reply, ScriptedCall, ScriptedChatModel

__all__ = ["Reply", "ScriptedCall", "ScriptedChatModel"]
