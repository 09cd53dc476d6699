"""Resume after a kill that landed between a node's saved writes and the next checkpoint.

LangGraph saves each node's writes as it finishes and the step's checkpoint after
the step; a process killed in between leaves a checkpoint whose only task already
has its writes, so the snapshot's ``next`` is empty although the run never ended.
The SIGKILL suite (``test_crash_kill.py``) found ``resume`` returning such a run as
finished, with an empty answer; this test makes that state deterministically.
"""

from __future__ import annotations

import sqlite3

import crash_ops


def test_resume_finishes_a_run_whose_last_checkpoint_was_lost(make_rag):
    rag = make_rag(dict(crash_ops.SCRIPT), crash_ops.PROBABILITIES, router={"kind": "llm"},
                   decisions=crash_ops.DECISIONS, evidence={"derived_levels": True})
    crash_ops._setup_answer(rag)
    assert crash_ops._ask(rag) == {"first": "Denver"}
    scope = rag.runner.latest_run("answer", crash_ops.NS, crash_ops.THREAD)
    config = rag.runner.config(scope, "answer")
    graph = rag.runner.graph("answer")
    conn = sqlite3.connect(rag.checkpoint_path)
    # The kill: the retrieve node's writes reached the disk, no checkpoint after them did.
    for _ in range(20):
        snap = graph.get_state(config)
        if [t.name for t in snap.tasks] == ["retrieve"]:
            break
        with conn:
            conn.execute(
                "DELETE FROM checkpoints WHERE thread_id = ? AND checkpoint_id ="
                " (SELECT max(checkpoint_id) FROM checkpoints WHERE thread_id = ?)",
                (scope.checkpoint_thread, scope.checkpoint_thread),
            )
    conn.close()
    assert snap.next == () and snap.tasks[0].result and not snap.values.get("answer")  # looks finished; is not
    resumed = rag.resume(crash_ops.THREAD, namespace=crash_ops.NS)
    assert resumed.text == "Denver" and not resumed.abstained
