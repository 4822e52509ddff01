"""``as_of`` as every query takes it, in a query string or a body: a date, or an RFC 3339 instant
with its offset. One reading for both, so that a body never takes what a query refuses."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def as_of_value(text: str) -> date | datetime:
    """The date, or the instant in UTC, that ``text`` says; ValueError saying what is expected."""
    try:
        if _DAY.fullmatch(text):
            return date.fromisoformat(text)
        if not text.isascii():
            raise ValueError("digits 0-9 only")
        instant = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError as error:
        raise ValueError(f"a date (2026-11-30) or an RFC 3339 instant (2026-11-30T14:05:00Z): {error}") from None
    if instant.tzinfo is None:
        raise ValueError("an instant needs its offset from UTC (Z, +01:00...)")
    try:
        return instant.astimezone(UTC)
    except OverflowError as error:
        raise ValueError(f"the instant is out of range once in UTC: {error}") from None
