"""The 360° view as a document: built from a person's view, the references of their functions and
the first people of their organisations, as pure functions both the route and the projector use.

The projector keeps each person's document ready (their own part, as JSON) and, apart, each
organisation's first people (the links): a colleague's rename or a new function rewrites one
organisation's row, never the documents of everyone who works there. A query splices the two with
the day and the freshness it answers for (``splice``). Each part says the days it holds for: the
day it was made for up to the next day one of its functions starts or ends."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic_core import from_json, to_json

from projections.directory import Colleague, References, attributes_out, function_out, link_order
from projections.engagement import engagement, engagement_inputs
from projections.leads import listed as listed_leads
from projections.person_model import PersonView
from projections.reference_view import ORGANISATION, TITLES
from projections.service_requests import FINISHED_SHOWN, listed, next_change
from schemas.api import (
    Freshness,
    FunctionOut,
    LastInteractionOut,
    LinkedPerson,
    OrganisationLinks,
    OrganisationRef,
    Person360Out,
    ReachabilityOut,
    TitleRef,
)
from schemas.engagement_api import EngagementOut
from schemas.leads_api import LeadSummary
from schemas.service_desk import ServiceRequestSummary

FORMAT = 3  # of the stored parts: a build that changes what they hold (or how) counts one more
LINKS_SHOWN = 50  # people per organisation in a 360° view
LINKS_KEPT = LINKS_SHOWN + 1  # an organisation's row keeps one more: the person reading it is left out
FOREVER = date(9999, 12, 31)  # valid_until of a part no date will change
_CORE_EXCLUDED = {"as_of", "links", "time_travel", "freshness", "journeys", "offers", "next_offer"}
# Ends a stored body: what journeys and offers are made of at answer time (the moment and the
# catalogue decide what shows). JSON escapes the quotes of every string, so only a member can read so.
ENGAGEMENT_MARK = ',"_engagement":'
STALL_AFTER = timedelta(minutes=30)
_NO_JOURNEYS = '{"journeys":{},'
_NOTHING_ENGAGED = EngagementOut(journeys=[], offers=[], next_offer=None).model_dump_json()[1:-1]
_NO_FRESHNESS = Freshness(position={}, caught_up=True)


def today() -> date:
    """The day a 360° view is for unless asked otherwise, for the API and the projector alike."""
    return datetime.now(UTC).date()


@dataclass(frozen=True)
class Moment:
    """What the journeys and offers of a 360° view depend on besides the person: when it is
    answered, the offer catalogue then, and how long without a step stalls a journey."""

    catalogue: Mapping[str, Any] = field(default_factory=dict)
    now: datetime = field(default_factory=lambda: datetime.now(UTC))
    stall_after: timedelta = STALL_AFTER


def now() -> datetime:
    """The instant a request's breach is judged at (the service level runs to the second)."""
    return datetime.now(UTC)


def person_360(
    view: PersonView,
    refs: References,
    colleagues: Iterable[Colleague],
    day: date,
    freshness: Freshness,
    moment: Moment | None = None,
) -> Person360Out:
    """The 360° view of ``view`` on ``day``: its own part, its journeys and offers at ``moment``,
    and the links of its active organisations."""
    organisation_ids = document_organisations(view, day)
    moment = moment or Moment()
    shown = engagement(engagement_inputs(view, refs, day), moment.catalogue, moment.now, moment.stall_after)
    return Person360Out(
        **_core(view, refs, day),
        **shown,
        as_of=day,
        links=links(organisation_ids, colleagues, refs),
        freshness=freshness,
    )


def links(
    organisation_ids: Sequence[str], colleagues: Iterable[Colleague], refs: References
) -> list[OrganisationLinks]:
    """Per organisation, its people in link order, each once with their titles there. Built from
    the store's typed rows without a validation each: building them checked was a tenth of a 360°
    answer's CPU (BENCHMARKS.md)."""
    people_of: dict[str, dict[tuple, list[TitleRef]]] = {oid: {} for oid in organisation_ids}
    titles: dict[str, TitleRef] = {}
    for c in sorted(colleagues, key=link_order):
        if c.organisation_id not in people_of:
            continue
        if c.title_code not in titles:
            titles[c.title_code] = TitleRef.model_construct(**refs.title(c.title_code))
        people_of[c.organisation_id].setdefault((c.person_id, c.given_name, c.family_name), []).append(
            titles[c.title_code]
        )
    return [
        OrganisationLinks(
            organisation=OrganisationRef(**refs.organisation(oid)),
            people=[
                LinkedPerson.model_construct(person_id=p, given_name=g, family_name=f, titles=t)
                for (p, g, f), t in people.items()
            ],
        )
        for oid, people in people_of.items()
    ]


