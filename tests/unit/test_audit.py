"""Who saw and changed whom: every read of a person's data and every change leaves a record, written
before the answer; an administrator reads a person's trail."""

import asyncio
import json

import pytest

from channels.kafka import BrokerUnavailable
from schemas.envelope import CloudEvent
from schemas.events import AccessesRecorded
from services.application.audit import Auditor, ordered_id, published
from services.application.auth import Caller, Role
from tests.tokens import bearer

ALICE = bearer(Role.ADVISOR, subject="alice@advisors")
ROOT = bearer(Role.ADMIN, subject="root@admins")


@pytest.fixture
def client(demo_client):
    return demo_client


def trail(client, person_id: str) -> list[dict]:
    answer = client.get(f"/v1/persons/{person_id}/audit", headers=ROOT)
    assert answer.status_code == 200, answer.text
    return answer.json()["entries"]


def test_an_advisors_reads_and_changes_of_fabien_are_on_his_trail(client, fabien):
    assert client.get(f"/v1/persons/{fabien}", headers=ALICE).status_code == 200
    assert client.get(f"/v1/persons/{fabien}/timeline", headers=ALICE).status_code == 200
    renamed = client.put(
        f"/v1/persons/{fabien}/name", json={"given_name": "Fabien", "family_name": "Bellemare"}, headers=ALICE
    )
    assert renamed.status_code == 200
    entries = trail(client, fabien)
    mine = [
        (e["actor"], e["roles"], e["kind"], e["operation"], e["method"]) for e in entries if e["actor"] != "root@admins"
    ]
    assert mine == [
        ("alice@advisors", ["advisor"], "change", "rename_person", "PUT"),
        ("alice@advisors", ["advisor"], "read", "timeline", "GET"),
        ("alice@advisors", ["advisor"], "read", "person_360", "GET"),
    ]
    assert all(e["client"] == "testclient" and e["via"] == "token" for e in entries)
    assert entries[0]["path"] == f"/v1/persons/{fabien}/audit"  # reading the trail is on it too


def test_a_trail_names_only_its_person(client, fabien):
    other = client.post("/v1/persons", json={"given_name": "Ada", "family_name": "Lovelace"}, headers=ALICE).json()
    assert client.get(f"/v1/persons/{other['id']}", headers=ALICE).status_code == 200
    assert {e["path"] for e in trail(client, fabien)} == {f"/v1/persons/{fabien}/audit"}


def test_reads_without_personal_data_leave_no_record_and_refused_callers_see_nothing(client, fabien):
    assert client.get("/v1/titles", headers=bearer(Role.ANALYST)).status_code == 200
    assert client.get(f"/v1/persons/{fabien}", headers=bearer(Role.ADAPTER)).status_code == 403
    assert client.get(f"/v1/persons/{fabien}/audit", headers=ALICE).status_code == 403  # the trail is admins'
    assert [e["operation"] for e in trail(client, fabien)] == ["person_audit"]


def test_nothing_is_disclosed_when_the_record_cannot_be_written(client, fabien):
    def broker_down(events):
        raise BrokerUnavailable("no broker")

    client.app.state.crossview.auditor._keep = broker_down
    answer = client.get(f"/v1/persons/{fabien}", headers=ALICE)
    assert answer.status_code == 503 and "Bellemare" not in answer.text
    renamed = client.put(f"/v1/persons/{fabien}/name", json={"given_name": "X", "family_name": "Y"}, headers=ALICE)
    assert renamed.status_code == 503
    assert client.app.state.crossview.store.person(fabien).family_name == "Bellemare"  # nothing changed


def _caller(name: str) -> Caller:
    return Caller(subject=name, roles=frozenset({Role.ADVISOR}), via="token")


