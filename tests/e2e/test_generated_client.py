"""A client generated from the live server's /openapi.json by a common generator
(openapi-python-client, installed with the dev dependencies: no network at test time) registers a
person, publishes an event, reads the 360° view at the event's position and follows the timeline,
with typed answers and typed errors: what stable operation ids, named schemas and documented
errors give whoever generates a client in their language."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from tests.e2e.servers import live_api
from tests.tokens import EVERY_ROLE_TOKEN

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


def generated_client(base: str, where: Path):
    """The package openapi-python-client makes of the server's document, imported."""
    document = where / "openapi.json"
    document.write_text(json.dumps(httpx.get(f"{base}/openapi.json").json()))
    package = where / "crossview_client"
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}  # its ruff pass
    made = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(document), "--output-path", str(package), "--meta", "none"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    assert "Warning" not in made.stdout, made.stdout  # every operation and schema was understood
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module("crossview_client")
    finally:
        sys.path.remove(str(where))


def test_a_generated_client_registers_publishes_reads_the_view_and_follows_the_timeline(settings, tmp_path):
    with live_api(settings, tmp_path) as base:
        crossview = generated_client(base, tmp_path)
        from crossview_client.api.commands import register_person
        from crossview_client.api.ingest import publish_events
        from crossview_client.api.persons import person_360, timeline
        from crossview_client.models import CloudEvent, CloudEventData, Person360Out, PersonIn, Problem, TimelineOut

        client = crossview.AuthenticatedClient(base_url=base, token=EVERY_ROLE_TOKEN, raise_on_unexpected_status=True)
        registered = register_person.sync(client=client, body=PersonIn(given_name="Fabien", family_name="Bellemare"))
        fabien = registered.id
        # The registration (domain topic) and the SMS (interactions topic) are on two logs: a read
        # waiting for the SMS alone may come before the registration is in.
        named = person_360.sync(fabien, client=client, min_position=registered.positions[-1], wait_ms=10_000)
        assert named.given_name == "Fabien"
        sms = CloudEventData.from_dict(
            {
                "direction": "inbound",
                "provider": "twilio",
                "provider_id": "SM-generated-1",
                "status": "received",
                "from_number": "+33612345678",
                "to_number": "+33140000000",
                "body": "Bonjour",
            }
        )
        event = CloudEvent(
            id="SM-generated-1",
            source="generated-client",
            type_="crossview.interaction.sms.v1",
            subject=fabien,
            data=sms,
        )
        accepted = publish_events.sync(client=client, body=event)
        assert accepted.accepted == 1 and [s.value for s in accepted.time_sources] == ["arrival"]

        view = person_360.sync(fabien, client=client, min_position=accepted.positions[0], wait_ms=10_000)
        assert isinstance(view, Person360Out)
        assert (view.given_name, view.interactions.to_dict()) == ("Fabien", {"sms": 1})
        page = timeline.sync(fabien, client=client, min_position=accepted.positions[0], wait_ms=10_000)
        assert isinstance(page, TimelineOut)
        assert [e.event_type for e in page.entries] == [
            "crossview.interaction.sms.v1",
            "crossview.person.registered.v1",
        ]
        assert page.entries[0].event_id == "SM-generated-1"

        unknown = person_360.sync("nobody", client=client)
        assert isinstance(unknown, Problem) and unknown.status == 404  # a documented error, typed
        anonymous = crossview.Client(base_url=base)
        refused = person_360.sync_detailed(fabien, client=anonymous)
        assert refused.status_code == 401 and isinstance(refused.parsed, Problem)
