"""Analysts' indicators, computed from what the read models hold: campaigns over time, the channel mix
per organisation status, and interactions per function title. Pure: the stores give the rows.

Campaigns over time count each person on the day they first reached an indicator (first sent,
first delivered...), so a campaign's days add up to its totals; each day also carries the counts
so far, over which its rates are taken (a rate per lone day would divide today's opens by today's
deliveries, which are yesterday's). A campaign's days run from its first message to its last, so
the days it only wrote again to people it had reached are there, with nobody new.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any, NamedTuple

from projections.campaigns import INDICATORS, indicators_of
from projections.timeline import TimelineEntry
from schemas.events import FunctionAssigned
from schemas.statuses import canonical, meaning

NO_STATUS = "none"  # interactions attributed to no function, or to an organisation the referential lacks


class CampaignEvent(NamedTuple):
    """One status a person's message of a campaign reached, and when it first did."""

    campaign: str
    channel: str
    person_id: str
    at: datetime
    provider: str
    status: str
    canonical_status: str | None = None
    bounce_type: str | None = None
    last_at: datetime | None = None  # the latest moment of that status (``at``'s when unknown)

    @property
    def indicator(self) -> str | None:
        lifecycle = self.canonical_status or canonical(self.provider, self.status, self.bounce_type)
        return meaning(lifecycle).indicator


Reach = dict[tuple[str, str, str, str], datetime]  # (campaign, channel, indicator, person) -> first reached


def first_reached(events: Iterable[CampaignEvent]) -> Reach:
    """When each person first reached each indicator of each campaign and channel; any message of
    the campaign makes them sent, as the campaign indicators count."""
    reach: Reach = {}
    for event in events:
        for indicator in ("sent", event.indicator):
            if indicator:
                key = (event.campaign, event.channel, indicator, event.person_id)
                if key not in reach or event.at < reach[key]:
                    reach[key] = event.at
    return reach


Activity = dict[tuple[str, str], datetime]  # (campaign, channel) -> its latest message's moment


def last_active(events: Iterable[CampaignEvent]) -> Activity:
    """When each campaign last wrote on each channel (a message to someone it had reached already counts)."""
    activity: Activity = {}
    for event in events:
        key, moment = (event.campaign, event.channel), event.last_at or event.at
        if key not in activity or moment > activity[key]:
            activity[key] = moment
    return activity


def reach_counts(reach: Reach, campaign: str) -> dict[tuple[str, str], int]:
    """Distinct people per (channel, indicator) of the campaign, as campaigns.indicators reads them:
    what the campaign_reach rows count, computed from the events (at a cut, from those it keeps)."""
    counts: dict[tuple[str, str], int] = {}
    for name, channel, indicator, _ in reach:
        if name == campaign:
            counts[(channel, indicator)] = counts.get((channel, indicator), 0) + 1
    return counts


def campaign_list(reach: Reach, activity: Activity | None = None) -> list[dict[str, Any]]:
    """Every campaign, its channels, the people it was sent to, and its first and last day (of any
    message: ``activity``)."""
    campaigns: dict[str, dict[str, Any]] = {}
    for (campaign, channel, indicator, person_id), at in reach.items():
        entry = campaigns.setdefault(campaign, {"channels": set(), "people": set(), "moments": []})
        entry["channels"].add(channel)
        entry["moments"].append(at)
        if indicator == "sent":
            entry["people"].add(person_id)
    for (campaign, _), at in (activity or {}).items():
        if campaign in campaigns:
            campaigns[campaign]["moments"].append(at)
    return [
        {
            "campaign": campaign,
            "channels": sorted(entry["channels"]),
            "people_sent": len(entry["people"]),
            "first_day": min(entry["moments"]).date(),
            "last_day": max(entry["moments"]).date(),
        }
        for campaign, entry in sorted(campaigns.items())
    ]


def campaign_days(reach: Reach, campaign: str, activity: Activity | None = None) -> dict[str, list[dict[str, Any]]]:
    """{channel: [{day, new: {indicator: people}, counts: {indicator: people so far}, rates, denominators}]}:
    a row for every day from the campaign's first to its last message (``activity``), quiet days
    included (charts need them)."""
    new: dict[str, dict[date, dict[str, int]]] = {}
    for (name, channel, indicator, _), at in reach.items():
        if name == campaign:
            day = new.setdefault(channel, {}).setdefault(at.date(), dict.fromkeys(INDICATORS, 0))
            day[indicator] += 1
    result: dict[str, list[dict[str, Any]]] = {}
    for channel, days in sorted(new.items()):
        so_far = dict.fromkeys(INDICATORS, 0)
        rows = []
        latest = (activity or {}).get((campaign, channel))
        day, last = min(days), max([*days, *([latest.date()] if latest else [])])
        while day <= last:
            fresh = days.get(day, dict.fromkeys(INDICATORS, 0))
            so_far = {indicator: so_far[indicator] + fresh[indicator] for indicator in INDICATORS}
            rows.append({"day": day, "new": fresh, **indicators_of(so_far)})
            day = date.fromordinal(day.toordinal() + 1)
        result[channel] = rows
    return result


