"""Cheap load generators: several client processes, so that the clients' own CPU on a 2-core machine
does not become the limit being measured.

- HTTP: a minimal HTTP/1.1 GET client on asyncio streams, one keep-alive connection per client
  (no httpx: about a tenth of its CPU a request). Closed loop (each client sends its next request
  when the previous answer arrived) or open loop (requests scheduled at a fixed rate whatever the
  answers; latency counted from the scheduled time, so a stall is not hidden by the clients
  waiting: free of coordinated omission).
- SQL: threads with one psycopg connection each, running a function per request.

Every process starts on one signal and reports its latencies and its first and last instants
(time.monotonic is the same clock in every process).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.common import latency_summary

CONTEXT = multiprocessing.get_context("spawn")


@dataclass
class Measured:
    latencies: list[float]
    seconds: float
    errors: int
    how: str

    @classmethod
    def pooled(cls, slices: list[Measured]) -> Measured:
        """One measure of several slices of the same requests: every latency, the time they took."""
        return cls(
            [latency for part in slices for latency in part.latencies],
            sum(part.seconds for part in slices),
            sum(part.errors for part in slices),
            slices[0].how,
        )

    def summary(self) -> dict:
        return {
            "requests": len(self.latencies),
            "requests_per_s": round(len(self.latencies) / self.seconds) if self.seconds else None,
            **latency_summary(self.latencies),
            "errors": self.errors,
            "clients": self.how,
        }


def _split(items: list, parts: int) -> list[list]:
    return [items[k::parts] for k in range(parts)]


def _gather(target, per_process: list[tuple], how: str) -> Measured:
    ready, go, results = CONTEXT.Barrier(len(per_process) + 1), CONTEXT.Event(), CONTEXT.Queue()
    processes = [CONTEXT.Process(target=target, args=(*args, ready, go, results)) for args in per_process]
    for process in processes:
        process.start()
    ready.wait(timeout=120)
    go.set()
    reports = [results.get(timeout=3600) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    latencies = [latency for report in reports for latency in report[0]]
    seconds = max(r[2] for r in reports) - min(r[1] for r in reports)
    return Measured(latencies, seconds, sum(r[3] for r in reports), how)


# --- HTTP ------------------------------------------------------------------------------------


class _Connection:
    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self.head = "".join(f"{k}: {v}\r\n" for k, v in {"Host": f"{host}:{port}", **headers}.items()).encode()

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def get(self, path: str) -> int:
        self.writer.write(b"GET " + path.encode() + b" HTTP/1.1\r\n" + self.head + b"\r\n")
        status = int((await self.reader.readline()).split()[1])
        length = None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("an answer without Content-Length (chunked answers are not read by this client)")
        await self.reader.readexactly(length)
        return status


def _http_process(base, headers, paths, connections, rate, start_at, ready, go, results) -> None:
    """One client process: ``connections`` keep-alive connections; closed loop when ``rate`` is
    None, else requests scheduled every 1/rate s from ``start_at`` + the process's offset."""
    url = urlsplit(base)

    async def run() -> tuple[list[float], float, float, int]:
        clients = [_Connection(url.hostname, url.port, headers) for _ in range(connections)]
        for client in clients:
            await client.open()
        ready.wait()
        await asyncio.get_running_loop().run_in_executor(None, go.wait)
        latencies, errors = [], 0
        first = time.monotonic()
        if rate is None:
            queue = list(reversed(paths))

            async def closed(client: _Connection) -> None:
                nonlocal errors
                while queue:
                    path = queue.pop()
                    started = time.monotonic()
                    status = await client.get(path)
                    latencies.append(time.monotonic() - started)
                    errors += status >= 400

            await asyncio.gather(*(closed(c) for c in clients))
        else:
            first = start_at
            pending: asyncio.Queue = asyncio.Queue()

            async def schedule() -> None:
                for n, path in enumerate(paths):
                    due = start_at + n / rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    pending.put_nowait((due, path))
                for _ in clients:
                    pending.put_nowait(None)

            async def opened(client: _Connection) -> None:
                nonlocal errors
                while (item := await pending.get()) is not None:
                    due, path = item
                    status = await client.get(path)
                    latencies.append(time.monotonic() - due)  # from when it was due: queueing counts
                    errors += status >= 400

            await asyncio.gather(schedule(), *(opened(c) for c in clients))
        return latencies, first, time.monotonic(), errors

    results.put(asyncio.run(run()))


def http_closed(base: str, headers: dict, paths: list[str], processes: int = 2, clients: int = 16) -> Measured:
    """``clients`` concurrent keep-alive clients over ``processes`` processes, each sending its next
    request when the previous answer arrived."""
    per = clients // processes
    return _gather(
        _http_process,
        [(base, headers, part, per, None, 0.0) for part in _split(paths, processes)],
        f"{processes} processes x {per} keep-alive connections (asyncio streams), closed loop",
    )


def http_open(
    base: str, headers: dict, paths: list[str], rate: float, processes: int = 2, connections: int = 64
) -> Measured:
    """Requests at ``rate`` a second in all, on a fixed schedule whatever the answers; each latency
    runs from the request's scheduled time (a request waiting for a free connection counts)."""
    start_at = time.monotonic() + 15  # every process is connected by then
    per_rate = rate / processes
    return _gather(
        _http_process,
        [
            (base, headers, part, connections, per_rate, start_at + k / rate)
            for k, part in enumerate(_split(paths, processes))
        ],
        f"{processes} processes x {connections} keep-alive connections (asyncio streams), open loop at "
        f"{rate:,.0f} requests/s, latency from each request's scheduled send time",
    )


# --- SQL -------------------------------------------------------------------------------------


def _sql_process(make_worker, paths, threads, ready, go, results) -> None:
    """One client process: ``threads`` threads, each with what ``make_worker()`` gives it (a
    function of one item, holding its own connection)."""
    workers = [make_worker() for _ in range(threads)]
    queue, lock, latencies, errors = list(reversed(paths)), threading.Lock(), [], [0]
    ready.wait()
    go.wait()

    def run(worker: Callable[[str], None]) -> None:
        while True:
            with lock:
                if not queue:
                    return
                item = queue.pop()
            started = time.monotonic()
            try:
                worker(item)
            except Exception:  # noqa: BLE001 - counted; the run goes on
                errors[0] += 1
            with lock:
                latencies.append(time.monotonic() - started)

    first = time.monotonic()
    pool = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    results.put((latencies, first, time.monotonic(), errors[0]))


def sql_closed(make_worker, items: list, processes: int = 2, clients: int = 16, what: str = "") -> Measured:
    """``clients`` threads over ``processes`` processes, each with its own connection, running
    ``make_worker()``'s function on the items (``make_worker`` must be picklable: a module-level
    callable)."""
    per = clients // processes
    return _gather(
        _sql_process,
        [(make_worker, part, per) for part in _split(items, processes)],
        f"{processes} processes x {per} threads, one psycopg connection each{what}",
    )
