"""BM25 over one namespace and level: a bm25s segment plus an incremental delta.

Rebuilding a BM25 index from scratch on every add is quadratic at scale, and a
lazily rebuilt index that misses recent items is wrong for a chat memory (the
turn just written is the one asked about). This index is both fresh and cheap:

* the **segment** is a ``bm25s.BM25`` index built over a snapshot of the docs;
* docs added since then sit in a **delta** of incremental postings, scored with
  the same Lucene BM25 formula and the segment's statistics (N, df, avgdl), so
  segment and delta scores are on one scale and every stored doc is searchable
  the moment ``upsert`` returns;
* removed or replaced docs are masked out at once; validity changes are applied
  in place (filters are evaluated per row, never baked into the index).

**Bounded staleness.** What can be stale is only the corpus statistics: the
delta is scored with IDF and average length from the last rebuild. The segment
is rebuilt lazily, at the next search, when the delta plus dead rows exceed
``rebuild_ratio`` of the segment (default 10%), so statistics never describe a
corpus more than 10% different from the live one; memories of at most
``exact_below`` docs (default 5,000) are rebuilt on every search after a change,
so small memories score exactly. Rebuild cost amortises to O(1/ratio) per doc.

**Snapshots.** ``save``/``load`` write the whole state (tokens, filter columns,
the segment's score matrix) to one ``.npz`` file, so a new process does not
re-read and re-tokenize a large namespace; the store replays the history log
from the snapshot's generation to bring it up to date.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

if TYPE_CHECKING:
    import bm25s

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

_TOKEN = re.compile(r"\w+")


@functools.cache
def _bm25s() -> Any:
    """bm25s, imported on first use (it pulls in scipy), so opening memory for a listing stays fast."""
    import bm25s
    import bm25s.stopwords

    # bm25s sets DEBUG on its own logger, so every index build would reach the application's handlers.
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    return bm25s


@functools.cache
def _stopwords() -> frozenset[str]:
    """bm25s's English stop words."""
    return frozenset(_bm25s().stopwords.STOPWORDS_EN)


_NO_EVENT = np.iinfo(np.int64).min
_NONE_CODE = -1
_MAX_DELTA_CHUNKS = 16
_SNAPSHOT_VERSION = 1
_ARRAY_OVERHEAD = 112  # bytes of a small numpy array object beside its data
_COLUMNS = ("alive", "dl", "vf", "vt", "ev", "spk", "ses", "src")


def tokenize(text: str) -> list[str]:
    """Lower-cased word tokens without English stopwords (no stemming: deterministic everywhere)."""
    stop = _stopwords()
    return [t for t in _TOKEN.findall(text.lower()) if t not in stop]


@dataclass(frozen=True)
class Doc:
    """What the index needs of an item: its text and the fields filters look at."""

    id: str
    text: str
    valid_from_us: int
    valid_to_us: int
    event_us: int | None = None
    speaker: str | None = None
    session_id: str | None = None
    source_id: str | None = None


@dataclass(frozen=True)
class Bm25Filter:
    """Row filters; ``as_of_us=None`` means "include invalid items"."""

    as_of_us: int | None = None
    speaker: str | None = None
    session_id: str | None = None
    source_id: str | None = None
    time_from_us: int | None = None
    time_to_us: int | None = None


class Bm25Stats(TypedDict):
    """Sizes and freshness of one index."""

    docs: int
    segment_docs: int
    delta_docs: int
    dead_rows: int
    rebuilds: int
    last_rebuild_s: float


class _Column:
    """A growable numpy column (amortised O(1) append, views are zero-copy)."""

    def __init__(self, dtype: npt.DTypeLike) -> None:
        self._data = np.empty(1024, dtype=dtype)
        self.n = 0

    def extend(self, values: Sequence[object]) -> None:
        need = self.n + len(values)
        if need > len(self._data):
            grown = np.empty(max(need, 2 * len(self._data)), dtype=self._data.dtype)
            grown[: self.n] = self._data[: self.n]
            self._data = grown
        self._data[self.n : need] = values
        self.n = need

    @property
    def view(self) -> npt.NDArray[Any]:
        return self._data[: self.n]


