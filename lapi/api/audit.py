"""Audit of the HTTP API: a successful call to a route declared ``audit=...`` leaves one row.

The row says who (principal, role, habilitation, token), what (the route, e.g. ``GET
/v1/vehicles/{plate}/sightings``), why (the ``procedure`` parameter), with which parameters (path
and query, the token excepted) and how many results the handler counted (:func:`counted`) —
never the results.  The row is written before the answer leaves: if it cannot be written, the
caller gets 503 instead of the data (no consultation without its trace).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

from lapi.api.access import PRINCIPAL, Handler, access_of
from lapi.store.audit import AuditEntry, AuditLog

log = logging.getLogger(__name__)

AUDIT = web.AppKey("audit", AuditLog)
RESULT_COUNT = web.RequestKey("result_count", int)
AUDIT_EXTRA = web.RequestKey("audit_extra", dict)
MAX_VALUE = 200  # a parameter value is cut to this many characters in the log
HIDDEN_PARAMETERS = ("token", "procedure")  # a secret; and the procedure has its own column


def counted(request: web.Request, n: int, **extra: Any) -> None:
    """Tell the audit how many results (rows, points, candidates) the answer carries."""
    request[RESULT_COUNT] = n
    if extra:
        request[AUDIT_EXTRA] = {**request.get(AUDIT_EXTRA, {}), **extra}


def clean(value: str) -> str:
    """A caller's string as the log can hold it: cut to MAX_VALUE, lone surrogates and NULs replaced
    (jsonb and text refuse them, and an unloggable call must not become an unanswerable one)."""
    return value[:MAX_VALUE].encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def justification(request: web.Request) -> str | None:
    return clean((request.query.get("procedure") or "").strip()) or None


def audit_parameters(request: web.Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if request.match_info:
        params["path"] = {k: clean(v) for k, v in request.match_info.items()}
    query: dict[str, Any] = {}
    for key in request.query:
        if key in HIDDEN_PARAMETERS:
            continue
        values = [clean(v) for v in request.query.getall(key)][:20]
        query[clean(key)] = values[0] if len(values) == 1 else values
    if query:
        params["query"] = query
    params.update(request.get(AUDIT_EXTRA, {}))
    return params


def operation(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return f"{request.method} {resource.canonical if resource is not None else request.path}"


@web.middleware
async def audit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await handler(request)
    if request.match_info.http_exception is not None or response.status >= 400:
        return response
    access = access_of(request.match_info.handler)
    if access is None or access.audit is None:
        return response
    count = request.get(RESULT_COUNT, 1 if access.audit == "alteration" else None)
    entry = AuditEntry.of(request[PRINCIPAL], access.audit, operation(request), parameters=audit_parameters(request),
                          result_count=count, justification=justification(request), status=response.status)
    try:
        await request.app[AUDIT].record(entry)
    except Exception:  # noqa: BLE001 - answered, not raised
        log.exception("audit log write failed for %s", entry.operation)
        return web.json_response({"error": {"status": 503, "message": "the call could not be recorded in the audit "
                                            "log, so its answer is withheld; try again"}}, status=503)
    return response


class Disclosures:
    """Alerts sent to one consumer over a feed (WebSocket, SSE): one disclosure row per batch, with
    the count and the first and last alert id, written every ``every_n`` alerts or ``every_s``
    seconds and when the feed closes."""

    def __init__(self, request: web.Request, every_n: int = 100, every_s: float = 30.0) -> None:
        self.audit = request.app[AUDIT]
        self.principal = request[PRINCIPAL]
        self.operation = operation(request)
        self.parameters = audit_parameters(request)
        self.justification = justification(request)
        self.every_n, self.every_s = every_n, every_s
        self.count = 0
        self.ids: list[int] = []
        self.since = time.monotonic()

    async def sent(self, alert: dict[str, Any]) -> None:
        self.count += 1
        if isinstance(alert.get("alert_id"), int):
            self.ids.append(alert["alert_id"])
        if self.count >= self.every_n or time.monotonic() - self.since >= self.every_s:
            await self.flush()

    async def flush(self) -> None:
        if not self.count:
            return
        ids = [min(self.ids), max(self.ids)] if self.ids else []
        entry = AuditEntry.of(self.principal, "disclosure", self.operation, parameters={**self.parameters,
                              "alert_ids": ids}, result_count=self.count, justification=self.justification)
        try:
            await self.audit.record(entry)
        except Exception:  # noqa: BLE001 - counted again with the next batch
            log.exception("audit log write failed for %s (%d alerts)", self.operation, self.count)
            return
        self.count, self.ids, self.since = 0, [], time.monotonic()
