"""The console's analytics page: the analysts' indicators as charts, drawn on the server (services/http/
charts.py) from the very answers the API gives (routes/analytics.py), with the figures in tables."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from projections.campaigns import INDICATORS
from services.http import charts
from services.http.access import AsAnalyst
from services.http.deps import App, Fresh, ProblemError
from services.http.routes import analytics
from services.http.routes.console import PAGE, _page

router = APIRouter(tags=["console"])
CHANNEL_ORDER = ["sms", "email", "call", "web"]
DAY_SERIES = ["sent", "delivered", "opened", "clicked", "bounced"]
TITLES_SHOWN = 15


@router.get("/console/analytics", response_class=HTMLResponse, responses={200: PAGE})
async def analytics_page(
    request: Request,
    crossview: App,
    caller: AsAnalyst,
    freshness: Fresh,
    campaign: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    """Campaigns day by day with their rates, the channel mix per organisation status and interactions
    per function title, as charts (the same figures as GET /v1/campaigns, .../days and
    /v1/analytics/interactions)."""
    page = await run_in_threadpool(_analytics, crossview, freshness, campaign)
    return _page(request, "analytics.html", caller=caller, **page)


def _analytics(crossview, freshness, campaign: str | None) -> dict[str, Any]:
    listed = analytics.list_campaigns(crossview, freshness).campaigns
    chosen = campaign or (listed[-1].campaign if listed else None)
    days = None
    if chosen:
        try:
            days = analytics.days_of_campaign(crossview, chosen, freshness)
        except ProblemError:
            if campaign:
                raise
    mix = analytics.mix_of_interactions(crossview, freshness)
    return {
        "campaigns": listed,
        "chosen": chosen,
        "channels": _campaign_charts(days) if days else [],
        "indicators": INDICATORS,
        "status_chart": charts.stacked_bars(
            "mix-status",
            "Interactions per channel by organisation status",
            [(s.status, s.channels) for s in mix.by_organisation_status],
            CHANNEL_ORDER,
        ),
        "title_chart": charts.stacked_bars(
            "mix-title",
            "Interactions per channel by function title",
            [(t.label, t.channels) for t in mix.by_function_title[:TITLES_SHOWN]],
            CHANNEL_ORDER,
        ),
        "mix": mix,
        "titles_shown": TITLES_SHOWN,
        "channel_order": CHANNEL_ORDER,
        "legend_channels": charts.legend(CHANNEL_ORDER),
        "legend_days": charts.legend(DAY_SERIES),
    }


def _campaign_charts(days) -> list[dict[str, Any]]:
    shown = []
    for channel, rows in days.channels.items():
        last = rows[-1]
        shown.append(
            {
                "channel": channel,
                "last": last,
                "rates": charts.rate_bars(
                    f"rates-{channel}",
                    f"{days.campaign} on {channel}: rates so far",
                    last.rates,
                    {k: v.model_dump() for k, v in last.denominators.items()},
                    last.counts,
                ),
                "days": charts.day_columns(
                    f"days-{channel}",
                    f"{days.campaign} on {channel}: people who first reached each indicator, per day",
                    [(row.day, row.new) for row in rows],
                    DAY_SERIES,
                ),
                "rows": rows,
            }
        )
    return shown
