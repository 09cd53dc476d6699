"""Features of a question for the learned router: its embedding, cheap text cues and a memory probe.

A 135M generator asked "does this need retrieval?" says "no" almost always, so
the route is decided by a small classifier (Adaptive-RAG's query-complexity
classifier) from signals that need no generator at all:

* the question's embedding (the memory's own embedder, all-MiniLM-L6-v2, 384-d);
* text cues that mark multi-hop and comparison questions ("both", "which ...
  first", " or ", several capitalised names or quoted titles), temporal ones and
  chit-chat (greetings, arithmetic);
* a probe of memory: how well the best dense and sparse hits match, how flat the
  top-k is, how many distinct entities the question names and whether each of
  them has hits of its own (a comparison of two things that memory knows about
  separately is exactly what one search misses).

Everything here is numpy and regular expressions; the probe is two searches plus
one sparse search per named entity (at most ``MAX_ENTITIES``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from agentrag.memory.store import MemoryStore
from agentrag.types import Hit

FloatArray = npt.NDArray[np.float64]
EMBED_DIM = 384
MAX_ENTITIES = 4
"""Entities probed one by one; more names than this are counted but not searched."""

_QWORDS = ("what", "who", "whom", "whose", "when", "where", "which", "why", "how")
_AUX = frozenset(
    {"is", "are", "was", "were", "do", "does", "did", "has", "have", "had", "can", "could", "would", "will", "should"}
)
_COMPARATIVE = re.compile(
    r"\b(first|earlier|later|older|younger|longer|shorter|larger|smaller|bigger|higher|lower|more|less|fewer|"
    r"greater|newer|oldest|youngest|largest|smallest|most|least|before|after)\b",
    re.IGNORECASE,
)
_BOTH = re.compile(r"\b(both|either|neither|same|common|each|also|together)\b", re.IGNORECASE)
_TEMPORAL = re.compile(
    r"\b(when|year|years|date|day|days|month|months|week|weeks|ago|last|recently|since|until|during|"
    r"january|february|march|april|may|june|july|august|september|october|november|december|"
    r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|tomorrow|born|died|founded)\b",
    re.IGNORECASE,
)
_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)s?\b")
_PERSONAL = re.compile(r"\b(i|me|my|mine|we|our|you|your)\b", re.IGNORECASE)
_CHAT = re.compile(r"\b(hi|hello|hey|thanks|thank|please|translate|write|explain|define|calculate)\b", re.IGNORECASE)
_ARITH = re.compile(r"\d\s*([-+*/x^]|plus|minus|times|divided)\s*\d", re.IGNORECASE)
_QUOTED = re.compile(r"[\"“”']([^\"“”']{2,80})[\"“”']")
_CAP_SPAN = re.compile(
    r"\b[A-Z][\w'\u2019.-]*(?:\s+(?:(?:of|the|for|de|von|van|la|le|du|&)\s+){0,2}[A-Z0-9][\w'\u2019.-]*)*"
)
_WORD = re.compile(r"[A-Za-z0-9]+")
_TRIM = " .'\u2019-"
_STOP = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "did",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "the",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "whose",
        "why",
        "with",
        "you",
        "your",
    }
)
_COMMON_CAPS = frozenset(
    {"What", "Who", "Whom", "Whose", "When", "Where", "Which", "Why", "How", "Is", "Are", "Was", "Were", "Do",
     "Does", "Did", "Has", "Have", "Had", "Can", "Could", "Would", "Will", "Should", "The", "A", "An", "In", "On",
     "At", "Of", "For", "And", "Or", "I", "Both", "Name", "List", "Tell", "Give", "According", "Hi",
     "Hello", "Hey", "Thanks", "Please", "Yes", "No", "Ok", "OK"}
)

TEXT_FEATURES = (
    "log_words", "log_chars", *(f"q_{w}" for w in _QWORDS), "q_yesno", "how_many", "or", "comparative",
    "both_cue", "which_first", "n_entities", "n_quoted", "two_plus_entities", "possessive", "of_chain",
    "temporal", "year", "personal", "chat", "arith", "question_mark",
)
PROBE_FEATURES = (
    "has_hits", "dense_top", "dense_mean", "dense_spread", "dense_gap", "sparse_top", "sparse_spread",
    "sparse_gap", "overlap_top", "entity_hit_share", "all_entities_hit", "multi_entity_all_hit",
    "entities_distinct_items",
)
"""Probe features; every one is 0 when memory is empty, so "memory knows nothing" is a point in the space."""


def content_words(text: str) -> set[str]:
    """Lower-cased words minus stop words and punctuation."""
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOP and len(w) > 1}


def entity_spans(question: str) -> list[str]:
    """Named things in the question: quoted titles, then capitalised spans (the first word excepted).

    Crude by design (no NER model at inference): "Which magazine was started first,
    Arthur's Magazine or First for Women?" gives ["Arthur's Magazine", "First for Women"].
    """
    spans: list[str] = []
    for m in _QUOTED.finditer(question):
        text = m.group(1).strip()
        if len(text) > 1 and not (m.group(0)[0] == "'" and " " not in text):
            spans.append(text)
    for m in _CAP_SPAN.finditer(question):
        text = m.group(0).strip(_TRIM)
        words = text.split()
        while words and (words[0] in _COMMON_CAPS or words[0].islower()):
            words = words[1:]
        while words and words[-1].isdigit():
            words = words[:-1]
        if m.start() == 0 and len(words) == 1 and words[0] == m.group(0).split()[0]:
            continue  # one sentence-initial capitalised word ("Write", "Thanks") is not a name
        text = " ".join(words).strip(_TRIM)
        text = re.sub(r"['\u2019]s$", "", text)
        if len(text) > 1 and text not in _COMMON_CAPS and not any(text in s or s in text for s in spans):
            spans.append(text)
    return spans


def text_features(question: str) -> dict[str, float]:
    """Cheap cues from the question's wording alone."""
    q = question.strip()
    lower = q.lower()
    words = _WORD.findall(lower)
    first = words[0] if words else ""
    ents = entity_spans(q)
    feats: dict[str, float] = {
        "log_words": math.log1p(len(words)),
        "log_chars": math.log1p(len(q)) / 3.0,
        **{f"q_{w}": float(w in words) for w in _QWORDS},
        "q_yesno": float(first in _AUX),
        "how_many": float("how many" in lower or "how much" in lower),
        "or": float(" or " in lower),
        "comparative": float(bool(_COMPARATIVE.search(q))),
        "both_cue": float(bool(_BOTH.search(q))),
        "which_first": float(bool(re.search(r"\b(which|who)\b.*\b(first|earlier|older|more|longer|larger)\b", lower))),
        "n_entities": min(len(ents), 6) / 3.0,
        "n_quoted": min(len(_QUOTED.findall(q)), 3) / 3.0,
        "two_plus_entities": float(len(ents) >= 2),
        "possessive": float(bool(re.search(r"\w['\u2019]s\b", q))),
        "of_chain": min(lower.count(" of "), 3) / 3.0,
        "temporal": float(bool(_TEMPORAL.search(q))),
        "year": float(bool(_YEAR.search(q))),
        "personal": float(bool(_PERSONAL.search(q))),
        "chat": float(bool(_CHAT.search(q))),
        "arith": float(bool(_ARITH.search(q))),
        "question_mark": float(q.endswith("?")),
    }
    return feats


