"""Who is calling: the API key's tenant, and the namespace of the end user it acts for.

Every data route depends on ``caller``: with ``server.auth`` (the default) a request
needs ``Authorization: Bearer KEY`` naming an active key from the ``state`` store,
else 401 with a ``WWW-Authenticate`` header and the usual ``ErrorBody``. The key's
tenant and the end user (the ``user`` of a chat completion, the ``{namespace}``
of the older routes) form the library namespace ``"<tenant>:<user>"``. A tenant
name has no ``:``, so the split is unambiguous and two tenants' users called
"ines" are two namespaces; everything below (vectors, history, checkpoints,
pages) is already scoped by namespace, so another tenant's ids are simply not
found (404), which reveals nothing about them.

``agentrag serve --no-auth`` (local development on loopback only) has no tenant:
the end user is the namespace, as before keys existed.
"""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException

from agentrag.errors import ConfigError
from agentrag.ledger.keys import KeyStore
from agentrag.memory.namespaces import validate_namespace
from agentrag.settings import Settings

log = logging.getLogger(__name__)

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="agentrag"'}
bearer = HTTPBearer(auto_error=False, description="an API key from `agentrag keys create --tenant NAME`")


@dataclass(frozen=True)
class Caller:
    """The authenticated tenant (None with ``--no-auth``) and the key it used."""

    tenant: str | None = None
    key_id: str | None = None

    def namespace(self, user: str) -> str:
        """The library namespace of ``user`` inside this tenant (a 422 ``NamespaceError`` if it is no valid name)."""
        validate_namespace(user)
        return user if self.tenant is None else validate_namespace(f"{self.tenant}:{user}")

    def user_of(self, namespace: str) -> str:
        """The end user's name inside this tenant (what links and pages show the caller)."""
        return namespace if self.tenant is None else namespace.removeprefix(f"{self.tenant}:")


def unauthorized(detail: str) -> HTTPException:
    """The 401 every refused request gets (shaped into an ``ErrorBody`` by ``errors.install``)."""
    return HTTPException(401, detail, headers=CHALLENGE)


def caller(
    request: Request, creds: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> Caller:
    """Check the bearer key (a plain ``def``: FastAPI runs the store lookup in its thread pool)."""
    keys: KeyStore | None = request.app.state.keys
    if keys is None:
        return Caller()
    if creds is None:
        raise unauthorized("missing API key: send `Authorization: Bearer KEY` (create one with `agentrag keys create`)")
    found = keys.verify(creds.credentials)
    if found is None:
        raise unauthorized("invalid or revoked API key")
    return Caller(tenant=found.tenant, key_id=found.id)


Authenticated = Annotated[Caller, Depends(caller)]


def path_namespace(
    namespace: Annotated[str, Path(description="the end user whose memory this is (inside the key's tenant)")],
    who: Authenticated,
) -> str:
    """The library namespace for a ``{namespace}`` path segment."""
    return who.namespace(namespace)


def query_namespace(
    namespace: Annotated[str, Query(description="the end user whose runs these are (inside the key's tenant)")],
    who: Authenticated,
) -> str:
    """The library namespace for a ``?namespace=`` query parameter."""
    return who.namespace(namespace)


UserNamespace = Annotated[str, Depends(path_namespace)]
QueryNamespace = Annotated[str, Depends(query_namespace)]


def is_loopback(host: str) -> bool:
    """Whether binding ``host`` keeps the server on this machine (``localhost`` counts; ``0.0.0.0`` does not)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve_auth(settings: Settings, host: str, no_auth: bool) -> bool:
    """Whether ``agentrag serve`` requires keys; without them it binds to loopback only, and says so."""
    off = no_auth or not settings.server.auth
    if not off:
        return True
    why = "--no-auth" if no_auth else "server.auth is false"
    if not is_loopback(host):
        raise ConfigError(
            f"{why}: refusing to serve without API keys on {host!r}; bind to 127.0.0.1, or create keys with "
            "`agentrag keys create --tenant NAME` and drop --no-auth"
        )
    log.warning("%s: serving WITHOUT authentication on %s (local development only; anyone here can read any memory)",
                why, host)
    return False


def document_401(app: FastAPI) -> None:
    """Add the 401 response to the OpenAPI entry of every route that needs a key (and only to those)."""
    from fastapi.routing import APIRoute

    from agentrag.server.errors import responses

    def needs_key(dependant: Any) -> bool:
        return any(d.call is caller or needs_key(d) for d in dependant.dependencies)

    for route in app.routes:
        if isinstance(route, APIRoute) and needs_key(route.dependant):
            route.responses = {**route.responses, **responses(401)}
