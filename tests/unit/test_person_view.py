import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.person_view import fold, view_from_json, view_to_json
from schemas.events import SmsInteraction
from services.demo_data import FABIEN, event, seed_scenario, synthetic_interactions
from tests.conftest import facts_of


def test_fabiens_view_counts_one_interaction_per_channel_and_knows_his_name():
    view = fold(facts_of(seed_scenario()))[FABIEN]
    assert (view.given_name, view.family_name) == ("Fabien", "Bellemare")
    assert dict(view.interactions) == {"sms": 1, "email": 1, "web": 1, "call": 1}
    assert view.last_interaction.channel == "call"
    assert view.events_applied == 10  # registration, four functions, one ending, four interactions


def test_the_latest_interaction_is_the_latest_in_time_not_the_last_to_arrive():
    at = datetime(2026, 3, 1, tzinfo=UTC)
    sms = dict(direction="inbound", provider="twilio", status="received", from_number="+33612345678", to_number="+1")
    late = event("p", SmsInteraction(provider_id="late", **sms), at + timedelta(hours=1), "late")
    early = event("p", SmsInteraction(provider_id="early", **sms), at, "early")
    assert fold(facts_of([late, early]))["p"].last_interaction.event_id == late.id


def test_the_stored_form_of_a_view_reads_back_equal():
    view = fold(facts_of(seed_scenario()))[FABIEN]
    assert view_from_json(view_to_json(view)) == view


EVENTS = list(synthetic_interactions(people=5, per_person=8)) + seed_scenario()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), cuts=st.lists(st.integers(0, len(EVENTS)), max_size=6))
def test_the_view_is_the_same_whatever_the_order_and_the_batching(seed, cuts):
    shuffled = EVENTS[:]
    random.Random(seed).shuffle(shuffled)
    views = {}
    bounds = [0, *sorted(cuts), len(shuffled)]
    for start, end in zip(bounds, bounds[1:], strict=False):  # fold batch after batch, from the previous views
        views = fold(facts_of(shuffled[start:end]), views)
    assert {p: view_to_json(v) for p, v in views.items()} == {
        p: view_to_json(v) for p, v in fold(facts_of(EVENTS)).items()
    }
    assert sum(v.events_applied for v in views.values()) == len(EVENTS) - 4  # organisations are not person events
