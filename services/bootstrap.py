"""The composition root: builds Crossview from Settings, on the embedded default or the real services."""

from __future__ import annotations

import gc
import hashlib
import hmac
import logging
import multiprocessing
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from channels.kafka import (
    BrokerUnavailable,
    KafkaDeadLetters,
    KafkaPublisher,
    KafkaReplay,
    KafkaSource,
    end_offsets,
    ensure_topics,
)
from channels.memory import MemoryDeadLetters, MemoryLog
from projections.data_keys import MemoryDataKeys, PostgresDataKeys, Wrapper
from projections.log_export import Filter
from projections.memory_store import MemoryStore
from projections.postgres_changes import ChangeListener
from projections.postgres_models import Models, NamedModel
from projections.postgres_store import DatabaseUnavailable, PostgresStore, open_pool, where
from projections.projector import BatchOutcome, Projector
from projections.rebuild import catch_up
from schemas.events import AUDIT, DOMAIN, INTERACTIONS
from services.adapters.audit_outbox import AuditOutboxRelay, PostgresAuditOutbox
from services.adapters.probes import EmbeddedSources, LiveSources, Probes
from services.adapters.purge import memory_purge, postgres_purge
from services.adapters.relay_positions import PostgresRelayPositions
from services.adapters.used_tokens import MemoryUsedTokens, PostgresUsedTokens
from services.application.audit import Auditor, published
from services.application.auth import Authenticator
from services.application.commands import Commands, SynchronousCommands
from services.application.crossview import Crossview
from services.application.erasure import Eraser
from services.application.ingest import Ingest
from services.application.relay import MemoryRelayPositions, Relay
from services.application.rerouting import ContactPointRouting
from services.container import Container
from services.demo.data import seed_demo
from services.settings import Settings, parse_api_keys

if TYPE_CHECKING:  # the export's modules load pyarrow: only `crossview export` imports them
    from services.adapters.parquet_export import ExportResult, Progress

T = TypeVar("T")

log = logging.getLogger(__name__)


def embedded(settings: Settings, with_demo: bool = True) -> Container:
    """No external service: in-memory event store and log, the relay and projector run synchronously."""
    store = MemoryStore()
    dead_letters = MemoryDeadLetters()
    keys = MemoryDataKeys()
    projector = Projector(store, dead_letters, keys=keys)
    memory_log = MemoryLog(settings.partitions, on_append=projector.process)
    projector.assign([p for topic in settings.event_topics for p in memory_log.partitions_of(topic)])
    ingest = Ingest(memory_log, settings, keys)
    crossview = Crossview(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    checkpoints = MemoryRelayPositions()
    relay = Relay(crossview, ingest.publish, checkpoints)
    commands = SynchronousCommands(crossview, relay, checkpoints)
    probes = _probes(settings, EmbeddedSources(memory_log, dead_letters, store, relay, settings.event_topics))
    app = Container(
        settings,
        store,
        ingest,
        commands,
        mode="embedded",
        authenticator=authenticator(settings),
        auditor=Auditor(published(ingest.publish_async)),
        eraser=Eraser(commands.run, crossview, keys, memory_purge(crossview)),
        used_tokens=MemoryUsedTokens(settings.webhook_max_age_s),
        probes=probes,
        closers=[probes.close],
        announcements=store.announcements,  # the projector runs in process: told at each commit
    )
    if with_demo:
        app.demo = seed_demo(crossview, ingest.publish)
        commands.relay_all()
    return app


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


def production(settings: Settings, relay_in_process: bool = True) -> Container:
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
    commands = Commands(crossview, relay, positions)
    outbox = PostgresAuditOutbox(pool, settings.database_url, settings.namespace)
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
            outbox.backlog,
        ),
    )
    app = Container(
        settings,
        store,
        ingest,
        commands,
        mode="kafka",
        authenticator=authenticator(settings),
        auditor=Auditor(outbox.keep, outbox.ride),
        eraser=Eraser(commands.run, crossview, keys, postgres_purge(settings, crossview)),
        used_tokens=PostgresUsedTokens(pool, settings.namespace, settings.webhook_max_age_s),
        probes=probes,
        models=named_models(pool, settings.namespace),
    )
    app.closers += [pool.close, publisher.close, crossview.close, probes.close]
    app.closers.append(outbox.close)
    # Whichever process projects, its commits reach this process's live streams.
    listener = ChangeListener(settings.database_url, settings.namespace, app.announcements).start()
    app.closers.append(listener.close)
    if relay_in_process:  # closers run last-in first-out: the relays stop before what they use closes
        app.closers.append(AuditOutboxRelay(pool, settings.namespace, ingest.publish).start())  # drains first
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
            # Processes that start together (two API workers, a relay) would create the schema and
            # the library's tables at once: PostgreSQL refuses one of two concurrent CREATE ... IF
            # NOT EXISTS ("tuple concurrently updated"). One at a time, the others find them made.
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (schema,))
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
            return _crossview_in(schema, info)
    except psycopg.OperationalError as error:
        raise DatabaseUnavailable(f"PostgreSQL at {where(settings.database_url)} does not answer ({error})") from error


