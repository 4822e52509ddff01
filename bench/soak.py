"""`make soak`: SIGKILL cycles of the projectors and the relay under load, then the pure-fold check.

On a fresh namespace: two `crossview projector` processes in one consumer group, a `crossview
relay`, and a `crossview serve` (whose in-process relay takes the lock whenever the separate relay
is gone). An advisor's commands (register, mobile, email, function) and a provider's ingest (with
retried batches: duplicates) run through the API without pause. Each cycle SIGKILLs one process at
a random moment: a projector, or whichever process holds the relay lock (the relay, or the API
when its in-process relay took over). Half the kills wait until the victim is inside a PostgreSQL
statement or transaction (mid-batch). The victim restarts after a short random delay, as a
supervisor would restart it. Then the load stops, everything catches up, and the check of the
fault tests runs: every stored or accepted event on the log, each view equal to the pure fold of
every distinct event, each timeline holding each event once. Exit status 1 on any difference.

SOAK_CYCLES (default 50) sets the number of kills; SOAK_SEED the order of the kinds, the victims and the
delays (the moments still depend on timing).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import httpx
import psycopg
import pytest

from bench.common import fresh_namespace, log, write_result
from channels.kafka import end_offsets
from projections.postgres_store import open_pool
from services.adapters.relay_positions import PostgresRelayPositions
from services.application.relay import last_notification_id
from services.bootstrap import event_store
from services.settings import Settings
from tests.faults import Api, Load, Verdict, losses_and_doubles, read_models
from tests.live import crossview_process
from tests.tokens import EVERY_ROLE

TITLE = "account-manager"
BUSY_STATES = ("active", "idle in transaction")


@dataclass(eq=False)
class SoakLoad(Load):
    """The fault tests' load with more commands per person (email, a function at Fabulous Garden)
    and interactions for the people it registered, interleaved with the domain events of the same
    people; every fourth batch also resends the end of the previous one, as a provider does after
    a lost acknowledgement."""

    resent: int = 0
    people: list[str] = field(default_factory=list)

    def run(self) -> None:
        rng = random.Random(self.seed)
        client = httpx.Client(headers=EVERY_ROLE, timeout=30)
        self._send(client, "PUT", f"/v1/titles/{TITLE}", {"label": "Account manager"})
        garden = self._send(
            client,
            "POST",
            "/v1/organisations",
            {"name": "Fabulous Garden", "kind": "company", "relationship": "client"},
        )
        number, previous = 0, []
        while not self.stop.is_set():
            number += 1
            person = self._send(
                client, "POST", "/v1/persons", {"given_name": "Fabien", "family_name": f"Bellemare {number}"}
            )
            if person is not None:
                path = f"/v1/persons/{person['id']}"
                self.people.append(person["id"])
                phone = f"+336{(self.seed * 1_000_000 + number) % 100_000_000:08d}"
                self._send(client, "PUT", f"{path}/attributes/mobile_phone", {"value": phone})
                if garden is not None:  # the email is the function's (the default ownership policy)
                    function = {"organisation_id": garden["id"], "title_code": TITLE, "entered_on": str(date.today())}
                    given = self._send(client, "POST", f"{path}/functions", function)
                    email = f"fabien.bellemare.{self.seed}.{number}@fabulous-garden.example"
                    if given is not None:
                        self._send(
                            client, "PUT", f"{path}/attributes/email", {"value": email, "function_id": given["id"]}
                        )
            batch = [next(self._interactions) for _ in range(self.chunk)]
            if self.people:  # half of them about people the commands know
                batch = [
                    e.model_copy(update={"subject": rng.choice(self.people[-50:])}) if i % 2 else e
                    for i, e in enumerate(batch)
                ]
            for event in batch:
                self.attempted[event.id] = event
            retried = previous[-3:] if number % 4 == 0 else []
            body = [e.model_dump(mode="json") for e in batch + retried]
            if self._send(client, "POST", "/v1/events", body) is not None:
                self.accepted.update(e.id for e in batch)
                self.resent += len(retried)
            previous = batch
            time.sleep(self.pause_s)
        client.close()


@dataclass
class Child:
    """A `crossview` process the soak started, known to PostgreSQL by its application name."""

    name: str
    args: tuple[str, ...]
    settings: Settings
    logs: Path
    api: Api | None = None
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def application_name(self) -> str:
        return f"{self.settings.namespace}-{self.name}"

    @property
    def pid(self) -> int | None:
        if self.api is not None:
            return self.api.process.pid if self.api.process else None
        return self.process.pid if self.process else None

    def start(self) -> None:
        self.starts += 1
        if self.api is not None:
            self.api.start()
        else:
            env = {"PGAPPNAME": self.application_name}
            self.process = crossview_process(self.settings, *self.args, log=self.logs / f"{self.name}.log", env=env)

    def alive(self) -> bool:
        process = self.api.process if self.api is not None else self.process
        return process is not None and process.poll() is None

    def kill(self) -> None:
        process = self.api.process if self.api is not None else self.process
        process.send_signal(signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        process = self.api.process if self.api is not None else self.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


class Database:
    """What the soak asks PostgreSQL: who holds the relay lock, whether a child is mid-statement."""

    def __init__(self, settings: Settings) -> None:
        self.conn = psycopg.connect(settings.database_url, autocommit=True)
        (key,) = self.conn.execute("SELECT hashtext(%s)::bigint", (f"{settings.namespace}:relay",)).fetchone()
        key &= 2**64 - 1  # pg_advisory_lock(bigint) shows as classid (high half), objid (low half)
        self.lock = (key >> 32, key & 0xFFFFFFFF)

    def relay_holder(self) -> str | None:
        row = self.conn.execute(
            "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
            "AND l.classid::bigint = %s AND l.objid::bigint = %s",
            self.lock,
        ).fetchone()
        return row[0] if row else None

    def busy(self, application_name: str) -> bool:
        """The child runs a statement or is inside a transaction (its lock session's keep-alive aside)."""
        return bool(
            self.conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND state = ANY(%s) "
                "AND query NOT LIKE 'SELECT 1%%' AND query NOT LIKE 'SELECT pg_try_advisory_lock%%'",
                (application_name, list(BUSY_STATES)),
            ).fetchone()[0]
        )

    def close(self) -> None:
        self.conn.close()


