"""Sealed events: the personal fields of an event's data, encrypted with the subject's data key.

On the log an event keeps its non-personal fields in clear (status, provider, campaign, function:
what counts and indicators need) and carries its personal fields as one AES-GCM blob under
``sealed``: ``"<key version>.<base64 of nonce + ciphertext>"``, bound to the event's id and subject.
Erasing a person destroys their key (crypto-shredding): their events still replay, the personal
fields read as ``ERASED``. The contract (the JSON Schemas) describes the data once unsealed.
"""

from __future__ import annotations

import base64
import functools
import json
import os
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic_core import from_json

from schemas.events import (
    AttributeSet,
    CallInteraction,
    ContactPointAdded,
    ContactPointRemoved,
    EmailInteraction,
    EventData,
    LeadLost,
    LeadQualified,
    PersonRegistered,
    PersonRenamed,
    ServiceRequestCommented,
    ServiceRequestOpened,
    ServiceRequestStateChanged,
    SmsInteraction,
    WebInteraction,
)
from schemas.journey_events import JourneyAbandoned

SEALED = "sealed"
ERASED = "erased"  # what a personal text reads as once its key is destroyed

# Every field that can say who someone is or what they said. A unit test checks that every text
# field of a person-scoped event type is either here or in CLEAR_FIELDS, so none is forgotten.
PERSONAL_FIELDS: dict[type[EventData], tuple[str, ...]] = {
    PersonRegistered: ("given_name", "family_name"),
    PersonRenamed: ("given_name", "family_name"),
    ContactPointAdded: ("address",),
    ContactPointRemoved: ("address",),
    AttributeSet: ("value",),
    SmsInteraction: ("from_number", "to_number", "body"),
    EmailInteraction: ("address", "subject_line", "url", "reason"),
    WebInteraction: ("name", "url", "properties"),
    CallInteraction: ("from_number", "to_number", "notes"),
    JourneyAbandoned: ("reason",),
    ServiceRequestOpened: ("subject", "description", "source_ref"),
    ServiceRequestStateChanged: ("reason",),
    ServiceRequestCommented: ("text",),
    LeadQualified: ("reason",),
    LeadLost: ("reason",),
}
PERSONAL_BY_TYPE = {model.event_type: fields for model, fields in PERSONAL_FIELDS.items()}


class SealError(ValueError):
    """A sealed blob that is malformed, or that the key does not open (tampered, or the wrong key)."""


@functools.lru_cache(maxsize=100_000)
def _cipher(key: bytes) -> AESGCM:
    return AESGCM(key)  # building one costs more than what it then encrypts; a person's events share it


def _aad(event_id: str, subject: str) -> bytes:
    return f"{event_id}\x00{subject}".encode()


def seal(event_type: str, event_id: str, subject: str, data: dict[str, Any], key: tuple[int, bytes] | None) -> dict:
    """``data`` with its personal fields sealed under ``key`` (version, bytes); with no key (the
    subject was erased), the personal fields are replaced by what erasure leaves."""
    fields = PERSONAL_BY_TYPE.get(event_type)
    if not fields or SEALED in data:
        return data
    personal = {f: data[f] for f in fields if f in data}
    clear = {f: v for f, v in data.items() if f not in fields}
    if key is None:
        return {**clear, **erased(event_type, personal)}
    version, secret = key
    nonce = os.urandom(12)
    plaintext = json.dumps(personal, separators=(",", ":"), ensure_ascii=False).encode()
    blob = nonce + _cipher(secret).encrypt(nonce, plaintext, _aad(event_id, subject))
    return {**clear, SEALED: f"{version}.{base64.b64encode(blob).decode()}"}


def sealed_version(data: dict[str, Any]) -> int | None:
    """The key version a sealed data names, or None when it is not sealed (or is malformed)."""
    blob = data.get(SEALED)
    if not isinstance(blob, str):
        return None
    version, _, _ = blob.partition(".")
    return int(version) if version.isdigit() else None


def unseal(event_type: str, event_id: str, subject: str, data: dict[str, Any], keys: dict[int, bytes] | None) -> dict:
    """The data in clear. ``keys`` (version -> key) None means the subject was erased: the personal
    fields read as erased, sealed or not. SealError when the blob is malformed or does not open."""
    fields = PERSONAL_BY_TYPE.get(event_type, ())
    if keys is None:
        clear = {f: v for f, v in data.items() if f != SEALED and f not in fields}
        return {**clear, **erased(event_type, dict.fromkeys(fields, ""))}
    blob = data.get(SEALED)
    if blob is None:
        return data
    clear = {f: v for f, v in data.items() if f != SEALED}
    version = sealed_version(data)
    if version is None or version not in keys:
        raise SealError(f"sealed with key version {str(blob).partition('.')[0]!r}, which the subject does not have")
    try:
        raw = base64.b64decode(blob.partition(".")[2], validate=True)
        plaintext = _cipher(keys[version]).decrypt(raw[:12], raw[12:], _aad(event_id, subject))
        personal = from_json(plaintext)
    except (ValueError, InvalidTag) as error:
        raise SealError("the sealed personal fields do not open with the subject's key") from error
    if not isinstance(personal, dict) or set(personal) - set(fields):
        raise SealError("the sealed personal fields are not this event type's")
    return {**clear, **personal}


def erased(event_type: str, personal: dict[str, Any]) -> dict[str, Any]:
    """What personal fields read as once erased: texts say so, structures are empty."""
    return {f: ({} if isinstance(v, dict) or f == "properties" else ERASED) for f, v in personal.items()}
