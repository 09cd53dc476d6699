"""The learned router's model: multinomial logistic regression in numpy, weights in a small JSON file.

Why this model: a few hundred silver-labelled questions cannot train anything
bigger without memorising them, inference must cost microseconds and no extra
dependency, and its probabilities are what the router's confidence rule reads.
Features are standardised with the training means and deviations stored next
to the weights, so a weights file is self-contained. Training (plain gradient
descent with L2, optional class weights) is here too, so retraining needs no
library beyond numpy.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from agentrag.errors import ConfigError
from agentrag.routing.features import FEATURE_NAMES, FloatArray
from agentrag.types import RouteKind

log = logging.getLogger(__name__)
CLASSES: tuple[RouteKind, ...] = ("none", "single", "iterative")
FORMAT = "agentrag-router-v1"
SHIPPED = "router_weights.json"
"""The weights shipped inside the package (``agentrag/routing/data/``)."""


@dataclass(frozen=True)
class RouterModel:
    """Standardise, then softmax(W x + b) over ``CLASSES``."""

    weights: FloatArray
    """Shape (len(CLASSES), len(features))."""
    bias: FloatArray
    mean: FloatArray
    scale: FloatArray
    features: tuple[str, ...] = FEATURE_NAMES
    classes: tuple[RouteKind, ...] = CLASSES
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.features)
        shapes = {"weights": (len(self.classes), n), "bias": (len(self.classes),), "mean": (n,), "scale": (n,)}
        for name, shape in shapes.items():
            got = getattr(self, name).shape
            if got != shape:
                raise ConfigError(f"router weights: {name} has shape {got}, expected {shape}")

    def proba(self, x: FloatArray) -> dict[RouteKind, float]:
        """Class probabilities for one feature vector."""
        p = self.proba_matrix(x[None, :])[0]
        return {c: float(v) for c, v in zip(self.classes, p, strict=True)}

    def proba_matrix(self, x: FloatArray) -> FloatArray:
        """Class probabilities for a matrix of feature vectors (rows)."""
        if x.ndim != 2 or x.shape[1] != len(self.features):
            raise ConfigError(f"router: expected {len(self.features)} features per row, got shape {x.shape}")
        z = ((x - self.mean) / self.scale) @ self.weights.T + self.bias
        return _softmax(z)

    def to_json(self) -> dict[str, Any]:
        """A plain-JSON form (rounded to 6 digits: the file stays small and diffs stay readable)."""
        return {
            "format": FORMAT, "classes": list(self.classes), "features": list(self.features),
            "weights": np.round(self.weights, 6).tolist(), "bias": np.round(self.bias, 6).tolist(),
            "mean": np.round(self.mean, 6).tolist(), "scale": np.round(self.scale, 6).tolist(), "meta": self.meta,
        }

    def save(self, path: Path) -> Path:
        """Write the JSON weights file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n", encoding="utf-8")
        return path

    @classmethod
    def from_json(cls, data: dict[str, Any], origin: str = "router weights") -> RouterModel:
        """Parse and check a weights document; a wrong feature list is refused, not guessed at."""
        if data.get("format") != FORMAT:
            raise ConfigError(f"{origin}: not an agentrag router weights file (format {data.get('format')!r})")
        if tuple(data.get("features", ())) != FEATURE_NAMES:
            raise ConfigError(f"{origin}: trained on other features than this version computes; retrain it")
        if tuple(data.get("classes", ())) != CLASSES:
            raise ConfigError(f"{origin}: classes {data.get('classes')} are not {list(CLASSES)}")
        arrays = {k: np.asarray(data[k], dtype=np.float64) for k in ("weights", "bias", "mean", "scale")}
        if not all(np.isfinite(a).all() for a in arrays.values()):
            raise ConfigError(f"{origin}: holds non-finite numbers; retrain it")
        return cls(
            weights=arrays["weights"], bias=arrays["bias"], mean=arrays["mean"], scale=arrays["scale"],
            meta=dict(data.get("meta", {})),
        )


def _softmax(z: FloatArray) -> FloatArray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


def load_model(path: str | Path | None = None) -> RouterModel:
    """The weights at ``path``, or the ones shipped with the package; read once per path."""
    return _load(str(path) if path else "")


