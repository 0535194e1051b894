"""Who may call what: every route's handler declares the roles it accepts, a middleware checks.

``@allow("analyst", "supervisor")`` on a handler names its roles (``admin`` is accepted
everywhere: the few people who run the system, whose consultations are audited like anyone's);
``@public("why")`` opens a route without a token.  A route whose handler declares nothing is
refused to everyone (fail closed), and :func:`undeclared_routes` lets a test walk the router.

A request carries its token as ``Authorization: Bearer <token>``; the alert feeds also take
``?token=`` because a browser's WebSocket and EventSource cannot set headers.  No token or a bad
one: 401; a valid token of the wrong role: 403; both as JSON errors saying what to do.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from lapi.auth import ROLES, Principal, bearer_token
from lapi.store.tokens import TokenStore

ACCESS_ATTR = "__lapi_access__"
TOKENS = web.AppKey("tokens", TokenStore)
PRINCIPAL = web.RequestKey("principal", Principal | None)  # the authenticated Principal (None on public routes)

ANALYSTS = ("analyst", "supervisor")  # individually authorised agents who consult data
CONSUMERS = ("consumer",)              # alert receivers (ops-centre screens, other systems)
DEVICES = ("camera", "beacon")         # they push data and query nothing
AUDIT_ACTIONS = ("consultation", "export", "alteration", "disclosure")


@dataclass(frozen=True)
class Access:
    roles: frozenset[str]
    public: bool = False
    query_token: bool = False
    audit: str | None = None  # the audit action a successful call records (lapi/api/audit.py)
    reason: str = ""


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def allow(*roles: str, query_token: bool = False, audit: str | None = None) -> Callable[[Handler], Handler]:
    """Declare the roles a handler accepts (admin always), and what a successful call is audited as."""
    unknown = [r for r in roles if r not in ROLES]
    if unknown or not roles:
        raise ValueError(f"allow(): roles must be among {ROLES}, got {roles}")
    if audit is not None and audit not in AUDIT_ACTIONS:
        raise ValueError(f"allow(): audit must be one of {AUDIT_ACTIONS}, got {audit!r}")

    def declare(handler: Handler) -> Handler:
        setattr(handler, ACCESS_ATTR, Access(frozenset(roles) | {"admin"}, query_token=query_token, audit=audit))
        return handler
    return declare


def public(reason: str) -> Callable[[Handler], Handler]:
    """Declare a handler open without a token, saying why."""
    def declare(handler: Handler) -> Handler:
        setattr(handler, ACCESS_ATTR, Access(frozenset(), public=True, reason=reason))
        return handler
    return declare


def access_of(handler: Any) -> Access | None:
    return getattr(handler, ACCESS_ATTR, None)


def undeclared_routes(app: web.Application) -> list[str]:
    """``METHOD path`` of every route whose handler declares no access (should be none)."""
    return [f"{route.method} {route.resource.canonical if route.resource else '?'}"
            for route in app.router.routes() if access_of(route.handler) is None]


def principal_of(request: web.Request) -> Principal:
    """The authenticated principal (only on routes that are not public)."""
    principal = request.get(PRINCIPAL)
    if principal is None:
        raise RuntimeError("principal_of() on a public route")
    return principal


def _error(status: int, message: str, **headers: str) -> web.Response:
    return web.Response(text=json.dumps({"error": {"status": status, "message": message}}), status=status,
                        content_type="application/json", headers=headers)


def _need(access: Access) -> str:
    names = sorted(access.roles - {"admin"}) + ["admin"]
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


@web.middleware
async def access_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Authenticate the token and check the route's roles before the handler runs."""
    if request.match_info.http_exception is not None:  # 404 / 405: nothing to protect
        return await handler(request)
    access = access_of(request.match_info.handler)
    if access is None:
        return _error(403, f"{request.method} {request.path} declares no roles: refused to everyone "
                           "(a server bug, please report it)")
    if access.public:
        request[PRINCIPAL] = None
        return await handler(request)
    token = bearer_token(request.headers.get("Authorization"))
    if token is None and access.query_token:
        token = request.query.get("token") or None
    challenge = {"WWW-Authenticate": 'Bearer realm="lapi"'}
    if token is None:
        how = "Authorization: Bearer <token>" + (" (or ?token=<token>)" if access.query_token else "")
        return _error(401, f"authentication required: send {how}; tokens are made with `lapi token create`",
                      **challenge)
    principal = await request.app[TOKENS].authenticate(token)
    if principal is None:
        return _error(401, "invalid, expired or revoked token", **challenge)
    if principal.role not in access.roles:
        return _error(403, f"role {principal.role!r} may not {request.method} "
                           f"{request.match_info.route.resource.canonical}: needs {_need(access)}")
    request[PRINCIPAL] = principal
    return await handler(request)