def _core(view: PersonView, refs: References, day: date) -> dict:
    functions = [FunctionOut(**function_out(view, f, refs, day)) for f in view.active_functions(day)]
    last = view.last_interaction
    return {
        "person_id": view.person_id,
        "given_name": view.given_name,
        "family_name": view.family_name,
        "registered_at": view.registered_at,
        "provisional": view.provisional,
        "main_function": functions[0] if functions else None,
        "functions": functions,
        "attributes": attributes_out(view, day),
        "interactions": dict(view.interactions),
        "events_applied": view.events_applied,
        "last_interaction": LastInteractionOut(**last._asdict()) if last else None,
        "last_event_at": view.last_event_at,
        "reachability": [
            ReachabilityOut(
                channel=r["channel"],
                address=r["address"],
                reachable=r["reachable"],
                reason=r["reason"],
                since=r["since"],
            )
            for r in sorted(view.reachability.values(), key=lambda r: (r["channel"], r["address"]))
        ],
        "service_requests": [
            _summary(request) for request in listed(view.service_requests.values(), now(), FINISHED_SHOWN)
        ],
        "leads": [lead_summary(lead) for lead in listed_leads(view.leads.values())],
    }


_SUMMARY_FIELDS = tuple(ServiceRequestSummary.model_fields)
_TIMES = frozenset(("opened_at", "due_at", "resolved_at", "closed_at", "updated_at"))


def _summary(request: Mapping) -> ServiceRequestSummary:
    """Built from the fold's checked values without a validation each (as the links are)."""
    return ServiceRequestSummary.model_construct(
        **{k: datetime.fromisoformat(request[k]) if k in _TIMES and request[k] else request[k] for k in _SUMMARY_FIELDS}
    )


_LEAD_FIELDS = tuple(LeadSummary.model_fields)
_LEAD_TIMES = frozenset(("created_at", "updated_at", "closed_at"))


def lead_summary(lead: Mapping) -> LeadSummary:
    """Built from the fold's checked values without a validation each (as the links are)."""
    return LeadSummary.model_construct(
        **{
            k: datetime.fromisoformat(lead[k]) if k in _LEAD_TIMES and lead.get(k) else lead.get(k)
            for k in _LEAD_FIELDS
        }
    )


# --- the stored parts ----------------------------------------------------------------------------


def has_document(view: PersonView) -> bool:
    """Whether the projector keeps a ready document for this person: not for someone joined into
    another, joined with others (the family's views are merged at query time) or erased."""
    return view.merged_into is None and not view.absorbed and view.erased_on is None


def document_body(view: PersonView, refs: References, day: date) -> str:
    """The person's own part of the 360° view on ``day``, as the members of a JSON object without
    its braces (the query adds as_of, links and freshness around it)."""
    answer = Person360Out(**_core(view, refs, day), as_of=day, links=[], freshness=_NO_FRESHNESS)
    inputs = json.dumps(engagement_inputs(view, refs, day), separators=(",", ":"), ensure_ascii=False)
    return answer.model_dump_json(exclude=_CORE_EXCLUDED)[1:-1] + ENGAGEMENT_MARK + inputs


def document_organisations(view: PersonView, day: date) -> list[str]:
    """The organisations of the person's active functions on ``day``, in the order their links show."""
    return list(dict.fromkeys(f.organisation_id for f in view.active_functions(day)))


def valid_until(boundaries: Iterable[tuple[date, date | None]], day: date) -> date:
    """The first day after ``day`` on which a function of these (entered_on, exits_on) starts or
    ends: the views built for ``day`` hold until the day before it."""
    changes = [FOREVER]
    for entered_on, exits_on in boundaries:
        if entered_on > day:
            changes.append(entered_on)
        if exits_on is not None and exits_on >= day:
            changes.append(exits_on + timedelta(days=1))
    return min(changes)


def person_valid_until(view: PersonView, day: date) -> date:
    """The first day the person's own part made on ``day`` no longer holds: a function starts or
    ends, or an unresolved request falls due (its ``breached`` flag turns)."""
    until = valid_until(((f.entered_on, f.exits_on) for f in view.functions.values()), day)
    falls_due, during = next_change(view.service_requests.values(), day)
    if during:  # made again the next day (see person_valid_from), when that flag is settled
        return day + timedelta(days=1)
    return min(until, falls_due) if falls_due is not None else until