def _crossview_in(schema: str, info: dict) -> Crossview:
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
    """`crossview relay`: the relays alone, for deployments that keep them apart from the API — the
    event store's (one active per namespace) and the audit outbox's (any number at once)."""
    ensure_topics(settings.kafka_bootstrap, _topics(settings))
    pool = open_pool(settings.database_url, max_size=3)
    publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=settings.ack_timeout_s)
    crossview = event_store(settings)
    positions = PostgresRelayPositions(pool, settings.namespace)
    ingest = Ingest(publisher, settings, data_keys(settings, pool))
    stop_auditing = AuditOutboxRelay(pool, settings.namespace, ingest.publish).start()
    try:
        Relay(
            crossview,
            ingest.publish,
            positions,
            dead_letters=KafkaDeadLetters(publisher, settings.dead_letter_topic),
        ).run(stop, lock=lambda: positions.hold_lock(settings.database_url))
    finally:
        stop_auditing()  # after its last drain: what was kept before the stop leaves with it
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
    """The live projector until ``stop``: a member of the person views' consumer group, and beside
    it, in its own thread and group, a member for the audit trail (see ``_audit_member``)."""
    ensure_topics(settings.kafka_bootstrap, _topics(settings))
    pool = open_pool(settings.database_url, max_size=3)
    dead_publisher = KafkaPublisher(settings.kafka_bootstrap, ack_timeout_s=settings.ack_timeout_s)
    keys = data_keys(settings, pool)
    # Events keyed by a contact point are resolved on the event store and published again (sealed).
    router = ContactPointRouting(
        lambda: event_store(settings), Ingest(dead_publisher, settings, keys), settings.default_country_code
    )
    projector = Projector(
        PostgresStore(pool, settings.namespace),
        KafkaDeadLetters(dead_publisher, settings.dead_letter_topic),
        keys=keys,
        router=router,
    )
    audit_topic = settings.topic(AUDIT)
    source = KafkaSource(
        settings.kafka_bootstrap,
        settings.projector_group,
        [topic for topic in settings.event_topics if topic != audit_topic],
        on_assigned=projector.assign,
        on_revoked=projector.revoke,
        session_timeout_ms=settings.session_timeout_ms,
    )
    audit = threading.Thread(
        target=_audit_member, args=(settings, pool, dead_publisher, stop), name="audit-projector", daemon=True
    )
    audit.start()
    reporter = threading.Thread(target=_report, args=(projector, stop, report_every_s), daemon=True)
    reporter.start()
    try:
        projector.run(source, stop, transient=(BrokerUnavailable,))
    finally:
        stop.set()  # the audit member ends with the person views' member, whatever ended that one
        audit.join(timeout=30)
        source.close()
        dead_publisher.close()
        router.close()
        pool.close()
    return projector


