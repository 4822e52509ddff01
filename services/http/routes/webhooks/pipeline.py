"""The one webhook pipeline, and the route that runs it for a provider.

configured secret -> (the URL the provider signed) -> read the body, size-capped -> verify ->
parse -> map -> resolve each customer (an identity use case) -> publish -> answer, 2xx only once
the broker acknowledged. A provider module gives the three pure steps (channels/provider.py);
an ``Edge`` gives what really differs at the HTTP edge, as hooks.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool

from channels.provider import Webhook, WebhookRequest
from channels.webhook_fields import PayloadError, SignatureError
from schemas.api import Problem
from services.container import Container
from services.http.deps import App, ProblemError
from services.http.routes.webhooks.edge import RESPONSES, Attributed, Follow, configured_secret, publish, read_body
from services.settings import Settings

log = logging.getLogger(__name__)


def accepted(count: int, ignored: int) -> dict[str, int]:
    return {"accepted": count}


@asynccontextmanager
async def _unguarded(crossview: Container, reports: Sequence[Any], secret: str | None) -> AsyncIterator[None]:
    yield


@dataclass(frozen=True)
class Edge:
    """What differs between providers at the HTTP edge; everything else is the pipeline's."""

    webhook: Callable[[Settings, Any], Webhook]  # (settings, app state) -> the provider's webhook
    secret: Callable[[Settings], str | None]  # the configured secret (signing key, password, topics)
    setting: str  # its name after CROSSVIEW_, said when it is missing
    answer: Callable[[int, int], Any] = accepted  # (accepted, ignored) -> the provider's answer
    # The credentials are in the headers: checked before the body is read.
    credentials_in_headers: bool = False
    # The URL the provider signed (Twilio), taken from the configuration, never from the request.
    signed_url: Callable[[Request, Container], str] | None = None
    # After verification, before parsing: a handshake to answer (SES's subscription).
    handshake: Callable[[Request, WebhookRequest], Awaitable[None]] | None = None
    # Around publishing: single-use tokens claimed, and released when the broker did not accept.
    guard: Callable[[Container, Sequence[Any], str | None], AbstractAsyncContextManager[None]] = _unguarded
    # The problem as the provider's client reads an error (Segment's libraries: code and message).
    problem: Callable[[Problem], Problem] | None = None
    # Before anyone is resolved: what the reports ask checked against the referentials (a web
    # form's request kind), PayloadError naming the field; the request is then refused whole.
    check: Callable[[Container, Sequence[Any]], None] | None = None
    # Commands some reports carry beside their interaction (Segment's "Service Request Submitted").
    follow: Follow | None = None


async def run(request: Request, crossview: Container, edge: Edge) -> Any:
    """One provider request through the pipeline."""
    secret = configured_secret(crossview, edge.secret(crossview.settings), edge.setting)
    webhook = edge.webhook(crossview.settings, request.app.state)
    url = edge.signed_url(request, crossview) if edge.signed_url and secret else request.url.path
    parts = WebhookRequest(request.method, url, dict(request.headers), tuple(request.query_params.multi_items()))
    try:
        if secret and edge.credentials_in_headers:
            await _verify(webhook, parts, secret)
        parts = replace(parts, body=await read_body(request, crossview))
        if secret and not edge.credentials_in_headers:
            await _verify(webhook, parts, secret)
        if edge.handshake is not None:
            await edge.handshake(request, parts)
        reports = webhook.parse(parts)
        if edge.check is not None:
            await run_in_threadpool(edge.check, crossview, reports)
    except PayloadError as error:
        raise _refused(webhook, error) from error
    mapped = [webhook.map(report) for report in reports]
    reached = [item for item in mapped if item is not None]
    if len(reached) < len(reports):
        log.info("%s: %d report(s) of no customer ignored", webhook.provider, len(reports) - len(reached))
    country = crossview.settings.default_country_code
    attributed = [Attributed.of(item, country) for item in reached]
    async with edge.guard(crossview, reports, secret):
        published = await publish(crossview, attributed, request, edge.follow) if attributed else 0
    return edge.answer(published, len(reports) - len(reached))


async def _verify(webhook: Webhook, parts: WebhookRequest, secret: str) -> None:
    """Off the event loop: a signature may take a certificate to fetch (SES)."""
    try:
        await run_in_threadpool(webhook.verify, parts, secret)
    except SignatureError as error:
        errors = [{"field": error.field, "message": error.message}] if error.field else None
        raise ProblemError(403, error.title, error.detail, errors) from error


def _refused(webhook: Webhook, error: PayloadError) -> ProblemError:
    title = error.title or webhook.refusal
    if error.detail is not None:  # the request could not even be read: the field as it is
        return ProblemError(422, title, error.detail, [{"field": error.field, "message": error.message}])
    prefix, field = webhook.located_in, error.field
    where = prefix if field in ("", "body") else f"{prefix}.{field}" if prefix else field
    return ProblemError(422, title, str(error), [{"field": where, "message": str(error)}])


def route(
    router: APIRouter,
    path: str,
    name: str,
    edge: Edge,
    description: str,
    answers: Any = dict[str, int],
    methods: Sequence[tuple[str, str | None]] = (("POST", None),),
) -> None:
    """Registers ``path`` for the provider (its own operation name, description and answer in the
    OpenAPI document); every method runs the one pipeline. ``answers``: the answer's type, or a
    Response class for a body of the provider's own (Twilio's TwiML)."""

    async def endpoint(request: Request, crossview: App) -> Any:
        if edge.problem is None:
            return await run(request, crossview, edge)
        try:
            return await run(request, crossview, edge)
        except ProblemError as error:
            error.problem = edge.problem(error.problem)
            raise

    own_response = isinstance(answers, type) and issubclass(answers, Response)
    for method, operation_id in methods:
        router.add_api_route(
            path,
            endpoint,
            methods=[method],
            name=name,
            description=inspect.cleandoc(description),
            responses=RESPONSES,
            response_model=None if own_response else answers,
            operation_id=operation_id,
            **({"response_class": answers} if own_response else {}),
        )
