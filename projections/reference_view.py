"""Reference read models: organisations (with their relationship to us) and the function titles.

They change rarely and are read with every 360° view, search and targeting; each is a small JSON
document per subject, folded in log order (one aggregate's events share one partition).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from domain.lead import DEFAULT_RULES
from domain.referential import DEFAULT_LEVELS
from domain.service_request import DEFAULT_KINDS
from projections.facts import Fact
from schemas.events import (
    AttributeLevelSet,
    LeadRulesSet,
    OrganisationRegistered,
    OrganisationRelationshipChanged,
    ServiceRequestKindDefined,
    ServiceRequestKindRetired,
    TitleDefined,
    TitleRetired,
    models_of,
)
from schemas.journey_events import OfferDefined, OfferWithdrawn

ORGANISATION, TITLES, POLICY = "organisation", "titles", "attribute-policy"
OFFERS = "offers"  # the offer catalogue: one document, offers by code
REQUEST_KINDS = "service-request-kinds"
LEAD_RULES = "lead-rules"
REFERENCE_EVENTS = (
    OrganisationRegistered,
    OrganisationRelationshipChanged,
    TitleDefined,
    TitleRetired,
    AttributeLevelSet,
    OfferDefined,
    OfferWithdrawn,
    ServiceRequestKindDefined,
    ServiceRequestKindRetired,
    LeadRulesSet,
)

_REFERENCE_MODELS = models_of(*REFERENCE_EVENTS)
Key = tuple[str, str]  # (kind, id)


def concerns_reference(fact: Fact) -> bool:
    return type(fact.data) in _REFERENCE_MODELS


def key_of(fact: Fact) -> Key:
    data = fact.data
    if isinstance(data, OrganisationRegistered | OrganisationRelationshipChanged):
        return ORGANISATION, fact.subject
    if isinstance(data, TitleDefined | TitleRetired):
        return TITLES, TITLES
    if isinstance(data, OfferDefined | OfferWithdrawn):
        return OFFERS, OFFERS
    if isinstance(data, ServiceRequestKindDefined | ServiceRequestKindRetired):
        return REQUEST_KINDS, REQUEST_KINDS
    if isinstance(data, LeadRulesSet):
        return LEAD_RULES, LEAD_RULES
    return POLICY, POLICY


def fold_references(facts: Iterable[Fact], views: Mapping[Key, dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    """The reference documents after ``facts`` (new and distinct, in log order)."""
    result = {key: dict(view) for key, view in views.items()}
    for fact in facts:
        key = key_of(fact)
        result[key] = _apply(result.get(key), fact)
    return result


def _apply(view: dict[str, Any] | None, fact: Fact) -> dict[str, Any]:
    data = fact.data
    if isinstance(data, OrganisationRegistered):
        return {
            "organisation_id": fact.subject,
            "name": data.name,
            "kind": data.kind,
            "relationship": data.relationship,
            "relationship_history": [[None, data.relationship]],
        }
    if isinstance(data, OrganisationRelationshipChanged):
        view = view or {"organisation_id": fact.subject, "name": None, "kind": None, "relationship_history": []}
        return {
            **view,
            "relationship": data.relationship,
            "relationship_history": [*view["relationship_history"], [data.since.isoformat(), data.relationship]],
        }
    if isinstance(data, TitleDefined | TitleRetired):
        titles = dict((view or {}).get("titles", {}))
        if isinstance(data, TitleDefined):
            titles[data.code] = {"label": data.label, "retired": False}
        elif data.code in titles:
            titles[data.code] = {**titles[data.code], "retired": True}
        return {"titles": titles}
    if isinstance(data, OfferDefined):
        offers = dict((view or {}).get("offers", {}))
        offers[data.code] = {**data.model_dump(mode="json"), "withdrawn": False}
        return {"offers": offers}
    if isinstance(data, OfferWithdrawn):
        offers = dict((view or {}).get("offers", {}))
        if data.code in offers:
            offers[data.code] = {**offers[data.code], "withdrawn": True}
        return {"offers": offers}
    if isinstance(data, AttributeLevelSet):
        return {"levels": {**(view or {}).get("levels", {}), data.attribute: data.level}}
    if isinstance(data, ServiceRequestKindDefined | ServiceRequestKindRetired):
        kinds = dict((view or {}).get("kinds", {}))
        if isinstance(data, ServiceRequestKindDefined):
            kinds[data.code] = {"label": data.label, "service_level_hours": data.service_level_hours, "retired": False}
        else:
            kinds[data.code] = {**kinds.get(data.code, _default_kind(data.code)), "retired": True}
        return {"kinds": kinds}
    if isinstance(data, LeadRulesSet):  # set as a whole: the latest decision is the rules
        return {
            "sizes": {"medium": data.medium.model_dump(), "large": data.large.model_dump()},
            "routes": {size: route.model_dump() for size, route in data.routes.items()},
        }
    raise TypeError(f"not a reference event: {fact.event_type}")


def catalogue_offers(document: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The projected offer catalogue: code -> the offer's terms, withdrawn ones marked."""
    return dict((document or {}).get("offers") or {})


def policy_levels(document: Mapping[str, Any] | None) -> dict[str, str]:
    """The level of every attribute with a decision: the aggregate's defaults, then what the projected
    policy changed (the defaults are code, not events: the log only carries the changes)."""
    return {**DEFAULT_LEVELS, **((document or {}).get("levels") or {})}


def _default_kind(code: str) -> dict[str, Any]:
    label, hours = DEFAULT_KINDS.get(code, (code, 0))
    return {"label": label, "service_level_hours": hours, "retired": False}


def request_kinds(document: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Every kind of service request: the referential's defaults (code, not events), then what
    administrators changed."""
    return {
        **{code: _default_kind(code) for code in DEFAULT_KINDS},
        **((document or {}).get("kinds") or {}),
    }


def lead_rules(document: Mapping[str, Any] | None) -> dict[str, Any]:
    """The lead rules in force: the aggregate's defaults (code, not events) until an administrator
    set them."""
    return dict(document) if document else {"sizes": DEFAULT_RULES["sizes"], "routes": DEFAULT_RULES["routes"]}
