"""The learned router: query-complexity features, a small numpy model and its shipped weights.

``features`` turns a question and a probe of memory into numbers, ``model``
holds the multinomial logistic regression and loads ``data/router_weights.json``
(shipped in the wheel, read offline). The decision rules that use it live in
``agentrag/agents/router.py``; retraining is ``agentrag router train``.
"""
