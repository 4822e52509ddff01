"""Live push on PostgreSQL: the projector's NOTIFY, inside the transaction that writes the changes
(delivered at commit, never for a batch rolled back), and the LISTEN of every API process.

A notification carries person ids only (space-separated, each under PostgreSQL's 8,000-byte
payload limit); what changed is read from the store past each stream's own marks
(projections/changes.py). The listener thread only hands ids to the in-process fan-out, whose
wake-ups do not block, so no client, however slow or gone, can keep it from draining the
notification queue: the projector's commits never wait for a reader.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import psycopg
from psycopg import sql

from projections.changes import Announcements

log = logging.getLogger(__name__)
PAYLOAD_BYTES = 7_900  # PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more


def channel_of(namespace: str) -> str:
    """The namespace's notification channel (one per namespace: the tests share a database)."""
    return f"{namespace}_changes"


def payloads(person_ids: Iterable[str]) -> list[str]:
    """The ids as few payloads as fit PostgreSQL's limit."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for person_id in sorted(set(person_ids)):
        if current and size + len(person_id) + 1 > PAYLOAD_BYTES:
            chunks.append(" ".join(current))
            current, size = [], 0
        current.append(person_id)
        size += len(person_id.encode()) + 1
    if current:
        chunks.append(" ".join(current))
    return chunks


def notify(conn: psycopg.Connection, channel: str, person_ids: Iterable[str]) -> None:
    """Inside the caller's transaction: delivered when it commits, to every process that listens."""
    chunks = payloads(person_ids)
    if chunks:
        conn.execute("SELECT pg_notify(%s, p) FROM unnest(%s::text[]) AS p", (channel, chunks))


class ChangeListener:
    """One LISTEN connection per API process, in a thread of its own, feeding ``announcements``.
    Reconnects when the connection drops, then wakes every stream (what was missed meanwhile is
    in the store)."""

    def __init__(self, database_url: str, namespace: str, announcements: Announcements) -> None:
        self._url = database_url
        self._channel = channel_of(namespace)
        self._announcements = announcements
        self._stop = threading.Event()
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name="change-listener", daemon=True)

    def start(self) -> ChangeListener:
        self._thread.start()
        return self

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        pause = 0.1
        while not self._stop.is_set():
            try:
                with psycopg.connect(self._url, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    self.listening.set()
                    self._announcements.announce_everyone()  # anything committed before LISTEN took
                    pause = 0.1
                    while not self._stop.is_set():
                        for notification in conn.notifies(timeout=1.0):
                            self._announcements.announce(notification.payload.split())
            except psycopg.Error as error:
                self.listening.clear()
                log.warning("change listener: %s; listening again in %.1fs", error, pause)
                self._stop.wait(pause)
                pause = min(pause * 2, 5.0)
