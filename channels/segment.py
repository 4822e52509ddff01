"""The Segment Spec, as Segment-compatible libraries send it: identify, track, page, screen, group,
alias, one at a time or as a batch. Authentication is HTTP Basic with the source's write key as
the user name (Segment's tracking API convention).

Two doors lead here: the webhook (one endpoint, every message carrying its ``type``), and the
HTTP Tracking API as Segment's own libraries call it (``{host}/v1/batch``, ``/v1/track``...: the
endpoint names the type, the write key may ride in the body as ``writeKey``, ``messageId`` may be
left to the receiver)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from channels.provider import Reached, WebhookRequest, WebVisitor
from channels.webhook_fields import NotJson, PayloadError, SignatureError, basic_credentials, load_json, same_secret
from schemas.events import WebInteraction

TYPES = {"identify", "track", "page", "screen", "group", "alias"}
# What a compatible receiver accepts in one call: Segment's own API takes 500 KB per batch and
# 32 KB per message; the edge's body limit bounds the bytes, this the work one request may ask for.
MAX_BATCH_MESSAGES = 2500


def write_key_is_valid(authorization: str | None, write_key: str) -> bool:
    credentials = basic_credentials(authorization)
    return credentials is not None and same_secret(write_key, credentials[0])


@dataclass(frozen=True)
class SegmentMessage:
    message_id: str
    type: str
    user_id: str | None
    anonymous_id: str | None
    previous_id: str | None
    at: datetime
    name: str | None  # the track event's name, or the page's
    url: str | None
    email: str | None  # traits.email on identify
    group_id: str | None  # the organisation a group call names
    names: tuple[str, str] | None  # (given, family) from an identify's traits
    properties: dict[str, Any] = field(default_factory=dict)
    where: str = "body"  # where the message is in the request ("batch.2"): a refusal names its fields

    @property
    def identities(self) -> list[str]:
        """Web ids of the message, the user id first: "user:<userId>", "anon:<anonymousId>"."""
        ids = [f"user:{self.user_id}"] if self.user_id else []
        return ids + ([f"anon:{self.anonymous_id}"] if self.anonymous_id else [])


def _document(body: bytes) -> dict[str, Any]:
    try:
        payload = load_json(body)
    except NotJson as error:
        raise PayloadError("body", str(error)) from error
    if not isinstance(payload, dict):
        raise PayloadError("body", "a JSON object is expected")
    return payload


def parse(body: bytes) -> list[SegmentMessage]:
    payload = _document(body)
    if "batch" in payload:
        if not isinstance(payload["batch"], list) or not payload["batch"]:
            raise PayloadError("batch", "a non-empty array of messages is expected")
        return [_message(f"batch.{i}", raw) for i, raw in enumerate(payload["batch"])]
    return [_message("body", payload)]


def parse_tracking(body: bytes, kind: str | None) -> list[SegmentMessage]:
    """A call of the HTTP Tracking API: ``kind`` is the endpoint's type (``/v1/track``: "track"),
    None for ``/v1/batch``, whose messages each carry theirs. A message without ``messageId`` gets
    one derived from its content, so the library's retry of it is still a duplicate."""
    payload = _document(body)
    if kind is not None:
        return [_message("body", {**payload, "type": kind}, derive_id=True)]
    batch = payload.get("batch")
    if not isinstance(batch, list) or not batch:
        raise PayloadError("batch", "a non-empty array of messages is expected")
    if len(batch) > MAX_BATCH_MESSAGES:
        raise PayloadError("batch", f"at most {MAX_BATCH_MESSAGES} messages in one batch")
    return [_message(f"batch.{i}", raw, derive_id=True) for i, raw in enumerate(batch)]


def body_write_key(body: bytes) -> str | None:
    """The ``writeKey`` a Tracking API call carries in its body (Segment's libraries put it there
    as well as in HTTP Basic), or None."""
    try:
        payload = load_json(body)
    except NotJson:
        return None
    key = payload.get("writeKey") if isinstance(payload, dict) else None
    return key if isinstance(key, str) else None


