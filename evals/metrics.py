"""Answer and retrieval metrics, each a small pure function over strings and id lists.

* Exact match and F1 use SQuAD's normalisation (lower case, no punctuation, no
  articles, collapsed whitespace); gold answers may be numbers (LoCoMo has a few
  ints) and a question may have several acceptable strings (the best one counts).
* Token recall is the share of gold tokens the prediction contains: correctness
  for verbose answers, which F1 punishes for their length (Adlakha et al. 2023).
* K-Precision is the share of prediction tokens found in the evidence the model
  was shown: faithfulness, the same paper's measure.
* Unanswerable questions (LoCoMo category 5) are right when the method abstains.
* Retrieval recall@k is the share of gold evidence ids among the first k
  retrieved items' sources, counted two ways: **credited** (a derived item, a
  fact or an episode, counts for every source turn it was derived from) and
  **direct** (only raw items count, by their own source; a derived item takes
  its rank slot but finds nothing). Credited recall says whether the evidence
  reached the answerer in some form; direct recall says whether the retriever
  found the gold passages themselves, which is what raw-only baselines measure.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Iterable, Sequence

from agentrag.agents.answerer import is_abstention

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)
# Beyond the answerer's own phrasing: what generators say when the context lacks the answer.
_NO_ANSWER = re.compile(
    r"\b(not\s+(mentioned|stated|specified|provided|given|available|known|clear)|no\s+(information|mention|"
    r"answer|evidence|record)|(cannot|can't|can\s+not|unable\s+to)\s+(be\s+)?(determined?|answered|answer|found|find|tell|say)"
    r"|does\s*n[o']?t\s+(say|mention|contain|specify|state)|i\s*do\s*n[o']?t\s*know)\b",
    re.IGNORECASE,
)


def normalize_answer(text: object) -> str:
    """SQuAD's normalisation; accepts ints and floats (LoCoMo has numeric gold answers)."""
    s = str(text).lower()
    s = "".join(ch for ch in s if ch not in _PUNCT)
    s = _ARTICLES.sub(" ", s)
    return " ".join(s.split())


def tokens(text: object) -> list[str]:
    """Normalised whitespace tokens."""
    return normalize_answer(text).split()


def exact_match(prediction: str, golds: Sequence[object]) -> float:
    """1.0 when the normalised prediction equals any normalised gold answer."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(g) for g in golds))


def _f1(pred: list[str], gold: list[str]) -> float:
    if not pred or not gold:
        return float(pred == gold)
    common = sum((Counter(pred) & Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Sequence[object]) -> float:
    """Token F1 against the best-matching gold answer."""
    pred = tokens(prediction)
    return max((_f1(pred, tokens(g)) for g in golds), default=0.0)


def token_recall(prediction: str, golds: Sequence[object]) -> float:
    """Share of the gold answer's tokens present in the prediction (best gold answer)."""
    pred = Counter(tokens(prediction))
    best = 0.0
    for g in golds:
        gold = Counter(tokens(g))
        if gold:
            best = max(best, sum((pred & gold).values()) / sum(gold.values()))
    return best


def k_precision(prediction: str, knowledge: Iterable[str]) -> float | None:
    """Share of prediction tokens that appear in the evidence shown; None without evidence or answer."""
    pred = tokens(prediction)
    known: set[str] = set()
    for text in knowledge:
        known.update(tokens(text))
    if not pred or not known:
        return None
    return sum(1 for t in pred if t in known) / len(pred)


def says_no_answer(prediction: str) -> bool:
    """Whether a prediction declines to answer (empty, "I don't know", "not mentioned", ...)."""
    return is_abstention(prediction) or bool(_NO_ANSWER.search(prediction))


def abstention_correct(prediction: str, abstained: bool, golds: Sequence[object] = ()) -> float:
    """Score on an unanswerable question: right when the method abstains.

    Two LoCoMo category-5 items also carry a gold answer ("No"); giving it counts too.
    """
    if abstained or says_no_answer(prediction):
        return 1.0
    return exact_match(prediction, golds) if golds else 0.0


def recall_at_k(retrieved: Sequence[Sequence[str]], gold: Sequence[str], k: int | None = None) -> float | None:
    """Share of gold ids found in the sources of the first ``k`` retrieved items (all when k is None).

    Each retrieved item contributes every source it rests on (a fact cites several
    turns). None when the question has no gold evidence.
    """
    wanted = set(gold)
    if not wanted:
        return None
    found: set[str] = set()
    for sources in retrieved[:k] if k is not None else retrieved:
        found.update(sources)
    return len(wanted & found) / len(wanted)


def direct_recall_at_k(
    retrieved: Sequence[Sequence[str]], levels: Sequence[str], gold: Sequence[str], k: int | None = None
) -> float | None:
    """Like ``recall_at_k``, but only raw items (``levels[i] == "raw"``) contribute their sources.

    A derived item still occupies its rank, so a list whose top k are facts has
    direct recall 0 however good their sources are. None without gold evidence.
    """
    if len(levels) != len(retrieved):
        raise ValueError(f"{len(levels)} levels for {len(retrieved)} retrieved items")
    raw_only = [sources if level == "raw" else [] for sources, level in zip(retrieved, levels, strict=True)]
    return recall_at_k(raw_only, gold, k)


def score(prediction: str, abstained: bool, golds: Sequence[object], answerable: bool) -> dict[str, float | None]:
    """Every string metric of one answer (K-Precision needs the passages shown; see ``k_precision``).

    ``score`` is the headline: F1 on answerable questions and abstention
    correctness on unanswerable ones (LoCoMo's official scheme for category 5).
    """
    declined = float(abstained or says_no_answer(prediction))
    if not answerable:
        ok = abstention_correct(prediction, abstained, golds)
        return {"score": ok, "abstain_ok": ok, "em": None, "f1": None, "recall": None, "abstained": declined}
    pred = "" if abstained else prediction
    f1 = f1_score(pred, golds)
    return {
        "score": f1, "abstain_ok": None, "em": exact_match(pred, golds), "f1": f1,
        "recall": token_recall(pred, golds), "abstained": declined,
    }
