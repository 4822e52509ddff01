"""Fixtures and helpers for tests on the real broker and database, one namespace per test.

Nothing here skips: a missing service fails the test with what to do about it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from kafka import KafkaAdminClient

from channels.kafka import KafkaPublisher, end_offsets
from projections.postgres_store import PostgresStore, open_pool
from services.bootstrap import create_topics, run_projector
from services.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def services() -> Settings:
    base = Settings()
    host, port = base.kafka_bootstrap.split(",")[0].rsplit(":", 1)
    if not _reachable(host, int(port)):
        pytest.fail(f"Kafka does not answer at {base.kafka_bootstrap}: run `make services` first")
    try:
        psycopg.connect(base.database_url, connect_timeout=5).close()
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL refused {base.database_url}: {error}; run `make services` first")
    return base


@pytest.fixture
def settings(services: Settings) -> Iterator[Settings]:
    """Fresh topics and schemas for this test alone; removed afterwards."""
    namespace = f"t{uuid.uuid4().hex[:12]}"
    settings = Settings(namespace=namespace, partitions=4, session_timeout_ms=6000)
    create_topics(settings)
    yield settings
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (f"{namespace}\\_%",)
        ).fetchall()
        for (schema,) in schemas:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    try:
        admin.delete_topics([*settings.event_topics, settings.dead_letter_topic])
    finally:
        admin.close()


def free_port() -> int:
    """A port nothing listens on now, for a process the test starts."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def env_of(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "CROSSVIEW_NAMESPACE": settings.namespace,
        "CROSSVIEW_PARTITIONS": str(settings.partitions),
        "CROSSVIEW_SESSION_TIMEOUT_MS": str(settings.session_timeout_ms),
        "CROSSVIEW_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "CROSSVIEW_DATABASE_URL": settings.database_url,
        "PYTHONUNBUFFERED": "1",
        "CROSSVIEW_LOCAL_TRIAL": "1",  # the test services use the default database password
    }


def crossview_process(settings: Settings, *args: str, log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`crossview ARGS` in a child process, as an operator would run it (``env``: more settings)."""
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", *args],
        env={**env_of(settings), **(env or {})},
        cwd=ROOT,
        stdout=log.open("a"),
        stderr=subprocess.STDOUT,
    )


@pytest.fixture
def publisher(settings: Settings) -> Iterator[KafkaPublisher]:
    publisher = KafkaPublisher(settings.kafka_bootstrap)
    yield publisher
    publisher.close()


@pytest.fixture
def store(settings: Settings) -> Iterator[PostgresStore]:
    pool = open_pool(settings.database_url)
    yield PostgresStore(pool, settings.namespace)
    pool.close()


class ProjectorThread:
    """The live projector in a thread of the test process (for tests that do not kill it)."""

    def __init__(self, settings: Settings) -> None:
        self.stop = threading.Event()
        self.projector = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(settings,), daemon=True)

    def _run(self, settings: Settings) -> None:
        try:
            self.projector = run_projector(settings, self.stop, report_every_s=3600)
        except BaseException as error:  # re-raised in the test by __exit__
            self.error = error
            raise

    def __enter__(self) -> ProjectorThread:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self._thread.join(timeout=30)
        if self.error is not None:
            raise AssertionError("the projector thread failed") from self.error


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(0.1)


def relayed(client, answer) -> Callable[[], bool]:
    """True once the relay (in whichever process) carried a command's last stored event to the log."""
    last = int(answer.json()["positions"][-1].rsplit(":", 1)[1])
    return lambda: client.app.state.crossview.commands.landed(last) is not None


def caught_up(store: PostgresStore, settings: Settings) -> Callable[[], bool]:
    """True once the active read model reflects everything written to the event topics so far."""

    def check() -> bool:
        ends = {p: o for p, o in end_offsets(settings.kafka_bootstrap, settings.event_topics).items() if o > 0}
        position = store.position()
        return all(position.get(p, 0) >= o for p, o in ends.items())

    return check


class SpareBroker:
    """A second single-node Kafka on its own port and data folder, for tests that stop a broker
    without disturbing the shared one. Uses the jars `make services` fetched."""

    def __init__(self, data_dir: Path, port: int = 19092) -> None:
        self.port, self.data_dir = port, data_dir
        self.libs = kafka_libs()
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms256m",
            "-Xmx512m",
            f"-Dlog4j2.configurationFile={ROOT / 'infra/kafka/log4j2.yaml'}",
            "-cp",
            f"{self.libs}/*",
        ]

    def start(self) -> None:
        if not (self.libs / ".complete").exists():  # the shared broker may be someone else's: fetch ours
            subprocess.run(["bash", str(ROOT / "scripts" / "services.sh"), "fetch-kafka"], check=True)
        properties = self.data_dir / "server.properties"
        if not properties.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            text = (ROOT / "infra/kafka/server.properties").read_text()
            text = text.replace("9092", str(self.port)).replace("9093", str(self.port + 1))
            properties.write_text(text + f"\nlog.dirs={self.data_dir / 'data'}\n")
            cluster = subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "random-uuid"], capture_output=True, text=True, check=True
            ).stdout.strip()
            subprocess.run(
                [*self._java(), "kafka.tools.StorageTool", "format", "-t", cluster, "-c", str(properties)],
                capture_output=True,
                check=True,
            )
        self.process = subprocess.Popen(
            [*self._java(), "kafka.Kafka", str(properties)],
            stdout=(self.data_dir / "broker.log").open("a"),
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: _reachable("127.0.0.1", self.port), 60, f"the spare broker on port {self.port}")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.process = None


