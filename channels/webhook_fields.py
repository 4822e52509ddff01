"""Small readers that several providers' parsers share."""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any


def basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) of an HTTP Basic Authorization header, or None when there is none."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


def basic_password_is(authorization: str | None, secret: str) -> bool:
    """Whether an HTTP Basic Authorization header carries this password (any user name)."""
    credentials = basic_credentials(authorization)
    return credentials is not None and hmac.compare_digest(credentials[1].encode(), secret.encode())


def is_epoch_seconds(value: Any) -> bool:
    """A Unix time in seconds that a datetime can hold (not a bool, not centuries away)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value < 10**11
