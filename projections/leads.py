"""Leads in the read models: the pure fold of a person's leads, the order the 360° view lists them
in, and the sales pipeline's figures. No I/O.

A lead's events come from one aggregate, relayed in order onto its person's partition, so they fold
in the order they were stored; an event of a lead whose creation was not seen (a view made before
leads existed, say) still starts one, and its creation then fills in the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from projections.facts import Fact
from schemas.events import models_of
from schemas.lead_events import LEAD_EVENTS, LeadConverted, LeadCreated, LeadLost, LeadQualified, LeadRouted

LEAD_MODELS = models_of(*LEAD_EVENTS)
OPEN_STAGES = ("new", "qualified", "routed")
STAGES = (*OPEN_STAGES, "converted", "lost")
CLOSED_SHOWN = 20  # converted or lost leads a 360° view lists after the open ones, newest first


def apply_lead(leads: dict[str, Mapping[str, Any]], fact: Fact) -> None:
    """Fold one lead event into ``leads`` (lead id -> its JSON-ready state), in place."""
    data = fact.data
    lead = dict(leads.get(data.lead_id) or _blank(data.lead_id))
    if type(data) is LeadCreated:
        lead.update(
            product=data.product,
            source=data.source,
            function_id=data.function_id,
            organisation_id=data.organisation_id,
            prescriber_id=data.prescriber_id,
            prescriber_name=data.prescriber_name,
            campaign=data.campaign,
            created_at=data.created_at.isoformat(),
        )
        lead["updated_at"] = max(lead["updated_at"] or "", lead["created_at"])
    else:
        lead["updated_at"] = data.at.isoformat()
        if type(data) is LeadQualified:
            lead.update(stage=_later(lead["stage"], "qualified"), size=data.size, rule=data.rule, reason=data.reason)
        elif type(data) is LeadRouted:
            lead.update(stage=_later(lead["stage"], "routed"), channel=data.channel, owner=data.owner)
        elif type(data) is LeadConverted:
            lead.update(stage="converted", closed_at=data.at.isoformat())
        elif type(data) is LeadLost:
            lead.update(stage="lost", closed_at=data.at.isoformat(), lost_reason=data.reason)
    leads[data.lead_id] = lead


def without_words(leads: Mapping[str, Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The leads of an erased person: what they or an advisor said about them (the reasons) gone."""
    return {lead_id: {**lead, "reason": None, "lost_reason": None} for lead_id, lead in leads.items()}


def _later(stage: str, reached: str) -> str:
    """A lead qualified again after it was routed stays routed (the aggregate refuses it anyway)."""
    return stage if STAGES.index(stage) > STAGES.index(reached) else reached


def _blank(lead_id: str) -> dict[str, Any]:
    return {
        "lead_id": lead_id,
        "stage": "new",
        "product": None,
        "source": None,
        "size": None,
        "rule": None,
        "reason": None,
        "channel": None,
        "owner": None,
        "function_id": None,
        "organisation_id": None,
        "prescriber_id": None,
        "prescriber_name": None,
        "campaign": None,
        "created_at": None,
        "updated_at": None,
        "closed_at": None,
        "lost_reason": None,
    }


def listed(leads: Iterable[Mapping[str, Any]], closed_shown: int = CLOSED_SHOWN) -> list[Mapping[str, Any]]:
    """Open leads first, oldest first (the longest waiting on top); then the last ``closed_shown``
    converted or lost ones, newest first."""
    leads = list(leads)
    opened = sorted((lead for lead in leads if lead["stage"] in OPEN_STAGES), key=_created)
    closed = sorted((lead for lead in leads if lead["stage"] not in OPEN_STAGES), key=_closed, reverse=True)
    return opened + closed[:closed_shown]


def _created(lead: Mapping[str, Any]) -> tuple[str, str]:
    return lead["created_at"] or "", lead["lead_id"]


def _closed(lead: Mapping[str, Any]) -> tuple[str, str]:
    return lead["closed_at"] or "", lead["lead_id"]


# --- the pipeline ---------------------------------------------------------------------------------

# stage, owner ("" before routing), source, prescriber credited ("" for none), leads
PipelineRow = tuple[str, str, str, str, int]


def pipeline_rows(leads: Iterable[Mapping[str, Any]]) -> list[PipelineRow]:
    """The rows a store counts: one per (stage, owner, source, prescriber) with its number of leads."""
    counts: dict[tuple[str, str, str, str], int] = {}
    for lead in leads:
        key = (lead["stage"], lead["owner"] or "", lead["source"] or "", lead.get("prescriber_id") or "")
        counts[key] = counts.get(key, 0) + 1
    return [(*key, n) for key, n in sorted(counts.items())]


def rates(by_stage: Mapping[str, int]) -> dict[str, float | None]:
    """``win_rate``: converted / (converted + lost), over the leads that were closed one way or the
    other; ``conversion_rate``: converted / created, over every lead ever created (open ones too).
    None when the denominator is zero."""
    converted, lost = by_stage.get("converted", 0), by_stage.get("lost", 0)
    created = sum(by_stage.values())
    return {
        "win_rate": round(converted / (converted + lost), 4) if converted + lost else None,
        "conversion_rate": round(converted / created, 4) if created else None,
    }


def pipeline(rows: Iterable[PipelineRow]) -> dict[str, Any]:
    """The pipeline: leads by stage, and per owner, per source and per prescriber credited (by
    organisation id) their stages and rates."""
    by_stage: dict[str, int] = dict.fromkeys(STAGES, 0)
    by_owner: dict[str, dict[str, int]] = {}
    by_source: dict[str, dict[str, int]] = {}
    by_prescriber: dict[str, dict[str, int]] = {}
    for stage, owner, source, prescriber, n in rows:
        by_stage[stage] = by_stage.get(stage, 0) + n
        groups = [(by_owner, owner or "unassigned"), (by_source, source)]
        if prescriber:
            groups.append((by_prescriber, prescriber))
        for group, key in groups:
            stages = group.setdefault(key, dict.fromkeys(STAGES, 0))
            stages[stage] = stages.get(stage, 0) + n
    return {
        "created": sum(by_stage.values()),
        "by_stage": by_stage,
        **rates(by_stage),
        "by_owner": {k: _breakdown(v) for k, v in sorted(by_owner.items())},
        "by_source": {k: _breakdown(v) for k, v in sorted(by_source.items())},
        "by_prescriber": {k: _breakdown(v) for k, v in sorted(by_prescriber.items())},
    }


def _breakdown(stages: Mapping[str, int]) -> dict[str, Any]:
    return {"created": sum(stages.values()), "by_stage": dict(stages), **rates(stages)}
