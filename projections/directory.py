"""What advisors ask of the read models — 360° view, history, search, roster, targeting — as pure
functions of person views and reference documents. Both stores answer through these, so the
rules live in one place; PostgreSQL only narrows the candidates first.

Active-ness is always computed against the day asked about: a function whose exit date has
passed is inactive without any new event, one whose entry date is ahead is not active yet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from domain.contact_point import InvalidContactPointError, normalise
from domain.person import Function
from projections.person_model import PersonView


@dataclass(frozen=True)
class References:
    organisations: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    titles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def organisation(self, organisation_id: str) -> dict[str, Any]:
        found = self.organisations.get(organisation_id) or {}
        return {
            "organisation_id": organisation_id,
            "name": found.get("name"),
            "kind": found.get("kind"),
            "relationship": found.get("relationship"),
        }

    def title(self, code: str) -> dict[str, Any]:
        found = self.titles.get(code) or {}
        return {"code": code, "label": found.get("label"), "retired": bool(found.get("retired"))}

    def organisations_named(self, text: str) -> set[str]:
        return {oid for oid, org in self.organisations.items() if text in (org.get("name") or "").lower()}

    def titles_matching(self, text: str) -> set[str]:
        return {
            code for code, t in self.titles.items() if text in code.lower() or text in (t.get("label") or "").lower()
        }


@dataclass(frozen=True)
class Colleague:
    """Someone holding an active function at an organisation: a link of the 360° view."""

    organisation_id: str
    person_id: str
    given_name: str | None
    family_name: str | None
    title_code: str


@dataclass(frozen=True)
class PersonContext:
    """What a 360° view reads: the person (None if unknown), the references of their active
    functions, and the first people of each of those organisations."""

    view: PersonView | None
    references: References
    colleagues: list[Colleague]


def colleagues_of(
    views: Iterable[PersonView], organisation_ids: Iterable[str], day: date, excluding: str, first: int
) -> list[Colleague]:
    """The links of a 360° view (ports.ProjectionStore.colleagues), from every view."""
    wanted = set(organisation_ids)
    everyone = sorted(
        (
            Colleague(f.organisation_id, v.person_id, v.given_name, v.family_name, f.title_code)
            for v in views
            if v.person_id != excluding
            for f in v.active_functions(day)
            if f.organisation_id in wanted
        ),
        key=link_order,
    )
    people: dict[str, set[str]] = {oid: set() for oid in wanted}
    kept = []
    for c in everyone:
        seen = people[c.organisation_id]
        if c.person_id in seen or len(seen) < first:
            seen.add(c.person_id)
            kept.append(c)
    return kept


def link_order(c: Colleague) -> tuple[str, str, str, str]:
    """How the 360° view lists the people of an organisation, and each one's titles."""
    return (c.family_name or "", c.given_name or "", c.person_id, c.title_code)


def function_out(view: PersonView, function: Function, refs: References, day: date) -> dict[str, Any]:
    return {
        "function_id": function.function_id,
        "organisation": refs.organisation(function.organisation_id),
        "title": refs.title(function.title_code),
        "entered_on": function.entered_on,
        "exits_on": function.exits_on,
        "active": function.is_active_on(day),
        "priority": _rank(view, function, day),
        "attributes": dict(view.function_attributes.get(function.function_id, {})),
        "interactions": dict(view.function_interactions.get(function.function_id, {})),
    }


def _rank(view: PersonView, function: Function, day: date) -> int | None:
    """The active function's place among the active ones on ``day`` (1 = the main function); None
    for a function not active that day, which keeps its place after them."""
    if not function.is_active_on(day) or function.function_id not in view.priority:
        return None
    return 1 + sum(
        1 for f in view.priority[: view.priority.index(function.function_id)] if view.functions[f].is_active_on(day)
    )


def attributes_out(view: PersonView, day: date) -> list[dict[str, Any]]:
    """Every current attribute, tagged with the level that carries it (functions: active ones only)."""
    rows = [{"name": n, "value": v, "level": "person", "function_id": None} for n, v in sorted(view.attributes.items())]
    for function in view.active_functions(day):
        for name, value in sorted(view.function_attributes.get(function.function_id, {}).items()):
            rows.append({"name": name, "value": value, "level": "function", "function_id": function.function_id})
    return rows


