"""One contract, every store: the in-memory store and PostgreSQL must behave alike."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.person import Function
from projections.directory import link_order
from projections.memory_store import MemoryStore
from projections.person_model import PersonView
from projections.ports import StaleOffsets
from projections.reference_view import POLICY, REQUEST_KINDS
from projections.timeline import TimelineEntry

P0, P1 = ("t.interactions", 0), ("t.interactions", 1)
AT = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def entry(event_id: str, minutes: int, person: str = "fabien") -> TimelineEntry:
    return TimelineEntry(
        person,
        event_id,
        "crossview.interaction.sms.v1",
        "sms",
        AT + timedelta(minutes=minutes),
        json.dumps({"body": event_id}).encode(),
        "t.interactions",
        0,
        minutes,
    )


@pytest.fixture(params=["memory", "postgres"])
def any_store(request):
    if request.param == "memory":
        return MemoryStore()
    return request.getfixturevalue("store")


def test_claim_returns_only_event_ids_never_seen(any_store):
    with any_store.transaction() as tx:
        assert tx.claim([entry("a", 1), entry("b", 2)]) == {"a", "b"}
        tx.advance({P0: 2}, {P0: 0})
    with any_store.transaction() as tx:
        assert tx.claim([entry("b", 2), entry("c", 3), entry("c", 3)]) == {"c"}
        tx.advance({P0: 4}, {P0: 2})


def test_offsets_only_move_from_where_the_batch_started(any_store):
    with any_store.transaction() as tx:
        tx.advance({P0: 5, P1: 3}, {P0: 0, P1: 0})
    with pytest.raises(StaleOffsets), any_store.transaction() as tx:
        tx.advance({P0: 9}, {P0: 2})
    with pytest.raises(StaleOffsets), any_store.transaction() as tx:
        tx.advance({P0: 5}, {P0: 5})  # not moving forward
    assert any_store.offsets([P0, P1, ("t.domain", 0)]) == {P0: 5, P1: 3, ("t.domain", 0): 0}


def test_a_refused_batch_leaves_nothing_behind(any_store):
    with any_store.transaction() as tx:
        tx.advance({P0: 5}, {P0: 0})
    with pytest.raises(StaleOffsets), any_store.transaction() as tx:
        tx.claim([entry("x", 1)])
        tx.save_views([PersonView("fabien", given_name="Fabien")])
        tx.advance({P0: 9}, {P0: 0})
    assert any_store.person("fabien") is None
    assert any_store.timeline("fabien", 10) == []
    with any_store.transaction() as tx:
        assert tx.claim([entry("x", 1)]) == {"x"}
        tx.advance({P0: 6}, {P0: 5})


def test_views_are_saved_and_read_back(any_store):
    view = PersonView(
        "fabien",
        given_name="Fabien",
        family_name="Bellemare",
        registered_at=AT,
        interactions={"sms": 2},
        events_applied=3,
        last_event_at=AT,
    )
    with any_store.transaction() as tx:
        tx.save_views([view])
        tx.advance({P0: 1}, {P0: 0})
    assert any_store.person("fabien") == view
    with any_store.transaction() as tx:
        assert tx.views(["fabien", "nobody"]) == {"fabien": view}
        tx.advance({P0: 2}, {P0: 1})
    assert any_store.position() == {P0: 2}


def test_the_timeline_pages_newest_first_without_gaps_or_repeats(any_store):
    with any_store.transaction() as tx:
        tx.claim([entry(f"e{i:02d}", i % 7) for i in range(20)] + [entry("other", 1, person="someone-else")])
        tx.advance({P0: 21}, {P0: 0})
    seen, before = [], None
    while True:
        page = any_store.timeline("fabien", 6, before)
        if not page:
            break
        seen += page
        before = (page[-1].occurred_at, page[-1].event_id)
    assert len(seen) == len({e.event_id for e in seen}) == 20
    keys = [(e.occurred_at, e.event_id) for e in seen]
    assert keys == sorted(keys, reverse=True)
    assert seen[0].data == {"body": seen[0].event_id}


def test_the_status_events_of_one_message_are_one_timeline_row_with_its_progression(any_store):
    def status(event_id: str, minutes: int, state: str, message: str = "sms:twilio:SM1") -> TimelineEntry:
        return TimelineEntry(
            "fabien",
            event_id,
            "crossview.interaction.sms.v1",
            "sms",
            AT + timedelta(minutes=minutes),
            b"{}",
            "t.interactions",
            0,
            minutes,
            message,
            state,
        )

    with any_store.transaction() as tx:
        tx.claim(
            [
                status("q", 1, "queued"),
                status("d", 3, "delivered"),
                status("s", 2, "sent"),
                status("other", 4, "received", "sms:twilio:SM2"),
                entry("registered", 0),
            ]
        )
        tx.advance({P0: 5}, {P0: 0})
    rows = any_store.timeline("fabien", 10)
    assert [(r.event_id, r.status, r.statuses) for r in rows] == [
        ("other", "received", ("received",)),
        ("d", "delivered", ("queued", "sent", "delivered")),
        ("registered", None, ()),
    ]
    assert [r.event_id for r in any_store.timeline("fabien", 10, (rows[0].occurred_at, rows[0].event_id))] == [
        "d",
        "registered",
    ]


def test_a_status_reported_late_does_not_pass_for_the_latest(any_store):
    late = TimelineEntry(
        "fabien",
        "late-sent",
        "crossview.interaction.sms.v1",
        "sms",
        AT + timedelta(minutes=9),
        b"{}",
        "t.interactions",
        0,
        9,
        "sms:twilio:SM9",
        "sent",
    )
    delivered = TimelineEntry(
        "fabien",
        "delivered",
        "crossview.interaction.sms.v1",
        "sms",
        AT + timedelta(minutes=5),
        b"{}",
        "t.interactions",
        0,
        5,
        "sms:twilio:SM9",
        "delivered",
    )
    with any_store.transaction() as tx:
        tx.claim([delivered, late])
        tx.advance({P0: 10}, {P0: 0})
    (row,) = any_store.timeline("fabien", 10)
    assert row.status == "delivered"


def test_the_attribute_policy_is_the_defaults_until_the_projected_changes(any_store):
    assert any_store.attribute_policy() == {"mobile_phone": "person", "email": "function", "postal_address": "function"}
    policy = {(POLICY, POLICY): {"levels": {"email": "person", "loyalty_card": "function"}}}
    with any_store.transaction() as tx:
        tx.save_references(policy)
        tx.advance({P0: 1}, {P0: 0})
    assert any_store.attribute_policy() == {
        "mobile_phone": "person",
        "email": "person",
        "postal_address": "function",
        "loyalty_card": "function",
    }


def test_the_kinds_of_service_request_are_the_defaults_until_the_projected_changes(any_store):
    assert any_store.request_kinds()["complaint"] == {"label": "Complaint", "service_level_hours": 48, "retired": False}
    kinds = {
        "kinds": {
            "complaint": {"label": "Complaint", "service_level_hours": 4, "retired": False},
            "question": {"label": "Question", "service_level_hours": 24, "retired": True},
        }
    }
    with any_store.transaction() as tx:
        tx.save_references({(REQUEST_KINDS, REQUEST_KINDS): kinds})
        tx.advance({P0: 1}, {P0: 0})
    found = any_store.request_kinds()
    assert (found["complaint"]["service_level_hours"], found["question"]["retired"]) == (4, True)
    assert found["request"] == {"label": "Service request", "service_level_hours": 72, "retired": False}


def test_a_generation_created_with_jsonb_documents_still_takes_the_projectors_writes(store):
    # Generations created before the documents became json (release 0.1.0) keep jsonb columns
    # until a rebuild: the same writes and reads must work on them.
    with store._pool.connection() as conn:
        schema = f'"{store._namespace}_g{store.generation}"'
        conn.execute(f"ALTER TABLE {schema}.person_view ALTER COLUMN view TYPE jsonb USING view::jsonb")
        conn.execute(f"ALTER TABLE {schema}.timeline ALTER COLUMN data TYPE jsonb USING data::jsonb")
    view = PersonView("fabien", given_name="Fabien", interactions={"sms": 1}, events_applied=1, last_event_at=AT)
    with store.transaction() as tx:
        assert tx.claim([entry("a", 1)]) == {"a"}
        tx.save_views([view])
        tx.advance({P0: 2}, {P0: 0})
    with store.transaction() as tx:
        assert tx.claim([entry("a", 1), entry("b", 2)]) == {"b"}  # a duplicate: the staging path
        tx.save_views([view._replace(interactions={"sms": 2}, events_applied=2)])
        tx.advance({P0: 3}, {P0: 2})
    assert store.person("fabien").interactions == {"sms": 2}
    assert [(e.event_id, e.data) for e in store.timeline("fabien", 10)] == [("b", {"body": "b"}), ("a", {"body": "a"})]


def test_a_providers_status_is_ordered_by_its_canonical_stage_in_every_store(any_store):
    # Mailgun says "failed" for a temporary failure it retries (a delay, stage of "sent"), Twilio for
    # a message that will never arrive (a final stage): the same word, ordered per provider.
    def email(event_id: str, minutes: int, status: str, message: str) -> TimelineEntry:
        return TimelineEntry(
            "fabien",
            event_id,
            "crossview.interaction.email.v1",
            "email",
            AT + timedelta(minutes=minutes),
            b"{}",
            "t.interactions",
            0,
            minutes,
            message,
            status,
        )

    entries = [
        email("mg-delivered", 1, "delivered", "email:mailgun:M1"),
        email("mg-failed", 2, "failed", "email:mailgun:M1"),
        email("tw-delivered", 3, "delivered", "sms:twilio:S1"),
        email("tw-failed", 4, "failed", "sms:twilio:S1"),
    ]
    with any_store.transaction() as tx:
        tx.claim(entries)
        tx.advance({P0: 10}, {P0: 0})
    rows = {row.message_key: row for row in any_store.timeline("fabien", 10)}
    assert (rows["email:mailgun:M1"].status, rows["email:mailgun:M1"].statuses) == (
        "delivered",
        ("failed", "delivered"),
    )
    assert (rows["sms:twilio:S1"].status, rows["sms:twilio:S1"].statuses) == ("failed", ("delivered", "failed"))


def test_a_persons_context_is_their_view_with_the_references_of_their_active_functions(any_store):
    from datetime import date

    from domain.person import Function
    from projections.reference_view import ORGANISATION, TITLES

    garden = Function("f1", "garden", "MANAGING_DIRECTOR", date(2020, 1, 1), None)
    delta = Function("f2", "delta", "FINANCE_DIRECTOR", date(2015, 1, 1), date(2020, 1, 1))
    view = PersonView(
        "fabien",
        given_name="Fabien",
        family_name="Bellemare",
        registered_at=AT,
        functions={"f1": garden, "f2": delta},
        priority=("f1", "f2"),
    )
    references = {
        (ORGANISATION, "garden"): {"name": "Fabulous Garden", "kind": "company", "relationship": "client"},
        (ORGANISATION, "delta"): {"name": "Delta Telecom", "kind": "company", "relationship": "former"},
        (TITLES, TITLES): {"titles": {"MANAGING_DIRECTOR": {"label": "Managing director"}}},
    }
    with any_store.transaction() as tx:
        tx.save_views([view], profile_changed=["fabien"])
        tx.save_references(references)
        tx.advance({P0: 1}, {P0: 0})
    context = any_store.person_context("fabien", date(2026, 11, 2), 50)
    assert context.view == view
    assert context.references.organisation("garden")["name"] == "Fabulous Garden"
    assert context.references.title("MANAGING_DIRECTOR")["label"] == "Managing director"
    assert context.colleagues == []  # alone at his organisation
    assert any_store.person_context("nobody", date(2026, 11, 2), 50).view is None


BIG_DAY = date(2026, 11, 2)


def _colleague(person: str, organisation: str, title: str, given, family, *, ended=False, later=False, more=()):
    functions = [
        Function(
            f"{person}-{organisation}-{title}",
            organisation,
            title,
            date(2027, 1, 1) if later else date(2020, 1, 1),
            date(2021, 1, 1) if ended else None,
        ),
        *more,
    ]
    return PersonView(
        person,
        given_name=given,
        family_name=family,
        functions={f.function_id: f for f in functions},
        priority=tuple(f.function_id for f in functions),
    )


def _links_as_the_route_listed_them_before(views, organisation_ids, excluding, first=50):
    """The 360° view's links as they were computed before the store bounded them: every active
    colleague, sorted, grouped per organisation, the first fifty people kept."""
    rows = sorted(
        (
            (f.organisation_id, v.person_id, v.given_name, v.family_name, f.title_code)
            for v in views
            for f in v.active_functions(BIG_DAY)
            if f.organisation_id in organisation_ids
        ),
        key=lambda c: (c[3] or "", c[2] or "", c[1], c[4]),
    )
    people = {oid: {} for oid in organisation_ids}
    for org, pid, given, family, title in rows:
        if pid != excluding:
            people[org].setdefault((pid, given, family), []).append(title)
    return {oid: list(found.items())[:first] for oid, found in people.items()}


def _links(store, organisation_ids, excluding, first=50):
    people = {oid: {} for oid in organisation_ids}
    for c in sorted(store.colleagues(organisation_ids, BIG_DAY, excluding, first), key=link_order):
        people[c.organisation_id].setdefault((c.person_id, c.given_name, c.family_name), []).append(c.title_code)
    return {oid: list(found.items()) for oid, found in people.items()}


def test_the_links_are_the_first_fifty_people_of_each_organisation_by_name_with_all_their_titles(any_store):
    # Shared names, missing names, non-ASCII names (code point order), ended and future functions,
    # two titles at one organisation, and someone at both organisations.
    families = ["Bellemare", "bellemare", "Dubois", "Élise", "Zola", None, "Ångström", "Ñ"]
    givens = ["Fabien", "fabien", None, "Ève", "Anne"]
    views = []
    for i in range(160):
        family, given = families[i % len(families)], givens[(i // 3) % len(givens)]
        more = ()
        if i % 7 == 0:
            more = (Function(f"p{i:03d}-second", "fabulous-garden", "cfo", date(2019, 1, 1)),)
        if i % 11 == 0:
            more = (Function(f"p{i:03d}-other", "other-house", "buyer", date(2019, 1, 1)),)
        views.append(
            _colleague(
                f"p{i:03d}",
                "fabulous-garden",
                "ceo" if i % 2 else "cto",
                given,
                family,
                ended=i % 5 == 0,
                later=i % 13 == 0,
                more=more,
            )
        )
    with any_store.transaction() as tx:
        tx.save_views(views, [v.person_id for v in views])
        tx.advance({P0: 1}, {P0: 0})
    organisations = ["fabulous-garden", "other-house", "nobody-works-here"]
    for excluding in ("p001", "p033", "not-a-colleague"):
        expected = _links_as_the_route_listed_them_before(views, organisations, excluding)
        assert _links(any_store, organisations, excluding) == expected
        assert len(expected["fabulous-garden"]) == 50
        assert _links(any_store, organisations, excluding, first=3) == _links_as_the_route_listed_them_before(
            views, organisations, excluding, first=3
        )
    for member in ("p001", "p033", "p077"):  # a 360° view's context brings the same links, in one trip
        own = list(dict.fromkeys(f.organisation_id for f in any_store.person(member).active_functions(BIG_DAY)))
        for first in (50, 3):
            people = {oid: {} for oid in own}
            for c in sorted(any_store.person_context(member, BIG_DAY, first).colleagues, key=link_order):
                people[c.organisation_id].setdefault((c.person_id, c.given_name, c.family_name), []).append(
                    c.title_code
                )
            context_links = {oid: list(found.items()) for oid, found in people.items()}
            assert context_links == _links_as_the_route_listed_them_before(views, own, member, first=first)


def test_a_renamed_person_is_linked_under_their_new_name_and_an_erased_one_without_a_name(any_store):
    fabien = _colleague("fabien", "fabulous-garden", "ceo", "Fabien", "Bellemare")
    anne = _colleague("anne", "fabulous-garden", "cto", "Anne", "Dubois")
    with any_store.transaction() as tx:
        tx.save_views([fabien, anne], ["fabien", "anne"])
        tx.advance({P0: 1}, {P0: 0})
    with any_store.transaction() as tx:
        tx.save_views([anne._replace(family_name="Aubert")], ["anne"])
        tx.advance({P0: 2}, {P0: 1})
    assert _links(any_store, ["fabulous-garden"], "nobody") == {
        "fabulous-garden": [(("anne", "Anne", "Aubert"), ["cto"]), (("fabien", "Fabien", "Bellemare"), ["ceo"])]
    }
    with any_store.transaction() as tx:
        tx.save_views([fabien._replace(given_name=None, family_name=None)], ["fabien"])
        tx.advance({P0: 3}, {P0: 2})
    assert _links(any_store, ["fabulous-garden"], "anne") == {"fabulous-garden": [(("fabien", None, None), ["ceo"])]}


def test_the_entries_past_a_streams_marks_come_in_log_order_and_a_commit_is_announced(any_store):
    # The store under test announces to no process here; a listener is the e2e test's (test_live_stream).
    with any_store.transaction() as tx:
        tx.claim([entry("c", 3), entry("a", 1), entry("b", 2, person="claire"), entry("d", 4)])
        tx.announce(["fabien", "claire"])
        tx.advance({P0: 5}, {P0: 0})
    assert [e.event_id for e in any_store.timeline_after(["fabien"], {}, 10)] == ["a", "c", "d"]
    assert [e.event_id for e in any_store.timeline_after(["fabien", "claire"], {P0: 2}, 10)] == ["b", "c", "d"]
    assert [e.event_id for e in any_store.timeline_after(["fabien"], {P0: 2, P1: 9}, 1)] == ["c"]
    assert any_store.timeline_after(["fabien"], {P0: 5}, 10) == []
