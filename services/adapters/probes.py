"""What the operations endpoints report: readiness checks, and the numbers read at scrape time.

Every value that needs I/O is read in a worker thread with a deadline, so a probe answers in
bounded time whatever the broker or the database do (a connection that hangs included); a
dependency that does not answer in time is reported as down, never as an error of the probe.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

import psycopg

from channels.kafka import log_extents
from channels.memory import MemoryDeadLetters, MemoryLog
from projections.ports import Partition, ProjectionStore
from services.application.relay import Relay

log = logging.getLogger(__name__)

KAFKA, DATABASE, RELAY, AUDIT = "kafka", "database", "relay", "audit"


@dataclass(frozen=True)
class LogState:
    ends: dict[Partition, int]  # the next offset of every partition of the person-scoped topics
    dead_letters: int  # records on the dead-letter topic (a replayed one stays there)
    where: str = "Kafka"


class Sources(Protocol):
    """Where an install's numbers come from: the embedded default's memory, or Kafka and PostgreSQL.
    Each call may block; the probes bound it."""

    def log(self, timeout_s: float) -> LogState: ...

    def ping_database(self, timeout_s: float) -> str:
        """Raise if the database does not answer; else say what answered."""

    def projected(self) -> dict[Partition, int]:
        """The next offset per partition that the read model stored with its rows."""

    def relay_lag(self) -> int:
        """Notifications stored in the event store that the relay has not recorded as published."""

    def audit_backlog(self) -> int:
        """Access records kept in the audit outbox, not yet on the audit topic."""


@dataclass
class EmbeddedSources:
    """The embedded default: everything is in this process, nothing can be down."""

    memory_log: MemoryLog
    dead_letter_sink: MemoryDeadLetters
    store: ProjectionStore
    relay: Relay
    topics: list[str]

    def log(self, timeout_s: float) -> LogState:
        return LogState(
            self.memory_log.end_offsets(self.topics),
            len(self.dead_letter_sink.letters),
            where="embedded: in-memory log",
        )

    def ping_database(self, timeout_s: float) -> str:
        return "embedded: in-memory store"

    def projected(self) -> dict[Partition, int]:
        return self.store.position()

    def relay_lag(self) -> int:
        return self.relay.lag()

    def audit_backlog(self) -> int:
        return 0  # the embedded default's records go to its log directly


@dataclass
class LiveSources:
    """Kafka and PostgreSQL, each asked with its own short timeout."""

    bootstrap: str
    database_url: str
    topics: list[str]
    dead_letter_topic: str
    partitions: int  # every topic has this many (checked when the topics are ensured)
    store: ProjectionStore
    relay: Relay
    audit_outbox: Callable[[], int]  # its backlog

    def log(self, timeout_s: float) -> LogState:
        wanted = [(topic, p) for topic in [*self.topics, self.dead_letter_topic] for p in range(self.partitions)]
        extents = log_extents(self.bootstrap, wanted, timeout_s)
        return LogState(
            ends={p: end for p, (_, end) in extents.items() if p[0] != self.dead_letter_topic},
            dead_letters=sum(end - first for p, (first, end) in extents.items() if p[0] == self.dead_letter_topic),
        )

    def ping_database(self, timeout_s: float) -> str:
        # A fresh connection, not the pool's: it tells whether a new connection can be had now.
        with psycopg.connect(self.database_url, connect_timeout=max(2, math.ceil(timeout_s))) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]
        return f"PostgreSQL {version} answers"

    def projected(self) -> dict[Partition, int]:
        return self.store.position()

    def relay_lag(self) -> int:
        return self.relay.lag()

    def audit_backlog(self) -> int:
        return self.audit_outbox()


@dataclass(frozen=True)
class Check:
    ok: bool
    detail: str
    seconds: float


@dataclass(frozen=True)
class Snapshot:
    """The scrape-time numbers; None where the dependency they need did not answer."""

    up: dict[str, bool]
    projector_lag: dict[Partition, int] | None
    dead_letters: int | None
    relay_lag: int | None
    audit_backlog: int | None = None


@dataclass
class _Outcome:
    value: object = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class Probes:
    sources: Sources
    timeout_s: float = 2.0
    max_relay_lag: int = 1000
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=5, thread_name_prefix="probe"),
        repr=False,  # a check each
    )
    _running: dict[str, Future] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def readiness(self) -> dict[str, Check]:
        """One check per dependency, run side by side, each within the timeout."""
        outcomes = self._within(
            {
                KAFKA: lambda: self.sources.log(self.timeout_s),
                DATABASE: lambda: self.sources.ping_database(self.timeout_s),
                RELAY: self.sources.relay_lag,
            }
        )
        checks = {}
        for name, outcome in outcomes.items():
            if outcome.error is not None:
                checks[name] = Check(False, outcome.error, outcome.seconds)
            elif name == KAFKA:
                checks[name] = Check(
                    True, f"{outcome.value.where}: {len(outcome.value.ends)} partitions answer", outcome.seconds
                )
            elif name == RELAY:
                lag = outcome.value
                ok = lag <= self.max_relay_lag
                detail = f"{lag} notifications behind" + ("" if ok else f" (more than {self.max_relay_lag})")
                checks[name] = Check(ok, detail, outcome.seconds)
            else:
                checks[name] = Check(True, str(outcome.value), outcome.seconds)
        return checks

    def snapshot(self) -> Snapshot:
        outcomes = self._within(
            {
                KAFKA: lambda: self.sources.log(self.timeout_s),
                DATABASE: lambda: self.sources.ping_database(self.timeout_s),
                "projected": self.sources.projected,
                RELAY: self.sources.relay_lag,
                AUDIT: self.sources.audit_backlog,
            }
        )
        log, projected = outcomes[KAFKA], outcomes["projected"]
        lag = None
        if log.error is None and projected.error is None:
            lag = {p: end - projected.value.get(p, 0) for p, end in log.value.ends.items()}
        return Snapshot(
            up={KAFKA: log.error is None, DATABASE: outcomes[DATABASE].error is None},
            projector_lag=lag,
            dead_letters=log.value.dead_letters if log.error is None else None,
            relay_lag=outcomes[RELAY].value if outcomes[RELAY].error is None else None,
            audit_backlog=outcomes[AUDIT].value if outcomes[AUDIT].error is None else None,
        )

    def _within(self, calls: dict[str, Callable[[], object]]) -> dict[str, _Outcome]:
        started = time.monotonic()
        futures: dict[str, Future] = {}
        with self._lock:
            for name, call in calls.items():
                running = self._running.get(name)
                if running is None or running.done():
                    running = self._running[name] = self._pool.submit(_timed, call)
                # else a call that hangs is joined, not repeated: one thread per check at most, so
                # probes that keep coming while a dependency hangs neither pile up nor queue
                futures[name] = running
        # A little more than the timeout: the sources' own timeouts should fire first and say why.
        wait(futures.values(), timeout=self.timeout_s + min(0.5, self.timeout_s / 4))
        outcomes = {}
        for name, future in futures.items():
            if future.done():
                outcomes[name] = future.result()
            else:
                outcomes[name] = _Outcome(
                    error=f"no answer within {self.timeout_s}s", seconds=time.monotonic() - started
                )
                log.warning("probe %s: no answer within %ss", name, self.timeout_s)
        return outcomes

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _timed(call: Callable[[], object]) -> _Outcome:
    started = time.monotonic()
    try:
        return _Outcome(value=call(), seconds=time.monotonic() - started)
    except Exception as error:  # a dependency's failure is the probe's answer, not its crash
        # The full message goes to the log only: it names hosts, and the probes answer anyone.
        log.warning("probe failed: %s: %s", type(error).__name__, error)
        return _Outcome(error=f"{type(error).__name__}: does not answer", seconds=time.monotonic() - started)
