"""Search and campaign indicators travel, on the real broker and database: at an instant (or the
position its answer names), a person renamed since is found under the old name and not the new one,
one registered since is not found, and a campaign counts only the messages of then."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from services.bootstrap import production
from services.http.app import create_app
from tests.live import ProjectorThread, caught_up, wait_until
from tests.scenario import Scenario
from tests.tokens import EVERY_ROLE

LIVE_ONLY = ("freshness", "time_travel")


def email(person: str, n: int, status: str, at: datetime, function_id: str | None = None) -> dict:
    return {
        "id": f"autumn-{n}-{status}",
        "source": "test",
        "type": "crossview.interaction.email.v1",
        "subject": person,
        "time": at.isoformat(),
        "data": {
            "direction": "outbound",
            "provider": "sendgrid",
            "provider_id": f"autumn-{n}",
            "status": status,
            "address": f"person{n}@example.org",
            "campaign": "autumn",
            "function_id": function_id,
        },
    }


def names(answer: dict) -> list[tuple[str, str]]:
    return [(r["given_name"], r["family_name"]) for r in answer["results"]]


def position_of(answer: dict) -> str:
    return ",".join(f"{where}:{offset}" for where, offset in answer["time_travel"]["at_position"].items())


def without(body: dict) -> dict:
    return {k: v for k, v in body.items() if k not in LIVE_ONLY}


def test_search_and_campaign_indicators_answer_as_the_log_stood_at_the_cut(settings, store):
    with (
        ProjectorThread(settings),
        TestClient(create_app(lambda: production(settings)), headers=EVERY_ROLE) as client,
    ):
        scenario = Scenario(client)
        ids = scenario.build()
        fabien, garden = ids["fabien"], ids["org"]["Fabulous Garden"]
        claire = scenario.command("post", "/v1/persons", {"given_name": "Claire", "family_name": "Zola"}, 201)
        treasurer = scenario.command(
            "post",
            f"/v1/persons/{claire}/functions",
            {"organisation_id": garden, "title_code": "TREASURER", "entered_on": "2020-01-01"},
            201,
        )
        start = datetime.now(UTC) - timedelta(minutes=5)
        sent = [email(fabien, 1, "delivered", start), email(claire, 2, "delivered", start, treasurer)]
        for event in sent:
            assert client.post("/v1/events", json=event).status_code == 202
        wait_until(caught_up(store, settings), 60, "the projector")
        scenario.read("get", f"/v1/persons/{claire}")
        time.sleep(0.05)
        cut = datetime.now(UTC)
        time.sleep(0.05)

        # After the cut: Claire renamed, Bruno Zola registered, Claire opens, Bruno is sent the campaign.
        scenario.command("put", f"/v1/persons/{claire}/name", {"given_name": "Claire", "family_name": "Quinet"})
        bruno = scenario.command("post", "/v1/persons", {"given_name": "Bruno", "family_name": "Zola"}, 201)
        later = [
            email(claire, 2, "open", datetime.now(UTC), treasurer),
            email(bruno, 3, "delivered", datetime.now(UTC)),
        ]
        for event in later:
            assert client.post("/v1/events", json=event).status_code == 202
        wait_until(caught_up(store, settings), 60, "the projector")
        scenario.read("get", f"/v1/persons/{bruno}")

        then = {"as_of": cut.isoformat()}
        live_zola = scenario.read("get", "/v1/search", params={"q": "Zola"})
        zola_then = client.get("/v1/search", params={"q": "Zola", **then}).json()
        assert names(live_zola) == [("Bruno", "Zola")] and "time_travel" not in live_zola
        assert names(zola_then) == [("Claire", "Zola")] and zola_then["time_travel"]["until"]
        assert names(client.get("/v1/search", params={"q": "Quinet", **then}).json()) == []
        assert names(scenario.read("get", "/v1/search", params={"q": "Quinet"})) == [("Claire", "Quinet")]
        # Words through the functions of then: the organisation's name, the title's label.
        treasurers = client.get("/v1/search", params={"q": "zola treasurer", **then}).json()
        assert [r["person_id"] for r in treasurers["results"]] == [claire]
        gardeners = client.get("/v1/search", params={"q": "fabulous garden", **then}).json()
        assert {r["person_id"] for r in gardeners["results"]} == {fabien, claire}
        # At its position, the same answer byte for byte; as of now, the live one.
        pinned = {"at_position": position_of(zola_then), **then}
        assert (
            client.get("/v1/search", params={"q": "Zola", **pinned}).content
            == client.get("/v1/search", params={"q": "Zola", **pinned}).content
        )
        assert names(client.get("/v1/search", params={"q": "Zola", **pinned}).json()) == [("Claire", "Zola")]
        now = client.get("/v1/search", params={"q": "Zola", "as_of": datetime.now(UTC).isoformat()}).json()
        assert without(now) == without(live_zola)
        dated = client.get("/v1/search", params={"q": "Zola", "as_of": cut.date().isoformat()}).json()
        assert names(dated) == [("Bruno", "Zola")] and "time_travel" not in dated  # a date keeps its meaning

        # The campaign: two people sent and delivered by the cut; three, and one open, since.
        live = client.get("/v1/campaigns/autumn").json()["channels"]["email"]
        at_cut = client.get("/v1/campaigns/autumn", params=then).json()
        assert (live["counts"]["sent"], live["counts"]["opened"]) == (3, 1)
        counts = at_cut["channels"]["email"]["counts"]
        assert (counts["sent"], counts["delivered"], counts["opened"]) == (2, 2, 0) and at_cut["time_travel"]
        listed = client.get("/v1/campaigns", params=then).json()["campaigns"]
        assert [(c["campaign"], c["people_sent"]) for c in listed] == [("autumn", 2)]
        days = client.get("/v1/campaigns/autumn/days", params=then).json()["channels"]["email"]
        assert days[-1]["counts"]["sent"] == 2 and days[-1]["counts"]["opened"] == 0
        before_it = client.get("/v1/campaigns/autumn", params={"as_of": (start - timedelta(minutes=1)).isoformat()})
        assert before_it.status_code == 404
        mix_then = client.get("/v1/analytics/interactions", params=then).json()
        mix_now = client.get("/v1/analytics/interactions", params={"as_of": datetime.now(UTC).isoformat()}).json()
        assert without(mix_now) == without(client.get("/v1/analytics/interactions").json())
        by_title = {t["title_code"]: t["channels"] for t in mix_then["by_function_title"]}
        assert by_title["TREASURER"] == {"email": 1}  # Claire's message, attributed to her function then
        for path in ("/v1/campaigns", "/v1/campaigns/autumn", "/v1/campaigns/autumn/days"):
            live_answer = client.get(path).json()
            travelled = client.get(path, params={"as_of": datetime.now(UTC).isoformat()}).json()
            assert "time_travel" not in live_answer and without(travelled) == without(live_answer), path
