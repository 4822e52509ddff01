"""Provider webhooks: the payloads go in exactly as the providers send them.

Each request is size-checked before it is read, its signature verified on the raw body, parsed by
the provider's pure parser (channels/), its contact points resolved to people, and published; the
answer is 2xx only once the broker acknowledged (503 otherwise, and the provider retries). A
provider with no secret configured is refused, unless CROSSVIEW_INSECURE_SKIP_SIGNATURES is set.
The steps the pipeline (pipeline.py) shares live here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from channels.provider import Reached
from domain.contact_point import InvalidContactPointError, Resolved
from schemas.api import Problem
from schemas.envelope import CloudEvent
from schemas.events import Interaction
from services.application.crossview import Crossview
from services.application.identity import resolving
from services.application.journeys import JourneyPropertyError, journey_facts
from services.container import Container
from services.http.deps import ProblemError

WEBHOOKS = uuid.UUID("9d8e6f14-3c2b-4a57-8e0d-1f6b2c3a4d5e")
RESPONSES = {
    403: {"model": Problem, "description": "Missing or wrong signature (nothing was published)"},
    413: {"model": Problem, "description": "Body larger than CROSSVIEW_MAX_WEBHOOK_BYTES"},
    422: {"model": Problem, "description": "Not a payload of this provider (the problem names the field)"},
    503: {"model": Problem, "description": "Broker unavailable; the provider retries"},
}


@dataclass(frozen=True)
class Attributed:
    """One interaction a provider reported, with the use case that finds whose it is."""

    resolve: Callable[[Crossview], Resolved]  # the use case that finds (or makes) the person
    field: str  # the request field holding the contact point, named when it is invalid
    data: Interaction  # without function: the contact point decides that
    key: str  # the provider's own unique key: a retry gives the same event id
    at: datetime
    attributed: bool = True  # False: no customer address, recorded under the provider's own id
    asks: Any = None  # what the report asks beyond its interaction (Reached.asks)

    @classmethod
    def of(cls, reached: Reached, country_code: str) -> Attributed:
        resolve, attributed = resolving(reached.customer, reached.data.provider, country_code)
        return cls(resolve, reached.field, reached.data, reached.key, reached.at, attributed, reached.asks)


# Commands some events also carry (a web form that opens a service request), run once the events
# are resolved and before they are published: a retry after a failed publication runs them again,
# which their deterministic ids make harmless.
Follow = Callable[[Container, list[tuple[Attributed, CloudEvent]]], None]


def _resolve_and_publish(crossview: Container, reached: list[Attributed], follow: Follow | None = None) -> int:
    """Resolve every contact point (each once per batch), then publish the whole batch: all
    acknowledged, or an error."""
    events, interactions, resolutions = [], [], {}
    for item in reached:
        try:
            if item.resolve not in resolutions:
                resolutions[item.resolve], _ = crossview.commands.run(item.resolve)
            resolved = resolutions[item.resolve]
        except InvalidContactPointError as error:
            raise ProblemError(
                422, "Invalid contact point", str(error), [{"field": item.field, "message": str(error)}]
            ) from error
        # The provider's status stays as it came; its canonical one goes beside it (schemas/statuses.py).
        data = item.data.model_copy(
            update={"function_id": resolved.function_id, "canonical_status": item.data.lifecycle}
        )
        interaction = CloudEvent(
            id=str(uuid.uuid5(WEBHOOKS, item.key)),
            source=item.data.provider,
            type=data.event_type,
            subject=str(resolved.person_id),
            time=item.at,
            data=data.model_dump(mode="json", exclude_none=True),
        )
        events.append(interaction)
        interactions.append(interaction)
        try:  # a journey's step, completion or abandonment it carries: published with it
            events += journey_facts(interaction, data)
        except JourneyPropertyError as error:
            raise ProblemError(
                422, "Invalid journey event", str(error), [{"field": f"body.{error.field}", "message": error.message}]
            ) from error
    if follow is not None:
        follow(crossview, list(zip(reached, interactions, strict=True)))
    crossview.ingest.publish(events)
    return len(reached)


async def publish(
    crossview: Container, reached: list[Attributed], request: Request, follow: Follow | None = None
) -> int:
    """Resolve and publish the batch (2xx only after this returned); then count, per provider, the
    interactions recorded without a customer address (crossview_webhook_unattributed on /metrics)."""
    published = await run_in_threadpool(_resolve_and_publish, crossview, reached, follow)
    metrics = getattr(request.app.state, "http_metrics", None)
    for item in reached:
        if not item.attributed and metrics is not None:
            metrics.unattributed.labels(item.data.provider).inc()
    return published


async def read_body(request: Request, crossview: Container) -> bytes:
    limit = crossview.settings.max_webhook_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ProblemError(413, "Payload too large", f"the body is larger than {limit} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ProblemError(413, "Payload too large", f"the body is larger than {limit} bytes")
    return body


def configured_secret(crossview: Container, value: str | None, setting: str) -> str | None:
    """The provider's secret; None when the operator allows unsigned trials; 403 when it is missing."""
    if crossview.settings.insecure_skip_signatures:
        return None
    if not value:
        raise ProblemError(
            403,
            "Provider not configured",
            f"set CROSSVIEW_{setting} to accept these webhooks (unsigned webhooks are refused)",
        )
    return value
