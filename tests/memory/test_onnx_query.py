"""Questions embedded by onnxruntime land in the same space as torch's vectors, or are not used."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agentrag.memory import onnx_query
from agentrag.memory.embedder import MiniLMEmbedder

TEXTS = [
    "What did Caroline paint last summer?",
    "Where is the lighthouse?",
    "a",
    "Melanie: I ran a charity race for mental health last Saturday, it was so rewarding!",
    " ".join(["the lighthouse keeper walked along the cliffs at dawn"] * 60),  # past 256 tokens: truncated alike
]


@pytest.fixture(scope="module")
def pair() -> tuple[MiniLMEmbedder, MiniLMEmbedder]:
    onnx = MiniLMEmbedder(query_cache=None, query_runtime="onnx")
    torch = MiniLMEmbedder(query_cache=None, query_runtime="torch")
    return onnx, torch


def test_onnx_serves_questions_and_agrees_with_torch(pair: tuple[MiniLMEmbedder, MiniLMEmbedder]) -> None:
    onnx, torch = pair
    for text in TEXTS:
        a, b = onnx.embed([text]), torch.embed([text])
        assert a.shape == b.shape == (1, 384) and a.dtype == np.float32
        assert float(a[0] @ b[0]) >= 0.999, text[:40]
    assert onnx._onnx, "onnxruntime is installed, so questions must go through it"
    assert not torch._onnx
    padded_o, padded_t = onnx.embed(TEXTS[:3]), torch.embed(TEXTS[:3])  # a short call padded to its longest text
    assert np.min(np.sum(padded_o * padded_t, axis=1)) >= 0.999
    bulk = torch.embed(TEXTS)  # five texts: the sentence-transformers batch path stored items take
    assert np.min(np.sum(onnx.embed(TEXTS[:1]) * bulk[:1], axis=1)) >= 0.999


def test_the_graph_is_cached_once_checked_and_refused_when_it_disagrees(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AGENTRAG_CACHE_DIR", str(tmp_path))
    torch = MiniLMEmbedder(query_cache=None, query_runtime="torch")
    model = torch._load()
    assert torch._model_dir is not None
    first = onnx_query._open(model, torch._model_dir, torch._forward_torch)
    cached = list((tmp_path / "onnx").glob("*.onnx"))
    assert first is not None and len(cached) == 1
    stamp = cached[0].stat().st_mtime_ns
    again = onnx_query._open(model, torch._model_dir, torch._forward_torch)
    assert again is not None and cached[0].stat().st_mtime_ns == stamp  # read back, not exported again
    assert not list((tmp_path / "onnx").glob("*.tmp"))

    def elsewhere(texts: list[str]) -> np.ndarray:
        vec = np.zeros((len(texts), 384), dtype=np.float32)
        vec[:, 0] = 1.0
        return vec

    assert onnx_query._open(model, torch._model_dir, elsewhere) is None  # another space: refused
    assert not cached[0].exists()  # and dropped, so the next process exports afresh