def test_concurrent_records_leave_together_within_the_contract():
    sent: list[list[CloudEvent]] = []

    async def publish(events):
        sent.append(list(events))
        await asyncio.sleep(0.01)  # the broker's acknowledgement takes a while
        return []

    async def many():
        auditor = Auditor(published(publish))

        async def reader(n: int) -> None:
            await asyncio.sleep(0.002 * (n // 10))  # ten at a time, while the first group is on its way
            await auditor.record(
                _caller(f"a{n}"), "read", "person_360", "GET", f"/v1/persons/p{n}", "1.2.3.4", {"person_id": f"p{n}"}
            )

        await asyncio.gather(*(reader(n) for n in range(40)))

    asyncio.run(many())
    assert 1 < len(sent) < 40 and sum(len(e.data["accesses"]) for [e] in sent) == 40
    for [event] in sent:  # what the auditor builds without validating is what the contract allows
        CloudEvent.model_validate(event.model_dump())
        accesses = AccessesRecorded.model_validate(event.data).accesses
        assert {a.concerns for a in accesses} == {"person"} and all(a.subject == f"p{a.actor[1:]}" for a in accesses)


def test_a_group_that_cannot_be_written_fails_every_request_in_it():
    async def publish(events):
        await asyncio.sleep(0.01)
        raise BrokerUnavailable("no broker")

    async def two():
        auditor = Auditor(published(publish))
        return await asyncio.gather(
            *(auditor.record(_caller(f"a{n}"), "read", "search", "GET", "/v1/search", None, {}) for n in range(2)),
            return_exceptions=True,
        )

    assert all(isinstance(outcome, BrokerUnavailable) for outcome in asyncio.run(two()))


@pytest.mark.parametrize("subject", ["", "   ", "a\x00b", "\ud800"])
def test_a_token_whose_subject_the_trail_cannot_name_is_refused(client, fabien, subject):
    from services.application.auth import development_token
    from services.settings import DEMO_SIGNING_KEY

    token = development_token(DEMO_SIGNING_KEY, subject, [Role.ADVISOR])
    answer = client.get(f"/v1/persons/{fabien}", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401 and "subject" in answer.json()["detail"]


def test_an_access_carried_by_the_read_is_kept_with_it_and_fails_with_it():
    rides: list[str] = []

    async def no_round(accesses):
        raise AssertionError("an access carried by its read needs no round of its own")

    async def scenario():
        auditor = Auditor(no_round, ride=lambda access: rides.append(access) or ("INSERT ...", (access,)))
        read = auditor.pending(
            _caller("alice"), "read", "person_360", "GET", "/v1/persons/p1", None, {"person_id": "p1"}
        )
        with auditor.riding(read) as rider:
            assert rider == ("INSERT ...", (rides[0],)) and json.loads(rides[0])["subject"] == "p1"
        await read.kept  # the read's success kept it

        failed = auditor.pending(
            _caller("alice"), "read", "person_360", "GET", "/v1/persons/p2", None, {"person_id": "p2"}
        )
        with pytest.raises(BrokerUnavailable), auditor.riding(failed):
            raise BrokerUnavailable("the read's statement failed")
        with pytest.raises(BrokerUnavailable):
            await failed.kept  # nothing disclosed: the Door answers 503

        auditor.submit(failed)  # kept one way only: a claimed access never joins a round
        with auditor.riding(failed) as rider:
            assert rider is None

    asyncio.run(scenario())


def test_an_access_nobody_can_carry_is_kept_by_a_round():
    kept: list[list[dict]] = []

    async def keep(accesses):
        kept.append(accesses)

    async def scenario():
        auditor = Auditor(keep)  # no ride: the embedded default
        read = auditor.pending(
            _caller("alice"), "read", "person_360", "GET", "/v1/persons/p1", None, {"person_id": "p1"}
        )
        with auditor.riding(read) as rider:
            assert rider is None
        auditor.submit(read)  # what the Door does when the answer is about to leave
        await read.kept

    asyncio.run(scenario())
    assert [[a["subject"] for a in group] for group in kept] == [["p1"]]


def test_access_ids_are_version_7_uuids_in_the_order_they_were_made():
    import time
    import uuid

    first = [ordered_id() for _ in range(1_000)]
    time.sleep(0.002)
    later = ordered_id()
    parsed = [uuid.UUID(i) for i in first]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert len(set(first)) == len(first)
    assert all(i < later for i in first)  # a later millisecond sorts after, as text too
    assert abs(int(first[0][:8] + first[0][9:13], 16) - time.time_ns() // 1_000_000) < 60_000


def test_a_read_through_the_id_of_someone_joined_in_is_on_the_survivors_trail(client):
    made = [
        client.post("/v1/persons", json={"given_name": g, "family_name": "Join"}, headers=ALICE).json()["id"]
        for g in ("Ann", "Bea", "Cid")
    ]
    ann, bea, cid = made
    for survivor, absorbed in ((bea, ann), (cid, bea)):  # Ann into Bea, then Bea into Cid
        joined = client.post(f"/v1/persons/{survivor}/joins", json={"absorbed_id": absorbed}, headers=ALICE)
        assert joined.status_code == 200, joined.text
    reader = bearer(Role.ADVISOR, subject="reads-by-the-old-id")
    assert client.get(f"/v1/persons/{ann}", headers=reader).json()["person_id"] == cid
    assert ("reads-by-the-old-id", f"/v1/persons/{ann}") in {(e["actor"], e["path"]) for e in trail(client, cid)}


def test_the_offers_a_website_asks_for_are_on_the_visitors_trail(client, fabien):
    website = bearer(Role.ADAPTER, subject="the-website")
    asked = client.get("/v1/visitor-offers", params={"email": "fabien@fabulous-garden.example"}, headers=website)
    assert asked.status_code == 200 and asked.json()["offers"]
    assert ("the-website", "visitor_offers") in {(e["actor"], e["operation"]) for e in trail(client, fabien)}
    nobody = client.get("/v1/visitor-offers", params={"user_id": "nobody-at-all"}, headers=website)
    assert nobody.status_code == 200 and nobody.json() == {"offers": [], "next_offer": None}
