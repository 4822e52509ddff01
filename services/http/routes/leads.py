"""The sales pipeline: a person's leads (create, qualify, route, convert, lose), the rules that
qualify and route them, and the pipeline's figures.

Changes go through the aggregates (named rules: 409) and answer once stored, like every command;
reads come from the read models.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter

from projections.leads import OPEN_STAGES, listed, pipeline
from projections.person_document import lead_summary
from schemas.api import CommandOut, LeadsOut, PipelineOut
from schemas.leads_api import LeadIn, LeadRulesIn, LeadRulesOut, LoseIn, QualifyIn, RouteIn
from services.http.access import AsAdmin, AsAdvisor, AsPeopleReader, AsReader, shown_to
from services.http.deps import App, Fresh, ProblemError
from services.http.routes.commands import ERRORS, run_command
from services.http.routes.queries import NOT_FOUND, family_of

router = APIRouter(tags=["leads"])
LEADS = "/v1/persons/{person_id}/leads"


@router.post(LEADS, status_code=201, response_model=CommandOut, responses=ERRORS)
def create_lead(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, body: LeadIn) -> CommandOut:
    """A new lead: the person's (or one of their functions') interest in a product, from a call, the
    web, a campaign reply (`campaign` required) or a referral by a prescriber organisation
    (`prescriber_id` required, credited with it; 409 `NotAPrescriberError` if it is not one). The
    answer's id is the lead id."""
    if body.source == "referral" and body.prescriber_id is None:
        raise ProblemError(
            422,
            "Invalid lead",
            "a referral names its prescriber",
            [{"field": "body.prescriber_id", "message": "required for a referral"}],
        )
    if body.source == "campaign" and body.campaign is None:
        raise ProblemError(
            422,
            "Invalid lead",
            "a campaign reply names its campaign",
            [{"field": "body.campaign", "message": "required for a campaign reply"}],
        )
    return run_command(
        crossview,
        lambda app: app.create_lead(
            person_id,
            body.product,
            body.source,
            caller.subject,
            function_id=body.function_id,
            organisation_id=body.organisation_id,
            prescriber_id=body.prescriber_id,
            campaign=body.campaign,
            employees=body.employees,
            budget=body.budget,
        ),
    )


@router.post(f"{LEADS}/{{lead_id}}/qualify", response_model=CommandOut, responses=ERRORS)
def qualify_lead(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, lead_id: uuid.UUID, body: QualifyIn
) -> CommandOut:
    """Qualify the lead small, medium or large by the rules (`GET /v1/lead-rules`), or give `size`
    to override them (`reason` required: 409 `QualificationOverrideError` without). A routed lead is
    not qualified again (409 `LeadTransitionError`). The answer's id is the size."""
    return run_command(
        crossview, lambda app: app.qualify_lead(person_id, lead_id, caller.subject, body.size, body.reason)
    )


@router.post(f"{LEADS}/{{lead_id}}/route", response_model=CommandOut, responses=ERRORS)
def route_lead(
    crossview: App, caller: AsAdvisor, person_id: uuid.UUID, lead_id: uuid.UUID, body: RouteIn
) -> CommandOut:
    """Route the qualified lead to a channel (contact centre, advisor, key-account manager) and an
    owner: by the rules for its size, or as given (an assignment; again to reassign). A new lead
    is qualified first (409 `LeadTransitionError`). The answer's id is the owner."""
    return run_command(
        crossview, lambda app: app.route_lead(person_id, lead_id, caller.subject, body.channel, body.owner)
    )


@router.post(f"{LEADS}/{{lead_id}}/convert", response_model=CommandOut, responses=ERRORS)
def convert_lead(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, lead_id: uuid.UUID) -> CommandOut:
    """The lead is won: its organisation becomes a client from today (its relationship change is
    stored with the conversion). A new lead is qualified first; a converted or lost one is closed
    (409 `LeadTransitionError`, `LeadClosedError`)."""
    return run_command(crossview, lambda app: app.convert_lead(person_id, lead_id, caller.subject))


@router.post(f"{LEADS}/{{lead_id}}/lose", response_model=CommandOut, responses=ERRORS)
def lose_lead(crossview: App, caller: AsAdvisor, person_id: uuid.UUID, lead_id: uuid.UUID, body: LoseIn) -> CommandOut:
    """The lead is lost, for a reason (409 `LeadClosedError` once converted or lost)."""
    return run_command(crossview, lambda app: app.lose_lead(person_id, lead_id, body.reason, caller.subject))


@router.get(LEADS, response_model=LeadsOut, responses=NOT_FOUND)
def person_leads(crossview: App, caller: AsPeopleReader, person_id: str, freshness: Fresh) -> Any:
    """Every lead of the person (and of everyone joined into them): open ones first, oldest first,
    then the converted and lost ones, newest first."""
    view, absorbed = family_of(crossview, person_id)
    leads = {lead_id: lead for v in (*absorbed, view) for lead_id, lead in v.leads.items()}
    answer = LeadsOut(
        person_id=view.person_id,
        leads=[lead_summary(lead) for lead in listed(leads.values(), closed_shown=len(leads))],
        open=sum(1 for lead in leads.values() if lead["stage"] in OPEN_STAGES),
        freshness=freshness,
    )
    return shown_to(caller, answer, crossview)


@router.get("/v1/leads/pipeline", response_model=PipelineOut)
def lead_pipeline(crossview: App, caller: AsReader, freshness: Fresh) -> PipelineOut:
    """The sales pipeline from the read models: leads by stage, by owner and by source, with two
    rates each: `win_rate` = converted / (converted + lost), over the leads closed either way, and
    `conversion_rate` = converted / created, over every lead created; and the referrals credited to
    each prescriber organisation. Counts only, nothing personal:
    advisors (sales managers), analysts and administrators read it."""
    figures = pipeline(crossview.store.lead_pipeline())
    for prescriber_id, counts in figures["by_prescriber"].items():
        counts["name"] = (crossview.store.organisation(prescriber_id) or {}).get("name")
    return PipelineOut(**figures, freshness=freshness)


@router.get("/v1/lead-rules", response_model=LeadRulesOut)
def lead_rules(crossview: App, caller: AsReader, freshness: Fresh) -> LeadRulesOut:
    """The qualification and routing rules in force (the defaults until an administrator sets
    them), from the read model: give min_position from the PUT's answer to read your change."""
    rules = crossview.store.lead_rules()
    return LeadRulesOut(medium=rules["sizes"]["medium"], large=rules["sizes"]["large"], routes=rules["routes"])


@router.put("/v1/lead-rules", response_model=CommandOut, responses=ERRORS)
def set_lead_rules(crossview: App, caller: AsAdmin, body: LeadRulesIn) -> CommandOut:
    """Set how leads are qualified — large from any large threshold (employees, budget) or product,
    else medium likewise, else small — and routed: a channel and an owner for each size. Rules
    that do not hold together are a 409 `LeadRulesError` naming the rule (a medium threshold at or
    above the large one, a product named for both sizes, a size without a route)."""
    sizes = {"medium": body.medium.model_dump(), "large": body.large.model_dump()}
    routes = {size: route.model_dump() for size, route in body.routes.items()}
    return run_command(crossview, lambda app: app.set_lead_rules(sizes, routes))
