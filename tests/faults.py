"""What the fault tests and `make soak` share: a steady load on a live API, and the one check that
ends each of them (every view equals the pure fold of every distinct event; nothing lost, nothing
doubled)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from channels.kafka import KafkaReplay, end_offsets
from domain.contact_point import ContactPoint, contact_point_id
from domain.person import Person
from projections.postgres_store import PostgresStore, open_pool
from schemas.envelope import CloudEvent
from services.adapters.relay_positions import PostgresRelayPositions
from services.application.crossview import CONTACT_ATTRIBUTES, Crossview
from services.application.relay import last_notification_id
from services.application.wire import to_cloud_event, wire_data
from services.bootstrap import event_store
from services.demo.data import synthetic_interactions
from services.settings import Settings
from tests.conftest import as_json, expected_views
from tests.live import caught_up, crossview_process, free_port, wait_until
from tests.tokens import EVERY_ROLE


class Api:
    """`crossview serve` in a child process on its own port (with its relay), restartable."""

    def __init__(
        self, settings: Settings, log: Path, port: int | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.settings, self.log, self.port, self.env = settings, log, port or free_port(), env
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60) -> None:
        self.process = crossview_process(self.settings, "serve", "--port", str(self.port), log=self.log, env=self.env)

        def answers() -> bool:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                return httpx.get(f"{self.url}/v1/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout_s, f"the API on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)


@dataclass(eq=False)
class Load(threading.Thread):
    """An advisor's commands (register a person, then give them a mobile number: the person and
    the contact point saved in one command) and a provider's ingest, one after the other until
    stopped. A request refused (503) or cut (the server killed) is tried again, as clients do."""

    url: str
    seed: int = 7
    chunk: int = 10
    pause_s: float = 0.02
    attempted: dict[str, CloudEvent] = field(default_factory=dict)  # every interaction sent, by id
    accepted: set[str] = field(default_factory=set)  # interaction ids answered 202
    commands: int = 0
    unavailable: int = 0  # 503 answers, each with a problem body
    cut: int = 0  # requests without an answer (connection refused or reset)
    conflicts_after_cut: int = 0  # 409s to a retry whose cut attempt had been stored (a function given twice)
    unexpected: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self._interactions = iter(synthetic_interactions(people=400, per_person=500, seed=self.seed))

    def run(self) -> None:
        client = httpx.Client(headers=EVERY_ROLE, timeout=30)
        number = 0
        while not self.stop.is_set():
            number += 1
            person = self._send(
                client, "POST", "/v1/persons", {"given_name": "Fabien", "family_name": f"Bellemare {number}"}
            )
            if person is not None:
                phone = f"+336{(self.seed * 1_000_000 + number) % 100_000_000:08d}"
                self._send(client, "PUT", f"/v1/persons/{person['id']}/attributes/mobile_phone", {"value": phone})
            batch = [next(self._interactions) for _ in range(self.chunk)]
            for event in batch:
                self.attempted[event.id] = event
            if self._send(client, "POST", "/v1/events", [e.model_dump(mode="json") for e in batch]) is not None:
                self.accepted.update(e.id for e in batch)
            time.sleep(self.pause_s)
        client.close()

    def _send(self, client: httpx.Client, method: str, path: str, body) -> dict | None:
        retried = False
        while not self.stop.is_set():
            try:
                answer = client.request(method, f"{self.url}{path}", json=body)
            except httpx.HTTPError:
                self.cut += 1
                retried = True
                self.stop.wait(0.2)
                continue
            if answer.status_code == 503:
                if answer.headers.get("content-type") != "application/problem+json":
                    self.unexpected.append(f"503 without a problem body: {answer.text[:300]}")
                self.unavailable += 1
                self.stop.wait(0.3)
                continue
            if answer.status_code == 409 and retried:
                self.conflicts_after_cut += 1
                return None
            if answer.status_code >= 300:
                self.unexpected.append(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
                return None
            if path != "/v1/events":
                self.commands += 1
            return answer.json()
        return None

    def finish(self) -> None:
        self.stop.set()
        self.join(timeout=60)


def stored_events(app: Crossview) -> list[CloudEvent]:
    """Every stored domain event as the relay publishes it."""
    events, start = [], 1
    while notifications := app.recorder.select_notifications(start=start, limit=1000):
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            data = wire_data(event)
            if data is not None:
                events.append(to_cloud_event(event, data))
        start = notifications[-1].id + 1
    return events


def half_stored_commands(app: Crossview) -> list[str]:
    """Contact attributes (mobile numbers, emails) stored on a person without their contact point,
    or the other way round: a command the event store kept only part of."""
    on_people, claimed = set(), set()
    start = 1
    while notifications := app.recorder.select_notifications(start=start, limit=1000):
        for notification in notifications:
            event = app.mapper.to_domain_event(notification)
            if isinstance(event, ContactPoint.Claimed):
                claimed.add((str(event.originator_id), event.person_id))
            elif isinstance(event, Person.Event) and getattr(event, "name", None) in CONTACT_ATTRIBUTES:
                on_people.add((CONTACT_ATTRIBUTES[event.name], event.value, str(event.originator_id)))
        start = notifications[-1].id + 1
    people_side = {(str(contact_point_id(kind, value)), person) for kind, value, person in on_people if value}
    return sorted(f"{pair}" for pair in people_side ^ claimed)


def log_ids(settings: Settings) -> Counter[str]:
    """How many times each event id is on the event topics, from offset 0 to their current end."""
    ends = {p: o for p, o in end_offsets(settings.kafka_bootstrap, settings.event_topics).items() if o > 0}
    counts: Counter[str] = Counter()
    types = log_ids.types = {}
    if not ends:
        return counts
    source = KafkaReplay(settings.kafka_bootstrap, dict.fromkeys(ends, 0))
    read = dict.fromkeys(ends, 0)
    try:
        deadline = time.monotonic() + 120
        while any(read[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            for record in source.poll(1000):
                partition = (record.topic, record.partition)
                if partition in ends and record.offset < ends[partition]:
                    read[partition] = record.offset + 1
                    headers = dict(record.headers)
                    if headers["ce_type"].startswith(b"crossview.audit."):
                        continue  # the API's own access records: neither stored nor sent by the load
                    counts[headers["ce_id"].decode()] += 1
                    types[headers["ce_id"].decode()] = headers["ce_type"].decode()
    finally:
        source.close()
    return counts


def relay_caught_up(settings: Settings, app: Crossview) -> bool:
    pool = open_pool(settings.database_url, max_size=1)
    try:
        return PostgresRelayPositions(pool, settings.namespace).load().notification_id >= last_notification_id(app)
    finally:
        pool.close()


@contextmanager
def read_models(settings: Settings) -> Iterator[PostgresStore]:
    pool = open_pool(settings.database_url, max_size=2)
    try:
        yield PostgresStore(pool, settings.namespace)
    finally:
        pool.close()


@dataclass
class Verdict:
    people: int
    stored: int
    interactions: int
    duplicates_on_log: int


def losses_and_doubles(settings: Settings, load: Load | None, timeout_s: float = 120) -> tuple[Verdict, list[str]]:
    """Wait for the relay and the projector to finish, then say what is wrong, if anything (an empty
    list: nothing): every stored domain event and every accepted interaction is on the log; the log
    holds nothing else; every person's view equals the pure fold of every distinct event and their
    timeline holds each event once. Each problem is a sentence with its evidence (a view's diff)."""
    app = event_store(settings)
    try:
        wait_until(lambda: relay_caught_up(settings, app), timeout_s, "the relay to publish every stored event")
        with read_models(settings) as store:
            wait_until(caught_up(store, settings), timeout_s, "the projector to catch up")
            problems = [f"half-stored command: {pair}" for pair in half_stored_commands(app)]
            stored = stored_events(app)
            on_log = log_ids(settings)
            attempted = load.attempted if load else {}
            accepted = load.accepted if load else set()
            missing = [e.id for e in stored if e.id not in on_log] + sorted(accepted - on_log.keys())
            if missing:
                problems.append(f"{len(missing)} events stored or accepted but not on the log: {missing[:5]}")
            known = {e.id for e in stored} | attempted.keys()
            if unknown := on_log.keys() - known:
                problems.append(f"unknown events on the log: {Counter(log_ids.types[i] for i in unknown)}")
            events = stored + [e for i, e in attempted.items() if i in on_log]
            expected = expected_views(events)
            shown = as_json({p: store.person(p) for p in expected})
            problems += [view_diff(p, shown[p], expected[p]) for p in expected if shown[p] != expected[p]]
            per_person = Counter(e.subject for e in {e.id: e for e in events}.values())
            for person in expected:
                entries = len(store.timeline(person, limit=100_000))
                if entries != per_person[person]:
                    problems.append(f"timeline of {person}: {entries} entries for {per_person[person]} distinct events")
            verdict = Verdict(
                people=len(expected),
                stored=len(stored),
                interactions=sum(1 for i in attempted if i in on_log),
                duplicates_on_log=sum(n - 1 for n in on_log.values()),
            )
            return verdict, problems
    finally:
        app.close()


def view_diff(person: str, shown: dict | None, folded: dict) -> str:
    """Where a person's view differs from the fold, field by field."""
    if shown is None:
        return f"view of {person}: missing; the fold has {folded}"
    fields = sorted(k for k in shown.keys() | folded.keys() if shown.get(k) != folded.get(k))
    return f"view of {person} differs from the fold: " + "; ".join(
        f"{k}: view {shown.get(k)!r} != fold {folded.get(k)!r}" for k in fields
    )


def assert_nothing_lost_or_doubled(settings: Settings, load: Load | None, timeout_s: float = 120) -> Verdict:
    verdict, problems = losses_and_doubles(settings, load, timeout_s)
    assert not problems, "\n".join(problems[:20])
    return verdict
