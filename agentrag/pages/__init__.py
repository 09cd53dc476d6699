"""Self-contained HTML pages for seeing runs and memory: no CDN, nothing fetched, inline CSS/JS only.

``run_page`` renders one run (graph with the path taken, rounds, notes, evidence
statuses, memory changes, checkpoints); ``memory_page`` renders one namespace's memory
(items by level, provenance graphs, history). Both are exported by ``agentrag trace``
and served by ``agentrag serve``.
"""
