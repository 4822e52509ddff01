"""One vocabulary past the edge: the canonical lifecycle and consent statuses of an interaction,
what each one means (the one table the timeline fold, consent and campaign indicators read), and
how each provider's own statuses map onto them.

An interaction keeps the provider's status as it came (``status``) and carries the canonical one
beside it (``canonical_status``). Events written before the canonical field existed carry only the
provider's status: ``canonical`` maps it, per provider, so the log reads the same either way.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

CanonicalStatus = Literal[
    "queued",  # accepted by the provider, not sent yet
    "sent",
    "deferred",  # delayed: the provider retries (a temporary failure, a full mailbox, a buffered SMS)
    "ringing",
    "in-progress",
    "delivered",
    "received",  # inbound: the customer wrote or called
    "answered",
    "completed",
    "failed",  # not delivered, for good (no hard bounce: the address may still work)
    "bounced",  # a hard bounce: the address does not exist or refuses all mail
    "soft-bounced",  # a bounce the provider deems temporary (blocked, mailbox full)
    "dropped",  # the provider would not even try (suppressed, invalid)
    "busy",
    "no-answer",
    "canceled",
    "wrapped-up",  # a call-centre contact closed after its after-contact work
    "opened",
    "clicked",
    "unsubscribed",
    "unsubscribed-from-group",
    "complained",
    "resubscribed",
    "note",  # an advisor's note on a call
    "other",  # a status we do not know yet: kept, ordered as a sent one, no effect
]
CANONICAL_STATUSES: tuple[str, ...] = get_args(CanonicalStatus)


class Meaning(NamedTuple):
    """What a canonical status says, for every reader."""

    stage: int  # where it sits in a message's lifecycle: the timeline shows a message's latest stage
    indicator: str | None = None  # the campaign indicator it counts the person in
    reachable: bool | None = None  # the address may (True) or may no longer (False) be sent to; None: unchanged
    reason: str | None = None  # why reachability changed, as the person's consent record says


MEANINGS: dict[str, Meaning] = {
    "queued": Meaning(0),
    "sent": Meaning(1),
    "deferred": Meaning(1),
    "ringing": Meaning(1),
    "in-progress": Meaning(2),
    "delivered": Meaning(3, "delivered"),
    "received": Meaning(3),
    "answered": Meaning(3),
    "completed": Meaning(4),
    "failed": Meaning(4, "bounced"),
    "bounced": Meaning(4, "bounced", False, "hard bounce"),
    "soft-bounced": Meaning(4, "bounced"),
    "dropped": Meaning(4, "bounced"),
    "busy": Meaning(4),
    "no-answer": Meaning(4),
    "canceled": Meaning(4),
    "wrapped-up": Meaning(5),
    "opened": Meaning(5, "opened"),
    "clicked": Meaning(6, "clicked"),
    "unsubscribed": Meaning(1, "unsubscribed", False, "unsubscribed"),
    "unsubscribed-from-group": Meaning(1, "unsubscribed", False, "unsubscribed from a group"),
    "complained": Meaning(1, "complaints", False, "complained (spam report)"),
    "resubscribed": Meaning(1, None, True, "resubscribed"),
    "note": Meaning(1),
    "other": Meaning(1),
}

# Each provider's statuses, as its parser in channels/ reports them (lower case). A provider's
# documentation lists them; a status missing here maps to "other" (kept, never refused).
PROVIDER_STATUSES: dict[str, dict[str, CanonicalStatus]] = {
    # Twilio Messaging (MessageStatus) and Voice (CallStatus) status callbacks.
    "twilio": {
        "accepted": "queued",
        "scheduled": "queued",
        "queued": "queued",
        "sending": "queued",
        "initiated": "queued",
        "sent": "sent",
        "delivered": "delivered",
        "partially_delivered": "delivered",
        "read": "opened",
        "undelivered": "failed",
        "failed": "failed",
        "receiving": "received",
        "received": "received",
        "ringing": "ringing",
        "in-progress": "in-progress",
        "completed": "completed",
        "busy": "busy",
        "no-answer": "no-answer",
        "canceled": "canceled",
    },
    # Vonage SMS API delivery receipts (status), and "received" for an inbound message.
    "vonage": {
        "accepted": "queued",
        "buffered": "deferred",
        "delivered": "delivered",
        "expired": "failed",
        "failed": "failed",
        "rejected": "failed",
        "unknown": "other",
        "received": "received",
    },
    # SendGrid Event Webhook events; a bounce of type "blocked" is a soft bounce (see canonical).
    "sendgrid": {
        "processed": "queued",
        "deferred": "deferred",
        "delivered": "delivered",
        "bounce": "bounced",
        "dropped": "dropped",
        "open": "opened",
        "click": "clicked",
        "spamreport": "complained",
        "unsubscribe": "unsubscribed",
        "group_unsubscribe": "unsubscribed-from-group",
        "group_resubscribe": "resubscribed",
        "received": "received",  # an email a customer sent us (Inbound Parse)
    },
    # Mailgun events; its parser reports a permanent failure as "bounce" and a temporary one as
    # "failed", which Mailgun retries: a delay, never a bounce.
    "mailgun": {
        "accepted": "queued",
        "delivered": "delivered",
        "bounce": "bounced",
        "failed": "deferred",
        "rejected": "dropped",
        "opened": "opened",
        "clicked": "clicked",
        "unsubscribed": "unsubscribed",
        "complained": "complained",
        "stored": "other",
        "received": "received",  # an email a customer sent us (a route's forward)
    },
    # Amazon SES event types (lower case) as its parser reports them.
    "ses": {
        "sent": "sent",
        "delivered": "delivered",
        "bounce": "bounced",
        "complained": "complained",
        "opened": "opened",
        "clicked": "clicked",
        "reject": "dropped",
        "renderingfailure": "failed",
        "deliverydelay": "deferred",
        "subscription": "other",
    },
    # Amazon Connect contact events, as its parser names them; a contact record is "completed".
    "connect": {
        "initiated": "queued",
        "queued": "queued",
        "in-progress": "in-progress",
        "answered": "answered",
        "completed": "completed",
        "wrapped-up": "wrapped-up",
    },
    # Asterisk ARI events, as its parser names them.
    "asterisk": {
        "ringing": "ringing",
        "in-progress": "in-progress",
        "completed": "completed",
        "note": "note",
    },
    # Segment messages are what the customer did.
    "segment": {"received": "received"},
}


def canonical(provider: str, status: str, bounce_type: str | None = None) -> CanonicalStatus:
    """The canonical status of a provider's status; "other" for one nobody mapped yet. A bounce of
    type "blocked" (SendGrid's and SES's soft bounce) is a soft bounce whoever reports it."""
    found = PROVIDER_STATUSES.get(provider, {}).get(status)
    if found is None:
        found = status if status in MEANINGS else "other"  # type: ignore[assignment]
    if found == "bounced" and bounce_type == "blocked":
        return "soft-bounced"
    return found  # type: ignore[return-value]


def meaning(status: str) -> Meaning:
    """What a canonical status means (an unknown one means nothing: "other")."""
    return MEANINGS.get(status, MEANINGS["other"])
