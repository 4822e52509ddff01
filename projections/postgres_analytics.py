"""The PostgreSQL store's analytics queries (projections/analytics.py folds what they return).

Both scan a whole table of the generation queries read (the campaign facts from the timeline, the
counts from every person view): analysts' reads, not an advisor's; they hold one connection.
"""

from __future__ import annotations

from typing import Any

from projections.analytics import CampaignEvent, FunctionCount

# Each person's first moment at each status of each message of a campaign: the indicators' input.
_CAMPAIGN_EVENTS = (
    "SELECT data->>'campaign', channel, person_id, min(occurred_at), split_part(message_key, ':', 2), status,"
    " data->>'canonical_status', data->>'bounce_type'"
    " FROM {schema}.timeline WHERE channel IS NOT NULL AND data->>'campaign' IS NOT NULL{only}"
    " GROUP BY 1, 2, 3, 5, 6, 7, 8"
)
# Interactions per function (with its title and organisation, from the person's own view), then the
# whole of each person's per channel; what no function took is the difference.
_FUNCTION_COUNTS = (
    "SELECT v.view->'functions'->f.key->>'title_code', v.view->'functions'->f.key->>'organisation_id',"
    " c.key, sum(c.value::bigint) FROM {schema}.person_view v"
    " CROSS JOIN LATERAL json_each(v.view->'function_interactions') f"
    " CROSS JOIN LATERAL json_each_text(f.value) c WHERE v.view IS NOT NULL GROUP BY 1, 2, 3"
)
_TOTAL_COUNTS = (
    "SELECT c.key, sum(c.value::bigint) FROM {schema}.person_view v"
    " CROSS JOIN LATERAL json_each_text(v.view->'interactions') c WHERE v.view IS NOT NULL GROUP BY 1"
)


class AnalyticsQueries:
    """Mixed into the PostgreSQL store: ``_rows`` runs a query on the generation queries read."""

    def _rows(self, statement: str, params: Any = None) -> list[tuple]:
        raise NotImplementedError

    def campaign_events(self, campaign: str | None = None) -> list[CampaignEvent]:
        only = " AND data->>'campaign' = %s" if campaign is not None else ""
        rows = self._rows(_CAMPAIGN_EVENTS.replace("{only}", only), (campaign,) if campaign is not None else None)
        return [CampaignEvent(*row) for row in rows]

    def function_interaction_counts(self) -> list[FunctionCount]:
        per_function = [(t, o, channel, int(n)) for t, o, channel, n in self._rows(_FUNCTION_COUNTS)]
        attributed: dict[str, int] = {}
        for _, _, channel, count in per_function:
            attributed[channel] = attributed.get(channel, 0) + count
        totals = [
            (None, None, channel, int(n) - attributed.get(channel, 0)) for channel, n in self._rows(_TOTAL_COUNTS)
        ]
        return per_function + totals
