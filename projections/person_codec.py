"""The person view's storage form: a JSON document that names every field (both stores keep it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from domain.person import Function
from projections.person_model import LastInteraction, PersonView


def view_to_json(view: PersonView) -> dict[str, Any]:
    # Written out by hand: the stored document names every field (a named tuple is an array in JSON).
    last = view.last_interaction
    return {
        "person_id": view.person_id,
        "given_name": view.given_name,
        "family_name": view.family_name,
        "registered_at": _iso(view.registered_at),
        "provisional": view.provisional,
        "interactions": dict(view.interactions),
        "events_applied": view.events_applied,
        "last_interaction": None
        if last is None
        else {
            "event_id": last.event_id,
            "channel": last.channel,
            "direction": last.direction,
            "status": last.status,
            "provider": last.provider,
            "at": last.at.isoformat(),
        },
        "last_event_at": _iso(view.last_event_at),
        "attributes": dict(view.attributes),
        "functions": {
            f.function_id: {
                "organisation_id": f.organisation_id,
                "title_code": f.title_code,
                "entered_on": f.entered_on.isoformat(),
                "exits_on": _iso(f.exits_on),
            }
            for f in view.functions.values()
        },
        "priority": list(view.priority),
        "function_attributes": {f: dict(a) for f, a in view.function_attributes.items()},
        "function_interactions": {f: dict(c) for f, c in view.function_interactions.items()},
        "reachability": {k: dict(v) for k, v in view.reachability.items()},
        "contact_points": list(view.contact_points),
        "absorbed": list(view.absorbed),
        "merged_into": view.merged_into,
        **({"erased_on": view.erased_on.isoformat()} if view.erased_on else {}),
        # sorted: the same view is the same document, whatever order its events came in
        "messages": {channel: sorted(digests) for channel, digests in sorted(view.messages.items())},
        # Only when there are some: the documents of the people without stay as they were.
        **({"journeys": {k: dict(v) for k, v in view.journeys.items()}} if view.journeys else {}),
        **(
            {"campaigns_received": {k: dict(v) for k, v in view.campaigns_received.items()}}
            if view.campaigns_received
            else {}
        ),
        **({"offer_answers": {k: dict(v) for k, v in view.offer_answers.items()}} if view.offer_answers else {}),
        **(
            {"service_requests": {r: dict(v) for r, v in view.service_requests.items()}}
            if view.service_requests
            else {}
        ),
        **({"leads": {lead: dict(state) for lead, state in view.leads.items()}} if view.leads else {}),
    }


def _iso(moment: date | None) -> str | None:
    return moment.isoformat() if moment else None


def view_from_json(raw: Mapping[str, Any]) -> PersonView:
    last = raw.get("last_interaction")
    return PersonView(
        person_id=raw["person_id"],
        given_name=raw.get("given_name"),
        family_name=raw.get("family_name"),
        registered_at=_datetime(raw.get("registered_at")),
        provisional=raw.get("provisional", False),
        interactions=raw.get("interactions", {}),
        events_applied=raw.get("events_applied", 0),
        last_interaction=None if not last else LastInteraction(**{**last, "at": datetime.fromisoformat(last["at"])}),
        last_event_at=_datetime(raw.get("last_event_at")),
        attributes=raw.get("attributes", {}),
        functions={
            function_id: Function(
                function_id,
                f["organisation_id"],
                f["title_code"],
                date.fromisoformat(f["entered_on"]),
                date.fromisoformat(f["exits_on"]) if f.get("exits_on") else None,
            )
            for function_id, f in raw.get("functions", {}).items()
        },
        priority=tuple(raw.get("priority", ())),
        function_attributes=raw.get("function_attributes", {}),
        function_interactions=raw.get("function_interactions", {}),
        reachability=raw.get("reachability", {}),
        contact_points=tuple(raw.get("contact_points", ())),
        absorbed=tuple(raw.get("absorbed", ())),
        merged_into=raw.get("merged_into"),
        erased_on=date.fromisoformat(raw["erased_on"]) if raw.get("erased_on") else None,
        messages={channel: frozenset(digests) for channel, digests in raw.get("messages", {}).items()},
        journeys=raw.get("journeys", {}),
        campaigns_received=raw.get("campaigns_received", {}),
        offer_answers=raw.get("offer_answers", {}),
        service_requests=raw.get("service_requests", {}),
        leads=raw.get("leads", {}),
    )


def _datetime(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
