"""Campaign indicators: who was reached, and how, per campaign and channel — unique per person.

Every interaction tagged with a campaign counts its person as sent; its status then says whether
they were delivered, opened, clicked, bounced, unsubscribed or complained. Rows are facts
``(campaign, channel, indicator, person)``, so counting distinct people is a set union: the same
whatever the order, and a redelivered event changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from projections.facts import Fact
from schemas.events import Interaction, models_of

INDICATORS = ("sent", "delivered", "opened", "clicked", "bounced", "unsubscribed", "complaints")
# Each rate is over the people the indicator could apply to: delivered and bounced over sent; the
# others over delivered — or over sent where the channel reported no delivery for the campaign (a
# web page, a provider without delivery reports): an open then says the message arrived, and a
# rate over nobody delivered would read 0 however many opened.
OVER_SENT = ("delivered", "bounced")
OVER_DELIVERED = ("opened", "clicked", "unsubscribed", "complaints")

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


def indicators_of(people: Mapping[str, int]) -> dict[str, Any]:
    """Counts of distinct people per indicator, their rates, and what each rate is over."""
    counts = {indicator: int(people.get(indicator, 0)) for indicator in INDICATORS}
    delivery_reported = counts["delivered"] > 0
    engaged_over = "delivered" if delivery_reported else "sent"
    over = {indicator: "sent" for indicator in OVER_SENT} | dict.fromkeys(OVER_DELIVERED, engaged_over)
    # None when nobody is in the denominator, or when nothing reported delivery: no rate, rather
    # than a 0 that reads as a measure ("0 % delivered" of a channel that never says)
    rates = {
        indicator: round(counts[indicator] / counts[base], 4) if counts[base] else None
        for indicator, base in over.items()
    }
    if not delivery_reported:
        rates["delivered"] = None
    return {
        "counts": counts,
        "rates": rates,
        "denominators": {indicator: {"indicator": base, "people": counts[base]} for indicator, base in over.items()},
        "delivery_reported": delivery_reported,
    }


def indicators(counts: Mapping[tuple[str, str], int]) -> dict[str, dict[str, Any]]:
    """{channel: indicators_of(its people)} from (channel, indicator) counts."""
    return {
        channel: indicators_of({indicator: n for (c, indicator), n in counts.items() if c == channel})
        for channel in sorted({channel for channel, _ in counts})
    }