def _derived_id(raw: dict[str, Any]) -> str:
    content = {k: v for k, v in raw.items() if k not in ("writeKey", "sentAt", "receivedAt")}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass"))
    return f"derived-{digest.hexdigest()[:40]}"


def _message(where: str, raw: Any, derive_id: bool = False) -> SegmentMessage:
    if not isinstance(raw, dict):
        raise PayloadError(where, "a message must be a JSON object")
    kind = raw.get("type")
    if not isinstance(kind, str) or kind not in TYPES:
        raise PayloadError(f"{where}.type", f"one of {sorted(TYPES)} expected")
    if not raw.get("messageId") and derive_id:
        raw = {**raw, "messageId": _derived_id(raw)}
    if not raw.get("messageId"):
        raise PayloadError(f"{where}.messageId", "missing")
    if not (raw.get("userId") or raw.get("anonymousId")):
        raise PayloadError(f"{where}.userId", "userId or anonymousId is required")
    if kind == "alias" and not (raw.get("previousId") and raw.get("userId")):
        raise PayloadError(f"{where}.previousId", "an alias needs previousId and userId")
    if kind == "group" and not (isinstance(raw.get("groupId"), str | int) and str(raw["groupId"]).strip()):
        raise PayloadError(f"{where}.groupId", "a group call names its group")
    if kind == "group" and len(str(raw["groupId"])) > 200:
        raise PayloadError(f"{where}.groupId", "longer than 200 characters")
    try:
        at = datetime.fromisoformat(str(raw.get("timestamp") or raw.get("sentAt") or "").replace("Z", "+00:00"))
    except ValueError:
        at = datetime.now(UTC)  # Segment libraries always send one; a proxy that drops it must not lose the event
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    properties = raw.get("properties") if isinstance(raw.get("properties"), dict) else {}
    traits = raw.get("traits") if isinstance(raw.get("traits"), dict) else {}
    try:  # a form it submits is refused whole, before anyone is resolved
        _check_forms(kind, raw.get("event"), properties, traits)
    except PayloadError as error:
        raise PayloadError(f"{where}.{error.field}", error.message) from error
    page = (raw.get("context") or {}).get("page") if isinstance(raw.get("context"), dict) else None
    url = properties.get("url") or (page.get("url") if isinstance(page, dict) else None)
    return SegmentMessage(
        message_id=str(raw["messageId"]),
        type=kind,
        user_id=str(raw["userId"]) if raw.get("userId") else None,
        anonymous_id=str(raw["anonymousId"]) if raw.get("anonymousId") else None,
        previous_id=str(raw["previousId"]) if raw.get("previousId") else None,
        at=at,
        name=str(raw.get("event") or raw.get("name") or "") or None,
        url=str(url) if url else None,
        email=str(traits["email"]) if traits.get("email") else None,
        group_id=str(raw["groupId"]).strip() if kind == "group" else None,
        names=_names(traits) if kind == "identify" else None,
        properties={**traits, **properties} if kind in ("identify", "group") else dict(properties),
        where=where,
    )


def _check_forms(kind: str, event: Any, properties: dict[str, Any], traits: dict[str, Any]) -> None:
    """PayloadError naming the field of a form the message submits that breaks its contract."""
    if kind == "track" and event == SERVICE_REQUEST_SUBMITTED:
        service_request_properties(properties)
    elif kind == "track" and event == LEAD_SUBMITTED:
        lead_properties(properties, "properties")
    elif kind == "identify":
        # An incomplete lead trait is accepted and recorded: an identify is for identity first (it creates no lead).
        with contextlib.suppress(IncompleteForm):
            lead_trait({**traits, **properties})  # as the interaction will carry them (see lead_form)


def _names(traits: dict[str, Any]) -> tuple[str, str] | None:
    """The reserved traits firstName and lastName, or else name ("Fabien Bellemare": the first word
    is the given name, the rest the family name)."""
    first, last = (str(traits.get(k) or "").strip()[:200] for k in ("firstName", "lastName"))
    if first and last:
        return first, last
    given, _, family = str(traits.get("name") or "").strip().partition(" ")
    return (given[:200], family.strip()[:200]) if given and family.strip() else None