@dataclass(frozen=True)
class Probe:
    """What memory returned for the question and for each named entity."""

    dense: tuple[float, ...] = ()
    sparse: tuple[float, ...] = ()
    top_overlap: float = 0.0
    """Share of the question's content words found in the best hit."""
    entities: tuple[str, ...] = ()
    entity_hits: tuple[tuple[str, ...], ...] = ()
    """Per probed entity, the ids of hits whose text contains the entity."""
    embedding: tuple[float, ...] = field(default=(), repr=False)

    @property
    def dense_top(self) -> float:
        """Best dense (cosine) similarity, 0 when memory is empty."""
        return self.dense[0] if self.dense else 0.0

    @property
    def any_entity_hit(self) -> bool:
        """Whether some named entity occurs in an item of memory."""
        return any(self.entity_hits)


def _entity_in(entity: str, text: str) -> bool:
    ent = [w for w in _WORD.findall(entity.lower()) if len(w) > 1] or _WORD.findall(entity.lower())
    have = set(_WORD.findall(text.lower()))
    return bool(ent) and all(w in have for w in ent)


def probe_memory(memory: MemoryStore, namespace: str, question: str, *, k: int = 5) -> Probe:
    """Search memory the cheap way (no generator): dense, sparse and one sparse search per entity."""
    embedder = getattr(memory, "embedder", None)
    embedding: tuple[float, ...] = ()
    if embedder is not None:
        embedding = tuple(float(v) for v in np.asarray(embedder.embed([question]), dtype=np.float64)[0])
    if memory.count(namespace) == 0:
        ents = tuple(entity_spans(question)[:MAX_ENTITIES])
        return Probe(entities=ents, entity_hits=tuple(() for _ in ents), embedding=embedding)
    dense = memory.search(namespace, question, k=k, mode="dense")
    sparse = memory.search(namespace, question, k=k, mode="sparse")
    topic = content_words(question)
    best: Sequence[Hit] = dense[:1] or sparse[:1]
    overlap = len(topic & content_words(best[0].item.text)) / len(topic) if best and topic else 0.0
    ents = tuple(entity_spans(question)[:MAX_ENTITIES])
    per_entity: list[tuple[str, ...]] = []
    for ent in ents:
        hits = memory.search(namespace, ent, k=3, mode="sparse") if _WORD.search(ent) else []
        per_entity.append(tuple(h.item.id for h in hits if _entity_in(ent, h.item.text)))
    return Probe(
        dense=tuple(h.dense_score or 0.0 for h in dense),
        sparse=tuple(h.sparse_score or 0.0 for h in sparse),
        top_overlap=overlap,
        entities=ents,
        entity_hits=tuple(per_entity),
        embedding=embedding,
    )


