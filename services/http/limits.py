"""The edge's limits on requests, for every route: a body larger than the setting is refused before
it is read (413), a JSON body nested deeper than the setting before any route parses it (422), and
a NUL character (U+0000) anywhere in the path, the query or the body is refused (422): no
PostgreSQL text can hold one, so it would break whatever stored or searched it. A gzip body
(``Content-Encoding: gzip``, as Segment's libraries send) is inflated here, and the limit holds for
what it inflates to as well: a small body that would inflate past it (a decompression bomb) is
refused (413) once the limit is reached, never inflated whole. Routes then read a body that is
already whole, decoded, bounded, shallow and free of NUL."""

from __future__ import annotations

import json
import re
import zlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from channels.webhook_fields import JSON_NUL, json_depth
from schemas.api import Problem
from services.http.deps import problem_response
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
        encoding = dict(scope["headers"]).get(b"content-encoding", b"identity").strip().lower()
        if encoding != b"identity":
            try:
                body = bytearray(inflated(bytes(body), encoding, limit))
            except BodyTooLarge:
                await _refuse(
                    scope,
                    receive,
                    send,
                    413,
                    "Payload too large",
                    f"the body inflates to more than {limit} bytes ({setting})",
                )
                return
            except UndecodableBody as error:
                await _refuse(scope, receive, send, error.status, error.title, str(error), "header.Content-Encoding")
                return
            scope = {**scope, "headers": _decoded_headers(scope["headers"], len(body))}
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
        unreadable = _not_text(scope, bytes(body))
        if unreadable:
            where, why = unreadable
            await _refuse(scope, receive, send, 422, "Not text Crossview can keep", why, where)
            return
        await self.app(scope, _replay(bytes(body), receive), send)


class BodyTooLarge(ValueError):
    """The body inflates past the limit."""


class UndecodableBody(ValueError):
    """A content coding Crossview does not read (415), or a body that is not what it declares (400)."""

    def __init__(self, status: int, title: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.title = status, title


GZIP = (b"gzip", b"x-gzip")
_INFLATE_STEP = 1 << 16


def inflated(body: bytes, encoding: bytes, limit: int) -> bytes:
    """The body its ``Content-Encoding`` stands for, never more than ``limit`` bytes of it: the
    inflater is asked for at most what is left under the limit at each step, so a bomb costs no
    more memory than a body at the limit."""
    if encoding not in GZIP:
        raise UndecodableBody(
            415, "Unsupported content encoding", f"{encoding.decode('latin-1')!r}: only gzip (or none) is read"
        )
    out = bytearray()
    pending = body
    try:
        while pending:  # a gzip file may hold several members, one after the other
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            tail = pending
            while not inflater.eof:
                chunk = inflater.decompress(tail, min(_INFLATE_STEP, limit + 1 - len(out)))
                out += chunk
                if len(out) > limit:
                    raise BodyTooLarge()
                if not chunk and not tail:  # nothing left to read, nothing more written, and no end
                    raise UndecodableBody(400, "Invalid gzip body", "the gzip body ends before its end")
                tail = inflater.unconsumed_tail
            pending = inflater.unused_data
    except zlib.error as error:
        raise UndecodableBody(400, "Invalid gzip body", f"the body is not gzip: {error}") from error
    return bytes(out)


def _decoded_headers(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    """The request's headers once its body is decoded: no content coding, the decoded length."""
    kept = [(k, v) for k, v in headers if k not in (b"content-encoding", b"content-length")]
    return [*kept, (b"content-length", str(length).encode())]


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
NUL = "a NUL character (U+0000) in the {}: no text Crossview keeps (PostgreSQL's) can hold one"


def _not_text(scope: Scope, body: bytes) -> tuple[str, str] | None:
    """Where the request holds what no stored text can (a NUL character, a lone UTF-16 surrogate
    in a JSON string) — "path", "query" or "body" — and why; or None."""
    if "\x00" in scope["path"]:
        return "path", NUL.format("path")
    if b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
        return "query", NUL.format("query")
    if b"\x00" in body:
        return "body", NUL.format("body")
    if body.lstrip()[:1] not in (b"[", b"{", b'"'):
        return ("body", NUL.format("body")) if b"%00" in body else None  # a form
    if JSON_NUL.search(body):
        return "body", NUL.format("body")
    if _SURROGATE_ESCAPE.search(body):  # a pair is an emoji; alone, it is no character at all
        try:
            json.dumps(json.loads(body), ensure_ascii=False).encode()
        except UnicodeEncodeError:
            return "body", "a lone UTF-16 surrogate in a JSON string of the body: not Unicode text"
        except (ValueError, RecursionError):
            return None  # not JSON: the route says so
    return None


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


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, title: str, detail: str, field: str = "body"
) -> None:
    problem = Problem(status=status, title=title, detail=detail, errors=[{"field": field, "message": detail}])
    await problem_response(problem)(scope, receive, send)
