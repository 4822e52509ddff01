"""The composition root: builds Crossview from Settings, on the embedded default or the real services."""

from __future__ import annotations

import gc
import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import psycopg
from eventsourcing.persistence import IntegrityError
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from channels.kafka import (
    BrokerUnavailable,
    KafkaDeadLetters,
    KafkaPublisher,
    KafkaReplay,
    KafkaSource,
    Position,
    end_offsets,
    ensure_topics,
)
from channels.memory import MemoryDeadLetters, MemoryLog
from projections.data_keys import DataKeys, MemoryDataKeys, PostgresDataKeys, Wrapper
from projections.memory_store import MemoryStore
from projections.ports import ProjectionStore
from projections.postgres_store import DatabaseUnavailable, PostgresStore, open_pool, where
from projections.projector import Projector
from projections.rebuild import catch_up
from schemas.envelope import CloudEvent
from schemas.events import stream_of
from schemas.sealing import PERSONAL_BY_TYPE, seal
from services.application import Crossview
from services.audit import Auditor
from services.auth import Authenticator, parse_api_keys
from services.demo_data import DemoIds, seed_demo
from services.erasure import Eraser, memory_purge, postgres_purge
from services.probes import EmbeddedSources, LiveSources, Probes
from services.relay import MemoryRelayPositions, Relay, last_notification_id
from services.relay_positions import PostgresRelayPositions
from services.settings import Settings
from services.used_tokens import MemoryUsedTokens, PostgresUsedTokens

T = TypeVar("T")

log = logging.getLogger(__name__)


class Publisher(Protocol):
    """What both Kafka and the embedded log offer: publish to a topic, return acknowledged positions."""

    def publish(self, topic: str, events: Sequence[CloudEvent]) -> list[Position]: ...

    async def publish_async(self, topic: str, events: Sequence[CloudEvent]) -> list[Position]: ...


@dataclass
class Ingest:
    """Seals each event's personal fields with its subject's data key, then routes it to the topic
    of its stream, keeping the order of the caller's list."""

    publisher: Publisher
    settings: Settings
    keys: DataKeys | None  # None publishes clear events: only tests of the log's mechanics do

    def publish(self, events: Sequence[CloudEvent]) -> list[Position]:
        events = self._sealed(events)
        positions: list[Position | None] = [None] * len(events)
        for topic, indexes in self._by_topic(events).items():
            for index, position in zip(
                indexes, self.publisher.publish(topic, [events[i] for i in indexes]), strict=True
            ):
                positions[index] = position
        return positions  # type: ignore[return-value]

    async def publish_async(self, events: Sequence[CloudEvent]) -> list[Position]:
        """``publish`` on the event loop (each topic's events in turn): the audit records' path."""
        events = self._sealed(events)
        positions: list[Position | None] = [None] * len(events)
        for topic, indexes in self._by_topic(events).items():
            landed = await self.publisher.publish_async(topic, [events[i] for i in indexes])
            for index, position in zip(indexes, landed, strict=True):
                positions[index] = position
        return positions  # type: ignore[return-value]

    def _by_topic(self, events: Sequence[CloudEvent]) -> dict[str, list[int]]:
        by_topic: dict[str, list[int]] = {}
        for index, event in enumerate(events):
            by_topic.setdefault(self.settings.topic(stream_of(event.type)), []).append(index)
        return by_topic

    def _sealed(self, events: Sequence[CloudEvent]) -> list[CloudEvent]:
        personal = {e.subject for e in events if e.type in PERSONAL_BY_TYPE}
        if not personal or self.keys is None:
            return list(events)
        keys = self.keys.current(personal)
        return [
            e.model_copy(update={"data": seal(e.type, e.id, e.subject, e.data, keys[e.subject])})
            if e.subject in personal and e.type in PERSONAL_BY_TYPE
            else e
            for e in events
        ]


class ConcurrentUpdateError(Exception):
    """Other requests kept changing the same aggregates: nothing was stored, retry later (503)."""


