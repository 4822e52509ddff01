"""Erasure on the real services: a person with interactions on every channel, a joined provisional
caller, dead letters and an export is erased; then every Kafka topic read raw and a pg_dump of the
database hold none of their names, addresses, numbers or message texts; a rebuild still succeeds
and everybody else's view is unchanged."""

from __future__ import annotations

import re
import subprocess
import uuid
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from kafka import KafkaConsumer

from projections.postgres_store import open_pool
from schemas.envelope import CloudEvent
from services.application.auth import Role
from services.bootstrap import data_keys, production, rebuild
from services.http.app import create_app
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE, bearer

FIXTURES = Path(__file__).parents[1] / "fixtures"
FORM = {"content-type": "application/x-www-form-urlencoded"}
ADMIN = bearer(Role.ADMIN, subject="dpo@bank")
SECRETS = [
    b"Fabien",
    b"Bellemare",
    b"fabien@fabulous-garden.example",
    b"+33612345678",
    b"33612345678",
    b"STOP les promos",  # his SMS (Twilio fixture)
    b"Votre devis jardin",  # an email's subject
    b"Rappeler pour le devis",  # an advisor's call notes
    b"Espace client de F.",  # a page he visited
    b"Gardenia Villa",  # his postal address (an attribute)
    b"Hedge trimmed into a duck",  # his complaint's subject (the service desk's queue holds it)
]


def event(subject: str, kind: str, data: dict) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "source": "test",
        "type": f"crossview.interaction.{kind}.v1",
        "subject": subject,
        "time": "2026-11-21T09:00:00+00:00",
        "data": {"provider": "test", "provider_id": str(uuid.uuid4()), "status": "received", **data},
    }


def everything_on_the_log(settings) -> bytes:
    consumer = KafkaConsumer(
        *[*settings.event_topics, settings.dead_letter_topic],
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=5000,
    )
    records = list(consumer)
    consumer.close()
    assert records
    return b"\n".join(
        (r.key or b"") + (r.value or b"") + b"".join(name.encode() + (v or b"") for name, v in r.headers)
        for r in records
    )


def pg_dump(settings) -> bytes:
    dump = subprocess.run(
        ["pg_dump", "--dbname", settings.database_url, "--schema", f"{settings.namespace}*"],
        capture_output=True,
        check=True,
        timeout=120,
    )
    assert b"CREATE TABLE" in dump.stdout
    # bytea columns (the event store's states, the wrapped keys) are dumped as hex: read them too
    binary = [bytes.fromhex(h.decode()) for h in re.findall(rb"\\\\x((?:[0-9a-f]{2})+)", dump.stdout)]
    assert binary  # the event store's states are there to be read
    return dump.stdout + b"\n".join(binary)


def found(secrets: list[bytes], haystack: bytes) -> list[bytes]:
    return [s for s in secrets if s in haystack]


