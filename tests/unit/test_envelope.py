from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemas.envelope import CloudEvent, EnvelopeError, WireRecord, from_binary, to_binary


def record_of(event: CloudEvent) -> WireRecord:
    key, value, headers = to_binary(event)
    return WireRecord("t", 0, 0, key, value, tuple(headers))


@given(
    event_id=st.text(min_size=1, max_size=50),
    subject=st.text(min_size=1, max_size=50),
    data=st.dictionaries(st.text(max_size=10), st.one_of(st.integers(), st.text(max_size=20), st.none()), max_size=5),
)
def test_an_event_survives_the_round_trip_through_binary_mode(event_id, subject, data):
    event = CloudEvent(
        id=event_id, source="test", type="x.v1", subject=subject, time=datetime(2026, 1, 1, tzinfo=UTC), data=data
    )
    assert from_binary(record_of(event)) == event


def test_the_key_of_the_record_is_the_subject_so_a_persons_events_share_a_partition():
    event = CloudEvent(id="1", source="s", type="x.v1", subject="fabien", time=datetime.now(UTC), data={})
    key, _, headers = to_binary(event)
    assert key == b"fabien"
    assert ("ce_subject", b"fabien") in headers


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (
            b"not json",
            (
                ("ce_specversion", b"1.0"),
                ("ce_id", b"1"),
                ("ce_source", b"s"),
                ("ce_type", b"t"),
                ("ce_subject", b"p"),
                ("ce_time", b"2026-01-01T00:00:00+00:00"),
            ),
            "not JSON",
        ),
        (b"{}", (("ce_id", b"1"),), "missing CloudEvents header"),
        (
            b"[1]",
            (
                ("ce_specversion", b"1.0"),
                ("ce_id", b"1"),
                ("ce_source", b"s"),
                ("ce_type", b"t"),
                ("ce_subject", b"p"),
                ("ce_time", b"2026-01-01T00:00:00+00:00"),
            ),
            "JSON object",
        ),
        (
            b"{}",
            (
                ("ce_specversion", b"1.0"),
                ("ce_id", b"1"),
                ("ce_source", b"s"),
                ("ce_type", b"t"),
                ("ce_subject", b"p"),
                ("ce_time", b"yesterday"),
            ),
            "invalid CloudEvents attribute",
        ),
        (None, (), "missing CloudEvents header"),
    ],
)
def test_a_malformed_record_is_refused_with_the_reason(value, headers, reason):
    with pytest.raises(EnvelopeError, match=reason):
        from_binary(WireRecord("t", 0, 0, b"p", value, headers))


def test_an_event_time_without_a_time_zone_is_refused():
    with pytest.raises(ValueError, match="timezone"):
        CloudEvent(id="1", source="s", type="t", subject="p", time=datetime(2026, 1, 1), data={})
