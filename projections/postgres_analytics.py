"""The PostgreSQL store's analytics queries (projections/analytics.py folds what they return).

Both scan a whole table of the generation queries read (the campaign facts from the timeline, the
counts from every person view): analysts' reads, not an advisor's; they hold one connection.
"""

from __future__ import annotations

from collections.abc import Callable

from projections.analytics import CampaignEvent, FunctionCount
from projections.as_of import Cut
from projections.postgres_as_of import cut_condition
from schemas.events import FunctionAssigned

# Each person's first (and last) moment at each status of each message of a campaign: the indicators' input.
_CAMPAIGN_EVENTS = (
    "SELECT data->>'campaign', channel, person_id, min(occurred_at), split_part(message_key, ':', 2), status,"
    " data->>'canonical_status', data->>'bounce_type', max(occurred_at)"
    " FROM {schema}.timeline WHERE channel IS NOT NULL AND data->>'campaign' IS NOT NULL{only} AND {cut}"
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

# At a cut, from the timeline rows it keeps (analytics.function_counts_at, in SQL): each message once,
# for the function of its first event in log order, with the person's latest assignment of it.
_FUNCTION_COUNTS_AT = (
    "WITH firsts AS (SELECT DISTINCT ON (person_id, message_key) person_id, channel,"
    "  data->>'function_id' AS function_id FROM {schema}.timeline WHERE channel IS NOT NULL AND {cut}"
    "  ORDER BY person_id, message_key, topic, partition, kafka_offset),"
    " functions AS (SELECT DISTINCT ON (person_id, data->>'function_id') person_id,"
    "  data->>'function_id' AS function_id, data->>'title_code' AS title_code,"
    "  data->>'organisation_id' AS organisation_id FROM {schema}.timeline WHERE event_type = %s AND {cut}"
    "  ORDER BY person_id, data->>'function_id', topic, partition, kafka_offset DESC)"
    " SELECT f.title_code, f.organisation_id, i.channel, count(*) FROM firsts i"
    " LEFT JOIN functions f ON f.person_id = i.person_id AND f.function_id = i.function_id GROUP BY 1, 2, 3"
)


class AnalyticsQueries:
    """Mixed into the PostgreSQL store: ``_rows`` runs a query on the generation queries read."""

    _rows: Callable[..., list[tuple]]  # PostgresQueries': one query on the generation queries read

    def campaign_events(self, campaign: str | None = None, cut: Cut | None = None) -> list[CampaignEvent]:
        only = " AND data->>'campaign' = %s" if campaign is not None else ""
        kept, cut_params = cut_condition(cut, {}) if cut is not None else ("true", [])
        params = ([campaign] if campaign is not None else []) + cut_params
        rows = self._rows(_CAMPAIGN_EVENTS.replace("{only}", only).replace("{cut}", kept), params or None)
        return [CampaignEvent(*row) for row in rows]

    def function_interaction_counts(self, cut: Cut | None = None) -> list[FunctionCount]:
        if cut is not None:
            kept, params = cut_condition(cut, {})
            rows = self._rows(
                _FUNCTION_COUNTS_AT.replace("{cut}", kept), [*params, FunctionAssigned.event_type, *params]
            )
            return [(t, o, channel, int(n)) for t, o, channel, n in rows]
        per_function = [(t, o, channel, int(n)) for t, o, channel, n in self._rows(_FUNCTION_COUNTS)]
        attributed: dict[str, int] = {}
        for _, _, channel, count in per_function:
            attributed[channel] = attributed.get(channel, 0) + count
        totals = [
            (None, None, channel, int(n) - attributed.get(channel, 0)) for channel, n in self._rows(_TOTAL_COUNTS)
        ]
        return per_function + totals
