"""Small readers that several providers' parsers share: JSON bodies, forms, secrets, HTTP Basic,
times, and the two errors every provider's webhook raises (PayloadError, SignatureError)."""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import math
import re
import sys
from datetime import datetime
from itertools import accumulate
from typing import Any
from urllib.parse import parse_qsl

MAX_JSON_DEPTH = 32  # no provider nests deeper; Python's own parser gives up near 1,000

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_STEP = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 / -1 as signed bytes
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
JSON_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")  # an escape \u0000 (not an escaped backslash before u0000)


class PayloadError(ValueError):
    """A provider's payload is malformed: not what that provider sends. ``field`` names the field
    at fault (dotted, "body" for the whole), so the 422 problem can say which.

    ``title`` replaces the provider's own "Not a ... webhook" title of the problem; with a
    ``detail`` too, the request could not even be read (not UTF-8 form data, not a JSON object):
    the problem then says ``detail``, and names ``field`` as it is, with ``message``."""

    def __init__(self, field: str, message: str, *, title: str | None = None, detail: str | None = None) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.title = title
        self.detail = detail


class SignatureError(ValueError):
    """A request the provider did not send, or not now: a missing or wrong signature or credential,
    a sender that is not allowed, a replay. ``field`` names what is at fault (None: the request
    as a whole), ``title`` the 403 problem's title."""

    def __init__(
        self, detail: str, field: str | None = None, title: str = "Invalid signature", message: str = "missing or wrong"
    ) -> None:
        super().__init__(detail)
        self.detail, self.field, self.title, self.message = detail, field, title, message


class NotJson(ValueError):
    """The body is not a JSON document Crossview reads (the message says why)."""


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in ``raw``, without parsing it (brackets inside strings
    do not count), in linear time whatever the input."""
    skeleton = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET).translate(_STEP)
    return max(accumulate(memoryview(skeleton).cast("b")), default=0)


def load_json(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON document in ``raw``; NotJson when it is not UTF-8, not JSON, nested deeper than
    ``max_depth``, or holds what no other system reads back (lone surrogates, NaN, infinities)."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if json_depth(data) > max_depth:
        raise NotJson(f"nested deeper than {max_depth} levels")
    try:
        document = json.loads(
            data.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite, parse_int=_integer
        )
    except UnicodeDecodeError as error:
        raise NotJson(f"not UTF-8: {error}") from error
    except (json.JSONDecodeError, RecursionError) as error:
        raise NotJson(f"not JSON: {error}") from error
    if _SURROGATE_ESCAPE.search(data):
        try:
            json.dumps(document, ensure_ascii=False).encode()
        except UnicodeEncodeError as error:
            raise NotJson("a string holds a lone surrogate (not Unicode text)") from error
    if JSON_NUL.search(data):  # a document inside another (SES's Message): the edge saw it escaped twice
        raise NotJson("a string holds a NUL character (U+0000), which no stored text can")
    return document


def _integer(text: str) -> int:
    """A JSON integer, within the digits Python converts (sys.get_int_max_str_digits, 4,300): past
    them ``int`` raises a ValueError that no caller expects of a parse."""
    if len(text.lstrip("-")) > sys.get_int_max_str_digits():
        raise NotJson(f"an integer of {len(text):,} digits: no more than {sys.get_int_max_str_digits():,}")
    return int(text)


def _refuse_constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise NotJson(f"{text[:20]} is out of range")
    return value


def form_fields(body: bytes) -> list[tuple[str, str]]:
    """The (name, value) pairs of a form-encoded body, in their order, repeats kept."""
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError as error:
        raise PayloadError(
            "body", str(error), title="Invalid form", detail="the body is not UTF-8 form data"
        ) from error


def check_fresh(max_age_s: int, timestamp: str | None, now: datetime) -> None:
    """A signed request replayed long after it was sent is refused: the signature covers its
    timestamp (seconds since the epoch). ``max_age_s`` 0 checks nothing."""
    if not max_age_s:
        return
    try:
        age = abs(now.timestamp() - int(timestamp or ""))
    except ValueError as error:
        raise SignatureError("the signed timestamp is not a number", title="Invalid timestamp") from error
    if age > max_age_s:
        raise SignatureError(f"signed {int(age)} s ago, more than {max_age_s} s: a replay?", title="Stale webhook")


def same_secret(expected: str, received: Any) -> bool:
    """Whether a request carries the expected secret or signature: constant time, and False (never
    an error) for a missing value, a value of another type, or any characters at all."""
    if not isinstance(received, str) or not received:
        return False
    return hmac.compare_digest(expected.encode("utf-8", "surrogatepass"), received.encode("utf-8", "surrogatepass"))


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) of an HTTP Basic Authorization header, or None when there is none."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
    except (binascii.Error, ValueError):  # not base64, not ASCII, not UTF-8
        return None
    return user, password


def basic_password_is(authorization: str | None, secret: str) -> bool:
    """Whether an HTTP Basic Authorization header carries this password (any user name)."""
    credentials = basic_credentials(authorization)
    return credentials is not None and same_secret(secret, credentials[1])


# What telephony writes where a caller withheld their number (or the network lost it).
WITHHELD_NUMBERS = frozenset({"", "anonymous", "restricted", "private", "unknown", "unavailable", "withheld"})


def is_withheld(number: str | None) -> bool:
    """No customer number to attribute the call or message to: absent, or a withheld caller id."""
    return number is None or number.strip().lower() in WITHHELD_NUMBERS


def is_epoch_seconds(value: Any) -> bool:
    """A Unix time in seconds that a datetime can hold (not a bool, not centuries away)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 10**11
