"""Identity resolution as application use cases: which person (and function) a provider's report
is about. Each takes the ``Crossview`` application and runs through ``crossview.commands.run``;
the webhook routes only translate a request into one of these.

Use cases are frozen dataclasses, equal for equal arguments, so a batch resolves each once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from channels.webhook_fields import is_withheld
from domain.contact_point import Resolved
from services.application.crossview import Crossview


@dataclass(frozen=True)
class by_contact:  # noqa: N801 - reads as the use case it runs: by_contact("email", address, "33")
    """The person one contact point leads to (a provisional one when nobody has it yet)."""

    kind: str
    address: str
    country_code: str

    def __call__(self, app: Crossview) -> Resolved:
        return app.resolve_contact_point(self.kind, self.address, self.country_code)


def by_phone(number: str, provider: str, provider_id: str, country_code: str) -> tuple[by_contact, bool]:
    """(use case, attributed): the person a customer's number leads to; when the number is withheld
    or absent, the provider's own id of the call or message leads to a provisional person, so the
    interaction is kept (and counted) until a later report names the customer."""
    if is_withheld(number):
        return by_contact("contact", f"{provider}:{provider_id}", country_code), False
    return by_contact("phone", number, country_code), True


@dataclass(frozen=True)
class by_connect_contact:  # noqa: N801 - reads as the use case it runs, like by_contact
    """The customer a contact names; while nobody is named, the contact itself leads to a
    provisional person. Contact events come in any order: once a report names the customer, the
    contact leads to them (its late anonymous events too), and a provisional person its earlier
    anonymous events made is joined into them."""

    customer: tuple[tuple[str, str], ...]
    contact: str  # the initial contact id: every leg of a transferred call
    country_code: str

    def __call__(self, app: Crossview) -> Resolved:
        if not self.customer:
            return app.resolve_contact_point("contact", self.contact)
        points = list(self.customer)
        customer = (
            app.identify(points, self.country_code)
            if len(points) > 1
            else app.resolve_contact_point(*points[0], self.country_code)
        )
        if app.index_contact_point(customer.person_id, "contact", self.contact).person_id == customer.person_id:
            return customer
        return app.identify([*points, ("contact", self.contact)], self.country_code)


@dataclass(frozen=True)
class by_web_identities:  # noqa: N801 - reads as the use case it runs, like by_contact
    """A Segment-like message: identify and alias join the identities they name (and the email of
    an identify), and an identify names a person nobody named yet from its traits; group makes the
    person a member of the group's organisation, and the call an interaction of that function."""

    kind: str  # identify, track, page, screen, group, alias
    identities: tuple[str, ...]  # web ids: "user:<userId>", "anon:<anonymousId>"
    previous_id: str | None
    email: str | None
    names: tuple[str, str] | None
    group_id: str | None
    group_name: str | None
    at: datetime

    @classmethod
    def of(cls, message: Any) -> by_web_identities:
        """The use case of a parsed Segment message (channels.segment.SegmentMessage)."""
        name = str(message.properties.get("name") or message.group_id)[:200] if message.group_id else None
        return cls(
            message.type,
            tuple(message.identities),
            message.previous_id,
            message.email,
            message.names,
            message.group_id,
            name,
            message.at,
        )

    def __call__(self, app: Crossview) -> Resolved:
        points = [("web", web_id) for web_id in self.identities]
        if self.kind == "alias" and self.previous_id:
            known_user = app.find_contact_point("web", f"user:{self.previous_id}")
            points.append(("web", f"{'user' if known_user else 'anon'}:{self.previous_id}"))
        if self.email:
            points.append(("email", self.email))
        person = app.identify(points, keep_identified_apart=True)
        if self.names:
            app.name_if_unnamed(person.person_id, *self.names)
        if self.group_id is None:
            return person
        function_id = app.join_organisation(
            person.person_id, f"segment-group:{self.group_id}", self.group_name or self.group_id, self.at.date()
        )
        return Resolved(person.person_id, function_id)
