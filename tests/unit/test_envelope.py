import re
from datetime import UTC, datetime

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from schemas.envelope import (
    CloudEvent,
    EnvelopeError,
    WireRecord,
    _checked_attributes,
    from_binary,
    read_attributes,
    to_binary,
)


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


GOOD_HEADERS = (
    ("ce_specversion", b"1.0"),
    ("ce_id", b"1"),
    ("ce_source", b"s"),
    ("ce_type", b"t"),
    ("ce_subject", b"p"),
    ("ce_time", b"2026-01-01T00:00:00+00:00"),
    ("content-type", b"application/json"),
)


@pytest.mark.parametrize(
    ("value", "headers", "reason"),
    [
        (b"not json", GOOD_HEADERS, "not JSON"),
        (b"{}", (("ce_id", b"1"),), "missing CloudEvents header"),
        (b"[1]", GOOD_HEADERS, "JSON object"),
        (
            b"{}",
            tuple((name, b"yesterday" if name == "ce_time" else value) for name, value in GOOD_HEADERS),
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


HEADER_VALUES = st.one_of(
    st.none(),
    st.sampled_from([b"", b"1.0", b"0.3", b"application/json", b"text/plain", b"\xff", b"2026-01-01T00:00:00"]),
    st.binary(max_size=8),
)


@given(
    changes=st.lists(st.tuples(st.sampled_from([name for name, _ in GOOD_HEADERS]), HEADER_VALUES), max_size=3),
    dropped=st.sets(st.sampled_from([name for name, _ in GOOD_HEADERS]), max_size=2),
    appended=st.booleans(),
)
@example(changes=[("ce_time", b"2026-01-01T00:00:00")], dropped=set(), appended=False)  # no time zone
@example(changes=[("ce_specversion", b"0.3")], dropped=set(), appended=False)
@example(changes=[("content-type", b"text/plain")], dropped=set(), appended=False)
@example(changes=[], dropped={"content-type"}, appended=False)  # optional: JSON assumed
@example(changes=[("ce_id", b"")], dropped=set(), appended=False)
@example(changes=[("ce_subject", None)], dropped=set(), appended=False)
@example(changes=[("ce_source", b"\xff")], dropped=set(), appended=False)  # not UTF-8
@example(changes=[("ce_type", b"t2")], dropped=set(), appended=True)  # a duplicate header
@example(changes=[("ce_source", b"1.0"), ("ce_source", b"\x80")], dropped=set(), appended=True)  # a bad one first
def test_the_quick_read_of_the_headers_answers_as_the_header_by_header_one(changes, dropped, appended):
    # read_attributes reads a well-formed record in one pass and falls back to _checked_attributes
    # otherwise: both must accept and refuse the same records, with the same attributes.
    headers = dict(GOOD_HEADERS)
    for name, value in changes:
        headers[name] = value
    pairs = [(name, value) for name, value in headers.items() if name not in dropped]
    if appended and changes:  # a duplicate header: the last one counts, for both
        pairs.append(changes[0])
    record = WireRecord("t", 0, 0, b"p", b"{}", tuple(pairs))
    try:
        expected = _checked_attributes(record)
    except EnvelopeError as error:
        with pytest.raises(EnvelopeError, match=re.escape(str(error))):
            read_attributes(record)
    else:
        assert read_attributes(record) == expected
