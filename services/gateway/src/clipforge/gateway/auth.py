"""Who is calling: an API key from ``Authorization: Bearer``, ``X-API-Key`` or, for browser
WebSockets and EventSource (which cannot set headers), the ``api_key`` query parameter."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import HTTPConnection

from clipforge.gateway.problems import Problem
from clipforge.gateway.state import StateDep

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer cf_...`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)


def _unauthorized(detail: str) -> Problem:
    return Problem(401, "unauthorized", "Unauthorized", detail, headers={"WWW-Authenticate": "Bearer"})


def api_key_of(connection: HTTPConnection) -> str:
    authorization = connection.headers.get("authorization", "")
    scheme, _, credentials = authorization.partition(" ")
    return (
        (credentials if scheme.lower() == "bearer" else "")
        or connection.headers.get("x-api-key", "")
        or connection.query_params.get("api_key", "")
    )


async def tenant_of_connection(connection: HTTPConnection, state: StateDep) -> str:
    """Resolve the tenant for a request or WebSocket, or raise 401."""
    api_key = api_key_of(connection)
    if not api_key:
        raise _unauthorized("Send your API key as 'Authorization: Bearer <key>'.")
    if state.keys is None:
        raise Problem(503, "starting", "Service starting", "The gateway is still starting; retry shortly.")
    tenant = await state.keys.tenant_for(api_key)
    if tenant is None:
        raise _unauthorized("The API key is not valid or has been revoked.")
    return tenant


async def current_tenant(
    connection: HTTPConnection,
    state: StateDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    _header: Annotated[str | None, Security(api_key_header)] = None,
) -> str:
    # The Security parameters only document the schemes in OpenAPI; resolution is shared with
    # WebSockets, which FastAPI's security classes do not support.
    return await tenant_of_connection(connection, state)


TenantDep = Annotated[str, Depends(current_tenant)]


async def current_admin(
    connection: HTTPConnection,
    state: StateDep,
    _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None,
    _header: Annotated[str | None, Security(api_key_header)] = None,
) -> str:
    """The tenant of a key with the admin scope (``keys_cli create --admin``); 401 or 403 otherwise."""
    tenant = await tenant_of_connection(connection, state)
    assert state.keys is not None
    if not await state.keys.is_admin(api_key_of(connection)):
        raise Problem(
            403, "admin_required", "Admin key required", "This operation needs an API key created with --admin."
        )
    return tenant


AdminDep = Annotated[str, Depends(current_admin)]
