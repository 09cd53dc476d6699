"""Short calls (questions) through onnxruntime: the same MiniLM weights, a leaner runtime.

A question is ~10 tokens through six 384-wide layers. In torch, one such forward
pass costs ~25-30 ms on this project's 2-core machines, most of it the eager
framework's per-operator overhead rather than arithmetic; onnxruntime runs the
same graph with fused attention/GELU/layer-norm kernels in a few ms (see
``benchmarks/memory.md``). It is only used for short calls: bulk embedding stays
on sentence-transformers, whose batching is already efficient.

The graph is exported from the packaged model itself (no download), with the
mean pooling and L2 normalisation inside, once per model file, into
``$AGENTRAG_CACHE_DIR/onnx`` (default ``~/.cache/agentrag/onnx``); a process
that cannot write there exports into memory. Every freshly opened session is
checked against torch on a probe sentence and refused below cosine 0.9999, so a
wrong export can never put queries in a different space from the stored vectors.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from agentrag.memory.embedder import Vectors

log = logging.getLogger(__name__)

MIN_COSINE = 0.9999
"""Agreement with torch a session must show on the probe to be used."""
PROBE = "Where did Caroline go hiking with her friends last summer?"
_OPSET = 17
_SESSIONS: dict[str, OnnxQueryEncoder | None] = {}
_LOCK = threading.Lock()


def cache_root() -> Path:
    """Where exported graphs are kept (``$AGENTRAG_CACHE_DIR`` or ``~/.cache/agentrag``)."""
    env = os.environ.get("AGENTRAG_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "agentrag"


class _Pooled:  # built lazily: torch is imported only when an export is needed
    @staticmethod
    def wrap(transformer: Any) -> Any:
        import torch

        class Pooled(torch.nn.Module):
            """BERT, then sentence-transformers' mean pooling and L2 normalisation."""

            def __init__(self, bert: Any) -> None:
                super().__init__()
                self.bert = bert

            def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
                hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)[0]
                mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
                summed = (hidden * mask).sum(dim=1)
                mean = summed / mask.sum(dim=1).clamp(min=1e-9)
                return torch.nn.functional.normalize(mean, p=2, dim=1)

        return Pooled(transformer).eval()


def export(model: Any) -> bytes:
    """The ONNX graph of a sentence-transformers MiniLM (BERT + mean pooling + normalise), as bytes."""
    import torch

    bert = model[0].auto_model
    wrapped = _Pooled.wrap(bert)
    sample = model[0].tokenizer(["a probe sentence"], return_tensors="pt")
    args = (sample["input_ids"], sample["attention_mask"], sample["token_type_ids"])
    buf = io.BytesIO()
    axes = {
        "input_ids": {0: "batch", 1: "seq"},
        "attention_mask": {0: "batch", 1: "seq"},
        "token_type_ids": {0: "batch", 1: "seq"},
        "embedding": {0: "batch"},
    }
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches fixed by dynamic_axes
        torch.onnx.export(
            wrapped,
            args,
            buf,  # type: ignore[arg-type]  # (the TorchScript exporter writes to any binary file object)
            input_names=["input_ids", "attention_mask", "token_type_ids"],
            output_names=["embedding"],
            dynamic_axes=axes,
            opset_version=_OPSET,
            dynamo=False,
        )
    return buf.getvalue()


def _cache_path(model_dir: Path) -> Path:
    weights = next((p for p in (model_dir / "model.safetensors", model_dir / "pytorch_model.bin") if p.is_file()), None)
    import torch

    stamp = f"{model_dir.resolve()}|{torch.__version__}|{_OPSET}"
    if weights is not None:
        st = weights.stat()
        stamp += f"|{st.st_size}|{st.st_mtime_ns}"
    digest = hashlib.blake2b(stamp.encode(), digest_size=10).hexdigest()
    return cache_root() / "onnx" / f"{model_dir.name}-{digest}.onnx"


def import_onnxruntime() -> Any:
    """onnxruntime, with its telemetry off unless the user set ``ORT_DISABLE_TELEMETRY`` themselves.

    Since 1.29 the official Linux wheels send usage events to mobile.events.data.microsoft.com
    from a background thread (the offline demo test saw its DNS lookups; ``CI`` set hides them).
    ``disable_telemetry_events()`` does not stop them; the variable, read when the runtime
    initialises, does. A memory library must reach nothing its user did not ask for.
    """
    os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
    import onnxruntime

    return onnxruntime


class OnnxQueryEncoder:
    """One onnxruntime session of the pooled model, single-threaded (a question is too small to split)."""

    def __init__(self, graph: bytes | str, tokenizer: Any, max_length: int, threads: int = 1) -> None:
        ort = import_onnxruntime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(graph, sess_options=opts, providers=["CPUExecutionProvider"])
        self.tokenizer = tokenizer
        self.max_length = max_length

    def encode(self, texts: list[str]) -> Vectors:
        """Unit vectors of a few texts (padded to the longest, truncated like the model)."""
        enc = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np")
        feeds = {
            "input_ids": enc["input_ids"].astype(np.int64),
            "attention_mask": enc["attention_mask"].astype(np.int64),
            "token_type_ids": enc["token_type_ids"].astype(np.int64),
        }
        out = self.session.run(["embedding"], feeds)[0]
        return np.asarray(out, dtype=np.float32)


def encoder_for(model: Any, model_dir: Path, torch_encode: Any) -> OnnxQueryEncoder | None:
    """The shared ONNX encoder of a loaded model, or None when onnxruntime cannot serve it faithfully.

    ``torch_encode`` embeds a list of texts with torch; the probe must agree to
    ``MIN_COSINE`` or the encoder is refused (and torch keeps serving queries).
    """
    key = str(model_dir.resolve())
    with _LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        enc = _open(model, model_dir, torch_encode)
        _SESSIONS[key] = enc
        return enc


def _open(model: Any, model_dir: Path, torch_encode: Any) -> OnnxQueryEncoder | None:
    try:
        import_onnxruntime()
    except ImportError:
        log.info("onnxruntime is not installed; questions are embedded with torch")
        return None
    path = _cache_path(model_dir)
    cached = path.is_file()
    try:
        graph: bytes | str = str(path) if cached else export(model)
        enc = OnnxQueryEncoder(graph, model[0].tokenizer, int(model.max_seq_length))
        cos = float(np.sum(enc.encode([PROBE])[0] * torch_encode([PROBE])[0]))
    except Exception as exc:  # export and runtime errors come in many types; torch still works
        log.warning("ONNX query path unavailable (%s: %s); questions are embedded with torch", type(exc).__name__, exc)
        return None
    if cos < MIN_COSINE:
        log.warning("ONNX query vectors disagree with torch (cosine %.6f); questions are embedded with torch", cos)
        if cached:
            path.unlink(missing_ok=True)  # the next process exports afresh
        return None
    if not cached:
        assert isinstance(graph, bytes)
        _save(path, graph)
    log.info("questions are embedded with onnxruntime (%s; probe cosine %.6f)", path.name, cos)
    return enc


def _save(path: Path, graph: bytes) -> None:
    """Write the graph atomically (a concurrent reader never sees half a file); a read-only cache is fine."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(graph)
        tmp.replace(path)
    except OSError as exc:
        log.info("cannot cache the ONNX graph at %s (%s); it stays in memory", path, exc)


def forget_sessions() -> None:
    """Drop the shared sessions (tests)."""
    with _LOCK:
        _SESSIONS.clear()
