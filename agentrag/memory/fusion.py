"""Fusing a dense and a sparse ranked list into one (pure functions).

Two standard ways, chosen by ``RetrievalConfig.fusion``:

* reciprocal-rank fusion (Cormack et al., 2009): ``sum_i w_i / (k + rank_i)``.
  It ignores score scales entirely, so it is robust when BM25 and cosine
  scores live on unrelated ranges; ``k`` (60 by convention) damps the head.
* score interpolation (as in dense+sparse PRF work): ``alpha * dense + (1 - alpha) * sparse``
  after min-max normalising each list over its own candidates. An item absent
  from one list gets 0 for that signal, i.e. the worst normalised score.

Ties are broken by first appearance (dense list first), so results are stable.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def rrf(
    ranked: Sequence[Sequence[str]], *, k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion of ranked id lists (best first); returns ``(id, score)`` best first."""
    if k < 0:
        raise ValueError(f"rrf k must be >= 0, got {k}")
    if weights is not None and len(weights) != len(ranked):
        raise ValueError(f"got {len(weights)} weights for {len(ranked)} ranked lists")
    scores: dict[str, float] = {}
    for li, ids in enumerate(ranked):
        w = 1.0 if weights is None else float(weights[li])
        seen: set[str] = set()
        for rank, item in enumerate(ids, start=1):
            if item in seen:  # a list that repeats an id counts it once, at its best rank
                continue
            seen.add(item)
            scores[item] = scores.get(item, 0.0) + w / (k + rank)
    return _sorted(scores)


def min_max(scores: Mapping[str, float]) -> dict[str, float]:
    """Scale scores to [0, 1]; a list whose scores are all equal maps to 1.0 everywhere."""
    if not scores:
        return {}
    lo, hi = min(scores.values()), max(scores.values())
    if hi - lo <= 1e-12:
        return dict.fromkeys(scores, 1.0)
    span = hi - lo
    return {key: (value - lo) / span for key, value in scores.items()}


def interpolate(
    dense: Mapping[str, float], sparse: Mapping[str, float], *, alpha: float = 0.5
) -> list[tuple[str, float]]:
    """``alpha * dense + (1 - alpha) * sparse`` on min-max normalised scores; best first."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    d, s = min_max(dense), min_max(sparse)
    fused: dict[str, float] = {}
    for key in [*dense, *(key for key in sparse if key not in dense)]:
        fused[key] = alpha * d.get(key, 0.0) + (1.0 - alpha) * s.get(key, 0.0)
    return _sorted(fused)


def _sorted(scores: dict[str, float]) -> list[tuple[str, float]]:
    # sorted() is stable, so equal scores keep first-appearance order.
    return sorted(scores.items(), key=lambda kv: -kv[1])
