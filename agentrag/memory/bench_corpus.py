"""The benchmark's corpus: real short memory texts, real questions, and their vectors.

Corpus: LoCoMo turns plus HotpotQA/MuSiQue sentences (``title: sentence``) from
``corpus_dir`` (the repo's ``../shared/data``), which gives ~18k distinct short
memory items; beyond that, items are variants (one word dropped, a context
tag appended) so no two are identical. Without ``corpus_dir`` a templated
synthetic corpus is used; the result records which. Corpus vectors are cached
on disk (keyed by the corpus hash) so a rerun does not re-embed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from agentrag.memory.embedder import Embedder, Vectors
from agentrag.types import MemoryItem

NAMESPACE = "bench"
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_TAGS = [
    "last week",
    "this morning",
    "per the notes",
    "as discussed",
    "on Monday",
    "in the team chat",
    "during the call",
    "from the meeting",
    "in passing",
    "at dinner",
    "on the trip",
    "by email",
    "in March",
    "on Friday",
    "later on",
]
_BLOCK = 2048
Progress = Callable[[str], None]


class Corpus(BaseModel):
    """Memory texts (distinct or variants of a distinct one) and the questions to time."""

    texts: list[str]
    speakers: list[str | None]
    base_of: list[int]
    """For a variant, the index of the text it was made from; -1 for a distinct text."""
    queries: list[str]
    source: str


class PrecomputedEmbedder:
    """Serves stored vectors for known texts and defers anything else (queries) to a real embedder.

    ``fallback`` is public so the benchmark can time queries first without any
    cache (cold) and then through one (cached) on the same store.
    """

    def __init__(self, texts: Sequence[str], vectors: Vectors, fallback: Embedder) -> None:
        self._row = {t: i for i, t in enumerate(texts)}
        self._vectors = vectors
        self.fallback = fallback
        self.name, self.dim = fallback.name, fallback.dim

    def embed(self, texts: Sequence[str]) -> Vectors:
        """Look up each text; embed the unknown ones."""
        rows = [self._row.get(t, -1) for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        known = [i for i, r in enumerate(rows) if r >= 0]
        out[known] = self._vectors[[rows[i] for i in known]]
        unknown = [i for i, r in enumerate(rows) if r < 0]
        if unknown:
            out[unknown] = self.fallback.embed([texts[i] for i in unknown])
        return out


def build_corpus(n: int, corpus_dir: Path | None, *, seed: int = 0, n_queries: int = 200) -> Corpus:
    """N distinct short memory texts and real questions (see the module docstring)."""
    rng = random.Random(seed)
    pool: list[tuple[str, str | None]] = []
    queries: list[str] = []
    if corpus_dir is not None and (corpus_dir / "locomo" / "locomo10.dev.json").is_file():
        for conv in json.loads((corpus_dir / "locomo" / "locomo10.dev.json").read_text(encoding="utf-8")):
            for key, turns in conv["conversation"].items():
                if key.startswith("session_") and isinstance(turns, list):
                    pool += [(t["text"], t["speaker"]) for t in turns if t.get("text", "").strip()]
            queries += [q["question"] for q in conv["qa"]]
        for name in ("hotpotqa", "musique"):
            for line in (corpus_dir / name / f"{name}.dev.corpus.jsonl").read_text(encoding="utf-8").splitlines():
                para = json.loads(line)
                pool += [(f"{para['title']}: {s.strip()}", None) for s in _SENTENCE.split(para["text"]) if s.strip()]
            for line in (corpus_dir / name / f"{name}.dev.jsonl").read_text(encoding="utf-8").splitlines():
                queries.append(json.loads(line)["question"])
        source = "LoCoMo dev turns + HotpotQA/MuSiQue dev-corpus sentences (../shared/data)"
    else:
        pool, queries = _synthetic_pool(rng)
        source = "templated synthetic sentences"
    pool = list(dict.fromkeys(pool))
    rng.shuffle(pool)
    rng.shuffle(queries)
    texts: list[str] = []
    speakers: list[str | None] = []
    base_of: list[int] = []
    seen: set[str] = set()
    i = 0
    while len(texts) < n:
        base, speaker = pool[i % len(pool)]
        text = base if i < len(pool) else _variant(base, rng)
        if text not in seen:
            seen.add(text)
            texts.append(text)
            speakers.append(speaker)
            base_of.append(-1 if i < len(pool) else i % len(pool))  # pool item k sits at texts[k]
        i += 1
    return Corpus(texts=texts, speakers=speakers, base_of=base_of, queries=queries[:n_queries], source=source)


def _variant(text: str, rng: random.Random) -> str:
    words = text.split()
    if len(words) > 4:
        del words[rng.randrange(1, len(words))]
    return f"{' '.join(words)} ({rng.choice(_TAGS)}, #{rng.randrange(10_000)})"


def _synthetic_pool(rng: random.Random) -> tuple[list[tuple[str, str | None]], list[str]]:
    people = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jia", "Kofi", "Lena"]
    verbs = ["visited", "painted", "adopted", "cooked", "studied", "repaired", "photographed", "sold", "planted"]
    things = [
        "a lighthouse",
        "a sourdough loaf",
        "an old bicycle",
        "a rescue dog",
        "a violin",
        "a garden shed",
        "a mountain trail",
        "a jazz record",
        "a chess set",
        "a tomato bed",
        "a canoe",
        "a telescope",
    ]
    places = ["in Lisbon", "near the lake", "at the market", "in Osaka", "downtown", "at the cabin", "in Nairobi"]
    pool: list[tuple[str, str | None]] = [
        (f"{p} {v} {t} {pl} {w}.", p)
        for p in people
        for v in verbs
        for t in things
        for pl in places
        for w in rng.sample(["yesterday", "last summer", "in 2019", "on a rainy day", "twice"], 2)
    ]
    queries = [f"What did {rng.choice(people)} {rng.choice(verbs)[:-2]} {rng.choice(places)}?" for _ in range(500)]
    return pool, queries


def corpus_vectors(
    texts: Sequence[str],
    base_of: Sequence[int],
    embedder: Embedder,
    cache_dir: Path | None,
    variants: str,
    say: Progress,
    *,
    n: int | None = None,
) -> Vectors:
    """Vectors of the first ``n`` corpus texts, embedded in cached blocks; variants embedded too, or perturbed.

    ``variants="perturb"`` gives a variant its base text's vector plus Gaussian noise
    scaled for cosine ~0.9 to the base (about what dropping a word and adding a tag
    does), so a 100k corpus costs ~18k real embeddings on a small CPU. Blocks are
    cut from all the corpus's embedded texts in order (the last one filled from
    texts past ``n``), so a block's content and cache key do not depend on ``n``:
    a 10k run reuses the first blocks of a 100k run.
    """
    n = len(texts) if n is None else n
    real = [i for i, b in enumerate(base_of) if b < 0 or variants == "embed"]
    needed = sum(1 for i in real if i < n)
    out = np.empty((n, embedder.dim), dtype=np.float32)
    say(f"corpus vectors: embedding {needed:,} texts ({n - needed:,} variants perturbed)")
    for start in range(0, needed, _BLOCK):
        rows = real[start : start + _BLOCK]
        block = [texts[i] for i in rows]
        key = hashlib.sha256("\x1e".join(block).encode("utf-8")).hexdigest()[:24]
        path = cache_dir / f"{embedder.name}-{key}.npy" if cache_dir else None
        if path is not None and path.is_file():
            vecs = np.load(path)
        else:
            vecs = embedder.embed(block)
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
                np.save(tmp, vecs)
                tmp.replace(path)  # another run reading the cache never sees half a file
            say(f"  embedded {min(start + _BLOCK, needed):,} / {needed:,}")
        keep = [j for j, i in enumerate(rows) if i < n]
        out[[rows[j] for j in keep]] = vecs[keep]
    rest = [i for i in range(n) if base_of[i] >= 0 and variants != "embed"]
    if rest:
        rng = np.random.default_rng(0)
        noisy = out[[base_of[i] for i in rest]] + rng.normal(0.0, 0.0247, (len(rest), embedder.dim))
        out[rest] = noisy / np.linalg.norm(noisy, axis=1, keepdims=True)
    return out


def bench_items(texts: Sequence[str], speakers: Sequence[str | None], source: str) -> list[MemoryItem]:
    """Raw memory items of the benchmark namespace, one per text, positions in order."""
    return [
        MemoryItem.new(namespace=NAMESPACE, level="raw", text=t, source_id=source, position=i, speaker=s)
        for i, (t, s) in enumerate(zip(texts, speakers, strict=True))
    ]