def history(view: PersonView, refs: References, day: date) -> list[dict[str, Any]]:
    """The professional history: every function, active or ended, oldest first."""
    ordered = sorted(view.functions.values(), key=lambda f: (f.entered_on, f.function_id))
    return [function_out(view, f, refs, day) for f in ordered]


def searchable_text(view: PersonView, refs: References, day: date) -> str:
    # The names one by one: a word never holds a space, and a missing name is no text ("None").
    parts = [view.given_name or "", view.family_name or ""]
    parts += [v for v in view.attributes.values() if v]
    parts += [c.split(":", 1)[1] for c in view.contact_points]
    for function in view.active_functions(day):
        parts.append(refs.organisation(function.organisation_id)["name"] or "")
        parts += [function.title_code, refs.title(function.title_code)["label"] or ""]
        parts += [v for v in view.function_attributes.get(function.function_id, {}).values() if v]
    return "\n".join(parts).lower()


_PHONE_LIKE = re.compile(r"\+?[\d\s.\-()/]+")


def search_words(query: str, default_country_code: str) -> str:
    """The query as the directory holds contact points: a phone number typed as people say it
    (``06 12 34 56 78``, ``06.12.34.56.78``, ``+33 6 12 34 56 78``, ``0033 6...``) becomes its E.164
    form, as every stored number is; any other query is left as it is."""
    text = query.strip()
    if _PHONE_LIKE.fullmatch(text) and sum(c.isdigit() for c in text) >= 7:
        try:
            return normalise("phone", text, default_country_code)
        except InvalidContactPointError:
            return query
    return query


def matches(view: PersonView, refs: References, query: str, day: date) -> bool:
    """Whether every word of ``query`` is in the person's name, contacts or active functions."""
    text = searchable_text(view, refs, day)
    return all(word in text for word in query.lower().split())


Mode = Literal["per_function", "per_person"]


@dataclass(frozen=True)
class Criteria:
    title_codes: frozenset[str] | None = None
    organisation_ids: frozenset[str] | None = None
    relationships: frozenset[str] | None = None
    active_only: bool = True
    channel: str | None = None  # email or sms: the row's contact point must exist and be reachable


def target(
    views: Iterable[PersonView], refs: References, criteria: Criteria, mode: Mode, day: date
) -> list[dict[str, Any]]:
    """The population: one row per matching function, or per person keeping their highest-priority match."""
    rows = []
    for view in views:
        matching = [
            f
            for f in _in_priority_order(view)
            if _meets(f, refs, criteria, day)
            and (criteria.channel is None or _reachable_for(view, f, criteria.channel))
        ]
        if mode == "per_person":
            matching = matching[:1]
        rows += [
            {
                "person_id": view.person_id,
                "given_name": view.given_name,
                "family_name": view.family_name,
                **function_out(view, f, refs, day),
            }
            for f in matching
        ]
    # A person's rows stay in priority order (a stable sort): an inactive function has no priority number.
    return sorted(rows, key=lambda r: (r["family_name"] or "", r["given_name"] or "", r["person_id"]))


CONTACT_ATTRIBUTE = {"email": "email", "sms": "mobile_phone"}


def contact_for(view: PersonView, function: Function, channel: str) -> str | None:
    """The address a message for this function goes to: the function's own, else the person's."""
    name = CONTACT_ATTRIBUTE[channel]
    address = view.function_attributes.get(function.function_id, {}).get(name) or view.attributes.get(name)
    return address.casefold() if address and channel == "email" else address


def _reachable_for(view: PersonView, function: Function, channel: str) -> bool:
    address = contact_for(view, function, channel)
    return address is not None and view.reachable(channel, address)


def _in_priority_order(view: PersonView) -> list[Function]:
    return [view.functions[f] for f in view.priority if f in view.functions]


def _meets(function: Function, refs: References, criteria: Criteria, day: date) -> bool:
    if criteria.active_only and not function.is_active_on(day):
        return False
    if criteria.title_codes is not None and function.title_code not in criteria.title_codes:
        return False
    if criteria.organisation_ids is not None and function.organisation_id not in criteria.organisation_ids:
        return False
    relationship = refs.organisation(function.organisation_id)["relationship"]
    return criteria.relationships is None or relationship in criteria.relationships
