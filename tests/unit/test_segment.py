"""Segment Spec ingest: write-key authentication, every message type, identities joined by identify and alias."""

import base64
import json
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st

from channels.segment import parse, write_key_is_valid
from channels.webhook_fields import PayloadError
from domain.person import Person
from services.bootstrap import embedded
from services.http.app import create_app
from services.settings import Settings
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

FIXTURES = Path(__file__).parents[1] / "fixtures" / "segment"
KEY = "w-r-i-t-e-k-e-y"
AUTH = {"authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode(), "content-type": "application/json"}


def fixture(name: str) -> bytes:
    return (FIXTURES / f"{name}.json").read_bytes()


def test_the_write_key_is_the_basic_auth_user_name():
    assert write_key_is_valid(AUTH["authorization"], KEY)
    assert not write_key_is_valid("Basic " + base64.b64encode(b"other:").decode(), KEY)
    assert not write_key_is_valid(None, KEY) and not write_key_is_valid("Bearer x", KEY)


def test_every_message_type_and_a_batch_parse():
    assert [m.type for m in parse(fixture("batch"))] == ["page", "track"]
    identify = parse(fixture("identify"))[0]
    assert identify.identities == ["user:97980cfea0067", "anon:507f191e810c19729de860ea"]
    assert identify.email == "fabien@fabulous-garden.example"
    assert parse(fixture("page"))[0].url == "https://shop.example/"
    assert parse(fixture("alias"))[0].previous_id == "39239-239239-239239-23923"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"[1]", "body"),
        (b'{"type": "jump"}', "body.type"),
        (b'{"type": "track", "userId": "u"}', "body.messageId"),
        (b'{"type": "track", "messageId": "m"}', "body.userId"),
        (b'{"batch": []}', "batch"),
        (b'{"type": "alias", "messageId": "m", "anonymousId": "a"}', "body.previousId"),
        (b'{"type": "group", "messageId": "m", "userId": "u"}', "body.groupId"),
    ],
)
def test_a_malformed_message_is_refused_naming_the_field(body, field):
    with pytest.raises(PayloadError) as refused:
        parse(body)
    assert refused.value.field == field


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
)
def test_the_parser_never_crashes_on_any_json(document):
    try:
        messages = parse(json.dumps(document).encode())
    except PayloadError as refused:
        assert refused.field
    else:
        assert all(m.message_id and m.identities for m in messages)


@pytest.fixture
def client():
    with TestClient(
        create_app(lambda: embedded(Settings(segment_write_key=KEY), with_demo=False)), headers=EVERY_ROLE
    ) as c:
        yield c


def test_an_anonymous_visit_then_an_identify_become_fabiens_web_history(client):
    scenario = Scenario(client)
    fabien = scenario.build()["fabien"]
    on_person = client.put(f"/v1/persons/{fabien}/attributes/email", json={"value": "fabien@fabulous-garden.example"})
    assert on_person.status_code == 409  # the policy puts emails on functions
    garden = client.get(f"/v1/persons/{fabien}", params={"as_of": "2026-11-23"}).json()["functions"][0]["function_id"]
    scenario.command(
        "put",
        f"/v1/persons/{fabien}/attributes/email",
        {"value": "fabien@fabulous-garden.example", "function_id": garden},
    )

    assert client.post("/v1/ingest/segment", content=fixture("batch"), headers=AUTH).json() == {"success": True}
    store = client.app.state.crossview.store
    assert sum(1 for v in store._views.values() if v.provisional) == 1  # the anonymous visitor

    assert client.post("/v1/ingest/segment", content=fixture("identify"), headers=AUTH).status_code == 200
    view = client.get(f"/v1/persons/{fabien}").json()
    assert view["interactions"] == {"web": 3}  # page and track while anonymous, then the identify
    assert view["given_name"] == "Fabien"
    assert client.post("/v1/ingest/segment", content=fixture("alias"), headers=AUTH).status_code == 200
    assert client.get(f"/v1/persons/{fabien}").json()["interactions"] == {"web": 4}


def test_without_the_write_key_segment_messages_are_refused(client):
    answer = client.post("/v1/ingest/segment", content=fixture("page"), headers={"content-type": "application/json"})
    assert answer.status_code == 403 and answer.json()["errors"][0]["field"] == "header.Authorization"
    assert client.app.state.crossview.store.position() == {}


