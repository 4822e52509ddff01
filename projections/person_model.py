"""The person view: what a person's read model holds, and how the views of joined people add up.

Built by the fold (person_view), stored as JSON (person_codec), read by the queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from hashlib import blake2b
from types import MappingProxyType
from typing import Any, NamedTuple

from domain.person import Function
from projections.engagement_state import earliest, latest, merge_journey, merge_keyed


# The projector builds these for every event: named tuples are immutable like frozen dataclasses,
# and four times cheaper to build.
class LastInteraction(NamedTuple):
    event_id: str
    channel: str
    direction: str
    status: str
    provider: str
    at: datetime


_NOTHING: Mapping[str, Any] = MappingProxyType({})


class PersonView(NamedTuple):
    person_id: str
    given_name: str | None = None
    family_name: str | None = None
    registered_at: datetime | None = None
    provisional: bool = False  # created for an unknown contact point, not yet identified
    interactions: Mapping[str, int] = _NOTHING  # channel -> interactions (messages, calls), not status reports
    events_applied: int = 0
    last_interaction: LastInteraction | None = None
    last_event_at: datetime | None = None
    attributes: Mapping[str, str | None] = _NOTHING  # carried by the person
    functions: Mapping[str, Function] = _NOTHING
    priority: tuple[str, ...] = ()  # function ids, highest priority first
    function_attributes: Mapping[str, Mapping[str, str | None]] = _NOTHING
    function_interactions: Mapping[str, Mapping[str, int]] = _NOTHING
    # "channel:address" -> {channel, address, reachable, reason, since, event_id}: the latest consent
    # or reachability change of each contact point (unsubscribe, STOP, complaint, hard bounce...).
    reachability: Mapping[str, Mapping[str, Any]] = _NOTHING
    contact_points: tuple[str, ...] = ()  # "kind:address" leading to this person
    absorbed: tuple[str, ...] = ()  # people joined into this one
    merged_into: str | None = None  # set when this person was joined into another
    erased_on: date | None = None  # erased at their request: only counts remain
    # channel -> digests of the messages counted (message_digest): a message's later status reports
    # find theirs here and count nothing, whatever order they arrive in.
    messages: Mapping[str, frozenset[str]] = _NOTHING
    # Journeys and offers (projections/engagement.py): journey key -> its folded state; campaign ->
    # its first receipt; offer code -> the person's answer.
    journeys: Mapping[str, Mapping[str, Any]] = _NOTHING
    campaigns_received: Mapping[str, Mapping[str, Any]] = _NOTHING
    offer_answers: Mapping[str, Mapping[str, Any]] = _NOTHING
    # request id -> the request's state (projections/service_requests.py), JSON-ready
    service_requests: Mapping[str, Mapping[str, Any]] = _NOTHING
    # lead id -> the lead's state (projections/leads.py), JSON-ready
    leads: Mapping[str, Mapping[str, Any]] = _NOTHING

    def reachable(self, channel: str, address: str) -> bool:
        """Whether the person may be sent something on this contact point (unknown: yes)."""
        return bool(self.reachability.get(f"{channel}:{address}", {}).get("reachable", True))

    def active_functions(self, day: date) -> list[Function]:
        """Active functions in priority order: the first is the main function."""
        return [self.functions[f] for f in self.priority if self.functions[f].is_active_on(day)]


def message_digest(message_key: str) -> str:
    """A short stable name of one message (channel:provider:provider_id), the timeline's grouping key."""
    return blake2b(message_key.encode(), digest_size=8).hexdigest()


def merge_views(survivor: PersonView, absorbed: Iterable[PersonView]) -> PersonView:
    """The survivor's view with the history of everyone joined into them: counts add up, the latest
    interaction and reachability win, the survivor's identity, attributes and priorities come first."""
    views = [survivor, *absorbed]
    interactions: dict[str, int] = {}
    messages: dict[str, frozenset[str]] = {}
    per_function: dict[str, dict[str, int]] = {}
    reachability: dict[str, Mapping[str, Any]] = {}
    for view in views:
        for channel, count in view.interactions.items():
            interactions[channel] = interactions.get(channel, 0) + count
        for channel, digests in view.messages.items():
            # A message whose reports reached both people (before and after the join) is one.
            shared = len(messages.get(channel, frozenset()) & digests)
            interactions[channel] = interactions.get(channel, 0) - shared
            messages[channel] = messages.get(channel, frozenset()) | digests
        for function_id, counts in view.function_interactions.items():
            target = per_function.setdefault(function_id, {})
            for channel, count in counts.items():
                target[channel] = target.get(channel, 0) + count
        for key, state in view.reachability.items():
            if key not in reachability or (state["since"], state["event_id"]) > (
                reachability[key]["since"],
                reachability[key]["event_id"],
            ):
                reachability[key] = state
    lasts = [v.last_interaction for v in views if v.last_interaction]
    moments = [v.last_event_at for v in views if v.last_event_at]
    registered = [v.registered_at for v in views if v.registered_at]
    named = next((v for v in views if v.given_name or v.family_name), survivor)
    return survivor._replace(
        given_name=named.given_name,
        family_name=named.family_name,
        registered_at=min(registered) if registered else None,
        provisional=all(v.provisional for v in views),
        interactions=interactions,
        events_applied=sum(v.events_applied for v in views),
        last_interaction=max(lasts, key=lambda last: (last.at, last.event_id)) if lasts else None,
        last_event_at=max(moments) if moments else None,
        attributes={k: v for view in reversed(views) for k, v in view.attributes.items()},
        functions={f: fn for view in reversed(views) for f, fn in view.functions.items()},
        priority=tuple(dict.fromkeys(f for view in views for f in view.priority)),
        function_attributes={f: a for view in reversed(views) for f, a in view.function_attributes.items()},
        function_interactions=per_function,
        reachability=reachability,
        contact_points=tuple(dict.fromkeys(c for view in views for c in view.contact_points)),
        messages=messages,
        journeys=merge_keyed((v.journeys for v in views), merge_journey),
        campaigns_received=merge_keyed((v.campaigns_received for v in views), earliest),
        offer_answers=merge_keyed((v.offer_answers for v in views), latest),
        service_requests={r: request for view in reversed(views) for r, request in view.service_requests.items()},
        leads={lead: state for view in reversed(views) for lead, state in view.leads.items()},
    )
