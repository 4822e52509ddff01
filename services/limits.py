"""The edge's limits on request bodies, for every route: a body larger than the setting is refused
before it is read (413), a JSON body nested deeper than the setting before any route parses it
(422). Routes then read a body that is already whole, bounded and shallow."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.webhook_fields import json_depth
from schemas.api import Problem
from services.http import problem_response
from services.settings import Settings

WEBHOOKS_PREFIX = "/v1/ingest/"


class BodyLimits:
    """Pure ASGI middleware (it buffers at most the limit, and streams nothing it did not check)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        crossview = getattr(scope["app"].state, "crossview", None)
        settings: Settings = crossview.settings if crossview is not None else Settings()
        webhook = scope["path"].startswith(WEBHOOKS_PREFIX)
        limit = settings.max_webhook_bytes if webhook else settings.max_body_bytes
        setting = "CROSSVIEW_MAX_WEBHOOK_BYTES" if webhook else "CROSSVIEW_MAX_BODY_BYTES"
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _refuse(
                scope, receive, send, 413, "Payload too large", f"the body is larger than {limit} bytes ({setting})"
            )
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left: nothing to answer
            body += message.get("body", b"")
            if len(body) > limit:
                await _refuse(
                    scope, receive, send, 413, "Payload too large", f"the body is larger than {limit} bytes ({setting})"
                )
                return
            if not message.get("more_body", False):
                break
        if body.lstrip()[:1] in (b"[", b"{") and json_depth(bytes(body)) > settings.max_json_depth:
            await _refuse(
                scope,
                receive,
                send,
                422,
                "Too deeply nested",
                f"JSON nested deeper than {settings.max_json_depth} levels (CROSSVIEW_MAX_JSON_DEPTH)",
            )
            return
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The checked body once, then whatever the client sends next (a disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str) -> None:
    problem = Problem(status=status, title=title, detail=detail, errors=[{"field": "body", "message": detail}])
    await problem_response(problem)(scope, receive, send)