def test_a_group_call_makes_the_visitor_a_contact_of_the_organisation_once(client):
    for name in ("identify", "group", "group"):  # the second group is Segment's retry
        assert client.post("/v1/ingest/segment", content=fixture(name), headers=AUTH).status_code == 200
    (person,) = [p for p, v in client.app.state.crossview.store._views.items() if v.merged_into is None]
    view = client.get(f"/v1/persons/{person}", params={"as_of": "2026-11-23"}).json()
    (function,) = view["functions"]
    assert (function["organisation"]["name"], function["title"]["code"]) == ("Initech", "web-contact")
    assert function["entered_on"] == "2026-11-21"
    assert function["interactions"] == {"web": 1}  # the group call itself, through the function
    assert view["interactions"] == {"web": 2}
    roster = client.get(f"/v1/organisations/{function['organisation']['organisation_id']}/people").json()
    assert [p["person_id"] for p in roster["people"]] == [person]


def test_an_identify_names_a_visitor_nobody_named_but_never_renames_a_named_person(client):
    assert client.post("/v1/ingest/segment", content=fixture("identify"), headers=AUTH).status_code == 200
    (visitor,) = [v for v in client.app.state.crossview.store._views.values() if v.merged_into is None]
    view = client.get(f"/v1/persons/{visitor.person_id}").json()
    assert (view["given_name"], view["family_name"], view["provisional"]) == ("Fabien", "Bellemare", False)
    assert [r["person_id"] for r in client.get("/v1/search", params={"q": "bellemare"}).json()["results"]] == [
        visitor.person_id
    ]
    client.put(f"/v1/persons/{visitor.person_id}/name", json={"given_name": "Fabien", "family_name": "Bellemare-Roy"})
    assert client.post("/v1/ingest/segment", content=fixture("identify"), headers=AUTH).status_code == 200
    assert client.get(f"/v1/persons/{visitor.person_id}").json()["family_name"] == "Bellemare-Roy"


def identify(user_id: str, email: str, anonymous_id: str = "shared-browser") -> bytes:
    return json.dumps(
        {
            "type": "identify",
            "messageId": f"identify-{user_id}",
            "userId": user_id,
            "anonymousId": anonymous_id,
            "traits": {"email": email},
            "timestamp": "2026-11-21T10:00:00Z",
        }
    ).encode()


def live_people(client) -> list:
    return [v for v in client.app.state.crossview.store._views.values() if v.merged_into is None]


def test_two_people_sharing_a_browser_each_with_their_own_email_are_never_joined(client):
    assert client.post("/v1/ingest/segment", content=identify("fabien", "fabien@fabulous-garden.example"), headers=AUTH)
    assert len(live_people(client)) == 1
    answer = client.post("/v1/ingest/segment", content=identify("anne", "anne@fabulous-garden.example"), headers=AUTH)
    assert answer.status_code == 200
    people = live_people(client)
    assert len(people) == 2  # Fabien, and Anne (her user id and email joined), each their own
    app = client.app.state.crossview.commands.app
    emails = sorted(
        sorted(a for k, a in app._get(Person, uuid.UUID(p.person_id)).contact_points if k == "email") for p in people
    )
    assert emails == [["anne@fabulous-garden.example"], ["fabien@fabulous-garden.example"]]


def test_an_anonymous_visitor_who_logs_in_is_still_joined_to_the_identified_person(client):
    page = {"type": "page", "messageId": "p1", "anonymousId": "visitor-1", "timestamp": "2026-11-21T09:00:00Z"}
    assert client.post("/v1/ingest/segment", json=page, headers=AUTH).status_code == 200
    answer = client.post(
        "/v1/ingest/segment", content=identify("fabien", "fabien@fabulous-garden.example", "visitor-1"), headers=AUTH
    )
    assert answer.status_code == 200
    (person,) = live_people(client)
    assert client.get(f"/v1/persons/{person.person_id}").json()["interactions"] == {"web": 2}


def test_a_batch_with_a_form_asking_for_a_kind_nobody_offers_is_refused_whole_before_anyone_is_resolved(client):
    identify = json.loads(fixture("identify"))
    form = {
        "type": "track",
        "messageId": "form-1",
        "userId": identify["userId"],
        "event": "Service Request Submitted",
        "properties": {"kind": "no-such-kind", "subject": "Help"},
    }
    answer = client.post("/v1/ingest/segment", json={"batch": [identify, form]}, headers=AUTH)
    assert answer.status_code == 422, answer.text
    assert [error["field"] for error in answer.json()["errors"]] == ["batch.1.properties.kind"]
    assert client.app.state.crossview.commands.app.recorder.max_notification_id() in (None, 0)  # nobody registered
