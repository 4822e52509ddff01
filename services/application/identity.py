"""Identity resolution as application use cases: which person (and function) a provider's report
is about. Each takes the ``Crossview`` application and runs through ``crossview.commands.run``;
a provider's webhook names the customer (channels/provider.py), ``resolving`` picks the use case.

Use cases are frozen dataclasses, equal for equal arguments, so a batch resolves each once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from channels.provider import Address, CallCentreContact, Customer, PhoneNumber, WebVisitor
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

    visitor: WebVisitor

    def __call__(self, app: Crossview) -> Resolved:
        visitor = self.visitor
        points = [("web", web_id) for web_id in visitor.identities]
        if visitor.kind == "alias" and visitor.previous_id:
            known_user = app.find_contact_point("web", f"user:{visitor.previous_id}")
            points.append(("web", f"{'user' if known_user else 'anon'}:{visitor.previous_id}"))
        if visitor.email:
            points.append(("email", visitor.email))
        person = app.identify(points, keep_identified_apart=True)
        if visitor.names:
            app.name_if_unnamed(person.person_id, *visitor.names)
        if visitor.group_id is None:
            return person
        function_id = app.join_organisation(
            person.person_id,
            f"segment-group:{visitor.group_id}",
            visitor.group_name or visitor.group_id,
            visitor.at.date(),
        )
        return Resolved(person.person_id, function_id)


def resolving(customer: Customer, provider: str, country_code: str) -> tuple[Callable[[Crossview], Resolved], bool]:
    """(use case, attributed): the use case that finds (or makes) the person a provider's report is
    about; attributed is False when no customer address was named (a provisional person)."""
    if isinstance(customer, Address):
        return by_contact(customer.kind, customer.address, country_code), True
    if isinstance(customer, PhoneNumber):
        return by_phone(customer.number, provider, customer.provider_id, country_code)
    if isinstance(customer, CallCentreContact):
        return by_connect_contact(customer.customer, customer.contact, country_code), True
    return by_web_identities(customer), True
