"""Sealed events: personal fields encrypted with the subject's key, bound to the event, readable
as erased once the key is gone, and every personal field of every event type accounted for."""

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.person_view import PERSON_SCOPED
from schemas.events import EVENT_TYPES, SmsInteraction
from schemas.sealing import ERASED, PERSONAL_FIELDS, SEALED, SealError, seal, unseal

KEY = (1, os.urandom(32))
SMS = {
    "direction": "inbound",
    "provider": "twilio",
    "provider_id": "SM1",
    "status": "received",
    "from_number": "+33612345678",
    "to_number": "+33140000000",
    "body": "STOP les promos",
}
# Fields that say nothing about who someone is or what they said: ids, statuses, kinds, dates.
CLEAR = {
    "provisional", "absorbed_id", "survivor_id", "former_survivor_id", "kind", "function_id", "organisation_id",
    "title_code", "entered_on", "exits_on", "exited_on", "function_ids", "name", "direction", "provider",
    "provider_id", "status", "canonical_status", "campaign", "bounce_type", "action", "duration_seconds", "outcome", "erased_on",
    "journey_id", "journey_type", "channel", "step", "step_count", "step_name", "code",
    "request_id", "opened_at", "due_at", "opened_by", "state", "previous_state", "at", "by", "assignee",
    "author",
}  # fmt: skip
# A lead's figures and who handles it (what the pipeline counts); its reasons are sealed.
CLEAR |= {
    "lead_id", "product", "source", "prescriber_id", "prescriber_name", "employees", "budget", "created_at",
    "created_by", "source_ref", "size", "rule", "at", "by", "channel", "owner",
}  # fmt: skip


def sealed_sms() -> dict:
    return seal(SmsInteraction.event_type, "e1", "fabien", SMS, KEY)


def test_the_personal_fields_travel_sealed_and_come_back_whole():
    sealed = sealed_sms()
    assert set(sealed) == {"direction", "provider", "provider_id", "status", SEALED}
    assert "+33612345678" not in str(sealed) and "STOP" not in str(sealed)
    assert unseal(SmsInteraction.event_type, "e1", "fabien", sealed, {1: KEY[1]}) == SMS


@pytest.mark.parametrize(
    ("event_id", "subject", "keys"),
    [
        ("e2", "fabien", {1: KEY[1]}),
        ("e1", "claire", {1: KEY[1]}),
        ("e1", "fabien", {1: os.urandom(32)}),
        ("e1", "fabien", {2: KEY[1]}),
    ],
    ids=["moved-to-another-event", "moved-to-another-person", "another-key", "unknown-version"],
)
def test_a_blob_opens_only_for_its_event_its_person_and_their_key(event_id, subject, keys):
    with pytest.raises(SealError):
        unseal(SmsInteraction.event_type, event_id, subject, sealed_sms(), keys)


@given(st.binary(max_size=200))
def test_a_tampered_blob_never_opens(garbage):
    tampered = {**sealed_sms(), SEALED: "1." + garbage.hex()}
    with pytest.raises(SealError):
        unseal(SmsInteraction.event_type, "e1", "fabien", tampered, {1: KEY[1]})


def test_once_the_key_is_destroyed_the_event_still_reads_but_says_nothing_personal():
    erased = unseal(SmsInteraction.event_type, "e1", "fabien", sealed_sms(), None)
    assert erased["from_number"] == erased["body"] == ERASED and erased["status"] == "received"
    SmsInteraction.model_validate(erased)  # still within the contract: the log replays
    clear_but_erased = unseal(SmsInteraction.event_type, "e1", "fabien", SMS, None)  # published before sealing
    assert "STOP" not in str(clear_but_erased)


def test_an_erased_subjects_new_events_are_published_without_their_personal_fields():
    published = seal(SmsInteraction.event_type, "e1", "fabien", SMS, None)
    assert SEALED not in published and "+33612345678" not in str(published)


def test_every_field_of_every_person_scoped_event_is_either_personal_or_clear():
    for model in {m for m in EVENT_TYPES.values() if issubclass(m, PERSON_SCOPED)}:
        personal = set(PERSONAL_FIELDS.get(model, ()))
        unclassified = set(model.model_fields) - personal - CLEAR
        assert not unclassified, (
            f"{model.__name__}: say whether {sorted(unclassified)} are personal (schemas/sealing.py)"
        )
