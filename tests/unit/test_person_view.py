import random
from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.person_codec import view_from_json, view_to_json
from projections.person_view import concerns_person, fold
from schemas.events import DOMAIN, FunctionsReprioritised, SmsInteraction, stream_of
from services.demo.data import event, seed_scenario, synthetic_interactions
from tests.conftest import facts_of

SCENARIO, IDS = seed_scenario()


def test_fabiens_view_counts_one_interaction_per_channel_and_knows_his_name():
    view = fold(facts_of(SCENARIO))[IDS.fabien]
    assert (view.given_name, view.family_name) == ("Fabien", "Bellemare")
    assert dict(view.interactions) == {"sms": 1, "email": 1, "web": 3, "call": 1}
    assert view.last_interaction.channel == "call"
    # registration, 4 functions, 1 ending, 3 attributes with their 3 contact points, 6 interactions,
    # 2 journey steps, the complaint he sent by email as treasurer, and his 3 leads' 8 events
    # (services/demo/leads.py)
    assert view.events_applied == 21 + 8
    (complaint,) = view.service_requests.values()
    assert (complaint["kind"], complaint["channel"]) == ("complaint", "email")
    assert complaint["function_id"] == IDS.functions["croissance-plus"]


def test_fabiens_functions_keep_their_dates_order_and_attributes():
    view = fold(facts_of(SCENARIO))[IDS.fabien]
    f = IDS.functions
    assert view.priority == (f["delta-telecom"], f["fabulous-garden"], f["social-networks"], f["croissance-plus"])
    assert view.functions[f["delta-telecom"]].exits_on == date(2020, 12, 31)
    assert [x.function_id for x in view.active_functions(date(2026, 11, 23))] == list(view.priority[1:])
    assert view.attributes == {"mobile_phone": "+33612345678"}
    assert view.function_attributes[f["fabulous-garden"]] == {"email": "fabien@fabulous-garden.example"}
    assert view.function_interactions == {f["fabulous-garden"]: {"email": 1}}


def test_a_reorder_changes_the_main_function():
    f = IDS.functions
    order = [f["croissance-plus"], f["fabulous-garden"], f["social-networks"], f["delta-telecom"]]
    reordered = event(IDS.fabien, FunctionsReprioritised(function_ids=order), datetime.now(UTC), "reorder")
    view = fold(facts_of([*SCENARIO, reordered]))[IDS.fabien]
    assert view.active_functions(date(2026, 11, 23))[0].function_id == f["croissance-plus"]


def test_the_latest_interaction_is_the_latest_in_time_not_the_last_to_arrive():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    sms = dict(direction="inbound", provider="twilio", status="received", from_number="+33612345678", to_number="+1")
    late = event("p", SmsInteraction(provider_id="late", **sms), at + timedelta(hours=1), "late")
    early = event("p", SmsInteraction(provider_id="early", **sms), at, "early")
    assert fold(facts_of([late, early]))["p"].last_interaction.event_id == late.id


def test_reachability_follows_the_latest_change_in_time_whatever_the_offsets_it_came_with():
    def sms(body: str, at: datetime, key: str):
        data = SmsInteraction(direction="inbound", provider="twilio", provider_id=key, status="received",
                              from_number="+33611111111", to_number="+33140000000", body=body)  # fmt: skip
        return event("p-offsets", data, at, key)

    paris = timezone(timedelta(hours=2))
    stop = sms("STOP", datetime(2026, 11, 30, 15, 30, tzinfo=paris), "sm-stop")  # 13:30 UTC
    start = sms("START", datetime(2026, 11, 30, 14, 0, tzinfo=UTC), "sm-start")  # 14:00 UTC: the later
    for order in ([stop, start], [start, stop]):
        view = fold(facts_of(order))["p-offsets"]
        assert view.reachability["sms:+33611111111"]["reachable"], order  # opted in again, last


def test_the_stored_form_of_a_view_reads_back_equal():
    view = fold(facts_of(SCENARIO))[IDS.fabien]
    assert view_from_json(view_to_json(view)) == view


EVENTS = list(synthetic_interactions(people=5, per_person=8)) + SCENARIO


def interleaved(rng: random.Random) -> list:
    """The domain topic in its order, the interactions in any order, merged at random: what a
    projector may see, since only the order within one partition is guaranteed."""
    domain = [e for e in EVENTS if stream_of(e.type) == DOMAIN]
    interactions = [e for e in EVENTS if stream_of(e.type) != DOMAIN]
    rng.shuffle(interactions)
    merged = []
    while domain or interactions:
        source = domain if domain and (not interactions or rng.random() < 0.5) else interactions
        merged.append(source.pop(0))
    return merged


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, len(EVENTS)), max_size=6))
def test_the_view_is_the_same_whatever_the_interleaving_of_topics_and_the_batching(seed, cuts):
    arrival = interleaved(random.Random(seed))
    views = {}
    bounds = [0, *sorted(cuts), len(arrival)]
    for start, end in zip(bounds, bounds[1:], strict=False):  # fold batch after batch, from the previous views
        views = fold(facts_of(arrival[start:end]), views)
    assert {p: view_to_json(v) for p, v in views.items()} == {
        p: view_to_json(v) for p, v in fold(facts_of(EVENTS)).items()
    }
    assert sum(v.events_applied for v in views.values()) == sum(map(concerns_person, facts_of(EVENTS)))