@cache
def _load(path: str) -> RouterModel:
    if path:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"router weights file {path!r} does not exist")
        text, origin = p.read_text(encoding="utf-8"), path
    else:
        text = resources.files("agentrag.routing").joinpath("data", SHIPPED).read_text(encoding="utf-8")
        origin = f"agentrag/routing/data/{SHIPPED}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{origin}: not valid JSON: {exc}") from exc
    model = RouterModel.from_json(data, origin)
    log.info("router weights loaded from %s (%s)", origin, model.meta.get("trained_on", "?"))
    return model


def fit(
    x: FloatArray,
    y: Sequence[RouteKind],
    *,
    l2: float = 30.0,
    embed_l2: float = 3.0,
    steps: int = 3000,
    balance: float = 0.5,
    meta: dict[str, Any] | None = None,
) -> RouterModel:
    """Train by accelerated full-batch gradient descent on the class-weighted cross-entropy plus L2.

    ``balance`` weights each class by (n / count) ** balance: 0 is the plain
    loss, 1 fully balanced; in between keeps rare classes (few questions the
    closed book gets right) from being ignored without over-predicting them.
    The embedding's 384 dimensions are penalised ``embed_l2`` times harder than
    the few dozen hand-made features, so with a few hundred questions they do not
    simply memorise the training set. The step is 1/L for the loss's Lipschitz
    constant, so training converges whatever the data's scale; deterministic.
    """
    if x.ndim != 2 or x.shape[0] != len(y) or x.shape[1] != len(FEATURE_NAMES):
        raise ConfigError(f"fit: expected ({len(y)}, {len(FEATURE_NAMES)}) features, got {x.shape}")
    if not len(y):
        raise ConfigError("fit: no training examples")
    idx = np.asarray([CLASSES.index(c) for c in y])
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    xs = (x - mean) / scale
    n, d = xs.shape
    onehot = np.zeros((n, len(CLASSES)))
    onehot[np.arange(n), idx] = 1.0
    counts = onehot.sum(axis=0)
    cw = np.where(counts > 0, (n / np.maximum(counts, 1.0)) ** balance, 0.0)
    sw = cw[idx] / cw[idx].mean()
    pen = np.where([f.startswith("emb_") for f in FEATURE_NAMES], l2 * embed_l2, l2)
    lipschitz = 0.5 * float(np.linalg.norm(xs * np.sqrt(sw)[:, None], 2)) ** 2 / n + float(pen.max()) / n + 0.25
    lr = 1.0 / lipschitz
    w = np.zeros((len(CLASSES), d))
    b = np.zeros(len(CLASSES))
    w_prev, b_prev = w.copy(), b.copy()
    for t in range(1, steps + 1):
        mom = (t - 1) / (t + 2)
        vw, vb = w + mom * (w - w_prev), b + mom * (b - b_prev)
        g = (_softmax(xs @ vw.T + vb) - onehot) * sw[:, None] / n
        w_prev, b_prev = w, b
        w = vw - lr * (g.T @ xs + pen * vw / n)
        b = vb - lr * g.sum(axis=0)
    if not (np.isfinite(w).all() and np.isfinite(b).all()):
        raise ConfigError("fit: training diverged (non-finite weights)")
    return RouterModel(weights=w, bias=b, mean=mean, scale=scale, meta=dict(meta or {}))


def confusion(model: RouterModel, x: FloatArray, y: Sequence[RouteKind]) -> dict[str, Any]:
    """Accuracy, per-class recall and the confusion matrix (rows gold, columns predicted)."""
    pred = [CLASSES[i] for i in model.proba_matrix(x).argmax(axis=1)] if len(y) else []
    matrix = {g: {p: 0 for p in CLASSES} for g in CLASSES}
    for g, p in zip(y, pred, strict=True):
        matrix[g][p] += 1
    per_class = {
        c: (round(matrix[c][c] / sum(matrix[c].values()), 3) if sum(matrix[c].values()) else None) for c in CLASSES
    }
    correct = sum(matrix[c][c] for c in CLASSES)
    return {
        "n": len(y), "accuracy": round(correct / len(y), 3) if len(y) else None, "per_class_recall": per_class,
        "confusion": matrix, "predicted": dict(zip(CLASSES, [pred.count(c) for c in CLASSES], strict=True)),
    }


def as_matrix(rows: Sequence[Sequence[float]]) -> npt.NDArray[np.float64]:
    """Feature rows (lists from JSON) as a float matrix."""
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))