def run_retrying(use_case: Callable[[Crossview], T], app: Crossview, attempts: int = 5) -> T:
    """Run a use case; when a concurrent request saved the same aggregate first (the event store's
    version check), run it again on what is stored now. A failed save stores nothing, and every use
    case loads what it changes, so running it again is safe."""
    for attempt in range(attempts):
        try:
            return use_case(app)
        except IntegrityError:
            time.sleep(random.uniform(0, 0.01 * 2**attempt))
    raise ConcurrentUpdateError(f"the same records changed concurrently {attempts} times; nothing was stored")


@dataclass
class Commands:
    """Runs a use case, then tells where its events landed on Kafka once the relay carried them."""

    app: Crossview
    relay: Relay
    wait_s: float

    def run(self, use_case: Callable[[Crossview], T]) -> tuple[T, list[Position] | None]:
        before = last_notification_id(self.app)
        result = run_retrying(use_case, self.app)
        after = last_notification_id(self.app)
        if after == before:
            return result, []
        return result, self.relay.positions_of(before + 1, after, self.wait_s)


@dataclass
class Application:
    settings: Settings
    store: ProjectionStore
    ingest: Ingest
    commands: Commands
    mode: str
    authenticator: Authenticator
    auditor: Auditor
    eraser: Eraser
    used_tokens: MemoryUsedTokens | PostgresUsedTokens | None = None  # single-use webhook tokens
    closers: list[Callable[[], None]] = field(default_factory=list)
    demo: DemoIds | None = None
    probes: Probes | None = None  # readiness and scrape-time metrics (routes/operations.py)

    def close(self) -> None:
        for close in reversed(self.closers):
            close()


def embedded(settings: Settings, with_demo: bool = True) -> Application:
    """No external service: in-memory event store and log, the relay and projector run synchronously."""
    store = MemoryStore()
    dead_letters = MemoryDeadLetters()
    keys = MemoryDataKeys()
    projector = Projector(store, dead_letters, keys=keys)
    memory_log = MemoryLog(settings.partitions, on_append=projector.process)
    projector.assign([p for topic in settings.event_topics for p in memory_log.partitions_of(topic)])
    ingest = Ingest(memory_log, settings, keys)
    crossview = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    relay = Relay(crossview, ingest.publish, MemoryRelayPositions())
    commands = _SynchronousCommands(crossview, relay, wait_s=0)
    probes = _probes(settings, EmbeddedSources(memory_log, dead_letters, store, relay, settings.event_topics))
    app = Application(
        settings,
        store,
        ingest,
        commands,
        mode="embedded",
        authenticator=authenticator(settings),
        auditor=Auditor(ingest.publish_async),
        eraser=Eraser(commands.run, crossview, keys, memory_purge(crossview)),
        used_tokens=MemoryUsedTokens(settings.webhook_max_age_s),
        probes=probes,
        closers=[probes.close],
    )
    if with_demo:
        app.demo = seed_demo(crossview, ingest.publish)
        commands.relay_all()
    return app


class _SynchronousCommands(Commands):
    """The embedded default relays inside the command, so a command's events are in the view at once."""

    def run(self, use_case: Callable[[Crossview], T]) -> tuple[T, list[Position] | None]:
        before = last_notification_id(self.app)
        result = run_retrying(use_case, self.app)
        self.relay_all()
        return result, self.relay.positions_of(before + 1, last_notification_id(self.app), 0)

    def relay_all(self) -> None:
        while self.relay.relay_once():
            pass


def authenticator(settings: Settings) -> Authenticator:
    return Authenticator(
        signing_key=settings.development_signing_key,
        jwks_url=settings.auth_jwks_url,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        roles_claim=settings.auth_roles_claim,
        api_keys=parse_api_keys(settings.adapter_keys),
    )


def _probes(settings: Settings, sources: EmbeddedSources | LiveSources) -> Probes:
    return Probes(sources, timeout_s=settings.probe_timeout_s, max_relay_lag=settings.ready_max_relay_lag)


def data_keys(settings: Settings, pool) -> PostgresDataKeys:
    return PostgresDataKeys(
        pool, settings.namespace, Wrapper(settings.master_key_bytes, settings.previous_master_key_bytes)
    )


