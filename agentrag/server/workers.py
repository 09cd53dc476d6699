"""``agentrag serve --workers N``: N stateless worker processes on one port.

Uvicorn's supervisor binds the port once and starts N processes that accept on it
(and restarts one that dies). Each worker builds its own ``AgentRAG`` (embedder,
generator client, compiled graphs, one checkpoint connection) from the same
settings, handed over in an environment variable because the workers are fresh
interpreters. Nothing a request needs lives only in one worker: vectors are in the
Chroma server, history, provenance and checkpoints in the Postgres ``state`` store,
so any worker can serve any turn of any conversation. With embedded Chroma or the
SQLite state store the workers would each hold a private copy, so more than one
worker is refused there.
"""

from __future__ import annotations

import logging
import os

from fastapi import FastAPI

from agentrag.errors import InputError
from agentrag.settings import HttpChroma, PostgresState, Settings

log = logging.getLogger(__name__)

AUTH_ENV = "AGENTRAG_SERVE_AUTH"
"""Whether the worker processes require API keys (``serve --no-auth`` turns it off on loopback only)."""
SETTINGS_ENV = "AGENTRAG_SERVE_SETTINGS"
"""Settings JSON for the worker processes (not a settings field, so ``load_settings`` ignores it)."""


def check_shareable(settings: Settings, workers: int) -> None:
    """Refuse N > 1 workers unless memory and state live in servers every worker reaches."""
    if workers < 1:
        raise InputError(f"--workers must be at least 1, got {workers}")
    if workers == 1:
        return
    missing = []
    if not isinstance(settings.chroma, HttpChroma):
        missing.append("chroma.kind: http (a Chroma server)")
    if not isinstance(settings.state, PostgresState):
        missing.append("state.kind: postgres")
    if missing:
        raise InputError(
            f"--workers {workers} needs state every worker shares; set {' and '.join(missing)} "
            "(see README, Deployment), or run one worker"
        )


def app_from_env() -> FastAPI:
    """Uvicorn's app factory in each worker process: the app on the settings the supervisor handed over."""
    from agentrag.server.app import create_app

    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise InputError(f"{SETTINGS_ENV} is not set; start workers with `agentrag serve --workers N`")
    return create_app(Settings.model_validate_json(raw), auth=os.environ.get(AUTH_ENV, "1") == "1")


def serve(settings: Settings, host: str, port: int, workers: int = 1, *, auth: bool = True) -> None:
    """Run the HTTP API with ``workers`` processes (one: in this process); ``auth=False`` only for loopback."""
    import uvicorn

    check_shareable(settings, workers)
    if workers == 1:
        from agentrag.server.app import create_app

        uvicorn.run(create_app(settings, auth=auth), host=host, port=port)
        return
    os.environ[SETTINGS_ENV] = settings.model_dump_json()
    os.environ[AUTH_ENV] = "1" if auth else "0"
    log.info("starting %d workers on %s:%d", workers, host, port)
    uvicorn.run(
        "agentrag.server.workers:app_from_env", factory=True, host=host, port=port, workers=workers
    )
