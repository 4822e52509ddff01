"""Leads: the qualification rules and their named errors, every stage's allowed and refused moves,
the fold and the order the 360° view lists leads in, the pipeline's rates, and the web form a
Segment track carries."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from channels.segment import LEAD_SUBMITTED, IncompleteForm, MessageWebhook, lead_form, parse
from channels.webhook_fields import PayloadError
from domain.errors import LeadClosedError, LeadRulesError, LeadTransitionError, QualificationOverrideError
from domain.lead import DEFAULT_RULES, Lead, LeadRules, check_rules, qualify
from projections.facts import Fact
from projections.leads import apply_lead, listed, pipeline, without_words
from schemas.events import LeadConverted, LeadCreated, LeadLost, LeadQualified, LeadRouted, WebInteraction

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)
SIZES = DEFAULT_RULES["sizes"]


@pytest.mark.parametrize(
    ("employees", "budget", "product", "size", "rule"),
    [
        (None, None, "fleet", "small", "below every medium threshold"),
        (49, 19_999, "fleet", "small", "below every medium threshold"),
        (50, None, "fleet", "medium", "50 employees >= 50"),
        (3, 20_000, "fleet", "medium", "budget 20000 >= 20000"),
        (250, 0, "fleet", "large", "250 employees >= 250"),
        (60, 150_000, "fleet", "large", "budget 150000 >= 100000"),
    ],
)
def test_the_default_rules_qualify_by_employees_or_budget_the_largest_size_first(
    employees, budget, product, size, rule
):
    assert qualify(SIZES, employees, budget, product) == (size, rule)


def test_a_product_an_administrator_lists_makes_a_lead_that_size_whatever_its_figures():
    sizes = {**SIZES, "large": {**SIZES["large"], "products": ["fleet"]}}
    assert qualify(sizes, 1, 0, "fleet") == ("large", "product 'fleet' is a large lead's")


@pytest.mark.parametrize(
    ("sizes", "routes", "says"),
    [
        ({**SIZES, "medium": {"employees": 300}}, DEFAULT_RULES["routes"], "sizes.medium.employees (300)"),
        ({**SIZES, "medium": {"budget": 100_000}}, DEFAULT_RULES["routes"], "sizes.medium.budget"),
        (
            {"medium": {"products": ["fleet"]}, "large": {"products": ["fleet"]}},
            DEFAULT_RULES["routes"],
            "named for both medium and large",
        ),
        (SIZES, {"small": DEFAULT_RULES["routes"]["small"]}, "missing ['medium', 'large']"),
        ({"large": SIZES["large"]}, DEFAULT_RULES["routes"], "both medium and large"),
    ],
)
def test_rules_that_do_not_hold_together_are_refused_by_name(sizes, routes, says):
    with pytest.raises(LeadRulesError, match=says.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        check_rules(sizes, routes)
    with pytest.raises(LeadRulesError):
        LeadRules().set_rules(sizes, routes)


def test_rules_set_again_unchanged_store_nothing():
    rules = LeadRules()
    rules.set_rules({k: dict(v) for k, v in SIZES.items()}, dict(DEFAULT_RULES["routes"]))
    assert len(rules.collect_events()) == 1  # Started only


def new_lead() -> Lead:
    return Lead("p1", "fleet", "call", AT, "alice")


def at_stage(stage: str) -> Lead:
    lead = new_lead()
    if stage in ("qualified", "routed", "converted", "lost"):
        lead.qualify("medium", "rule", None, AT, "alice")
    if stage in ("routed", "converted"):
        lead.route("advisor", "amelie", AT, "alice")
    if stage == "converted":
        lead.convert(AT, "alice")
    if stage == "lost":
        lead.lose("price", AT, "alice")
    assert lead.stage == stage
    return lead


MOVES = {
    "qualify": lambda lead: lead.qualify("large", "rule", None, AT, "bob"),
    "route": lambda lead: lead.route("key_account_manager", "kam", AT, "bob"),
    "convert": lambda lead: lead.convert(AT, "bob"),
    "lose": lambda lead: lead.lose("no budget", AT, "bob"),
}
# stage -> move -> the stage it leads to, or the named error that refuses it
EXPECTED = {
    "new": {"qualify": "qualified", "route": LeadTransitionError, "convert": LeadTransitionError, "lose": "lost"},
    "qualified": {"qualify": "qualified", "route": "routed", "convert": "converted", "lose": "lost"},
    "routed": {"qualify": LeadTransitionError, "route": "routed", "convert": "converted", "lose": "lost"},
    "converted": dict.fromkeys(MOVES, LeadClosedError),
    "lost": dict.fromkeys(MOVES, LeadClosedError),
}


@pytest.mark.parametrize(("stage", "move"), [(s, m) for s in EXPECTED for m in MOVES])
def test_every_stage_allows_or_refuses_every_move_by_name(stage, move):
    lead, outcome = at_stage(stage), EXPECTED[stage][move]
    if isinstance(outcome, str):
        MOVES[move](lead)
        assert lead.stage == outcome
    else:
        before = len(lead.collect_events())
        with pytest.raises(outcome):
            MOVES[move](lead)
        assert lead.collect_events() == [] and before  # nothing pending after a refusal


def test_overriding_the_rules_needs_a_reason():
    lead = new_lead()
    with pytest.raises(QualificationOverrideError):
        lead.qualify("large", None, "  ", AT, "alice")
    lead.qualify("large", None, "a group of forty franchises", AT, "alice")
    assert lead.size == "large"


def fact(data, minutes=0) -> Fact:
    at = AT + timedelta(minutes=minutes)
    return Fact(f"e{minutes}", data.event_type, "p1", at, data, data.model_dump_json().encode(), "domain", 0, minutes)


def folded(*datas) -> dict:
    leads: dict = {}
    for n, data in enumerate(datas):
        apply_lead(leads, fact(data, n))
    return leads


def created(lead_id: str, minutes: int = 0, source="web") -> LeadCreated:
    return LeadCreated(
        lead_id=lead_id, product="fleet", source=source, created_at=AT + timedelta(minutes=minutes), created_by="alice"
    )


def test_the_fold_follows_a_lead_to_its_conversion():
    leads = folded(
        created("L1", source="referral"),
        LeadQualified(lead_id="L1", size="large", rule="250 employees >= 250", at=AT, by="alice"),
        LeadRouted(lead_id="L1", channel="key_account_manager", owner="kam", at=AT, by="alice"),
        LeadConverted(lead_id="L1", organisation_id="org", at=AT + timedelta(days=3), by="kam"),
    )
    lead = leads["L1"]
    assert (lead["stage"], lead["size"], lead["channel"], lead["owner"], lead["source"]) == (
        "converted",
        "large",
        "key_account_manager",
        "kam",
        "referral",
    )
    assert lead["closed_at"] == (AT + timedelta(days=3)).isoformat()


def test_open_leads_come_first_oldest_first_then_the_closed_newest_first():
    leads = folded(
        created("old", 0),
        created("young", 5),
        created("won", 1),
        created("lost", 2),
        LeadConverted(lead_id="won", at=AT + timedelta(hours=1), by="a"),
        LeadLost(lead_id="lost", reason="price", at=AT + timedelta(hours=2), by="a"),
    )
    assert [lead["lead_id"] for lead in listed(leads.values())] == ["old", "young", "lost", "won"]
    assert [lead["lead_id"] for lead in listed(leads.values(), closed_shown=1)] == ["old", "young", "lost"]


def test_an_erased_persons_leads_keep_their_figures_and_lose_every_word():
    leads = folded(created("L1"), LeadLost(lead_id="L1", reason="my wife said no", at=AT, by="a"))
    (kept,) = without_words(leads).values()
    assert (kept["stage"], kept["lost_reason"], kept["source"]) == ("lost", None, "web")


def test_the_pipeline_says_both_rates_over_their_own_denominators():
    figures = pipeline(
        [
            ("converted", "amelie", "web", "", 1),
            ("lost", "amelie", "web", "", 3),
            ("new", "", "call", "", 4),
            ("routed", "kam", "referral", "croissance-plus", 2),
        ]
    )
    assert figures["created"] == 10
    assert figures["win_rate"] == 0.25  # converted / (converted + lost) = 1 / 4
    assert figures["conversion_rate"] == 0.1  # converted / created = 1 / 10
    assert figures["by_owner"]["unassigned"]["created"] == 4
    assert figures["by_owner"]["kam"]["win_rate"] is None  # none closed yet: no rate, not 0
    assert figures["by_source"]["web"]["by_stage"]["lost"] == 3
    assert figures["by_prescriber"] == {
        "croissance-plus": {
            "created": 2,
            "by_stage": {"new": 0, "qualified": 0, "routed": 2, "converted": 0, "lost": 0},
            "win_rate": None,
            "conversion_rate": 0.0,
        }
    }
    assert pipeline([])["conversion_rate"] is None


def track(properties: dict, name: str = LEAD_SUBMITTED) -> WebInteraction:
    return WebInteraction(
        direction="inbound", provider="segment", provider_id="m1", status="received", action="track", name=name,
        properties=properties,
    )  # fmt: skip


def test_a_lead_submitted_track_carries_its_product_figures_and_campaign():
    form = lead_form(track({"product": " fleet ", "employees": 85, "budget": 12000, "campaign": "spring"}))
    assert (form.product, form.employees, form.budget, form.campaign) == ("fleet", 85, 12000, "spring")
    assert lead_form(track({"product": "fleet"}, name="Checkout Step Viewed")) is None


@pytest.mark.parametrize(
    ("properties", "field"),
    [
        ({}, "properties.product"),
        ({"product": ""}, "properties.product"),
        ({"product": "fleet", "employees": -1}, "properties.employees"),
        ({"product": "fleet", "employees": True}, "properties.employees"),
        ({"product": "fleet", "budget": "12k"}, "properties.budget"),
        ({"product": "fleet", "campaign": 3}, "properties.campaign"),
    ],
)
def test_a_lead_form_that_says_too_little_or_the_wrong_kind_names_the_property(properties, field):
    with pytest.raises(PayloadError) as raised:
        lead_form(track(properties))
    assert raised.value.field == field


SEGMENT = Path(__file__).parents[1] / "fixtures" / "segment"


def test_an_identify_carrying_a_lead_trait_submits_the_same_form_as_the_track():
    (message,) = parse((SEGMENT / "identify_lead.json").read_bytes())
    data = MessageWebhook().map(message).data
    form = lead_form(data)
    assert (form.product, form.employees, form.budget, form.campaign) == ("irrigation-kit", 85, 4000, "spring-garden")
    assert form.submission_id is None
    tracked = lead_form(
        track({"product": "irrigation-kit", "employees": 85, "budget": 4000, "campaign": "spring-garden"})
    )
    assert tracked == form  # one parser serves both doors


def identify(traits: dict, **extra) -> bytes:
    return json.dumps({"type": "identify", "messageId": "m1", "userId": "u1", "traits": traits, **extra}).encode()


def test_an_identify_without_a_lead_trait_or_with_a_cleared_one_submits_no_lead():
    for traits in ({"email": "fabien@fabulous-garden.example"}, {"lead": None}):
        (message,) = parse(identify(traits))
        assert lead_form(MessageWebhook().map(message).data) is None


def test_an_identify_whose_lead_lacks_its_product_is_accepted_and_a_track_that_does_is_refused():
    """Well-formed but incomplete: the identify still says who the visitor is (Segment's libraries
    drop a refused message for good), so it is recorded; it creates no lead. A track submits the
    form and nothing else: refused, naming the field."""
    (message,) = parse(identify({"email": "fabien@fabulous-garden.example", "lead": {"budget": 4000}}))
    data = MessageWebhook().map(message).data
    assert data.properties["lead"] == {"budget": 4000}  # recorded as received
    with pytest.raises(IncompleteForm) as missing:
        lead_form(data)
    assert missing.value.field == "traits.lead.product"
    track = {"type": "track", "messageId": "m3", "userId": "u1", "event": LEAD_SUBMITTED, "properties": {"budget": 1}}
    with pytest.raises(PayloadError) as refused:
        parse(json.dumps(track).encode())
    assert refused.value.field == "body.properties.product"


def test_a_submission_id_names_the_form_whatever_message_carries_it():
    form = lead_form(track({"product": "fleet", "submission_id": 4217}))
    assert form.submission_id == "4217"
    with pytest.raises(PayloadError) as raised:
        lead_form(track({"product": "fleet", "submission_id": True}))
    assert raised.value.field == "properties.submission_id"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (identify({"lead": "fleet"}), "body.traits.lead"),
        (identify({"lead": {"product": ""}}), "body.traits.lead.product"),
        (identify({"lead": {"budget": "12k"}}), "body.traits.lead.budget"),  # refused for it, product or not
        (identify({"lead": {"product": "fleet", "budget": "12k"}}), "body.traits.lead.budget"),
        (identify({"lead": {"product": "fleet", "employees": -3}}), "body.traits.lead.employees"),
        (
            json.dumps({"batch": [json.loads(identify({})), json.loads(identify({"lead": {"product": 7}}))]}).encode(),
            "batch.1.traits.lead.product",
        ),
        (
            json.dumps(
                {
                    "type": "track",
                    "messageId": "m2",
                    "userId": "u1",
                    "event": LEAD_SUBMITTED,
                    "properties": {"product": "fleet", "employees": 1.5},
                }
            ).encode(),
            "body.properties.employees",
        ),  # fmt: skip
    ],
)
def test_a_malformed_lead_is_refused_when_parsed_naming_the_field(body, field):
    """Refused whole, before anyone is resolved or joined: the provider is told what to fix."""
    with pytest.raises(PayloadError) as raised:
        parse(body)
    assert raised.value.field == field


def test_synthetic_leads_give_each_person_their_number_of_leads_the_same_every_time():
    from projections.person_view import fold
    from services.demo.leads import synthetic_leads
    from tests.conftest import facts_of

    events = list(synthetic_leads(["fabien", "claire"], 5, AT))
    assert [e.id for e in events] == [e.id for e in synthetic_leads(["fabien", "claire"], 5, AT)]
    views = fold(facts_of(events))
    assert {p: len(v.leads) for p, v in views.items()} == {"fabien": 5, "claire": 5}
    assert {lead["stage"] for v in views.values() for lead in v.leads.values()} == set(
        ["new", "qualified", "routed", "converted", "lost"]
    )
