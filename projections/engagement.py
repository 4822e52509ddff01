"""Journeys and offers in the person view: pure folds, and what the 360° view shows of them.

A journey is a process a person started on one channel and continues on others (a purchase, a
quote, an application). Its facts (journey step reached, completed, abandoned) come from any
channel; the fold keeps, per journey, the latest fact by (time, event id), the highest step
numbered, the step count and the channels seen: maxima and unions, so the state is the same
whatever the batching and the interleaving, and a fact seen twice changes nothing.

Offers: a campaign's message (an SMS promotion) makes its person hold the campaign's offers; the
first receipt of each campaign is kept (the minimum by time and event id). Answers to offers are
domain events (one per person and offer, decided by the OfferAnswer aggregate).

What the 360° view shows depends on the moment (a journey stalls when no step came for a while,
an offer expires) and on the catalogue an administrator changes: ``engagement`` computes it at
answer time from ``engagement_inputs``, which the ready document stores beside its body.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from projections.directory import References
from projections.person_model import PersonView

PRODUCTS_ATTRIBUTE = "products"  # the products a person (or one of their functions) holds, comma-separated
JOURNEYS_SHOWN = 20


# --- what the 360° view shows --------------------------------------------------------------------


def engagement_inputs(view: PersonView, refs: References, day: date) -> dict[str, Any]:
    """Everything of the person the journeys, offers and next offer are made of: stored with the
    ready document (made again when a function or an organisation it shows changes)."""
    active = view.active_functions(day)
    products = {p for p in _products(view.attributes.get(PRODUCTS_ATTRIBUTE))}
    for function in active:
        products |= _products(view.function_attributes.get(function.function_id, {}).get(PRODUCTS_ATTRIBUTE))
    return {
        "journeys": dict(view.journeys),
        "campaigns": dict(view.campaigns_received),
        "answers": dict(view.offer_answers),
        "relationships": sorted(
            {r for f in active if (r := refs.organisation(f.organisation_id)["relationship"]) is not None}
        ),
        "title_codes": sorted({f.title_code for f in active}),
        "products": sorted(products),
    }


def _products(value: str | None) -> set[str]:
    return {p.strip() for p in (value or "").split(",") if p.strip()}


def engagement(inputs: Mapping[str, Any], catalogue: Mapping[str, Any], now: datetime, stall_after: timedelta) -> dict:
    """The journeys (open first, then by the latest step), the offers the person holds and may
    still use today, and the next offer to suggest with its reason: as the 360° view shows them."""
    # A journey known only from SMS replies (a mistyped reference) has no type nor step: not shown.
    known = [j for j in inputs["journeys"].values() if j["journey_type"] or j["max_step"]]
    journeys = [journey_out(state, now, stall_after) for state in known]
    journeys.sort(key=lambda j: j["last_step_at"], reverse=True)  # newest first (UTC text compares as time)
    journeys.sort(key=lambda j: j["state"] != "open")  # then open ones first: the sort is stable
    journeys = journeys[:JOURNEYS_SHOWN]
    offers = held_offers(inputs, catalogue, now.date())
    return {"journeys": journeys, "offers": offers, "next_offer": next_offer(inputs, catalogue, now.date(), offers)}


def journey_out(state: Mapping[str, Any], now: datetime, stall_after: timedelta) -> dict[str, Any]:
    last = state["latest"]
    at = datetime.fromisoformat(last["at"])
    if last["kind"] == "step":
        step = last["step"] or min(state["max_step"] + 1, state["step_count"] or state["max_step"] + 1)
        status = "open"
    else:  # finished: the last step when completed, the highest reached when abandoned
        last_step = state["step_count"] if last["kind"] == "completed" else None
        step = last_step or state["max_step"] or None
        status = last["kind"]
    named = state["names"].get(str(step)) if step else None
    step_name = last["step_name"] if last["step"] == step and last["step_name"] else (named[2] if named else None)
    idle = max(0, int((now - at).total_seconds()))
    return {
        "journey_id": state["journey_id"],
        "journey_type": state["journey_type"][2] if state["journey_type"] else None,
        "state": status,
        "step": step,
        "step_count": state["step_count"],
        "step_name": step_name,
        "summary": _summary(step, state["step_count"], step_name, status),
        "last_channel": last["channel"],
        "channels": list(state["channels"]),
        "started_at": state["started_at"],
        "last_step_at": last["at"],
        "idle_seconds": idle,
        "stalled": status == "open" and idle >= stall_after.total_seconds(),
        "reason": last["reason"],
        "function_id": last["function_id"],
    }


def _summary(step: int | None, count: int | None, name: str | None, status: str) -> str:
    if status != "open":
        return status
    where = f"step {step} of {count}" if step and count else f"step {step}" if step else "started"
    return f"{where} — {name}" if name else where


def held_offers(inputs: Mapping[str, Any], catalogue: Mapping[str, Any], day: date) -> list[dict[str, Any]]:
    """The offers of the campaigns the person received, valid today and not answered yet."""
    held = []
    for code, offer in sorted(catalogue.items()):
        receipt = inputs["campaigns"].get(offer.get("campaign") or "")
        if receipt is None or not offer_valid(offer, day) or code in inputs["answers"]:
            continue
        held.append(
            {
                "code": code,
                "label": offer["label"],
                "campaign": offer["campaign"],
                "valid_until": offer.get("valid_until"),
                "received_on": receipt["channel"],
                "received_at": receipt["at"],
            }
        )
    return held


def offer_valid(offer: Mapping[str, Any], day: date) -> bool:
    starts, ends = offer.get("valid_from"), offer.get("valid_until")
    return (
        not offer.get("withdrawn")
        and (starts is None or date.fromisoformat(starts) <= day)
        and (ends is None or day <= date.fromisoformat(ends))
    )


def eligibility(offer: Mapping[str, Any], inputs: Mapping[str, Any]) -> list[str] | None:
    """Why the offer suits the person (one reason per rule it has), or None when a rule excludes
    them. Each list of the offer is a rule met by any of its values; an empty list sets no rule."""
    open_types = {
        j["journey_type"][2] for j in inputs["journeys"].values() if j["journey_type"] and j["latest"]["kind"] == "step"
    }
    reasons = []
    for rule, held, said in (
        ("relationships", set(inputs["relationships"]), "organisation is a {}"),
        ("title_codes", set(inputs["title_codes"]), "function {}"),
        ("products", set(inputs["products"]), "holds {}"),
        ("journey_types", open_types, "open {} journey"),
    ):
        wanted = offer.get(rule) or []
        if not wanted:
            continue
        met = sorted(set(wanted) & held)
        if not met:
            return None
        reasons.append(said.format(" or ".join(met)))
    return reasons


def next_offer(
    inputs: Mapping[str, Any], catalogue: Mapping[str, Any], day: date, held: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The suggested offer valid today that the person neither holds nor answered, meeting the
    most rules (the most specific), then by code: with the administrator's reason and the rules met."""
    holding = {o["code"] for o in held}
    best = None
    for code, offer in sorted(catalogue.items()):
        if not offer.get("suggested") or code in holding or code in inputs["answers"] or not offer_valid(offer, day):
            continue
        met = eligibility(offer, inputs)
        if met is None:
            continue
        if best is None or len(met) > len(best[1]):
            best = (code, met, offer)
    if best is None:
        return None
    code, met, offer = best
    because = "; ".join(met) if met else "offered to everyone"
    return {
        "code": code,
        "label": offer["label"],
        "reason": f"{offer['reason']} ({because})" if offer.get("reason") else because,
        "rules_met": met,
        "valid_until": offer.get("valid_until"),
    }
