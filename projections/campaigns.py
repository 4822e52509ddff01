"""Campaign indicators: who was reached, and how, per campaign and channel — unique per person.

Every interaction tagged with a campaign counts its person as sent; its status then says whether
they were delivered, opened, clicked, bounced, unsubscribed or complained. Rows are facts
``(campaign, channel, indicator, person)``, so counting distinct people is a set union: the same
whatever the order, and a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from projections.facts import Fact
from schemas.events import Interaction, models_of

INDICATORS = ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "complaints")
# Each rate is over the people the indicator could apply to.
RATE_BASE = {
    "delivered": "sent",
    "bounced": "sent",
    "opened": "delivered",
    "clicked": "delivered",
    "unsubscribed": "delivered",
    "complaints": "delivered",
}

_INTERACTION_MODELS = models_of(Interaction)
Row = tuple[str, str, str, str]  # campaign, channel, indicator, person id


def campaign_rows(facts: Iterable[Fact]) -> set[Row]:
    rows = set()
    for fact in facts:
        data = fact.data
        if type(data) in _INTERACTION_MODELS and data.campaign:
            rows.add((data.campaign, data.channel, "sent", fact.subject))
            indicator = data.meaning.indicator  # the one status table (schemas/statuses.py)
            if indicator:
                rows.add((data.campaign, data.channel, indicator, fact.subject))
    return rows


def indicators(counts: Mapping[tuple[str, str], int]) -> dict[str, dict[str, dict[str, float | int]]]:
    """{channel: {"counts": {indicator: people}, "rates": {indicator: share}}} from (channel, indicator) counts."""
    result = {}
    for channel in sorted({channel for channel, _ in counts}):
        people = {indicator: counts.get((channel, indicator), 0) for indicator in INDICATORS}
        rates = {
            indicator: round(people[indicator] / people[base], 4) if people[base] else 0.0
            for indicator, base in RATE_BASE.items()
        }
        result[channel] = {"counts": people, "rates": rates}
    return result
