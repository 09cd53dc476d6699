"""Chroma clients and collection names, embedded or over HTTP through one code path.

Chroma caches one in-process system per persistence path and refuses a second
client for the same path with a different ``Settings`` object, so this module
hands out exactly one ``Settings`` per path. Telemetry is always off.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from pathlib import Path

import chromadb
from chromadb.api import ClientAPI
from chromadb.config import Settings as ChromaSettings

from agentrag.errors import StoreUnavailableError
from agentrag.settings import ChromaConfig, EmbeddedChroma, HttpChroma, Settings
from agentrag.types import Level

log = logging.getLogger(__name__)

_settings_by_path: dict[str, ChromaSettings] = {}
_settings_lock = threading.Lock()
_client_lock = threading.Lock()


def _settings_for(path: Path) -> ChromaSettings:
    key = str(path.resolve())
    with _settings_lock:
        found = _settings_by_path.get(key)
        if found is None:
            found = ChromaSettings(anonymized_telemetry=False, is_persistent=True, persist_directory=key)
            _settings_by_path[key] = found
        return found


def make_client(settings: Settings) -> ClientAPI:
    """A Chroma client for ``settings.chroma``: PersistentClient under ``data_dir/chroma`` or HttpClient."""
    match settings.chroma:
        case EmbeddedChroma():
            path = (settings.data_dir / "chroma").resolve()
            path.mkdir(parents=True, exist_ok=True)
            # Chroma's per-path system cache is a plain class-level dict: two threads creating the first
            # client together got KeyError / "no attribute 'bindings'" / "could not connect to tenant"
            # (bench serve, 2 Dec). One at a time per process.
            with _client_lock:
                return chromadb.PersistentClient(path=str(path), settings=_settings_for(path))
        case HttpChroma(host=host, port=port, ssl=ssl):
            try:
                client = chromadb.HttpClient(
                    host=host, port=port, ssl=ssl, settings=ChromaSettings(anonymized_telemetry=False)
                )
                client.heartbeat()
            except Exception as exc:  # connection errors come in many types across httpx/chromadb versions
                scheme = "https" if ssl else "http"
                raise StoreUnavailableError(
                    f"cannot reach the Chroma server at {scheme}://{host}:{port} ({exc}); "
                    f"start one with `chroma run --path DIR --host {host} --port {port}` "
                    "or set chroma.kind=embedded"
                ) from exc
            return client


def backend_key(config: ChromaConfig) -> str:
    """A folder name for the state kept beside a Chroma backend (history, provenance)."""
    match config:
        case EmbeddedChroma():
            return "embedded"
        case HttpChroma(host=host, port=port):
            return f"http-{host}-{port}".replace(":", "_")


def collection_name(namespace: str, level: Level) -> str:
    """One collection per namespace and level, named by a hash (namespaces may hold ``@`` or ``:``)."""
    digest = hashlib.blake2b(namespace.encode("utf-8"), digest_size=12).hexdigest()
    return f"agentrag-{level}-{digest}"
