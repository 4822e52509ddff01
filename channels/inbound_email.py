"""Inbound email that opens service requests: SendGrid Inbound Parse and Mailgun routes (forward()).

Both post the message parsed as a form — SendGrid always ``multipart/form-data``; Mailgun
``application/x-www-form-urlencoded``, or ``multipart/form-data`` when it has attachments — with
their own field names:

- SendGrid: ``from`` ("Name <address>"), ``to``, ``subject``, ``text``, ``html``, ``headers`` (the raw
  header block, where the ``Message-ID`` is), ``envelope`` (JSON: ``to`` list and ``from``),
  ``attachments`` (a count) and the files. Signed, when the Parse webhook has a security policy with
  signature verification, like the Event Webhook: ECDSA P-256 over the timestamp header and the raw
  body (``X-Twilio-Email-Event-Webhook-Signature``, ``X-Twilio-Email-Event-Webhook-Timestamp``).
- Mailgun: ``sender`` (MAIL FROM), ``from`` (the header), ``recipient``, ``subject``, ``body-plain``,
  ``stripped-text``, ``message-headers`` (JSON list of [name, value]), every MIME header as a field of
  its own (``Message-Id``), and ``timestamp``, ``token``, ``signature``: HMAC-SHA256 of timestamp and
  token under the webhook signing key, as its webhooks.

Pure: no web framework, broker nor database. The request id derives from the provider's message id
(the ``Message-ID``), so a retried post opens nothing twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser, HeaderParser
from email.utils import getaddresses, parseaddr, parsedate_to_datetime

from channels.provider import Address, Reached
from channels.webhook_fields import PayloadError, form_fields
from schemas.events import EmailInteraction

MAX_DESCRIPTION = 10_000
MAX_SUBJECT = 1000
NO_SUBJECT = "(no subject)"


@dataclass(frozen=True)
class InboundEmail:
    """One email a customer sent us, as the provider parsed it."""

    provider: str
    message_id: str  # the Message-ID header, else a digest of what the message says
    sender: str  # the customer's address
    sender_field: str  # where the request holds it, named when it is invalid
    recipients: tuple[str, ...]  # our addresses it was sent to (the kind may be named there)
    subject: str
    text: str | None
    at: datetime  # when it was sent (its Date header), else when it arrived


def form(content_type: str | None, body: bytes) -> dict[str, str]:
    """The text fields of a posted form, multipart or urlencoded (the first value of a repeated name);
    files (attachments) are left out."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        fields: dict[str, str] = {}
        for name, value in form_fields(body):
            fields.setdefault(name, value)
        return fields
    if kind != "multipart/form-data" or "boundary=" not in (content_type or ""):
        raise PayloadError(
            "header.content-type",
            "multipart/form-data (with its boundary) or application/x-www-form-urlencoded expected",
            title="Unsupported form",
            detail="an inbound email is posted as a form",
        )
    message = BytesParser(policy=policy.HTTP).parsebytes(
        b"Content-Type: " + (content_type or "").encode("latin-1", "replace") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise PayloadError("body", "not a multipart/form-data body", title="Invalid form", detail="unreadable form")
    fields = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or part.get_filename() is not None:
            continue  # an attachment, or a part of no field
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            fields.setdefault(str(name), payload.decode(charset))
        except (LookupError, UnicodeDecodeError) as error:
            raise PayloadError(f"{name}", f"not text in {charset}") from error
    return fields


def _address(value: str | None) -> str | None:
    _, address = parseaddr(value or "")
    return address if "@" in address else None


def _message_id(raw: str | None, *fallback: str | None) -> str:
    value = (raw or "").strip().strip("<>").strip()
    if value:
        return value[:200]
    # No Message-ID (rare, but allowed): the same message posted again gives the same digest.
    digest = hashlib.sha256("\x00".join(part or "" for part in fallback).encode("utf-8", "replace")).hexdigest()
    return f"digest:{digest[:40]}"


def _subject(value: str | None) -> str:
    return (value or "").strip()[:MAX_SUBJECT] or NO_SUBJECT


def _sent_at(value: str | None) -> datetime:
    """The Date header in UTC; the arrival time when the header is missing, unreadable, without a
    zone or out of range once in UTC (Fri, 31 Dec 9999 23:59:59 -0100): the message is still kept."""
    try:
        sent = parsedate_to_datetime(value or "")
        if sent is not None and sent.tzinfo is not None:
            return sent.astimezone(UTC)
    except (TypeError, ValueError, IndexError, OverflowError):
        pass
    return datetime.now(UTC)


def _text(value: str | None) -> str | None:
    text = (value or "").strip()
    return text[:MAX_DESCRIPTION] or None


# --- SendGrid Inbound Parse ------------------------------------------------------------------


def parse_sendgrid(fields: dict[str, str]) -> InboundEmail:
    sender = _address(fields.get("from"))
    sender_field = "form.from"
    envelope: dict = {}
    if fields.get("envelope"):
        try:
            loaded = json.loads(fields["envelope"])
            envelope = loaded if isinstance(loaded, dict) else {}
        except ValueError as error:
            raise PayloadError("envelope", "not the JSON object SendGrid sends") from error
    if sender is None and isinstance(envelope.get("from"), str):
        sender, sender_field = _address(envelope["from"]), "form.envelope.from"
    if sender is None:
        raise PayloadError("from", "no sender address (From, or the envelope's from)")
    headers = HeaderParser().parsestr(fields.get("headers") or "")
    recipients = [a for _, a in getaddresses([fields.get("to") or ""]) if "@" in a]
    if isinstance(envelope.get("to"), list):
        recipients += [a for a in envelope["to"] if isinstance(a, str)]
    text = fields.get("text")
    date_header = headers.get("Date")
    if text is None and fields.get("email"):  # "send raw": the whole MIME message in one field
        raw = BytesParser(policy=policy.default).parsebytes(fields["email"].encode("utf-8", "surrogateescape"))
        headers = raw
        body = raw.get_body(preferencelist=("plain",))
        text = body.get_content() if body is not None else None
    return InboundEmail(
        provider="sendgrid",
        message_id=_message_id(headers.get("Message-ID"), sender, fields.get("subject"), headers.get("Date"), text),
        sender=sender,
        sender_field=sender_field,
        recipients=tuple(dict.fromkeys(recipients)),
        subject=_subject(fields.get("subject") or headers.get("Subject")),
        text=_text(text),
        at=_sent_at(headers.get("Date") or date_header),
    )


# --- Mailgun routes ----------------------------------------------------------------------------


def parse_mailgun(fields: dict[str, str]) -> InboundEmail:
    sender, sender_field = _address(fields.get("from")), "form.from"
    if sender is None:
        sender, sender_field = _address(fields.get("sender")), "form.sender"
    if sender is None:
        raise PayloadError("from", "no sender address (from, or sender)")
    message_id = fields.get("Message-Id") or fields.get("Message-ID")
    if not message_id and fields.get("message-headers"):
        try:
            pairs = json.loads(fields["message-headers"])
        except ValueError as error:
            raise PayloadError("message-headers", "not the JSON list of [name, value] Mailgun sends") from error
        if isinstance(pairs, list):
            message_id = next(
                (
                    p[1]
                    for p in pairs
                    if isinstance(p, list)
                    and len(p) == 2
                    and str(p[0]).lower() == "message-id"
                    and isinstance(p[1], str)
                ),
                None,
            )
    recipients = [a for _, a in getaddresses([fields.get("recipient") or "", fields.get("To") or ""]) if "@" in a]
    text = fields.get("stripped-text") or fields.get("body-plain")
    return InboundEmail(
        provider="mailgun",
        message_id=_message_id(message_id, sender, fields.get("subject"), fields.get("Date"), text),
        sender=sender,
        sender_field=sender_field,
        recipients=tuple(dict.fromkeys(recipients)),
        subject=_subject(fields.get("subject") or fields.get("Subject")),
        text=_text(text),
        at=_sent_at(fields.get("Date")),
    )


def reached(email: InboundEmail) -> Reached:
    """The email as an interaction of the customer's (inbound, received: their timeline shows it),
    asking for the service request it opens."""
    data = EmailInteraction(
        direction="inbound",
        provider=email.provider,
        provider_id=email.message_id,
        status="received",
        address=email.sender,
        subject_line=email.subject,
    )
    return Reached(
        data,
        Address("email", email.sender),
        email.sender_field,
        f"{email.provider}:inbound:{email.message_id}",
        email.at,
        asks=email,
    )