def person_valid_from(view: PersonView, day: date) -> date:
    """The first day the person's own part made on ``day`` holds: ``day``, unless one of their
    unresolved requests falls due during it — its ``breached`` flag turns at an instant of that
    day, so the views answer (to the second) until the next day's part is made."""
    _, during = next_change(view.service_requests.values(), day)
    return day + timedelta(days=1) if during else day


def organisation_entries(
    organisation_id: str, colleagues: Iterable[Colleague], refs: References
) -> tuple[str, list[str], list[str]]:
    """An organisation's row of links: its reference as JSON, and its first people (ids, and each
    one's LinkedPerson as JSON) in link order."""
    (made,) = links([organisation_id], colleagues, refs)
    return (
        made.organisation.model_dump_json(),
        [p.person_id for p in made.people],
        [p.model_dump_json() for p in made.people],
    )


def splice(
    person_id: str,
    body: str,
    organisations: Sequence[tuple[str, Sequence[str], Sequence[str]]],
    day: date,
    freshness: Freshness,
    moment: Moment | None = None,
) -> bytes:
    """The 360° answer from the stored parts: the person's body, their journeys and offers at
    ``moment`` (from what the body stored for them), and per active organisation (in the
    document's order) its reference and first people, the person left out, fifty at most."""
    body = _with_engagement(body, moment or Moment())
    parts = []
    for organisation, people, entries in organisations:
        shown = [entry for pid, entry in zip(people, entries, strict=True) if pid != person_id][:LINKS_SHOWN]
        parts.append(f'{{"organisation":{organisation},"people":[{",".join(shown)}]}}')
    return (
        f'{{{body},"as_of":"{day.isoformat()}","links":[{",".join(parts)}],"freshness":{freshness.model_dump_json()}}}'
    ).encode()


def _with_engagement(body: str, moment: Moment) -> str:
    core, mark, inputs = body.rpartition(ENGAGEMENT_MARK)
    if not mark:
        raise ValueError("a stored body without its engagement inputs: made by an earlier FORMAT")
    if not moment.catalogue and inputs.startswith(_NO_JOURNEYS):  # most people: nothing to work out
        return f"{core},{_NOTHING_ENGAGED}"
    shown = engagement(from_json(inputs), moment.catalogue, moment.now, moment.stall_after)
    return f"{core},{engagement_json(shown)[1:-1]}"


def engagement_json(shown: Mapping[str, Any]) -> str:
    """``EngagementOut(**shown).model_dump_json()`` without the model's round trip, which cost a
    person with journeys more than their document's read: ``engagement`` makes the members in the
    model's order, and its times, parsed here, are written by pydantic's own serialiser (``Z`` for
    UTC). Tests compare the two on generated journeys and offers."""
    journeys = [
        j | {"started_at": _instant(j["started_at"]), "last_step_at": _instant(j["last_step_at"])}
        for j in shown["journeys"]
    ]
    offers = [o | {"received_at": _instant(o["received_at"])} for o in shown["offers"]]
    return to_json({"journeys": journeys, "offers": offers, "next_offer": shown["next_offer"]}).decode()


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def changed_references(
    before: Mapping[tuple[str, str], Mapping], after: Mapping[tuple[str, str], Mapping]
) -> set[tuple[str, str]]:
    """What a batch's reference events changed that a 360° view shows: organisations
    (``("organisation", id)``) and titles, one by one (``("titles", code)``)."""
    changed = set()
    for key, document in after.items():
        kind, ident = key
        previous = before.get(key) or {}
        if kind == ORGANISATION and document != previous:
            changed.add(key)
        elif kind == TITLES:
            old, new = previous.get("titles", {}), document.get("titles", {})
            changed |= {(TITLES, code) for code in old.keys() | new.keys() if old.get(code) != new.get(code)}
    return changed


def links_touched(before: PersonView | None, after: PersonView) -> set[str]:
    """The organisations whose links a change of one person can change: all of theirs when their
    name or standing (joined, erased) changed, else those of the functions that changed."""
    if before is None:
        return {f.organisation_id for f in after.functions.values()}
    if _shown_as(before) != _shown_as(after):
        return {f.organisation_id for view in (before, after) for f in view.functions.values()}
    changed = set()
    for function_id in before.functions.keys() | after.functions.keys():
        was, now = before.functions.get(function_id), after.functions.get(function_id)
        if was != now:
            changed |= {f.organisation_id for f in (was, now) if f is not None}
    return changed


def _shown_as(view: PersonView) -> tuple:
    return view.given_name, view.family_name, view.merged_into, tuple(view.absorbed), view.erased_on