@dataclass
class Kill:
    cycle: int
    victim: str
    kind: str  # projector | relay process | API holding the relay
    waited_for_work: bool
    mid_statement: bool
    projector_lag: int  # records on the log not yet projected, just after the kill
    relay_lag: int  # stored events not yet recorded as relayed, just after the kill
    down_s: float


def lags(settings: Settings, app, store, positions) -> tuple[int, int, int]:
    """(records on the event topics, records not yet projected, stored events not yet relayed)."""
    ends = end_offsets(settings.kafka_bootstrap, settings.event_topics)
    position = store.position()
    on_log = sum(ends.values())
    behind = sum(max(0, o - position.get(p, 0)) for p, o in ends.items())
    return on_log, behind, last_notification_id(app) - positions.load().notification_id


def soak(settings: Settings, cycles: int, seed: int, logs: Path) -> dict:
    rng = random.Random(seed)
    api_env = {"PGAPPNAME": f"{settings.namespace}-api"}
    relay = Child("relay", ("relay",), settings, logs)
    api = Child("api", ("serve",), settings, logs, api=Api(settings, logs / "api.log", env=api_env))
    projectors = [Child(f"projector-{n}", ("projector",), settings, logs) for n in (1, 2)]
    children = {c.application_name: c for c in [relay, api, *projectors]}
    database = Database(settings)
    app = event_store(settings)
    pool = open_pool(settings.database_url, max_size=2)
    positions = PostgresRelayPositions(pool, settings.namespace)
    kinds = rng.sample(["projector", "relay"] * (cycles // 2 + 1), k=cycles)  # as many of each, in random order
    load = None
    kills: list[Kill] = []
    unrecovered: list[str] = []
    started = time.monotonic()
    try:
        with read_models(settings) as store:
            relay.start()  # first, so that it holds the lock and the API's relay waits
            deadline = time.monotonic() + 60
            while database.relay_holder() != relay.application_name and time.monotonic() < deadline:
                time.sleep(0.1)
            for child in [api, *projectors]:
                child.start()
            load = SoakLoad(api.api.url, seed=seed % 1000 + 1, pause_s=0.01)
            load.start()
            time.sleep(5)
            for cycle in range(1, cycles + 1):
                time.sleep(rng.uniform(0.5, 3.0))
                for name, child in children.items():  # a process that died by itself is a finding
                    if not child.alive():
                        unrecovered.append(f"cycle {cycle}: {name} died without being killed")
                        child.start()
                if kinds[cycle - 1] == "projector":
                    victim, kind = rng.choice(projectors), "projector"
                else:
                    victim, kind = holder_of_the_relay_lock(database, children), "relay"
                    kind = "relay process" if victim is relay else "API holding the relay"
                waited = rng.random() < 0.5
                if waited:  # mid-batch: wait (a little) until it is inside a statement or transaction
                    deadline = time.monotonic() + 3
                    while not database.busy(victim.application_name) and time.monotonic() < deadline:
                        time.sleep(0.002)
                mid_statement = database.busy(victim.application_name)
                victim.kill()
                killed_at = time.monotonic()
                on_log, behind, relay_lag = lags(settings, app, store, positions)
                time.sleep(rng.uniform(0.1, 2.0))
                victim.start()
                kills.append(
                    Kill(
                        cycle,
                        victim.name,
                        kind,
                        waited,
                        mid_statement,
                        behind,
                        relay_lag,
                        round(time.monotonic() - killed_at, 2),
                    )
                )
                log(
                    f"cycle {cycle}/{cycles}: killed {victim.name} ({kind}"
                    f"{', mid-statement' if mid_statement else ''}); {on_log} records on the log, "
                    f"projector lag {behind}, relay lag {relay_lag}; {load.commands} commands, "
                    f"{len(load.accepted)} interactions accepted"
                )
            load.finish()
            log("load stopped; waiting for the relay and the projectors to catch up, then checking")
            on_log, behind, relay_lag = lags(settings, app, store, positions)
            log(f"at the stop: {on_log} records on the log, projector lag {behind}, relay lag {relay_lag}")
            try:
                verdict, problems = losses_and_doubles(settings, load, timeout_s=600)
            except (Exception, pytest.fail.Exception) as error:  # a wait that timed out: the run's finding
                verdict, problems = Verdict(0, 0, 0, 0), [f"{type(error).__name__}: {error}"]
            for name, child in children.items():
                if not child.alive():
                    unrecovered.append(f"after the cycles: {name} is not running")
        problems += unrecovered + load.unexpected[:20]
        return {
            "cycles": len(kills),
            "seed": seed,
            "duration_s": round(time.monotonic() - started, 1),
            "kills": {
                "projector": sum(k.kind == "projector" for k in kills),
                "relay process": sum(k.kind == "relay process" for k in kills),
                "API holding the relay": sum(k.kind == "API holding the relay" for k in kills),
                "mid-statement": sum(k.mid_statement for k in kills),
                "with projector lag": sum(k.projector_lag > 0 for k in kills),
                "with relay lag": sum(k.relay_lag > 0 for k in kills),
            },
            "commands": load.commands,
            "stored_domain_events": verdict.stored,
            "interactions_accepted": len(load.accepted),
            "interactions_on_log": verdict.interactions,
            "interactions_resent": load.resent,
            "events": verdict.stored + verdict.interactions,
            "people": verdict.people,
            "duplicates_on_log": verdict.duplicates_on_log,
            "requests_cut": load.cut,
            "conflicts_after_cut": load.conflicts_after_cut,
            "answers_503": load.unavailable,
            "verdict": "pass" if not problems else "FAIL",
            "problems": problems[:50],
            "kill_log": [k.__dict__ for k in kills],
        }
    finally:
        if load is not None:
            load.finish()
        for child in children.values():
            child.stop()
        app.close()
        pool.close()
        database.close()


def holder_of_the_relay_lock(database: Database, children: dict[str, Child]) -> Child:
    deadline = time.monotonic() + 30
    while (holder := database.relay_holder()) not in children:
        if time.monotonic() > deadline:
            raise RuntimeError(f"no soak process holds the relay lock (holder: {holder})")
        time.sleep(0.05)
    return children[holder]


def main() -> None:
    cycles = int(os.environ.get("SOAK_CYCLES") or 50)
    seed = int(os.environ.get("SOAK_SEED") or random.randrange(1_000_000))
    logs = Path(tempfile.mkdtemp(prefix="crossview-soak-"))
    log(f"soak: {cycles} SIGKILL cycles, seed {seed}; process logs in {logs}")
    with fresh_namespace(partitions=4) as settings:
        settings = settings.model_copy(update={"session_timeout_ms": 6000})
        result = soak(settings, cycles, seed, logs)
    path = write_result("soak", result)
    log(
        f"soak {result['verdict']}: {result['cycles']} cycles {result['kills']}, {result['events']} distinct events "
        f"({result['stored_domain_events']} domain, {result['interactions_on_log']} interactions), "
        f"{result['commands']} commands, {result['duplicates_on_log']} duplicates on the log, "
        f"{result['duration_s']} s, seed {seed} -> {path.name}"
    )
    if result["problems"]:
        for problem in result["problems"]:
            print(f"  {problem}", flush=True)
        raise SystemExit(1)