# The audit member waits for this much audit or this long before a batch: each read of a person
# writes one record, and projecting them as they trickle in cost a transaction each — more than
# the read itself (BENCHMARKS.md). The trail is for administrators: half a second late is fine.
AUDIT_FETCH_MIN_BYTES = 512 * 1024
AUDIT_FETCH_MAX_WAIT_MS = 500


def _audit_member(settings: Settings, pool, dead_publisher: KafkaPublisher, stop: threading.Event) -> None:
    """Projects the audit topic in batches, apart from the person views (a group of its own, so
    their freshness does not wait for the audit's batches); same store, same exactly-once rules."""
    audit = Projector(
        PostgresStore(pool, settings.namespace),
        KafkaDeadLetters(dead_publisher, settings.dead_letter_topic),
        refreshes_documents=False,  # the person views' member does
    )
    source = KafkaSource(
        settings.kafka_bootstrap,
        f"{settings.projector_group}.audit",
        [settings.topic(AUDIT)],
        on_assigned=audit.assign,
        on_revoked=audit.revoke,
        session_timeout_ms=settings.session_timeout_ms,
        fetch_min_bytes=AUDIT_FETCH_MIN_BYTES,
        fetch_max_wait_ms=AUDIT_FETCH_MAX_WAIT_MS,
    )
    try:
        audit.run(source, stop, poll_timeout_ms=AUDIT_FETCH_MAX_WAIT_MS * 2, transient=(BrokerUnavailable,))
    except Exception:  # a bug, not an outage (those it rides out): stop the process, loudly
        log.exception("the audit projector failed; stopping the projector")
        stop.set()
        raise
    finally:
        source.close()


def collect_garbage_rarely() -> None:
    """A projector allocates a few dozen short-lived objects an event and keeps the views of the
    people it owns. With CPython's default thresholds (a collection every 700 allocations) the
    collector walked that cache again and again: a tenth of a member's CPU (BENCHMARKS.md). Events
    make no reference cycles, so collecting every 50,000 allocations loses nothing. An API process
    is alike: its full collections walked everything start-up made and were its slowest answers
    (p99 of the 360° read 100 ms, 45 ms without). A setting of the whole process: called where a
    projector or a server process starts, never in a library call."""
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


def named_models(pool, namespace: str) -> Callable[[str], PostgresStore | None]:
    """The read models replays finished, by name: looked up at each query (one small row: a model
    dropped or made again is seen at once), each generation's store made once."""
    models, stores = Models(pool, namespace), {}
    lock = threading.Lock()

    def model(name: str) -> PostgresStore | None:
        found = models.find(name)
        if found is None or found.finished_at is None:
            return None  # not made, or still being made: not a state of the log anyone asked for
        with lock:
            if found.generation not in stores:
                stores[found.generation] = PostgresStore(pool, namespace, generation=found.generation)
            return stores[found.generation]

    return model


def replay(
    settings: Settings,
    name: str,
    until: datetime,
    since: datetime | None = None,
    progress: Callable[[int, int], None] = lambda done, total: None,
    workers: int = 1,
) -> tuple[NamedModel, BatchOutcome, bool]:
    """Fold the log's events from ``since`` to ``until`` (by their own time) into the read model
    ``name``, a generation of its own beside the live one; resumes an unfinished replay of the same
    window. The log is read to its end as it stood when the replay first started, so a late event
    that arrived after that is not in (``at_position`` queries say so exactly). With ``workers``
    above one, that many processes share the partition numbers (a person's events on every topic
    stay with one), as the live projector's members do."""
    pool = open_pool(settings.database_url, max_size=2)  # first: a database away touches nothing
    try:
        ensure_topics(settings.kafka_bootstrap, _topics(settings))
        PostgresStore(pool, settings.namespace)  # the meta tables, for a namespace never projected
        models = Models(pool, settings.namespace)
        model, resumed = models.start(name, until, since, end_offsets(settings.kafka_bootstrap, settings.event_topics))
    finally:
        pool.close()
    if workers <= 1:
        totals = replay_part(settings, model.generation, until, since, model.targets, progress)
    else:
        totals = _replay_in_processes(settings, model, workers, progress)
    pool = open_pool(settings.database_url, max_size=1)
    try:
        Models(pool, settings.namespace).finish(name)
    finally:
        pool.close()
    return model, totals, resumed


