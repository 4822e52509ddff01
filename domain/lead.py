"""Leads: a person's (or one of their functions') interest in an offer, from first contact to a
client won or a lead lost; and the rules an administrator sets to qualify and route them.

Stages: new -> qualified -> routed -> converted | lost. A lead belongs to a person; every one of
its events names them, so the relay puts it on that person's partition of the log.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from eventsourcing.domain import Aggregate, event

from domain.errors import LeadClosedError, LeadRulesError, LeadTransitionError, QualificationOverrideError
from domain.referential import REFERENTIALS

Stage = Literal["new", "qualified", "routed", "converted", "lost"]
Size = Literal["small", "medium", "large"]
Source = Literal["web", "call", "campaign", "referral"]
SalesChannel = Literal["contact_centre", "advisor", "key_account_manager"]
STAGES: tuple[str, ...] = ("new", "qualified", "routed", "converted", "lost")
OPEN_STAGES = frozenset({"new", "qualified", "routed"})
SIZES: tuple[str, ...] = ("small", "medium", "large")
SALES_CHANNELS: tuple[str, ...] = ("contact_centre", "advisor", "key_account_manager")
LEADS = uuid.UUID("3f0b7c52-8e14-4d6a-a9b1-5c2e7d40f913")

# Until an administrator decides otherwise: a size is reached from its employees, or from its
# budget (euros), or by asking for one of its products; each size goes to a channel and its team.
DEFAULT_RULES: dict[str, Any] = {
    "sizes": {
        "medium": {"employees": 50, "budget": 20_000, "products": []},
        "large": {"employees": 250, "budget": 100_000, "products": []},
    },
    "routes": {
        "small": {"channel": "contact_centre", "owner": "contact-centre"},
        "medium": {"channel": "advisor", "owner": "advisors"},
        "large": {"channel": "key_account_manager", "owner": "key-accounts"},
    },
}


def lead_id_for(source: str) -> uuid.UUID:
    """The id of a lead a provider's message created (``segment:<event id>``): the provider's retry
    creates the same lead, which the event store refuses to create twice."""
    return uuid.uuid5(LEADS, source)


class LeadRules(Aggregate):
    """How leads are qualified (thresholds and products per size) and routed (a channel and an
    owner per size). Set as a whole: one decision, one event."""

    @staticmethod
    def create_id() -> uuid.UUID:
        return uuid.uuid5(REFERENTIALS, "lead-rules")

    @event("Started")
    def __init__(self) -> None:
        self.sizes: dict[str, dict[str, Any]] = {k: dict(v) for k, v in DEFAULT_RULES["sizes"].items()}
        self.routes: dict[str, dict[str, str]] = {k: dict(v) for k, v in DEFAULT_RULES["routes"].items()}

    def set_rules(self, sizes: dict[str, dict[str, Any]], routes: dict[str, dict[str, str]]) -> None:
        check_rules(sizes, routes)
        if (sizes, routes) != (self.sizes, self.routes):
            self._set(sizes, routes)

    @event("RulesSet")
    def _set(self, sizes: dict[str, dict[str, Any]], routes: dict[str, dict[str, str]]) -> None:
        self.sizes = sizes
        self.routes = routes

    def qualify(self, employees: int | None, budget: int | None, product: str) -> tuple[str, str]:
        return qualify(self.sizes, employees, budget, product)

    def route(self, size: str, channel: str | None = None, owner: str | None = None) -> tuple[str, str]:
        """Where a lead of ``size`` goes: the channel and owner the rules give its size, unless
        given; a channel given alone goes to the owner the rules give that channel (else the size's)."""
        rule = self.routes[size]
        if channel is None:
            return rule["channel"], owner or rule["owner"]
        if owner is None:
            owner = next((r["owner"] for r in self.routes.values() if r["channel"] == channel), rule["owner"])
        return channel, owner


def check_rules(sizes: dict[str, dict[str, Any]], routes: dict[str, dict[str, str]]) -> None:
    """LeadRulesError naming the rule that does not hold: a medium threshold at or above the large
    one (a lead could never be medium), a product named for both sizes, a size without a route."""
    medium, large = sizes.get("medium"), sizes.get("large")
    if medium is None or large is None:
        raise LeadRulesError("sizes: both medium and large thresholds are required")
    for measure in ("employees", "budget"):
        low, high = medium.get(measure), large.get(measure)
        if low is not None and high is not None and low >= high:
            raise LeadRulesError(f"sizes.medium.{measure} ({low}) must be below sizes.large.{measure} ({high})")
    both = set(medium.get("products") or ()) & set(large.get("products") or ())
    if both:
        raise LeadRulesError(f"sizes: products {sorted(both)} are named for both medium and large")
    missing = [size for size in SIZES if size not in routes]
    if missing:
        raise LeadRulesError(f"routes: every size needs a route; missing {missing}")


def qualify(
    sizes: dict[str, dict[str, Any]], employees: int | None, budget: int | None, product: str
) -> tuple[str, str]:
    """The size the rules give a lead, and the rule that gave it (said to the sales manager)."""
    for size in ("large", "medium"):
        rule = sizes[size]
        if product in (rule.get("products") or ()):
            return size, f"product {product!r} is a {size} lead's"
        if employees is not None and rule.get("employees") is not None and employees >= rule["employees"]:
            return size, f"{employees} employees >= {rule['employees']}"
        if budget is not None and rule.get("budget") is not None and budget >= rule["budget"]:
            return size, f"budget {budget} >= {rule['budget']}"
    return "small", "below every medium threshold"


class Lead(Aggregate):
    @event("Created")
    def __init__(
        self,
        person_id: str,
        product: str,
        source: str,
        created_at: datetime,
        created_by: str,
        function_id: str | None = None,
        organisation_id: str | None = None,
        prescriber_id: str | None = None,
        prescriber_name: str | None = None,
        campaign: str | None = None,
        employees: int | None = None,
        budget: int | None = None,
        source_ref: str | None = None,
    ) -> None:
        self.person_id = person_id
        self.product = product
        self.source = source
        self.function_id = function_id
        self.organisation_id = organisation_id
        self.prescriber_id = prescriber_id
        self.employees = employees
        self.budget = budget
        self.stage: str = "new"
        self.size: str | None = None
        self.channel: str | None = None
        self.owner: str | None = None

    # --- commands -------------------------------------------------------------------------

    def qualify(self, size: str, rule: str | None, reason: str | None, at: datetime, by: str) -> None:
        """``rule`` when the rules decided, ``reason`` when someone overrode them (required then)."""
        self.check_open()
        if self.stage not in ("new", "qualified"):
            raise LeadTransitionError(f"a {self.stage} lead cannot be qualified again; it was already routed")
        if rule is None and not (reason and reason.strip()):
            raise QualificationOverrideError("overriding the qualification rules needs a reason")
        self._qualified(self.person_id, size, rule, reason, at, by)

    def route(self, channel: str, owner: str, at: datetime, by: str) -> None:
        self.check_open()
        if self.stage == "new":
            raise LeadTransitionError("a new lead is qualified before it is routed")
        self._routed(self.person_id, channel, owner, at, by)

    def convert(self, at: datetime, by: str) -> None:
        self.check_open()
        if self.stage == "new":
            raise LeadTransitionError("a new lead is qualified before it is converted")
        self._converted(self.person_id, self.organisation_id, at, by)

    def lose(self, reason: str, at: datetime, by: str) -> None:
        self.check_open()
        self._lost(self.person_id, reason, at, by)

    def check_open(self) -> None:
        if self.stage not in OPEN_STAGES:
            raise LeadClosedError(f"the lead is {self.stage}: nothing more happens to it")

    # --- events (each names the person: the relay keys it by them) -------------------------

    @event("Qualified")
    def _qualified(
        self, person_id: str, size: str, rule: str | None, reason: str | None, at: datetime, by: str
    ) -> None:
        self.size = size
        self.stage = "qualified"

    @event("Routed")
    def _routed(self, person_id: str, channel: str, owner: str, at: datetime, by: str) -> None:
        self.channel = channel
        self.owner = owner
        self.stage = "routed"

    @event("Converted")
    def _converted(self, person_id: str, organisation_id: str | None, at: datetime, by: str) -> None:
        self.stage = "converted"

    @event("Lost")
    def _lost(self, person_id: str, reason: str, at: datetime, by: str) -> None:
        self.stage = "lost"


class PersonLeads(Aggregate):
    """The leads created for a person: bookkeeping of the write side (nothing is published), so
    that erasing the person can take their leads out of the event store with them."""

    @staticmethod
    def create_id(person_id: str) -> uuid.UUID:
        return uuid.uuid5(LEADS, f"person:{person_id}")

    @event("Started")
    def __init__(self, person_id: str) -> None:
        self.person_id = person_id
        self.lead_ids: list[str] = []

    def note(self, lead_id: str) -> None:
        if lead_id not in self.lead_ids:
            self._noted(lead_id)

    @event("Noted")
    def _noted(self, lead_id: str) -> None:
        self.lead_ids.append(lead_id)