def test_an_erased_person_leaves_nothing_readable_and_everyone_else_stays(settings, store):
    configured = settings.model_copy(update={"insecure_skip_signatures": True})
    with (
        ProjectorThread(configured),
        TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien, garden = ids["fabien"], ids["fn"]["Fabulous Garden"]
        org = ids["org"]["Fabulous Garden"]
        scenario.command(
            "put",
            f"/v1/persons/{fabien}/attributes/email",
            {"value": "fabien@fabulous-garden.example", "function_id": garden},
        )
        scenario.command(
            "put", f"/v1/persons/{fabien}/attributes/postal_address", {"value": "Gardenia Villa", "function_id": garden}
        )
        claire = scenario.command("post", "/v1/persons", {"given_name": "Claire", "family_name": "Dubois"}, 201)
        scenario.command(
            "post",
            f"/v1/persons/{claire}/functions",
            {"organisation_id": org, "title_code": "BOARD_MEMBER", "entered_on": "2022-02-01"},
            201,
        )
        # Every channel: emails (SendGrid), an SMS and a call from a number he never gave (Twilio: a
        # provisional caller, joined into him later), his own web visit, email subject and call notes.
        assert (
            client.post("/v1/ingest/sendgrid", content=(FIXTURES / "sendgrid" / "batch.json").read_bytes()).status_code
            == 200
        )
        for path, name in (("sms", "inbound_sms"), ("voice", "call_completed")):
            body = (FIXTURES / "twilio" / f"{name}.form").read_bytes()
            assert client.post(f"/v1/ingest/twilio/{path}", content=body, headers=FORM).status_code == 200
        published = client.post(
            "/v1/events",
            json=[
                event(fabien, "web", {"direction": "inbound", "action": "page", "name": "Espace client de F."}),
                event(
                    fabien,
                    "email",
                    {
                        "direction": "outbound",
                        "address": "fabien@fabulous-garden.example",
                        "subject_line": "Votre devis jardin",
                    },
                ),
                event(
                    fabien,
                    "call",
                    {
                        "direction": "outbound",
                        "from_number": "+33140000000",
                        "to_number": "+33612345678",
                        "notes": "Rappeler pour le devis",
                    },
                ),
                event(
                    claire,
                    "sms",
                    {
                        "direction": "inbound",
                        "from_number": "+33698765432",
                        "to_number": "+33140000000",
                        "body": "Bonjour",
                    },
                ),
            ],
        )
        assert published.status_code == 202, published.text
        # A record the projector cannot apply: dead-lettered with his (sealed) data in it.
        crossview = client.app.state.crossview
        crossview.ingest.publish(
            [
                CloudEvent(
                    id=str(uuid.uuid4()),
                    source="test",
                    type="crossview.interaction.sms.v1",
                    subject=fabien,
                    time=datetime.now(UTC),
                    data={
                        "direction": "sideways",
                        "provider": "t",
                        "provider_id": "x",
                        "status": "received",
                        "from_number": "+33612345678",
                        "to_number": "+33140000000",
                        "body": "STOP les promos",
                    },
                )
            ]
        )
        complaint = {"kind": "complaint", "subject": "Hedge trimmed into a duck"}
        scenario.command("post", f"/v1/persons/{fabien}/service-requests", complaint, 201)
        wait_until(caught_up(store, configured), 60, "the projector")
        queue = scenario.read("get", "/v1/service-requests")["service_requests"]
        assert [r["person_id"] for r in queue if r["subject"] == complaint["subject"]] == [fabien]
        (caller,) = [r["person_id"] for r in client.get("/v1/search", params={"q": "+33612345678"}).json()["results"]]
        scenario.command("post", f"/v1/persons/{fabien}/joins", {"absorbed_id": caller})
        wait_until(caught_up(store, configured), 60, "the projector")

        export = client.get(f"/v1/persons/{fabien}/export", headers=ADMIN)
        assert export.status_code == 200
        assert found(SECRETS, export.content) == SECRETS  # everything held about him, before
        assert not found(SECRETS, everything_on_the_log(configured))  # sealed on the log from the start
        assert found([b"Bellemare", b"Votre devis jardin"], pg_dump(configured))  # clear in the read models
        claire_before = scenario.read("get", f"/v1/persons/{claire}")
        assert fabien in str(claire_before["links"])

        erased = client.delete(f"/v1/persons/{fabien}", headers=ADMIN)
        assert erased.status_code == 200, erased.text
        assert sorted(erased.json()["erased"]) == sorted([fabien, caller]) and erased.json()["purged"]
        assert client.get(f"/v1/persons/{fabien}").status_code == 410
        assert client.get(f"/v1/persons/{caller}").status_code == 410
        wait_until(caught_up(store, configured), 60, "the projector")
        queue = client.get("/v1/service-requests", params={"state": "open,closed"}).json()["service_requests"]
        assert not [r for r in queue if r["person_id"] in (fabien, caller)]  # the queue's rows went with him
        claire_after = client.get(f"/v1/persons/{claire}").json()
        assert fabien not in str(claire_after["links"])
        same = ("given_name", "family_name", "functions", "interactions", "attributes", "reachability")
        assert {k: claire_after[k] for k in same} == {k: claire_before[k] for k in same}

    assert not found(SECRETS, everything_on_the_log(configured))
    assert not found(SECRETS, pg_dump(configured))
    pool = open_pool(configured.database_url, max_size=1)
    try:  # what sealed his fields on the log is gone for good, in any process
        assert data_keys(configured, pool).all_of([fabien, caller, claire]) == {
            fabien: None,
            caller: None,
            claire: data_keys(configured, pool).all_of([claire])[claire],
        }
        assert data_keys(configured, pool).all_of([claire])[claire]
    finally:
        pool.close()

    rebuild(configured)  # the log still replays: he appears as erased, the others as they were
    with TestClient(create_app(lambda: production(configured)), headers=EVERY_ROLE) as client:
        assert client.get(f"/v1/persons/{fabien}").status_code == 410
        rebuilt = client.get(f"/v1/persons/{claire}").json()
        assert {k: rebuilt[k] for k in same} == {k: claire_before[k] for k in same}
    assert store.person(fabien).interactions == {"email": 2, "web": 1, "call": 1}  # counts stay right
    assert not found(SECRETS, pg_dump(configured))