class MessageWebhook:
    """Segment-compatible libraries' messages, authenticated by the source's write key. identify
    and alias join the identities they name; group links the visitor to the group's organisation;
    every message is a web interaction."""

    provider = "segment"
    refusal = "Not a Segment message"
    located_in = ""

    def verify(self, request: WebhookRequest, secret: str) -> None:
        if not write_key_is_valid(request.header("authorization"), secret):
            raise SignatureError(
                "HTTP Basic with the source's write key is required",
                "header.Authorization",
                "Invalid write key",
                "missing or wrong write key",
            )

    def parse(self, request: WebhookRequest) -> list[SegmentMessage]:
        return parse(request.body)

    def map(self, report: SegmentMessage) -> Reached:
        data = WebInteraction(
            direction="inbound",
            provider="segment",
            provider_id=report.message_id,
            status="received",
            action=report.type,
            name=report.name,
            url=report.url,
            properties=report.properties,
        )
        return Reached(data, visitor(report), "traits.email", f"segment:{report.message_id}", report.at)


class TrackingWebhook(MessageWebhook):
    """One endpoint of Segment's HTTP Tracking API, as Segment's libraries call it: the write key
    in HTTP Basic (user name) or, without that header, as ``writeKey`` in the body; the type named
    by the endpoint (None: ``/v1/batch``). When HTTP Basic is there it decides, whatever the body
    says; any other Authorization (the OAuth bearer a library may also send) leaves it to the body.
    The messages then go the webhook's way."""

    def __init__(self, kind: str | None) -> None:
        self.kind = kind

    def verify(self, request: WebhookRequest, secret: str) -> None:
        if basic_credentials(request.header("authorization")) is not None:
            super().verify(request, secret)
        elif not same_secret(secret, body_write_key(request.body)):
            raise SignatureError(
                "the source's write key is required: HTTP Basic (as user name) or writeKey in the body",
                "body.writeKey",
                "Invalid write key",
                "missing or wrong write key",
            )

    def parse(self, request: WebhookRequest) -> list[SegmentMessage]:
        return parse_tracking(request.body, self.kind)


def visitor(message: SegmentMessage) -> WebVisitor:
    """Who the message is about; a group is named by its ``name`` property, or else by its id."""
    group_name = str(message.properties.get("name") or message.group_id)[:200] if message.group_id else None
    return WebVisitor(
        message.type,
        tuple(message.identities),
        message.previous_id,
        message.email,
        message.names,
        message.group_id,
        group_name,
        message.at,
    )


TRACKING_ENDPOINTS = ("batch", *sorted(TYPES))  # /v1/batch, /v1/alias, /v1/group...
WEBHOOKS = (MessageWebhook(), TrackingWebhook(None))  # each Tracking API endpoint is a TrackingWebhook


# A web form that opens a service request is a `track` of this name, its properties saying what:
# ``subject`` (required), ``kind`` (a kind's code: request, complaint, question...; default
# request) and ``description``. The request is the visitor's person's, attributed as the call is.
SERVICE_REQUEST_SUBMITTED = "Service Request Submitted"


@dataclass(frozen=True)
class ServiceRequestForm:
    kind: str
    subject: str
    description: str | None


def service_request_form(data: WebInteraction) -> ServiceRequestForm | None:
    """The service request a tracked event submits, or None for any other event."""
    if data.action != "track" or data.name != SERVICE_REQUEST_SUBMITTED:
        return None
    return service_request_properties(data.properties or {})


def service_request_properties(properties: dict[str, Any]) -> ServiceRequestForm:
    """What the form's properties ask; PayloadError naming the one missing or not text."""
    kind = properties.get("kind", "request")
    subject = properties.get("subject")
    description = properties.get("description")
    if not isinstance(kind, str) or not 1 <= len(kind.strip()) <= 100:
        raise PayloadError("properties.kind", "a kind's code (request, complaint, question...) expected")
    if not isinstance(subject, str) or not 1 <= len(subject.strip()) <= 1000:
        raise PayloadError("properties.subject", "the request's subject (text, at most 1000 characters) is required")
    if description is not None and (not isinstance(description, str) or len(description) > 10_000):
        raise PayloadError("properties.description", "text of at most 10,000 characters expected")
    return ServiceRequestForm(kind.strip(), subject.strip(), description or None)