# (title code, organisation id, channel, interactions): what the stores give of their person views;
# title and organisation are None for interactions attributed to no function.
FunctionCount = tuple[str | None, str | None, str, int]


def interaction_mix(
    counts: Iterable[FunctionCount], organisations: Mapping[str, Mapping[str, Any]], titles: Mapping[str, Any]
) -> dict[str, Any]:
    """Interactions (messages, calls, visits: one however many status reports) per channel, by the
    status (relationship) of the organisation of the function they were attributed to, and by that
    function's title. Statuses and labels are today's."""
    by_status: dict[str, dict[str, int]] = {}
    by_title: dict[str, dict[str, int]] = {}
    for title_code, organisation_id, channel, count in counts:
        if not count:
            continue
        organisation = organisations.get(organisation_id or "") or {}
        status = organisation.get("relationship") or NO_STATUS
        by_status.setdefault(status, {})[channel] = by_status.get(status, {}).get(channel, 0) + count
        if title_code is not None:
            by_title.setdefault(title_code, {})[channel] = by_title.get(title_code, {}).get(channel, 0) + count
    return {
        "by_organisation_status": [
            {"status": status, "channels": dict(sorted(channels.items())), "total": sum(channels.values())}
            for status, channels in sorted(by_status.items(), key=lambda item: (item[0] == NO_STATUS, item[0]))
        ],
        "by_function_title": [
            {
                "title_code": code,
                "label": (titles.get(code) or {}).get("label") or code,
                "channels": dict(sorted(channels.items())),
                "total": sum(channels.values()),
            }
            for code, channels in sorted(by_title.items(), key=lambda item: (-sum(item[1].values()), item[0]))
        ],
    }


def function_counts(views: Iterable[Any]) -> list[FunctionCount]:
    """The FunctionCount rows of person views (the memory store's; PostgreSQL computes the same in SQL)."""
    rows: list[FunctionCount] = []
    for view in views:
        attributed: dict[str, int] = {}
        for function_id, channels in view.function_interactions.items():
            function = view.functions.get(function_id)
            for channel, count in channels.items():
                attributed[channel] = attributed.get(channel, 0) + count
                rows.append(
                    (
                        function.title_code if function else None,
                        function.organisation_id if function else None,
                        channel,
                        count,
                    )
                )
        for channel, count in view.interactions.items():
            rows.append((None, None, channel, count - attributed.get(channel, 0)))
    return rows


def function_counts_at(entries: Iterable[TimelineEntry]) -> list[FunctionCount]:
    """The FunctionCount rows as the person views folded from these timeline entries (those a cut
    keeps) would give them, without folding anyone: a message counts once, for the function its
    first event (in log order) was attributed to, with that function's title and organisation as
    the person's latest assignment of it among the entries says. An erased person's entries hold no
    data: their interactions count as attributed to no function, as their live view counts them."""
    firsts: dict[tuple[str, str], TimelineEntry] = {}
    assigned: dict[tuple[str, str], TimelineEntry] = {}
    for entry in entries:
        place = (entry.topic, entry.partition, entry.offset)
        if entry.channel is not None:
            key = (entry.person_id, entry.message_key or entry.event_id)
            first = firsts.get(key)
            if first is None or place < (first.topic, first.partition, first.offset):
                firsts[key] = entry
        elif entry.event_type == FunctionAssigned.event_type:
            key = (entry.person_id, entry.data.get("function_id") or "")
            latest = assigned.get(key)
            if latest is None or place > (latest.topic, latest.partition, latest.offset):
                assigned[key] = entry
    counts: dict[tuple[str | None, str | None, str], int] = {}
    for (person_id, _), entry in firsts.items():
        function_id = entry.data.get("function_id")
        function = assigned[(person_id, function_id)].data if (person_id, function_id) in assigned else {}
        key = (function.get("title_code"), function.get("organisation_id"), entry.channel or "")
        counts[key] = counts.get(key, 0) + 1
    return [(title, organisation, channel, n) for (title, organisation, channel), n in sorted(counts.items(), key=str)]
