"""Load N people through the real pipeline: the event store, the relay, Kafka, the projector.

    python -m bench load --people 1000000 [--organisations M] [--big-organisation 20000]
                         [--interactions 3] [--projectors 1] [--sequential] [--namespace NS]

- stored: organisations, then people in batches (one transaction each) through the bulk use case
  (services/application/bulk.py: the aggregates, their guards and the event-contract check), each
  with one to four functions, a mobile, an email per function (contact-point aggregates: one
  person per address);
- relayed: `crossview relay` (its own process) carries the stored events to the domain topic;
- interactions: a few per person, sealed and published on the interactions topic through `Ingest`;
- projected: `crossview projector` (``--projectors`` processes in one group) into the read models.

By default the relay and the projector run from the start, as in production, and each stage's
rate is its count over the time from the start to its end. ``--sequential`` runs one stage after
the other, so each rate is the stage's own. A stage's progress is one line on stderr, rewritten.

Resumable: ``--namespace`` names a namespace to continue (ids are deterministic: the people and
organisations already stored are skipped, the relay and the projector resume from their stored
positions, the interactions of people stored before are not sent again; a load stopped during
its interactions stage sends them all again, and the projector drops the duplicates by id). The load stops by itself once
every event is projected, and prints how to measure the namespace and how to drop it.
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.common import RESULTS, drop_namespace, environment_of, log
from channels.kafka import KafkaPublisher, end_offsets
from domain.organisation import Organisation, organisation_id_for
from projections.postgres_store import PostgresStore, open_pool
from schemas.events import INTERACTIONS
from services.adapters.relay_positions import PostgresRelayPositions
from services.application.bulk import BulkRegistration
from services.application.ingest import Ingest
from services.application.relay import last_notification_id
from services.bootstrap import create_topics, data_keys, event_store
from services.demo import population
from services.demo.data import TITLES
from services.settings import Settings

PEOPLE_BATCH = 200  # people (with their contact points) per transaction
ORGANISATION_BATCH = 1000
INTERACTION_BATCH = 5000


@dataclass
class Stage:
    name: str
    unit: str
    total: int | None = None  # None while unknown
    done: int = 0
    started: float | None = None
    ended: float | None = None
    events: int = 0  # events the stage carried (stored, relayed, published, projected)
    base: int = 0  # done by an earlier run (a resumed load): not in the rate
    extra: dict = field(default_factory=dict)

    def start(self) -> None:
        self.started = self.started or time.monotonic()

    def end(self) -> None:
        self.ended = self.ended or time.monotonic()

    @property
    def seconds(self) -> float:
        if self.started is None:
            return 0.0
        return (self.ended or time.monotonic()) - self.started

    def line(self) -> str:
        total = f"/{self.total:,}" if self.total is not None else ""
        rate = (self.done - self.base) / self.seconds if self.seconds else 0
        mark = "✓" if self.ended else " "
        return f"{mark}{self.name} {self.done:,}{total} {self.unit} ({rate:,.0f}/s)"

    def summary(self) -> dict:
        seconds = round(self.seconds, 1)
        return {
            self.unit: self.done,
            "events": self.events,
            "seconds": seconds,
            f"{self.unit}_per_s": round((self.done - self.base) / seconds) if seconds else None,
            "events_per_s": round((self.events - (self.base if self.unit == "events" else 0)) / seconds)
            if seconds
            else None,
            "done_before": self.base,
            **self.extra,
        }


class Progress(threading.Thread):
    """One stderr line for every stage, rewritten in place every second."""

    def __init__(self, stages: list[Stage], refresh: Callable[[], None]) -> None:
        super().__init__(daemon=True)
        self.stages, self.refresh, self.stop = stages, refresh, threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1):
            self.draw()

    def draw(self) -> None:
        try:
            self.refresh()
        except Exception as error:  # noqa: BLE001 - a failed look at the positions only delays the bar
            log(f"(progress: {error})")
        sys.stderr.write("\r" + " | ".join(s.line() for s in self.stages if s.started) + "\033[K")
        sys.stderr.flush()


class Load:
    def __init__(self, settings: Settings, args: argparse.Namespace) -> None:
        self.settings, self.args = settings, args
        self.organisations = args.organisations or max(10, args.people // 20)
        self.big = min(args.big_organisation, args.people // 2)
        self.pool = open_pool(settings.database_url, max_size=3)
        self.read_models = PostgresStore(self.pool, settings.namespace)
        self.positions = PostgresRelayPositions(self.pool, settings.namespace)
        self.app = event_store(settings)
        self.stored = Stage("stored", "people")
        self.relayed = Stage("relayed", "events")
        self.published = Stage("interactions", "events")
        self.projected = Stage("projected", "events")
        self.processes: list[subprocess.Popen] = []
        self.logs = open(RESULTS / f"load-{settings.namespace}.log", "a")  # noqa: SIM115 - closed in close()
        self._stored_notifications: int | None = None

    # --- stages -----------------------------------------------------------------------------

    def store(self) -> None:
        self.stored.total = self.args.people
        self.stored.start()
        for code, label in TITLES.items():
            if code not in self.app._titles().titles:
                self.app.define_title(code, label)
        self._store_organisations()
        bulk = BulkRegistration(self.app)
        start = first_missing(self.args.people, lambda n: bulk.is_stored(population.person_id(self.args.seed, n)))
        self.stored.done = self.stored.base = start
        self.stored.extra["skipped_as_stored_before"] = start
        people = population.people(self.args.people, self.organisations, self.big, self.args.seed, start)
        while batch := list(itertools.islice(people, PEOPLE_BATCH)):
            self.stored.events += bulk.register(batch)
            self.stored.done += len(batch)
        self._stored_notifications = last_notification_id(self.app)
        self.stored.extra["organisations"] = self.organisations
        self.stored.extra["big_organisation"] = {
            "id": str(population.big_organisation_id(self.args.seed)),
            "people": self.big,
        }
        self.stored.end()

    @property
    def _of(self) -> tuple[int, int]:
        return self.args.interactions, self.args.seed

    def _store_organisations(self) -> None:
        keys = list(population.organisations(self.organisations, self.args.seed))
        start = first_missing(len(keys), lambda n: self._organisation_exists(keys[n][0]))
        for at in range(start, len(keys), ORGANISATION_BATCH):
            self.app.save(
                *[
                    Organisation(name, kind, relationship, external_key=key)
                    for key, name, kind, relationship in keys[at : at + ORGANISATION_BATCH]
                ]
            )

    def _organisation_exists(self, key: str) -> bool:
        try:
            self.app.repository.get(organisation_id_for(key))
            return True
        except Exception:  # noqa: BLE001 - AggregateNotFoundError: not stored yet
            return False

    def publish_interactions(self) -> None:
        self.published.start()
        # The interactions of the people this run stored; all of them when every person was stored
        # before and the topic holds fewer than them (a load stopped during this stage).
        first = self.stored.extra.get("skipped_as_stored_before", 0)
        topic = self.settings.topic(INTERACTIONS)
        if first == self.args.people:
            already = sum(end_offsets(self.settings.kafka_bootstrap, [topic]).values())
            first = self.args.people if already >= population.interaction_count(self.args.people, *self._of) else 0
        expected = population.interaction_count(self.args.people, *self._of, first)
        self.published.total = expected
        self.published.extra["people_from"] = first
        if expected:
            events = population.interactions(self.args.people, *self._of, first)
            publisher = KafkaPublisher(self.settings.kafka_bootstrap)
            ingest = Ingest(publisher, self.settings, data_keys(self.settings, self.pool))
            try:
                while batch := list(itertools.islice(events, INTERACTION_BATCH)):
                    ingest.publish(batch)
                    self.published.done += len(batch)
                    self.published.events = self.published.done
            finally:
                publisher.close()
        self.published.end()

    def start_relay(self) -> None:
        self.relayed.start()
        # a resumed load: what was relayed (and, below, projected) before is not in the rate
        self.relayed.base = self.relayed.done = self.positions.load().notification_id
        self._spawn("relay")

    def start_projectors(self) -> None:
        self.projected.start()
        stored = self.read_models.position()
        self.projected.base = self.projected.done = sum(stored.values())
        for _ in range(self.args.projectors):
            self._spawn("projector")

    def _spawn(self, command: str) -> None:
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "services.cli", command],
                env=environment_of(self.settings),
                stdout=self.logs,
                stderr=subprocess.STDOUT,
            )
        )

    def wait_relayed(self) -> None:
        while not self.relayed.ended:
            self._check_processes()
            time.sleep(0.5)

    def wait_projected(self) -> None:
        while not self.projected.ended:
            self._check_processes()
            time.sleep(0.5)

    def _check_processes(self) -> None:
        for process in self.processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[-1]} exited ({process.returncode}); see {self.logs.name}")

    def refresh(self) -> None:
        """Reads how far the relay and the projector got; ends their stages once they are through."""
        if self.relayed.started and not self.relayed.ended:
            relayed = self.positions.load().notification_id
            self.relayed.done = self.relayed.events = relayed
            self.relayed.total = self._stored_notifications or last_notification_id(self.app)
            if self._stored_notifications is not None and relayed >= self._stored_notifications:
                self.relayed.end()
        if self.projected.started and not self.projected.ended:
            ends = end_offsets(self.settings.kafka_bootstrap, self.settings.event_topics)
            stored = self.read_models.position()
            projected = sum(min(stored.get(p, 0), end) for p, end in ends.items())
            self.projected.done = self.projected.events = projected
            self.projected.total = sum(ends.values())
            if self.relayed.ended and self.published.ended and all(stored.get(p, 0) >= e for p, e in ends.items()):
                self.projected.end()

    def close(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=60)
        self.app.close()
        self.pool.close()
        self.logs.close()

    def result(self) -> dict:
        return {
            "namespace": self.settings.namespace,
            "people": self.args.people,
            "organisations": self.organisations,
            "big_organisation": self.big,
            "interactions_per_person": self.args.interactions,
            "projectors": self.args.projectors,
            "mode": "sequential" if self.args.sequential else "pipelined",
            **{
                name: {  # the stage's own people_per_s (stored) wins
                    "people_per_s": round(self.args.people / stage.seconds) if stage.seconds else None,
                    **stage.summary(),
                }
                for name, stage in [
                    ("stored", self.stored),
                    ("relayed", self.relayed),
                    ("interactions", self.published),
                    ("projected", self.projected),
                ]
            },
        }


def first_missing(count: int, stored: Callable[[int], bool]) -> int:
    """The first index not stored: what is stored is a prefix (stored in order, a batch at a time)."""
    low, high = 0, count
    while low < high:
        middle = (low + high) // 2
        if stored(middle):
            low = middle + 1
        else:
            high = middle
    return low


def load(args: argparse.Namespace) -> dict:
    """Run the load; returns each stage's figures."""
    RESULTS.mkdir(exist_ok=True)
    settings = Settings(namespace=args.namespace or f"load{uuid.uuid4().hex[:8]}", partitions=args.partitions)
    create_topics(settings)
    run = Load(settings, args)
    progress = Progress([run.stored, run.relayed, run.published, run.projected], run.refresh)
    log(
        f"loading {args.people:,} people, {run.organisations:,} organisations (one with {run.big:,} more people), "
        f"about {args.interactions} interactions each, into namespace {settings.namespace} "
        f"({'one stage after the other' if args.sequential else 'pipelined'})"
    )
    started = time.monotonic()
    progress.start()
    try:
        if not args.sequential:
            run.start_relay()
            run.start_projectors()
        run.store()
        if args.sequential:
            run.start_relay()
            run.wait_relayed()
        run.publish_interactions()
        if args.sequential:
            run.start_projectors()
        run.wait_relayed()
        run.wait_projected()
    finally:
        progress.stop.set()
        progress.join()
        progress.draw()
        sys.stderr.write("\n")
        run.close()
    result = {**run.result(), "seconds": round(time.monotonic() - started, 1)}
    for stage in ("stored", "relayed", "interactions", "projected"):
        log(f"{stage}: {result[stage]}")
    log(f"loaded in {result['seconds']:,} s. Measure it (as many times as you like) with:")
    log(f"  BENCH_NAMESPACE={settings.namespace} BENCH_PEOPLE={args.people} .venv/bin/python -m bench query")
    log(f"drop it with: .venv/bin/python -m bench drop {settings.namespace}")
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench load", description=__doc__.split("\n\n")[0])
    p.add_argument("--people", type=int, default=1_000_000)
    p.add_argument("--organisations", type=int, default=None, help="default: one for 20 people")
    p.add_argument("--big-organisation", type=int, default=20_000, help="people at organisation 0 (default 20,000)")
    p.add_argument("--interactions", type=int, default=3, help="interactions per person, on average (default 3)")
    p.add_argument("--projectors", type=int, default=1, help="projector processes in the group (default 1)")
    p.add_argument("--partitions", type=int, default=6)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--sequential", action="store_true", help="one stage after the other: each stage's own rate")
    p.add_argument("--namespace", help="continue loading this namespace (default: a new one)")
    return p


def main(argv: list[str] | None = None) -> dict:
    return load(parser().parse_args(argv))


def drop(argv: list[str]) -> None:
    for namespace in argv:
        drop_namespace(Settings(namespace=namespace))
        log(f"dropped {namespace}")