# A web form that shows an interest in an offer is a `track` of this name (a quote request, a
# "contact me about..." form), its properties saying what: ``product`` (required: the offer's
# code), ``employees`` and ``budget`` (whole numbers, for qualification), ``campaign`` (the
# campaign whose landing page it came from: the lead is then a campaign reply) and
# ``submission_id`` (the site's own id of the submission). The lead is the visitor's person's,
# attributed to the function the call is attributed to.
LEAD_SUBMITTED = "Lead Submitted"
# Or an `identify` whose traits carry the same fields as one object: ``traits.lead`` (a site that
# identifies its visitor on the form's submission sends one call, not two). ``null`` is no lead:
# Segment's way to clear a trait.
LEAD_TRAIT = "lead"


class IncompleteForm(PayloadError):
    """A form well-formed but without a field it needs (a lead without its product). A track that
    submits only the form is refused; an identify carrying it as a trait is accepted and recorded
    (who the visitor is matters beyond the form), and creates no lead."""


@dataclass(frozen=True)
class LeadForm:
    product: str
    employees: int | None
    budget: int | None
    campaign: str | None
    # The site's id of the submission: the lead is created once per id and person, whatever
    # message carries it (analytics.js keeps traits and sends them again with later identify calls).
    submission_id: str | None = None


def lead_form(data: WebInteraction) -> LeadForm | None:
    """The lead a tracked event or an identify submits, or None for any other message; PayloadError
    naming the field that is missing or of the wrong kind."""
    if data.action == "track" and data.name == LEAD_SUBMITTED:
        return lead_properties(data.properties or {}, "properties")
    if data.action == "identify":
        return lead_trait(data.properties or {})
    return None


def lead_trait(traits: dict[str, Any]) -> LeadForm | None:
    """The lead an identify's traits carry as ``lead`` (None without one, or with ``null``)."""
    trait = traits.get(LEAD_TRAIT)
    if trait is None:
        return None
    if not isinstance(trait, dict):
        raise PayloadError(f"traits.{LEAD_TRAIT}", "an object (product, employees, budget, campaign) expected")
    return lead_properties(trait, f"traits.{LEAD_TRAIT}")


def lead_properties(fields: dict[str, Any], where: str) -> LeadForm:
    """What a lead form says, from the track's properties or the identify's ``traits.lead``
    (``where``, which the PayloadError names with the field: ``properties.budget``): PayloadError
    for a field of the wrong kind, IncompleteForm without a product."""
    product, campaign, submission = fields.get("product"), fields.get("campaign"), fields.get("submission_id")
    if product is not None and (not isinstance(product, str) or not 1 <= len(product.strip()) <= 100):
        raise PayloadError(f"{where}.product", "the offer's code (text, at most 100 characters) expected")
    if campaign is not None and (not isinstance(campaign, str) or not 1 <= len(campaign.strip()) <= 200):
        raise PayloadError(f"{where}.campaign", "a campaign's name (text, at most 200 characters) expected")
    if submission is not None and (
        isinstance(submission, bool) or not isinstance(submission, str | int) or not 1 <= len(str(submission)) <= 200
    ):
        raise PayloadError(f"{where}.submission_id", "the submission's id (at most 200 characters) expected")
    numbers = {}
    for name, most in (("employees", 10_000_000), ("budget", 10**12)):
        value = fields.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= most):
            raise PayloadError(f"{where}.{name}", f"a whole number from 0 to {most} expected")
        numbers[name] = value
    if product is None:  # checked last: a form missing it may still be refused for what it holds
        raise IncompleteForm(f"{where}.product", "the offer's code is required to create a lead")
    return LeadForm(
        product.strip(),
        numbers["employees"],
        numbers["budget"],
        campaign.strip() if campaign else None,
        str(submission) if submission is not None else None,
    )