def probe_features(probe: Probe) -> dict[str, float]:
    """The probe as bounded numbers (BM25 scores are unbounded, so they are log-scaled)."""
    d, s = probe.dense, probe.sparse
    hit_sets = [set(h) for h in probe.entity_hits]
    hit_share = sum(1 for h in hit_sets if h) / len(hit_sets) if hit_sets else 0.0
    all_hit = bool(hit_sets) and all(hit_sets)
    distinct = len(hit_sets) >= 2 and all_hit and len({min(h) for h in hit_sets}) >= 2
    return {
        "has_hits": float(bool(d or s)),
        "dense_top": d[0] if d else 0.0,
        "dense_mean": float(np.mean(d)) if d else 0.0,
        "dense_spread": (d[0] - d[-1]) if len(d) > 1 else 0.0,
        "dense_gap": (d[0] - d[1]) if len(d) > 1 else 0.0,
        "sparse_top": math.log1p(s[0]) / 3.0 if s else 0.0,
        "sparse_spread": (math.log1p(s[0]) - math.log1p(s[-1])) if len(s) > 1 else 0.0,
        "sparse_gap": (math.log1p(s[0]) - math.log1p(s[1])) if len(s) > 1 else 0.0,
        "overlap_top": probe.top_overlap,
        "entity_hit_share": hit_share,
        "all_entities_hit": float(all_hit),
        "multi_entity_all_hit": float(len(hit_sets) >= 2 and all_hit),
        "entities_distinct_items": float(distinct),
    }


FEATURE_NAMES: tuple[str, ...] = (*(f"emb_{i}" for i in range(EMBED_DIM)), *TEXT_FEATURES, *PROBE_FEATURES)


def assemble(question: str, embedding: Sequence[float], probe: dict[str, float]) -> FloatArray:
    """All features in ``FEATURE_NAMES`` order from the parts (training rebuilds rows from stored probes).

    A missing embedding is zeros: the model still works on text and probe features.
    """
    emb = np.zeros(EMBED_DIM, dtype=np.float64)
    if len(embedding) == EMBED_DIM:
        emb[:] = embedding
    tf = text_features(question)
    rest = [tf[n] for n in TEXT_FEATURES] + [float(probe.get(n, 0.0)) for n in PROBE_FEATURES]
    return np.concatenate([emb, np.asarray(rest, dtype=np.float64)])


def feature_vector(question: str, probe: Probe) -> FloatArray:
    """The features of a question given what the memory probe returned."""
    return assemble(question, probe.embedding, probe_features(probe))
