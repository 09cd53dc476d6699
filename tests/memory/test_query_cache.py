"""The query-vector cache and the embedder's lean path for short calls."""

from __future__ import annotations

import numpy as np
import pytest

from agentrag.memory.embedder import MiniLMEmbedder, QueryCache


def test_query_cache_is_an_lru_keyed_by_model_and_text() -> None:
    cache = QueryCache(max_entries=2)
    a, b = np.ones(3, dtype=np.float32), np.zeros(3, dtype=np.float32)
    cache.put("m1", "q", a)
    assert cache.get("m2", "q") is None  # another model's vector for the same text is not reused
    cache.put("m1", "r", b)
    assert cache.get("m1", "q") is not None  # q is now the most recent
    cache.put("m1", "s", b)
    assert cache.get("m1", "r") is None and cache.get("m1", "q") is not None and len(cache) == 2
    got = cache.get("m1", "q")
    assert got is not None
    with pytest.raises(ValueError):
        got[0] = 5.0  # a cached vector cannot be changed by a caller
    assert cache.hits == 3 and cache.misses == 2


def test_short_calls_match_the_batch_path_and_hit_the_cache() -> None:
    cache = QueryCache()
    model = MiniLMEmbedder(query_cache=cache)
    texts = ["What did Caroline paint last summer?", "Where is the lighthouse?", "a", "Who won?", "x y z"]
    batch = model.embed(texts)  # five texts: the sentence-transformers batch path
    for text, vec in zip(texts, batch, strict=True):
        one = model.embed([text])
        assert one.shape == (1, 384)
        assert float(one[0] @ vec) > 0.9999
    pair = model.embed(texts[:2])  # padded to the longer of the two
    assert np.allclose(pair, batch[:2], atol=1e-5)
    assert cache.hits == 2 and cache.misses == 5
    cold = MiniLMEmbedder(query_cache=None)
    cold.embed([texts[0]])
    assert cache.hits == 2  # no cache: nothing read or written
