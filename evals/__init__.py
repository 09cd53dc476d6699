"""agentrag's evaluation harness: datasets, methods, metrics, runner and reports.

It sits beside the library, never inside it (``agentrag`` does not import
``evals``), so the wheel stays free of benchmark data and plotting code.
"""