def check_services(settings: Settings) -> None:
    """Kafka serves the topics and PostgreSQL answers, or BrokerUnavailable / DatabaseUnavailable
    saying which does not (before a server starts, so it fails with a sentence, not a traceback)."""
    ensure_topics(settings.kafka_bootstrap, _topics(settings))
    event_store(settings).close()


def production(settings: Settings, relay_in_process: bool = True) -> Application:
    """Kafka for ingest and domain events, PostgreSQL for the event store and the read models.

    The relay runs in this process whenever it can take the namespace's relay lock; another
    process holding it (a second API, or `crossview relay`) is as good."""
    ensure_topics(settings.kafka_bootstrap, _topics(settings))
    pool = open_pool(settings.database_url)
    publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=settings.ack_timeout_s)
    keys = data_keys(settings, pool)
    ingest = Ingest(publisher, settings, keys)
    crossview = event_store(settings)
    positions = PostgresRelayPositions(pool, settings.namespace)
    relay = Relay(
        crossview, ingest.publish, positions, dead_letters=KafkaDeadLetters(publisher, settings.dead_letter_topic)
    )
    store = PostgresStore(pool, settings.namespace)
    commands = Commands(crossview, relay, wait_s=settings.ack_timeout_s)
    probes = _probes(
        settings,
        LiveSources(
            settings.kafka_bootstrap,
            settings.database_url,
            settings.event_topics,
            settings.dead_letter_topic,
            settings.partitions,
            store,
            relay,
        ),
    )
    app = Application(
        settings,
        store,
        ingest,
        commands,
        mode="kafka",
        authenticator=authenticator(settings),
        auditor=Auditor(ingest.publish_async),
        eraser=Eraser(commands.run, crossview, keys, postgres_purge(settings, crossview)),
        used_tokens=PostgresUsedTokens(pool, settings.namespace, settings.webhook_max_age_s),
        probes=probes,
    )
    app.closers += [pool.close, publisher.close, crossview.close, probes.close]
    if relay_in_process:  # closers run last-in first-out: the relay stops before what it uses closes
        stop = threading.Event()
        thread = threading.Thread(
            target=relay.run,
            args=(stop,),
            kwargs={"lock": lambda: positions.hold_lock(settings.database_url)},
            name="relay",
            daemon=True,
        )
        thread.start()
        app.closers += [positions.release, lambda: (stop.set(), thread.join(timeout=10))]
    return app


def event_store(settings: Settings) -> Crossview:
    """The application on PostgreSQL: its events in the schema ``<namespace>_events``."""
    info = conninfo_to_dict(settings.database_url)
    schema = f"{settings.namespace}_events"
    try:
        with psycopg.connect(settings.database_url, autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"PostgreSQL at {where(settings.database_url)} does not answer ({error})") from error
    return Crossview(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_DBNAME": str(info.get("dbname", "")),
            "POSTGRES_HOST": str(info.get("host", "127.0.0.1")),
            "POSTGRES_PORT": str(info.get("port", "5432")),
            "POSTGRES_USER": str(info.get("user", "")),
            "POSTGRES_PASSWORD": str(info.get("password", "")),
            "POSTGRES_SCHEMA": schema,
            # A pooled connection is checked before use: after PostgreSQL restarted, the first
            # command connects anew instead of failing on a connection the restart cut.
            "POSTGRES_PRE_PING": "y",
            # How long each of the event store's ten attempts waits for a connection: with
            # PostgreSQL away, a command answers 503 after about 12 s (a blip shorter than that
            # only delays it), not after the library's default of ten times half a minute.
            "POSTGRES_CONNECT_TIMEOUT": "1",
        }
    )


def run_relay(settings: Settings, stop: threading.Event) -> None:
    """`crossview relay`: the relay alone, for deployments that keep it apart from the API."""
    ensure_topics(settings.kafka_bootstrap, _topics(settings))
    pool = open_pool(settings.database_url, max_size=2)
    publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=settings.ack_timeout_s)
    crossview = event_store(settings)
    positions = PostgresRelayPositions(pool, settings.namespace)
    try:
        Relay(
            crossview,
            Ingest(publisher, settings, data_keys(settings, pool)).publish,
            positions,
            dead_letters=KafkaDeadLetters(publisher, settings.dead_letter_topic),
        ).run(stop, lock=lambda: positions.hold_lock(settings.database_url))
    finally:
        positions.release()
        publisher.close()
        crossview.close()
        pool.close()


