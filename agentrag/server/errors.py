"""One error shape for every HTTP error, and the request-size limit.

Every error body is an ``ErrorBody``: ``{"error": <type>, "status": <code>,
"detail": <message>, "fields": [...]}``, whether it came from the library
(``AgentRagError``), from request validation, from routing, or from a bug.

| status | when |
| --- | --- |
| 400 | the body is not valid JSON |
| 401 | no API key, or an unknown or revoked one (with ``WWW-Authenticate: Bearer``) |
| 404 | unknown route, or an item / history asked for by id does not exist |
| 413 | the body is larger than ``server.max_body_bytes`` (checked before it is read) |
| 422 | the JSON is well-formed but a value is wrong (empty question, bad namespace, ``k=0``...) |
| 500 | a bug (the detail says so; the log has the traceback) |
| 502 | the generator backend failed (down, 5xx, malformed or cut-off reply, unusable output) |
| 503 | a backend is unreachable or overloaded (generator, Chroma, Postgres; ``Retry-After``), or the disk is full |
| 504 | the generator backend timed out |

The status of a backend failure is read from the exception chain (connection
and timeout errors of httpx, openai, psycopg, the OS) before the message.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from agentrag.errors import (
    AgentRagError,
    BackendError,
    InputError,
    MemoryStoreError,
    NotFoundError,
    ParseError,
    StoreUnavailableError,
)

log = logging.getLogger(__name__)


class FieldError(BaseModel):
    """One invalid value in a request."""

    location: str = Field(description="where, e.g. body.question or query.k")
    message: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str = Field(description="error type, e.g. InputError, NotFoundError, ValidationError, MalformedJSON")
    status: int = Field(description="the HTTP status code, repeated")
    detail: str = Field(description="what was wrong and what to do about it")
    fields: list[FieldError] = Field(default_factory=list, description="per-value problems (validation errors)")


def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the error codes a route can return."""
    what = {
        400: "body is not valid JSON",
        401: "missing, unknown or revoked API key",
        404: "not found",
        413: "body larger than server.max_body_bytes",
        422: "invalid value",
        502: "generator backend failed",
        503: "a backend (generator, Chroma, Postgres) is unreachable or overloaded, or the disk is full; retry later",
        504: "generator backend timed out",
    }
    # The JSON content is spelled out so routes that answer HTML (run pages) document their errors as JSON too.
    json_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    return {c: {"model": ErrorBody, "description": what[c], "content": dict(json_body)} for c in codes}


def error_response(status: int, error: str, detail: str, fields: list[FieldError] | None = None) -> JSONResponse:
    """An ``ErrorBody`` response."""
    body = ErrorBody(error=error, status=status, detail=detail, fields=fields or [])
    return JSONResponse(body.model_dump(), status_code=status)


def status_for(exc: AgentRagError) -> int:
    """The HTTP status of a library error."""
    match exc:
        case NotFoundError():
            return 404
        case InputError():
            return 422
        case StoreUnavailableError():
            return 503
        case BackendError():
            return _backend_status(exc) or (504 if "timed out" in str(exc) else 502)
        case ParseError():  # the generator's reply was unusable even after the corrective retry
            return 502
        case MemoryStoreError():
            return _backend_status(exc) or 500
        case _:
            return 500


_UNAVAILABLE = ("cannot reach", "answered 503", "answered 429", "connection refused")


def _backend_status(exc: BaseException) -> int | None:
    """504 for a timeout, 503 for an unreachable or overloaded backend, found in the cause chain or the message."""
    seen: BaseException | None = exc
    for _ in range(20):  # a bounded walk: a cause chain can in principle loop
        if seen is None:
            break
        names = {c.__name__ for c in type(seen).__mro__}
        if names & {"TimeoutError", "TimeoutException", "APITimeoutError", "ReadTimeout", "ConnectTimeout"}:
            return 504
        if names & {"ConnectionError", "ConnectError", "APIConnectionError", "OperationalError", "RateLimitError"}:
            return 503
        seen = seen.__cause__ or seen.__context__
    text = str(exc).lower()
    if "timed out" in text:
        return 504
    return 503 if any(marker in text for marker in _UNAVAILABLE) else None


def install(app: FastAPI) -> None:
    """Register the handlers that turn every error into an ``ErrorBody``."""

    @app.exception_handler(AgentRagError)
    async def _library(request: Request, exc: AgentRagError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.warning("%s on %s %s: %s", status, request.method, request.url.path, exc)
        response = error_response(status, type(exc).__name__, str(exc))
        if status == 503:
            response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = list(exc.errors())
        if any(e.get("type") == "json_invalid" for e in errors):
            where = next(e for e in errors if e.get("type") == "json_invalid")
            ctx = where.get("ctx") or {}
            detail = f"request body is not valid JSON: {ctx.get('error', where.get('msg'))}"
            return error_response(400, "MalformedJSON", detail)
        fields = [FieldError(location=".".join(str(p) for p in e["loc"]), message=e["msg"]) for e in errors]
        detail = "; ".join(f"{f.location}: {f.message}" for f in fields)
        return error_response(422, "ValidationError", detail, fields)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        names = {400: "MalformedJSON", 401: "Unauthorized", 404: "NotFound", 405: "MethodNotAllowed",
                 413: "PayloadTooLarge"}
        response = error_response(exc.status_code, names.get(exc.status_code, "HTTPError"), _detail(exc))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "InternalError", f"internal error ({type(exc).__name__}); see the server log")


def _detail(exc: HTTPException) -> str:
    """FastAPI's 400 for a body it could not parse says only that; say why (too deep, not UTF-8)."""
    match exc.__cause__:
        case RecursionError():
            return "request body is not usable JSON: nested too deeply"
        case UnicodeDecodeError() as bad:
            return f"request body is not UTF-8 ({bad.reason} at byte {bad.start})"
        case _:
            return str(exc.detail)


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, before reading them whole.

    A declared ``Content-Length`` over the limit is refused at once; a chunked body
    is counted as it arrives and refused at the first byte over.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass the request on with a counting ``receive``, or refuse it outright."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await self._refuse(send, int(declared))
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # FastAPI re-raises HTTPException from body reading; the handler above shapes it.
                    raise HTTPException(413, self._detail(seen, "at least "))
            return message

        await self.app(scope, counted, send)

    def _detail(self, size: int, prefix: str = "") -> str:
        return f"request body is {prefix}{size:,} bytes; the limit is {self.limit:,} (server.max_body_bytes)"

    async def _refuse(self, send: Send, size: int) -> None:
        body = ErrorBody(error="PayloadTooLarge", status=413, detail=self._detail(size))
        payload = json.dumps(body.model_dump()).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