class Bm25Index:
    """Fresh BM25 over a growing, changing set of docs; see the module docstring."""

    def __init__(self, *, rebuild_ratio: float = 0.1, exact_below: int = 5000, k1: float = 1.5, b: float = 0.75):
        self.rebuild_ratio = rebuild_ratio
        self.exact_below = exact_below
        self.k1, self.b = k1, b
        self.generation = 0
        """History generation this index reflects; the store compares it to detect outside writes."""
        self.saved_generation = -1
        """Generation of the last snapshot written or read (-1: none)."""
        self._vocab: dict[str, int] = {}
        self._codes: dict[str, int] = {}
        self._reset_rows()
        self.rebuilds = 0
        self.last_rebuild_s = 0.0

    def _reset_rows(self) -> None:
        self._ids: list[str] = []
        self._row: dict[str, int] = {}
        self._tokens: list[npt.NDArray[np.int32]] = []
        self._token_bytes = 0  # kept up to date so ``nbytes`` is O(1): it is asked after every write
        self._alive = _Column(np.bool_)
        self._dl = _Column(np.float32)
        self._vf = _Column(np.int64)
        self._vt = _Column(np.int64)
        self._ev = _Column(np.int64)
        self._spk = _Column(np.int32)
        self._ses = _Column(np.int32)
        self._src = _Column(np.int32)
        self._seg: bm25s.BM25 | None = None
        self._seg_rows = 0
        self._seg_vocab = 0
        self._seg_idf = np.zeros(0, dtype=np.float32)
        self._seg_n = 0
        self._seg_avgdl = 1.0
        # Postings of rows added since the last rebuild: chunks of (term, row, tf), sorted by term.
        self._delta: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]] = []
        self._dead = 0

    # -- writes -----------------------------------------------------------------
    def upsert(self, docs: Sequence[Doc]) -> None:
        """Add docs, or replace a doc whose text changed (its old row is masked out)."""
        fresh: list[Doc] = []
        fresh_tokens: list[npt.NDArray[np.int32]] = []
        for doc in docs:
            ids = self._token_ids(doc.text)
            row = self._row.get(doc.id)
            if row is not None and self._alive.view[row]:
                if np.array_equal(self._tokens[row], ids):
                    self._set_fields(row, doc)
                    continue
                self._kill(row)
            fresh.append(doc)
            fresh_tokens.append(ids)
        if fresh:
            self._append(fresh, fresh_tokens)

    def set_validity(self, item_id: str, valid_from_us: int, valid_to_us: int) -> None:
        """Apply a validity change (invalidate/supersede) in place."""
        row = self._row.get(item_id)
        if row is not None:
            self._vf.view[row] = valid_from_us
            self._vt.view[row] = valid_to_us

    def remove(self, ids: Sequence[str]) -> None:
        """Mask docs out (hard delete); their rows are dropped at the next rebuild."""
        for item_id in ids:
            row = self._row.pop(item_id, None)
            if row is not None and self._alive.view[row]:
                self._kill(row)

    def __len__(self) -> int:
        return int(self._alive.view.sum())

    def _token_ids(self, text: str) -> npt.NDArray[np.int32]:
        vocab = self._vocab
        out = []
        for tok in tokenize(text):
            tid = vocab.get(tok)
            if tid is None:
                tid = vocab[tok] = len(vocab)
            out.append(tid)
        return np.asarray(out, dtype=np.int32)

    def _code(self, value: str | None) -> int:
        if value is None:
            return _NONE_CODE
        code = self._codes.get(value)
        if code is None:
            code = self._codes[value] = len(self._codes)
        return code

    def _set_fields(self, row: int, doc: Doc) -> None:
        self._vf.view[row] = doc.valid_from_us
        self._vt.view[row] = doc.valid_to_us
        self._ev.view[row] = _NO_EVENT if doc.event_us is None else doc.event_us
        self._spk.view[row] = self._code(doc.speaker)
        self._ses.view[row] = self._code(doc.session_id)
        self._src.view[row] = self._code(doc.source_id)

    def _kill(self, row: int) -> None:
        self._alive.view[row] = False
        self._dead += 1

    def _append(self, docs: Sequence[Doc], tokens: Sequence[npt.NDArray[np.int32]]) -> None:
        start = len(self._ids)
        rows = np.arange(start, start + len(docs), dtype=np.int64)
        for doc, row in zip(docs, rows.tolist(), strict=True):
            self._ids.append(doc.id)
            self._row[doc.id] = row
        self._tokens.extend(tokens)
        self._token_bytes += sum(t.nbytes + _ARRAY_OVERHEAD for t in tokens)
        lens = self._add_postings(rows, tokens)
        self._alive.extend([True] * len(docs))
        self._dl.extend(lens.tolist())
        self._vf.extend([d.valid_from_us for d in docs])
        self._vt.extend([d.valid_to_us for d in docs])
        self._ev.extend([_NO_EVENT if d.event_us is None else d.event_us for d in docs])
        self._spk.extend([self._code(d.speaker) for d in docs])
        self._ses.extend([self._code(d.session_id) for d in docs])
        self._src.extend([self._code(d.source_id) for d in docs])

    def _add_postings(
        self, rows: npt.NDArray[np.int64], tokens: Sequence[npt.NDArray[np.int32]]
    ) -> npt.NDArray[np.int64]:
        """Append the delta postings of ``rows``; returns their lengths."""
        lens = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
        if lens.sum():
            # One (term, row) key per posting; np.unique sorts by term, then row, and counts tf.
            key = np.concatenate(tokens).astype(np.int64) << 32 | np.repeat(rows, lens)
            uniq, tf = np.unique(key, return_counts=True)
            self._delta.append(((uniq >> 32).astype(np.int64), uniq & 0xFFFFFFFF, tf.astype(np.float32)))
            if len(self._delta) > _MAX_DELTA_CHUNKS:
                self._delta = [_merge_chunks(self._delta)]
        return lens

    # -- rebuild ----------------------------------------------------------------
    def needs_rebuild(self) -> bool:
        """Whether the next search will rebuild the segment (see "Bounded staleness")."""
        pending = len(self._ids) - self._seg_rows
        changed = pending + self._dead
        if changed == 0:
            return False
        if len(self) <= self.exact_below:
            return True
        return changed > self.rebuild_ratio * max(self._seg_rows, 1)

    def rebuild(self) -> None:
        """Compact live rows and index them with bm25s; the delta becomes empty."""
        t0 = time.perf_counter()
        alive = np.flatnonzero(self._alive.view)
        keep = alive.tolist()
        ids = [self._ids[r] for r in keep]
        tokens = [self._tokens[r] for r in keep]
        cols = {
            name: col.view[alive].copy()
            for name, col in (
                ("vf", self._vf),
                ("vt", self._vt),
                ("ev", self._ev),
                ("spk", self._spk),
                ("ses", self._ses),
                ("src", self._src),
            )
        }
        self._reset_rows()
        self._ids = ids
        self._row = {item_id: i for i, item_id in enumerate(ids)}
        self._tokens = tokens
        self._token_bytes = sum(t.nbytes + _ARRAY_OVERHEAD for t in tokens)
        self._alive.extend([True] * len(ids))
        self._dl.extend([len(t) for t in tokens])
        for name, col in (
            ("vf", self._vf),
            ("vt", self._vt),
            ("ev", self._ev),
            ("spk", self._spk),
            ("ses", self._ses),
            ("src", self._src),
        ):
            col.extend(cols[name])  # type: ignore[arg-type]
        n_vocab = len(self._vocab)
        if ids and n_vocab:
            seg = _bm25s().BM25(k1=self.k1, b=self.b, method="lucene")
            seg.index(([t.tolist() for t in tokens], dict(self._vocab)), create_empty_token=False, show_progress=False)
            self._seg = seg
            df = np.diff(seg.scores["indptr"]).astype(np.float64)
            n = len(ids)
            self._seg_idf = np.log1p((n - df + 0.5) / (df + 0.5)).astype(np.float32)
            self._seg_n = n
            self._seg_avgdl = max(float(self._dl.view.mean()), 1e-9)
        self._seg_rows = len(ids)
        self._seg_vocab = n_vocab
        self.rebuilds += 1
        self.last_rebuild_s = time.perf_counter() - t0
        log.debug("bm25 rebuild: %d docs, %d terms in %.3fs", len(ids), n_vocab, self.last_rebuild_s)

    # -- search -----------------------------------------------------------------
    def search(self, query: str, k: int, flt: Bm25Filter | None = None) -> list[tuple[str, float]]:
        """Best ``k`` live docs matching ``flt`` as ``(id, bm25 score)``, best first; zero scores dropped."""
        if self.needs_rebuild():
            self.rebuild()
        qids = [self._vocab[t] for t in tokenize(query) if t in self._vocab]
        n_rows = len(self._ids)
        if not qids or n_rows == 0:
            return []
        scores = np.zeros(n_rows, dtype=np.float32)
        self._score_segment(qids, scores)
        self._score_delta(qids, scores)
        cand = np.flatnonzero(scores > 0)
        cand = cand[self._mask(cand, flt or Bm25Filter())]
        if len(cand) > k:
            top = np.argpartition(-scores[cand], k - 1)[:k]
            cand = cand[top]
        order = cand[np.argsort(-scores[cand], kind="stable")]
        return [(self._ids[r], float(scores[r])) for r in order.tolist()]

    def _score_segment(self, qids: list[int], scores: npt.NDArray[np.float32]) -> None:
        if self._seg is None or self._seg_rows == 0:
            return
        seg_q = np.asarray([q for q in qids if q < self._seg_vocab], dtype=np.int64)
        if not len(seg_q):
            return
        m = self._seg.scores
        indptr, indices, data = m["indptr"], m["indices"], m["data"]
        parts = [(indptr[q], indptr[q + 1]) for q in seg_q.tolist()]
        idx = np.concatenate([indices[a:b] for a, b in parts])
        val = np.concatenate([data[a:b] for a, b in parts])
        if len(idx):
            scores[: self._seg_rows] += np.bincount(idx, weights=val, minlength=self._seg_rows).astype(np.float32)

    def _score_delta(self, qids: list[int], scores: npt.NDArray[np.float32]) -> None:
        if not self._delta:
            return
        n = max(self._seg_n, 1)
        avgdl = self._seg_avgdl if self._seg_n else max(float(self._dl.view.mean()), 1e-9)
        q = np.asarray(qids, dtype=np.int64)
        # IDF from the segment's statistics; a term the segment never saw has df = 0 there.
        unseen = math.log1p((n + 0.5) / 0.5)
        idf = np.full(len(q), unseen, dtype=np.float32)
        if self._seg_n:
            known = q < self._seg_vocab
            idf[known] = self._seg_idf[q[known]]
        dl = self._dl.view
        for terms, rows, tf in self._delta:
            lo = np.searchsorted(terms, q, side="left")
            hi = np.searchsorted(terms, q, side="right")
            for j in np.flatnonzero(hi > lo).tolist():
                r, f = rows[lo[j] : hi[j]], tf[lo[j] : hi[j]]
                norm = self.k1 * (1.0 - self.b + self.b * dl[r] / avgdl)
                np.add.at(scores, r, (idf[j] * f / (f + norm)).astype(np.float32))

    def _mask(self, rows: npt.NDArray[np.intp], flt: Bm25Filter) -> npt.NDArray[np.bool_]:
        ok = self._alive.view[rows].astype(bool)
        if flt.as_of_us is not None:
            ok &= (self._vf.view[rows] <= flt.as_of_us) & (self._vt.view[rows] > flt.as_of_us)
        for col, value in ((self._spk, flt.speaker), (self._ses, flt.session_id), (self._src, flt.source_id)):
            if value is not None:
                ok &= col.view[rows] == self._codes.get(value, -2)
        if flt.time_from_us is not None or flt.time_to_us is not None:
            ev = self._ev.view[rows]
            ok &= ev != _NO_EVENT
            if flt.time_from_us is not None:
                ok &= ev >= flt.time_from_us
            if flt.time_to_us is not None:
                ok &= ev <= flt.time_to_us
        return ok

    # -- snapshots --------------------------------------------------------------
    def save(self, path: Path) -> None:
        """Write the whole index to ``path`` (an ``.npz``), atomically."""
        lens = np.fromiter((len(t) for t in self._tokens), dtype=np.int64, count=len(self._tokens))
        meta = {
            "version": _SNAPSHOT_VERSION,
            "k1": self.k1,
            "b": self.b,
            "generation": self.generation,
            "ids": self._ids,
            "vocab": list(self._vocab),
            "codes": list(self._codes),
            "seg_rows": self._seg_rows,
            "seg_vocab": self._seg_vocab,
            "seg_n": self._seg_n,
            "seg_avgdl": self._seg_avgdl,
            "dead": self._dead,
            "rebuilds": self.rebuilds,
            "last_rebuild_s": self.last_rebuild_s,
            "has_seg": self._seg is not None,
        }
        arrays: dict[str, Any] = {
            "meta": np.array(json.dumps(meta)),
            "tokens": np.concatenate(self._tokens) if self._tokens else np.zeros(0, dtype=np.int32),
            "offsets": np.concatenate([[0], np.cumsum(lens)]),
            "seg_idf": self._seg_idf,
        }
        for name in _COLUMNS:
            arrays[name] = getattr(self, f"_{name}").view
        if self._seg is not None:
            for part in ("data", "indices", "indptr"):
                arrays[f"seg_{part}"] = self._seg.scores[part]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        self.saved_generation = self.generation

    @classmethod
    def load(cls, path: Path, *, rebuild_ratio: float = 0.1, exact_below: int = 5000) -> Bm25Index | None:
        """Read a snapshot; ``None`` when there is none or it was written by another version."""
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                if meta.get("version") != _SNAPSHOT_VERSION:
                    return None
                arrays = {name: z[name] for name in z.files if name != "meta"}
        except (OSError, ValueError, KeyError) as exc:
            log.warning("ignoring unreadable BM25 snapshot %s: %s", path, exc)
            return None
        index = cls(rebuild_ratio=rebuild_ratio, exact_below=exact_below, k1=meta["k1"], b=meta["b"])
        index._vocab = {tok: i for i, tok in enumerate(meta["vocab"])}
        index._codes = {code: i for i, code in enumerate(meta["codes"])}
        index._ids = list(meta["ids"])
        offsets = arrays["offsets"]
        flat = arrays["tokens"].astype(np.int32)
        index._tokens = [flat[offsets[i] : offsets[i + 1]] for i in range(len(index._ids))]
        index._token_bytes = sum(t.nbytes + _ARRAY_OVERHEAD for t in index._tokens)
        for name in _COLUMNS:
            getattr(index, f"_{name}").extend(arrays[name])
        alive = index._alive.view
        index._row = {item_id: r for r, item_id in enumerate(index._ids) if alive[r]}
        if meta["has_seg"]:
            seg = _bm25s().BM25(k1=index.k1, b=index.b, method="lucene")
            seg.scores = {
                "data": arrays["seg_data"],
                "indices": arrays["seg_indices"],
                "indptr": arrays["seg_indptr"],
                "num_docs": meta["seg_rows"],
            }
            seg.vocab_dict = {tok: i for i, tok in enumerate(meta["vocab"][: meta["seg_vocab"]])}
            index._seg = seg
        index._seg_rows, index._seg_vocab = meta["seg_rows"], meta["seg_vocab"]
        index._seg_n, index._seg_avgdl, index._seg_idf = meta["seg_n"], meta["seg_avgdl"], arrays["seg_idf"]
        index._dead, index.rebuilds, index.last_rebuild_s = meta["dead"], meta["rebuilds"], meta["last_rebuild_s"]
        index._delta = []
        delta_rows = range(index._seg_rows, len(index._ids))
        if len(delta_rows):
            index._add_postings(
                np.arange(index._seg_rows, len(index._ids), dtype=np.int64), [index._tokens[r] for r in delta_rows]
            )
        index.generation = index.saved_generation = meta["generation"]
        return index

    def live(self) -> dict[str, tuple[str, int]]:
        """Every live doc as id -> (its tokens joined, validity end in microseconds): what the index holds."""
        inverse = {i: tok for tok, i in self._vocab.items()}
        alive, vt = self._alive.view, self._vt.view
        return {
            item_id: (" ".join(inverse[int(t)] for t in self._tokens[row]), int(vt[row]))
            for item_id, row in self._row.items()
            if alive[row]
        }

    def nbytes(self) -> int:
        """Approximate memory held (token arrays, columns, segment matrix, delta, ids): for the LRU budget."""
        total = self._token_bytes + 90 * len(self._ids) + 60 * len(self._vocab)
        total += sum(getattr(self, f"_{name}")._data.nbytes for name in _COLUMNS)
        if self._seg is not None:
            total += sum(self._seg.scores[part].nbytes for part in ("data", "indices", "indptr"))
        total += sum(a.nbytes + b.nbytes + c.nbytes for a, b, c in self._delta)
        return int(total)

    def stats(self) -> Bm25Stats:
        """Sizes and rebuild counters, for ``memory stats`` and the benchmark."""
        return Bm25Stats(
            docs=len(self),
            segment_docs=self._seg_rows,
            delta_docs=len(self._ids) - self._seg_rows,
            dead_rows=self._dead,
            rebuilds=self.rebuilds,
            last_rebuild_s=self.last_rebuild_s,
        )


def _merge_chunks(
    chunks: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    terms = np.concatenate([c[0] for c in chunks])
    order = np.argsort(terms, kind="stable")
    return terms[order], np.concatenate([c[1] for c in chunks])[order], np.concatenate([c[2] for c in chunks])[order]
