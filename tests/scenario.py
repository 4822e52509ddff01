"""The seed's scenario driven over HTTP, for any client with .get/.post/.put (TestClient or httpx)."""

from __future__ import annotations

TITLES = [
    ("MANAGING_DIRECTOR", "Managing director"),
    ("BOARD_MEMBER", "Board member"),
    ("TREASURER", "Treasurer"),
    ("FINANCE_DIRECTOR", "Finance director"),
]
ORGANISATIONS = [
    ("Fabulous Garden", "company", "client"),
    ("Social Networks", "company", "prospect"),
    ("Croissance+", "association", "prescriber"),
    ("Delta Telecom", "company", "client"),
]
FUNCTIONS = [
    ("Delta Telecom", "FINANCE_DIRECTOR", "2015-03-01"),
    ("Fabulous Garden", "MANAGING_DIRECTOR", "2021-01-04"),
    ("Social Networks", "BOARD_MEMBER", "2023-06-01"),
    ("Croissance+", "TREASURER", "2024-09-15"),
]


class Scenario:
    def __init__(self, client) -> None:
        self.client = client
        self.last_position: str | None = None

    def command(self, method: str, url: str, body: dict | None = None, status: int = 200) -> str | None:
        answer = getattr(self.client, method)(url, json=body) if body is not None else getattr(self.client, method)(url)
        assert answer.status_code == status, answer.text
        if answer.json()["positions"]:
            self.last_position = answer.json()["positions"][-1]
        return answer.json()["id"]

    def read(self, method: str, url: str, **kwargs) -> dict:
        params = {**kwargs.pop("params", {}), "wait_ms": 15000}
        if self.last_position:
            params["min_position"] = self.last_position
        answer = getattr(self.client, method)(url, params=params, **kwargs)
        assert answer.status_code == 200, answer.text
        assert answer.json()["freshness"]["caught_up"], "the view did not catch up with the last command"
        return answer.json()

    def build(self) -> dict:
        for code, label in TITLES:
            self.command("put", f"/v1/titles/{code}", {"label": label})
        org = {
            name: self.command("post", "/v1/organisations", {"name": name, "kind": kind, "relationship": rel}, 201)
            for name, kind, rel in ORGANISATIONS
        }
        fabien = self.command("post", "/v1/persons", {"given_name": "Fabien", "family_name": "Bellemare"}, 201)
        fn = {
            name: self.command(
                "post",
                f"/v1/persons/{fabien}/functions",
                {"organisation_id": org[name], "title_code": title, "entered_on": entered},
                201,
            )
            for name, title, entered in FUNCTIONS
        }
        self.command("post", f"/v1/persons/{fabien}/functions/{fn['Delta Telecom']}/end", {"exited_on": "2020-12-31"})
        return {"org": org, "fabien": fabien, "fn": fn}
