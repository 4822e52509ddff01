"""The log as analysts' rows: families, typed columns, and personal fields that are never in clear."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from projections.log_export import FAMILIES, UNDECODABLE, Filter, Pseudonyms, columns_of, family_of, row_of
from schemas.envelope import CloudEvent, WireRecord, to_binary
from schemas.events import EVENT_TYPES
from schemas.sealing import ERASED, seal

FABIEN = "482a341d-f613-5168-8356-83b1dc1bef2b"
KEY = bytes(range(32))


def record_of(event: CloudEvent, offset: int = 0) -> WireRecord:
    key, value, headers = to_binary(event)
    return WireRecord("crossview.interactions", 0, offset, key, value, tuple(headers))


def sms(body: str, event_id: str = "SM1", sealed_with: tuple[int, bytes] | None = (1, KEY)) -> CloudEvent:
    data = {
        "direction": "inbound",
        "provider": "twilio",
        "provider_id": event_id,
        "status": "received",
        "from_number": "+33612345678",
        "to_number": "+33140000000",
        "body": body,
        "campaign": "spring",
    }
    sealed = seal("crossview.interaction.sms.v1", event_id, FABIEN, data, sealed_with)
    return CloudEvent(
        id=event_id,
        source="twilio",
        type="crossview.interaction.sms.v1",
        subject=FABIEN,
        time=datetime(2026, 11, 30, 14, 5, tzinfo=UTC),
        data=sealed,
    )


def test_every_version_of_a_type_shares_one_family_table_with_typed_columns():
    assert family_of("crossview.interaction.sms.v1") == "interaction_sms"
    assert family_of("crossview.person.contact-point-added.v1") == "person_contact_point_added"
    assert {family_of(t) for t in EVENT_TYPES} | {UNDECODABLE} == set(FAMILIES)
    columns = dict(columns_of("function_assigned"))
    assert columns["time"] == "timestamp" and columns["entered_on"] == "date" and columns["exits_on"] == "date"
    assert dict(columns_of("interaction_call"))["duration_seconds"] == "int"
    assert dict(columns_of("function_reprioritised"))["function_ids"] == "strings"


def test_personal_fields_become_the_persons_own_stable_pseudonyms_and_the_rest_stays_clear():
    keys = {FABIEN: {1: KEY}}
    pseudonyms = Pseudonyms(keys, b"export secret")
    first = row_of(record_of(sms("Bonjour", "SM1")), keys, pseudonyms)
    again = row_of(record_of(sms("Bonjour", "SM2"), 1), keys, pseudonyms)
    other = row_of(record_of(sms("Au revoir", "SM3"), 2), keys, pseudonyms)
    assert first.family == "interaction_sms" and first.day.isoformat() == "2026-11-30"
    values = first.values
    assert values["body"].startswith("~") and values["body"] == again.values["body"] != other.values["body"]
    assert values["from_number"].startswith("~") and "+33612345678" not in values.values()
    assert (values["status"], values["campaign"], values["canonical_status"]) == ("received", "spring", "received")
    assert (values["subject"], values["kafka_offset"], values["type"]) == (FABIEN, 0, "crossview.interaction.sms.v1")


def web(properties: dict, event_id: str = "W1") -> CloudEvent:
    data = {
        "direction": "inbound",
        "provider": "segment",
        "provider_id": event_id,
        "status": "received",
        "action": "track",
        "name": "Plan Chosen",
        "properties": properties,
    }
    sealed = seal("crossview.interaction.web.v1", event_id, FABIEN, data, (1, KEY))
    return CloudEvent(
        id=event_id,
        source="segment",
        type="crossview.interaction.web.v1",
        subject=FABIEN,
        time=datetime(2026, 11, 30, 14, 5, tzinfo=UTC),
        data=sealed,
    )


def test_a_web_events_properties_keep_their_names_and_shape_with_every_value_a_pseudonym():
    keys = {FABIEN: {1: KEY}}
    pseudonyms = Pseudonyms(keys, b"export secret")
    sent = {"plan": "pro", "seats": 3, "phone": 33612345678, "trial": True, "coupon": None, "tags": ["a", "é"]}
    exported = json.loads(row_of(record_of(web(sent)), keys, pseudonyms).values["properties"])
    again = json.loads(row_of(record_of(web({"plan": "pro"}, "W2"), 1), keys, pseudonyms).values["properties"])
    assert set(exported) == set(sent) and exported["plan"] == again["plan"]  # counts and groups still work
    assert all(exported[name].startswith("~") for name in ("plan", "seats", "phone"))
    assert (exported["trial"], exported["coupon"]) == (True, None)
    assert [value.startswith("~") for value in exported["tags"]] == [True, True]
    assert "pro" not in json.dumps(exported) and "33612345678" not in json.dumps(exported)
    erased = {FABIEN: None}
    assert row_of(record_of(web(sent)), erased, Pseudonyms(erased, b"export secret")).values["properties"] == "{}"


def test_an_erased_persons_fields_read_erased_and_their_earlier_pseudonyms_cannot_be_made_again():
    erased = {FABIEN: None}  # their keys destroyed
    row = row_of(record_of(sms("Bonjour")), erased, Pseudonyms(erased, b"export secret"))
    assert row.values["body"] == ERASED and row.values["from_number"] == ERASED
    assert row.values["status"] == "received"  # counts still work


def test_a_record_that_cannot_be_read_is_a_row_of_the_undecodable_table_with_the_reason():
    broken = WireRecord("crossview.interactions", 3, 7, b"x", b"not json", (("ce_type", b"crossview.nope.v1"),), 0)
    row = row_of(broken, {}, Pseudonyms({}, b"s"))
    assert row.family == UNDECODABLE
    assert (row.values["kafka_partition"], row.values["kafka_offset"]) == (3, 7) and row.values["reason"]


def test_an_export_keeps_the_rows_of_its_time_window_and_types():
    keys = {FABIEN: {1: KEY}}
    row = row_of(record_of(sms("Bonjour")), keys, Pseudonyms(keys, b"s"))  # at 2026-11-30T14:05Z
    day = datetime(2026, 11, 30, tzinfo=UTC)
    assert Filter(since=day).keeps(row) and not Filter(until=day).keeps(row)
    assert Filter(since=datetime(2026, 11, 30, 14, 5, tzinfo=UTC)).keeps(row)  # since is inclusive
    assert Filter(until=datetime(2026, 11, 30, 14, 5, tzinfo=UTC)).keeps(row)  # until too, as a replay's
    assert not Filter(until=datetime(2026, 11, 30, 14, 4, 59, tzinfo=UTC)).keeps(row)
    assert Filter(types=frozenset({"interaction_sms"})).keeps(row)
    assert Filter(types=frozenset({"crossview.interaction.sms.v1"})).keeps(row)
    assert not Filter(types=frozenset({"interaction_email"})).keeps(row)