def kafka_libs() -> Path:
    """Where the Kafka server jars are: CROSSVIEW_KAFKA_LIBS, this checkout's `.services`, or the
    main checkout's when this is a git worktree (its `.services` is not shared); else ours, to fetch."""
    ours = ROOT / ".services" / "kafka" / "libs"
    candidates = [Path(os.environ["CROSSVIEW_KAFKA_LIBS"])] if os.environ.get("CROSSVIEW_KAFKA_LIBS") else []
    candidates.append(ours)
    common = subprocess.run(
        ["git", "rev-parse", "--path-format=absolute", "--git-common-dir"], cwd=ROOT, capture_output=True, text=True
    )
    if common.returncode == 0 and common.stdout.strip():
        candidates.append(Path(common.stdout.strip()).parent / ".services" / "kafka" / "libs")
    return next((c for c in candidates if (c / ".complete").exists()), ours)


def _postgres_bin() -> Path:
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name))
    if not versions:
        pytest.fail("no PostgreSQL server binaries (Debian's postgresql package) to start a spare database")
    return versions[-1].parent


class SparePostgres:
    """A PostgreSQL of its own (initdb into a temporary folder, its own port), for tests that stop
    and restart the database without disturbing the shared one. Runs as the `postgres` user when
    the tests run as root (PostgreSQL refuses root). Trust authentication on 127.0.0.1 only."""

    def __init__(self, port: int = 25432) -> None:
        self.port = port
        self.bin = _postgres_bin()
        self.data_dir = Path(tempfile.mkdtemp(prefix="crossview-spare-pg-"))
        self._as = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.data_dir, "postgres")
        self._run("initdb", "-D", str(self.data_dir / "data"), "-U", "crossview", "--auth=trust", "-E", "UTF8")

    @property
    def url(self) -> str:
        return self._url("crossview")

    def _url(self, dbname: str) -> str:
        return f"postgresql://crossview:crossview@127.0.0.1:{self.port}/{dbname}"

    def _run(self, tool: str, *args: str) -> None:
        subprocess.run([*self._as, str(self.bin / tool), *args], check=True, capture_output=True, cwd=self.data_dir)

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = self.data_dir / "postgres.log"
        self._run("pg_ctl", "-D", str(self.data_dir / "data"), "-l", str(log), "-o", options, "-w", "start")
        with psycopg.connect(self._url("postgres"), autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'crossview'").fetchone():
                conn.execute("CREATE DATABASE crossview")

    def stop(self, mode: str = "immediate") -> None:
        """Stop it; "immediate" is a crash as far as clients can tell (connections cut, no goodbye)."""
        self._run("pg_ctl", "-D", str(self.data_dir / "data"), "-m", mode, "-w", "stop")

    def remove(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)


class TcpProxy:
    """A local port forwarded to a service. Closing it is an outage of that service for whoever was
    given the port (its connections cut, new ones refused) without touching the shared service."""

    def __init__(self, host: str, port: int) -> None:
        self._target = (host, port)
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self.port = 0
        self._server: socket.socket | None = None
        self.reopen()

    def reopen(self) -> None:
        self._server = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR: the same port again
        self._server.settimeout(0.2)
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while server.fileno() != -1:
            try:
                client, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self._target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Refuse new connections and cut the open ones."""
        if self._server is not None:
            self._server.close()
            self._server = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for end in sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
