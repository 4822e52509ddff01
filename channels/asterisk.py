"""Asterisk ARI events, as a forwarder posts them from the ARI websocket: a call entering the
Stasis application, its state changes, its end (with the cause), and advisor notes sent as a
``ChannelUserevent`` named ``CrossviewNote``. The forwarder authenticates with HTTP Basic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.provider import PhoneNumber, Reached, WebhookRequest
from channels.webhook_fields import NotJson, PayloadError, SignatureError, basic_password_is, load_json
from schemas.events import CallInteraction

KNOWN = {"StasisStart", "ChannelStateChange", "ChannelDestroyed", "ChannelUserevent"}


def credentials_are_valid(authorization: str | None, secret: str) -> bool:
    return basic_password_is(authorization, secret)


@dataclass(frozen=True)
class CallEvent:
    key: str  # unique per event: a forwarder's retry is the same
    call_id: str  # the channel id; a note gets its own so that it shows as its own row
    channel_id: str  # the call's channel, a note's too
    status: str
    caller: str
    called: str
    at: datetime
    duration_seconds: int | None
    outcome: str | None
    notes: str | None


def parse(body: bytes) -> list[CallEvent]:
    """The call events of the body (one ARI event or an array); events about nothing we track are skipped."""
    try:
        payload = load_json(body)
    except NotJson as error:
        raise PayloadError("body", str(error)) from error
    items = payload if isinstance(payload, list) else [payload]
    events = []
    for index, raw in enumerate(items):
        where = f"{index}" if isinstance(payload, list) else ""
        event = _event(where, raw)
        if event is not None:
            events.append(event)
    return events


def _event(where: str, raw: Any) -> CallEvent | None:
    def field(name: str) -> str:
        return f"{where}.{name}" if where else name

    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise PayloadError(field("type"), "an ARI event object with a type is expected")
    kind = raw["type"]
    if kind not in KNOWN:
        return None
    channel = raw.get("channel")
    if not isinstance(channel, dict) or not channel.get("id"):
        raise PayloadError(field("channel.id"), "missing")
    caller = channel["caller"].get("number") if isinstance(channel.get("caller"), dict) else None
    if not isinstance(caller, str | int) or isinstance(caller, bool):  # "" is a withheld caller id: well formed
        raise PayloadError(field("channel.caller.number"), "missing")
    dialplan = channel.get("dialplan") if isinstance(channel.get("dialplan"), dict) else {}
    at = _time(field("timestamp"), raw.get("timestamp"))
    status, duration, outcome, notes, call_id = "ringing", None, None, None, str(channel["id"])
    if kind == "ChannelStateChange":
        status = {"Up": "in-progress", "Ringing": "ringing", "Ring": "ringing"}.get(
            str(channel.get("state")), "ringing"
        )
    elif kind == "ChannelDestroyed":
        status, outcome = "completed", str(raw.get("cause_txt") or "") or None
        if channel.get("creationtime"):
            duration = max(0, int((at - _time(field("channel.creationtime"), channel["creationtime"])).total_seconds()))
    elif kind == "ChannelUserevent":
        if raw.get("eventname") != "CrossviewNote":
            return None
        userevent = raw.get("userevent") if isinstance(raw.get("userevent"), dict) else {}
        if not userevent.get("note"):
            raise PayloadError(field("userevent.note"), "missing")
        status, notes, call_id = "note", str(userevent["note"]), f"{channel['id']}:note:{raw.get('timestamp')}"
    return CallEvent(
        key=f"{channel['id']}:{kind}:{raw.get('timestamp')}:{status}",
        call_id=call_id,
        channel_id=str(channel["id"]),
        status=status,
        caller=str(caller) or "unknown",
        called=str(dialplan.get("exten") or "unknown"),
        at=at,
        duration_seconds=duration,
        outcome=outcome,
        notes=notes,
    )


def _time(field: str, value: Any) -> datetime:
    # ARI writes 2026-11-20T10:00:00.000+0000: Python wants a colon in the offset.
    text = str(value or "")
    if len(text) > 5 and text[-5] in "+-" and text[-4:].isdigit():
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as error:
        raise PayloadError(field, "an ISO 8601 time expected") from error
    if moment.tzinfo is None:
        raise PayloadError(field, "a time zone is expected")
    return moment


class EventWebhook:
    """ARI events from a forwarder, authenticated by HTTP Basic with the configured password."""

    provider = "asterisk"
    refusal = "Not an ARI event"
    located_in = "body"

    def verify(self, request: WebhookRequest, secret: str) -> None:
        if not credentials_are_valid(request.header("authorization"), secret):
            raise SignatureError("HTTP Basic with the configured password is required", "header.Authorization")

    def parse(self, request: WebhookRequest) -> list[CallEvent]:
        return parse(request.body)

    def map(self, report: CallEvent) -> Reached:
        data = CallInteraction(
            direction="inbound",
            provider="asterisk",
            provider_id=report.call_id,
            status=report.status,
            from_number=report.caller,
            to_number=report.called,
            duration_seconds=report.duration_seconds,
            outcome=report.outcome,
            notes=report.notes,
        )
        customer = PhoneNumber(report.caller, report.channel_id)
        return Reached(data, customer, "body.channel.caller.number", f"asterisk:{report.key}", report.at)


WEBHOOKS = (EventWebhook(),)