def _topics(settings: Settings) -> dict[str, int]:
    return {topic: settings.partitions for topic in [*settings.event_topics, settings.dead_letter_topic]}


def create_topics(settings: Settings) -> dict[str, int]:
    topics = _topics(settings)
    ensure_topics(settings.kafka_bootstrap, topics)
    return topics


def run_projector(settings: Settings, stop: threading.Event, report_every_s: float = 10) -> Projector:
    """The live projector: a consumer-group member writing the active generation until ``stop``."""
    ensure_topics(settings.kafka_bootstrap, _topics(settings))
    pool = open_pool(settings.database_url, max_size=2)
    dead_publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=settings.ack_timeout_s)
    projector = Projector(
        PostgresStore(pool, settings.namespace),
        KafkaDeadLetters(dead_publisher, settings.dead_letter_topic),
        keys=data_keys(settings, pool),
    )
    source = KafkaSource(
        settings.kafka_bootstrap,
        settings.projector_group,
        settings.event_topics,
        on_assigned=projector.assign,
        on_revoked=projector.revoke,
        session_timeout_ms=settings.session_timeout_ms,
    )
    reporter = threading.Thread(target=_report, args=(projector, stop, report_every_s), daemon=True)
    reporter.start()
    try:
        projector.run(source, stop, transient=(BrokerUnavailable,))
    finally:
        source.close()
        dead_publisher.close()
        pool.close()
    return projector


def collect_garbage_rarely() -> None:
    """A projector allocates a few dozen short-lived objects an event and keeps the views of the
    people it owns. With CPython's default thresholds (a collection every 700 allocations) the
    collector walked that cache again and again: a tenth of a member's CPU (BENCHMARKS.md). Events
    make no reference cycles, so collecting every 50,000 allocations loses nothing. A setting of
    the whole process: called where a projector process starts, not in ``run_projector``."""
    gc.freeze()  # what start-up loaded (modules, schemas) is never garbage
    gc.set_threshold(50_000, 20, 20)


def _report(projector: Projector, stop: threading.Event, every_s: float) -> None:
    last, last_at = 0, time.monotonic()
    while not stop.wait(every_s):
        now, totals = time.monotonic(), projector.totals
        log.info(
            "projected %d records (%.0f/s), %d applied, %d duplicates, %d dead-lettered",
            totals.records,
            (totals.records - last) / (now - last_at),
            totals.applied,
            totals.duplicates,
            totals.dead_lettered,
        )
        last, last_at = totals.records, now


def rebuild(
    settings: Settings, progress: Callable[[int, int], None] = lambda done, total: None
) -> tuple[int, Projector]:
    """Replay every event into a fresh generation; switch queries and the live projector to it."""
    ensure_topics(settings.kafka_bootstrap, _topics(settings))
    pool = open_pool(settings.database_url, max_size=2)
    try:
        generation = PostgresStore(pool, settings.namespace).new_generation()
        target = PostgresStore(pool, settings.namespace, generation=generation)
        dead_letters = MemoryDeadLetters()  # the live projector already dead-lettered them
        projector = Projector(target, dead_letters, keys=data_keys(settings, pool))
        partitions = end_offsets(settings.kafka_bootstrap, settings.event_topics)
        source = KafkaReplay(settings.kafka_bootstrap, projector.assign(list(partitions)))
        try:
            catch_up(projector, source, partitions, progress)
            # The log kept growing while we replayed: one more round to the latest end, then switch.
            catch_up(projector, source, end_offsets(settings.kafka_bootstrap, settings.event_topics), progress)
        finally:
            source.close()
        target.activate(generation)
        if dead_letters.letters:
            log.warning(
                "%d records could not be decoded during the rebuild (they are in %s)",
                len(dead_letters.letters),
                settings.dead_letter_topic,
            )
        return generation, projector
    finally:
        pool.close()
