"""A Server-Sent Events reader for tests, and an app served by uvicorn in a thread (a live stream
needs a real server: the test client would wait for the end of an answer that never ends)."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from tests.live import free_port


@dataclass
class Event:
    name: str
    id: str | None
    data: dict


class Stream:
    """Reads a stream in a thread of its own; ``next`` waits for the next event."""

    def __init__(self, url: str, headers: dict[str, str], last_event_id: str | None = None) -> None:
        self.events: queue.Queue[Event] = queue.Queue()
        self.status: int | None = None
        self._headers = {**headers, **({"Last-Event-ID": last_event_id} if last_event_id else {})}
        self._url = url
        self._closed = threading.Event()
        self._opened = threading.Event()
        self._client = httpx.Client(timeout=httpx.Timeout(5, read=None))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        assert self._opened.wait(15), "the stream did not answer"

    def _read(self) -> None:
        try:
            with self._client.stream("GET", self._url, headers=self._headers) as answer:
                self.status = answer.status_code
                self._opened.set()
                name, ident, data = "message", None, []
                for line in answer.iter_lines():
                    if not line:
                        if data:
                            self.events.put(Event(name, ident, json.loads("\n".join(data))))
                        name, data = "message", []
                    elif line.startswith("event: "):
                        name = line[7:]
                    elif line.startswith("id: "):
                        ident = line[4:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
        except httpx.HTTPError:
            if not self._closed.is_set():
                raise
        finally:
            self._opened.set()

    def next(self, timeout_s: float = 10) -> Event:
        return self.events.get(timeout=timeout_s)

    def changes(self, count: int, timeout_s: float = 15) -> list[Event]:
        """The next ``count`` change events (and fails if they do not come in time)."""
        found, deadline = [], time.monotonic() + timeout_s
        while len(found) < count:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event.name == "change":
                found.append(event)
        return found

    def quiet(self, for_s: float) -> bool:
        """Whether no change arrives within ``for_s``."""
        try:
            while True:
                if self.events.get(timeout=for_s).name == "change":
                    return False
        except queue.Empty:
            return True

    def close(self) -> None:
        """Hang up, as a browser tab closed."""
        self._closed.set()
        self._client.close()
        self._thread.join(timeout=5)


@contextmanager
def serving(app) -> Iterator[str]:
    """``app`` on a free port of 127.0.0.1 until the block ends; yields its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "the server did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
