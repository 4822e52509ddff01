"""What an analyst sees of a person: the same answer with every personal value replaced by a
pseudonym — stable (the same value always gives the same pseudonym, so analysts can still count
and join), keyed (derived from the master key, so nobody can find a name by hashing candidates),
and never the value. Ids, statuses, counts, functions and dates stay as they are.

An analyst whose token also carries the ``personal-data`` grant sees values in clear."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from schemas.sealing import PERSONAL_BY_TYPE

NAMES = ("given_name", "family_name")
REQUEST_TEXTS = ("subject", "description")
LEAD_TEXTS = ("reason", "lost_reason")


class Pseudonymiser:
    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"crossview pseudonyms", hashlib.sha256).digest()

    def of(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, dict):
            return {}  # free-form properties: nothing of them is kept
        digest = hmac.new(self._key, str(value).encode(), hashlib.sha256).hexdigest()
        return f"~{digest[:12]}"

    def answer(self, document: Any) -> Any:
        """A query's JSON answer, its personal values pseudonymised wherever they appear."""
        if isinstance(document, list):
            return [self.answer(item) for item in document]
        if not isinstance(document, dict):
            return document
        out = {}
        for key, value in document.items():
            if key in NAMES:
                out[key] = self.of(value)
            elif key == "attributes" and isinstance(value, dict):  # a function's attributes
                out[key] = {name: self.of(v) for name, v in value.items()}
            elif key == "attributes" and isinstance(value, list):  # the person's, with their level
                out[key] = [{**a, "value": self.of(a.get("value"))} for a in value]
            elif key == "reachability" and isinstance(value, list):
                out[key] = [
                    {**r, "address": self.of(r.get("address")), "reason": self.of(r.get("reason"))} for r in value
                ]
            elif key == "journeys" and isinstance(value, list):  # why one was abandoned: their words
                out[key] = [{**j, "reason": self.of(j.get("reason"))} for j in value]
            elif key in REQUEST_TEXTS and "request_id" in document:  # a service request: what the customer said
                out[key] = self.of(value)
            elif key == "comments" and isinstance(value, list) and "request_id" in document:
                out[key] = [{**c, "text": self.of(c.get("text"))} for c in value]
            elif key in LEAD_TEXTS and "lead_id" in document:  # a lead: what someone said about it
                out[key] = self.of(value)
            elif key == "data" and isinstance(value, dict) and "event_type" in document:  # a timeline entry
                personal = PERSONAL_BY_TYPE.get(document["event_type"], ())
                out[key] = {f: self.of(v) if f in personal else v for f, v in value.items()}
            else:
                out[key] = self.answer(value)
        return out