@contextmanager
def read_models(settings: Settings) -> Iterator[Models]:
    """The namespace's named read models (crossview models), on a pool of their own."""
    pool = open_pool(settings.database_url, max_size=1)
    try:
        PostgresStore(pool, settings.namespace)  # the meta tables, for a namespace never projected
        yield Models(pool, settings.namespace)
    finally:
        pool.close()


def replay_part(
    settings: Settings,
    generation: int,
    until: datetime,
    since: datetime | None,
    targets: dict[tuple[str, int], int],
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> BatchOutcome:
    """One replay process's part: these partitions, from the offsets the generation stored, to ``targets``."""
    pool = open_pool(settings.database_url, max_size=2)
    try:
        target = PostgresStore(pool, settings.namespace, generation=generation)
        projector = Projector(
            target,
            MemoryDeadLetters(),  # the live projector already dead-lettered them
            keys=data_keys(settings, pool),
            window=lambda fact: fact.time <= until and (since is None or fact.time >= since),
        )
        source = KafkaReplay(settings.kafka_bootstrap, projector.assign(list(targets)))
        try:
            catch_up(projector, source, targets, progress)
        finally:
            source.close()
        return projector.totals
    finally:
        pool.close()


def _replay_in_processes(
    settings: Settings, model: NamedModel, workers: int, progress: Callable[[int, int], None]
) -> BatchOutcome:
    numbers = sorted({n for _, n in model.targets})
    parts = [{p: o for p, o in model.targets.items() if p[1] in numbers[k::workers]} for k in range(workers)]
    context = multiprocessing.get_context("spawn")
    reports = context.Queue()
    processes = [
        context.Process(
            target=_replay_worker,
            args=(settings, model.generation, model.until, model.since, part, k, reports, os.getpid()),
            name=f"replay-{k}",
        )
        for k, part in enumerate(parts)
        if part
    ]
    for process in processes:
        process.start()
    done = {k: 0 for k in range(len(parts))}
    totals: dict[int, BatchOutcome] = {}
    total = sum(model.targets.values())
    try:
        while any(process.is_alive() for process in processes) or not reports.empty():
            try:
                k, reached, outcome = reports.get(timeout=0.5)
            except queue.Empty:
                continue
            done[k] = reached
            if outcome is not None:
                totals[k] = outcome
            progress(sum(done.values()), total)
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
    failed = [p.name for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"replay processes {failed} failed; run the same command again to resume")
    summed = BatchOutcome()
    for outcome in totals.values():
        for field in ("records", "applied", "duplicates", "dead_lettered", "rerouted"):
            setattr(summed, field, getattr(summed, field) + getattr(outcome, field))
    return summed


def _replay_worker(settings, generation, until, since, targets, k, reports, parent: int) -> None:
    """A replay process: its part, its progress to the parent; it stops when the parent is gone
    (killed: nothing of an uncommitted batch stays, and the command resumes)."""
    collect_garbage_rarely()
    logging.getLogger("kafka").setLevel(logging.WARNING)

    def report(done: int, total: int) -> None:
        if os.getppid() != parent:
            raise SystemExit(1)
        reports.put((k, done, None))

    outcome = replay_part(settings, generation, until, since, targets, report)
    reports.put((k, sum(targets.values()), outcome))


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


# --- export for analysts (services/adapters/parquet_export.py) -------------------------------


def export_topics(settings: Settings) -> list[str]:
    """What an export holds: the person-scoped log (domain events and interactions), not the audit
    trail of who read whom, which is the administrators' (GET /v1/persons/{id}/audit)."""
    return [settings.topic(INTERACTIONS), settings.topic(DOMAIN)]


# An export of fewer records runs in the CLI's process: starting workers costs a second or two.
PARALLEL_FROM = 50_000


def _export_secret(settings: Settings) -> bytes:
    return hmac.new(settings.master_key_bytes, b"crossview export pseudonyms", hashlib.sha256).digest()


def export(
    settings: Settings,
    directory: Path,
    keep: Filter,
    progress: Callable[[Progress], None] = lambda p: None,
    snapshots: bool = True,
    workers: int | None = None,
) -> ExportResult:
    """Export what is new on the log since the directory's last export, then snapshot the read models.
    ``workers`` processes share the log's partitions (None: one per core once there is enough to do)."""
    from projections.postgres_snapshots import ReadModelSnapshots
    from services.adapters.parquet_export import ExportDirectory, Exporter, Progress

    pool = open_pool(settings.database_url, max_size=2)
    try:
        exporter = Exporter(
            ExportDirectory(directory),
            data_keys(settings, pool),
            _export_secret(settings),
            ReadModelSnapshots(pool, settings.namespace) if snapshots else None,
        )
        ends = end_offsets(settings.kafka_bootstrap, export_topics(settings))
        state, shares = exporter.plan(ends, keep, 1)
        if workers is None:
            workers = (os.cpu_count() or 1) if shares[0].records >= PARALLEL_FROM else 1
        if workers > 1:
            state, shares = exporter.plan(ends, keep, workers)
        total, began = sum(s.records for s in shares), time.monotonic()
        done = [0]

        def counted(records: int) -> None:
            done[0] += records
            progress(Progress(done[0], total, time.monotonic() - began))

        progress(Progress(0, total, 0.0))
        if len(shares) == 1:
            written = exporter.export_share(
                lambda starts: KafkaReplay(settings.kafka_bootstrap, starts), shares[0], keep, counted
            )
        else:
            written = _export_in_processes(
                settings, directory, keep, shares, lambda n: progress(Progress(n, total, time.monotonic() - began))
            )
        result = exporter.finish(state, shares, keep, written)
        progress(Progress(total, total, time.monotonic() - began))
        return result
    finally:
        pool.close()


def _export_in_processes(
    settings: Settings, directory: Path, keep: Filter, shares, progress: Callable[[int], None]
) -> dict[str, int]:
    """Each share in a process of its own (spawned: no broker client or pool crosses a fork); the
    rows written per table. A worker that fails stops the others: the state is not recorded, and
    the next run removes what they wrote."""
    import multiprocessing
    import queue

    context = multiprocessing.get_context("spawn")
    done, results = context.Value("q", 0), context.Queue()
    processes = [
        context.Process(
            target=_export_share, args=(settings, directory, keep, share, done, results), name=f"export-{share.worker}"
        )
        for share in shares
    ]
    for process in processes:
        process.start()
    written: dict[str, int] = {}
    finished = 0
    try:
        while finished < len(processes):
            try:
                for table, rows in results.get(timeout=0.5).items():
                    written[table] = written.get(table, 0) + rows
                finished += 1
            except queue.Empty:
                failed = [p for p in processes if p.exitcode not in (None, 0)]
                if failed:
                    raise RuntimeError(
                        f"export worker {failed[0].name} failed (exit code {failed[0].exitcode}): nothing was "
                        "recorded; run the export again"
                    ) from None
            progress(done.value)
    finally:
        for process in processes:
            if finished < len(processes) and process.is_alive():  # failed: stop the others
                process.terminate()
            process.join(timeout=30)
    return written


def _export_share(settings: Settings, directory: Path, keep: Filter, share, done, results) -> None:
    """One export worker: its own pool and reader."""
    from services.adapters.parquet_export import ExportDirectory, Exporter

    pool = open_pool(settings.database_url, max_size=1)
    try:
        exporter = Exporter(ExportDirectory(directory), data_keys(settings, pool), _export_secret(settings), None)

        def counted(records: int) -> None:
            with done.get_lock():
                done.value += records

        results.put(
            exporter.export_share(lambda starts: KafkaReplay(settings.kafka_bootstrap, starts), share, keep, counted)
        )
    finally:
        pool.close()
