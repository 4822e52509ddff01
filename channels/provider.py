"""One shape for every provider's webhook: ``verify``, ``parse`` and ``map``.

A provider module (twilio, vonage, sendgrid, mailgun, ses, segment, asterisk, connect) exposes its
webhooks as objects of this shape, listed in its ``WEBHOOKS``; the HTTP edge runs them all through
one pipeline (services/http/routes/webhooks/pipeline.py): read the body, verify, parse, map,
resolve the customer to a person (a use case), publish, answer. The three steps are pure: no web
framework, broker nor database (SES's certificate fetch, behind its cache, is the one network call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from schemas.events import EmailInteraction, Interaction


@dataclass(frozen=True)
class WebhookRequest:
    """The parts of one provider request the three steps read, whatever served it."""

    method: str
    url: str  # the URL the provider signed (Twilio: the configured public base URL, path, query), else the path
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    query: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


# Who a report is about, before anyone knows whose it is: the pipeline resolves it with the
# matching identity use case (services/application/identity.py).


@dataclass(frozen=True)
class Address:
    """One contact point of the customer: ("email", "fabien@fabulous-garden.example")."""

    kind: str
    address: str


@dataclass(frozen=True)
class PhoneNumber:
    """The customer's number; when it is withheld or absent, the provider's own id of the call or
    message stands for them (a provisional person, counted as unattributed) until a report names them."""

    number: str
    provider_id: str


@dataclass(frozen=True)
class CallCentreContact:
    """A call-centre contact: the customer's contact points when it names them, and the contact id
    every leg of the contact shares, which leads to the customer once a report names them."""

    customer: tuple[tuple[str, str], ...]
    contact: str


@dataclass(frozen=True)
class WebVisitor:
    """A web analytics message: the web ids it names, what identify and alias join, the group it
    makes the visitor a member of."""

    kind: str  # identify, track, page, screen, group, alias
    identities: tuple[str, ...]  # "user:<userId>", "anon:<anonymousId>"
    previous_id: str | None
    email: str | None
    names: tuple[str, str] | None
    group_id: str | None
    group_name: str | None
    at: datetime


Customer = Address | PhoneNumber | CallCentreContact | WebVisitor


@dataclass(frozen=True)
class Reached:
    """One interaction a provider reported, and the customer it is about."""

    data: Interaction  # without function: the customer's contact point decides that
    customer: Customer
    field: str  # where the request holds the customer's contact point, named when it is invalid
    key: str  # the provider's own unique key: a retry gives the same event id
    at: datetime
    # What the report asks beyond its interaction, for the edge's follow-up command (an inbound
    # email: the service request it opens); None for most.
    asks: Any = None


@runtime_checkable
class Webhook(Protocol):
    """One provider webhook. ``verify`` raises SignatureError, ``parse`` PayloadError naming the
    field (channels/webhook_fields.py); ``map`` gives the interaction of one report and the customer
    to resolve, or None for a report that is no exchange with a customer (counted as ignored)."""

    provider: str  # the events' source, and the label of the webhook metrics
    refusal: str  # the title of the 422 problem: "Not a Twilio SMS webhook"
    located_in: str  # what the parser's field names are inside: "form", "body", or "" (parameters)

    def verify(self, request: WebhookRequest, secret: str) -> None: ...

    def parse(self, request: WebhookRequest) -> Sequence[Any]: ...

    def map(self, report: Any) -> Reached | None: ...


class EmailReport(Protocol):
    """What every email provider's parser reports of one event of an email we sent."""

    event_id: str
    message_id: str
    status: str
    address: str
    at: datetime
    url: str | None
    campaign: str | None
    reason: str | None
    bounce_type: str | None


def email_reached(provider: str, report: EmailReport, field: str) -> Reached:
    """An event of an email we sent, about the customer its recipient address leads to."""
    data = EmailInteraction(
        direction="outbound",
        provider=provider,
        provider_id=report.message_id,
        status=report.status,
        address=report.address,
        url=report.url,
        campaign=report.campaign,
        reason=report.reason,
        bounce_type=report.bounce_type,
    )
    return Reached(data, Address("email", report.address), field, f"{provider}:{report.event_id}", report.at)
