"""Each person's data keys (crypto-shredding): made on first use, rotatable, destroyed on erasure.

A data key is 32 random bytes, kept wrapped (AES-GCM) under the master key from the settings, so a
copy of the database alone opens nothing. A subject has versions 1..n (the newest seals, every one
opens); erasing destroys them all and remembers the subject as erased, so no key is made again.
The memory and PostgreSQL adapters answer alike (tests/integration/test_data_keys_contract.py).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg import sql
from psycopg_pool import ConnectionPool

Keys = dict[int, bytes]  # version -> key
CACHE_TTL_S = 60.0  # how long a process trusts a key it read; erasure is seen by others within it


class KeyWrapError(RuntimeError):
    """A wrapped key that neither the master key nor the previous one opens: wrong CROSSVIEW_MASTER_KEY."""


class DataKeys(Protocol):
    def current(self, subjects: Iterable[str]) -> dict[str, tuple[int, bytes] | None]:
        """The newest key of each subject, made if it has none; None for an erased subject."""

    def all_of(self, subjects: Iterable[str]) -> dict[str, Keys | None]:
        """Every key version of each subject ({} if none was ever made); None for an erased subject."""

    def rotate(self, subject: str) -> int:
        """A new key version that seals from now on; older ones still open what they sealed."""

    def destroy(self, subjects: Iterable[str]) -> None:
        """Erase: every key of the subjects is gone for good, and none will be made again."""

    def forget(self, subjects: Iterable[str]) -> None:
        """Drop this process's cached keys of the subjects (another process erased them)."""


class Wrapper:
    """Wraps data keys under the master key; opens with the previous master key during a rotation."""

    def __init__(self, master: bytes, previous: bytes | None = None) -> None:
        self._current, self._previous = AESGCM(master), AESGCM(previous) if previous else None

    def wrap(self, subject: str, version: int, key: bytes) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._current.encrypt(nonce, key, f"{subject}\x00{version}".encode())

    def unwrap(self, subject: str, version: int, wrapped: bytes) -> bytes:
        aad = f"{subject}\x00{version}".encode()
        for cipher in filter(None, (self._current, self._previous)):
            try:
                return cipher.decrypt(wrapped[:12], wrapped[12:], aad)
            except InvalidTag:
                continue
        raise KeyWrapError(f"a data key does not open with CROSSVIEW_MASTER_KEY (subject {subject[:8]}...)")


class _Cache:
    def __init__(self, max_size: int = 100_000) -> None:
        self._entries: dict[str, tuple[float, Keys | None]] = {}
        self._max_size = max_size
        self._lock = threading.Lock()

    def get(self, subjects: Iterable[str]) -> tuple[dict[str, Keys | None], list[str]]:
        now, found, missing = time.monotonic(), {}, []
        with self._lock:
            for subject in subjects:
                entry = self._entries.get(subject)
                if entry is not None and now - entry[0] < CACHE_TTL_S:
                    found[subject] = entry[1]
                else:
                    missing.append(subject)
        return found, missing

    def put(self, keys: dict[str, Keys | None]) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._entries) + len(keys) > self._max_size:
                self._entries.clear()
            self._entries.update((subject, (now, value)) for subject, value in keys.items())

    def drop(self, subjects: Iterable[str]) -> None:
        with self._lock:
            for subject in subjects:
                self._entries.pop(subject, None)


def _newest(keys: Keys | None) -> tuple[int, bytes] | None:
    if keys is None:
        return None
    version = max(keys)
    return version, keys[version]


class MemoryDataKeys:
    def __init__(self) -> None:
        self._keys: dict[str, Keys] = {}
        self._erased: set[str] = set()
        self._lock = threading.Lock()

    def current(self, subjects: Iterable[str]) -> dict[str, tuple[int, bytes] | None]:
        with self._lock:
            for subject in subjects:
                if subject not in self._erased and subject not in self._keys:
                    self._keys[subject] = {1: os.urandom(32)}
            return {s: _newest(None if s in self._erased else self._keys[s]) for s in subjects}

    def all_of(self, subjects: Iterable[str]) -> dict[str, Keys | None]:
        with self._lock:
            return {s: None if s in self._erased else dict(self._keys.get(s, {})) for s in subjects}

    def rotate(self, subject: str) -> int:
        self.current([subject])
        with self._lock:
            if subject in self._erased:
                raise KeyError(f"{subject} was erased")
            version = max(self._keys[subject]) + 1
            self._keys[subject][version] = os.urandom(32)
            return version

    def destroy(self, subjects: Iterable[str]) -> None:
        with self._lock:
            for subject in subjects:
                self._keys.pop(subject, None)
                self._erased.add(subject)

    def forget(self, subjects: Iterable[str]) -> None:
        """Nothing to drop: this store is the only copy, and an erasure changes it directly."""


class PostgresDataKeys:
    def __init__(self, pool: ConnectionPool, namespace: str, wrapper: Wrapper) -> None:
        self._pool = pool
        self._schema = sql.Identifier(f"{namespace}_keys")
        self._wrapper = wrapper
        self._cache = _Cache()
        with pool.connection() as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{namespace}_keys",))
            conn.execute(
                self._q(
                    "CREATE SCHEMA IF NOT EXISTS {s};"
                    "CREATE TABLE IF NOT EXISTS {s}.data_key (subject text NOT NULL, version integer NOT NULL, "
                    " wrapped bytea NOT NULL, created_at timestamptz NOT NULL DEFAULT now(), "
                    " PRIMARY KEY (subject, version));"
                    "CREATE TABLE IF NOT EXISTS {s}.erased (subject text PRIMARY KEY, "
                    " erased_at timestamptz NOT NULL DEFAULT now())"
                )
            )

    def _q(self, text: str) -> sql.Composed:
        return sql.SQL(text).format(s=self._schema)

    def all_of(self, subjects: Iterable[str]) -> dict[str, Keys | None]:
        found, missing = self._cache.get(dict.fromkeys(subjects))
        if missing:
            found.update(self._read(missing))
        return found

    def current(self, subjects: Iterable[str]) -> dict[str, tuple[int, bytes] | None]:
        subjects = list(dict.fromkeys(subjects))
        keys = self.all_of(subjects)
        unkeyed = [s for s in subjects if keys[s] == {}]
        if unkeyed:
            rows = [(s, 1, self._wrapper.wrap(s, 1, os.urandom(32))) for s in unkeyed]
            with self._pool.connection() as conn, conn.transaction():
                conn.cursor().executemany(
                    self._q(
                        "INSERT INTO {s}.data_key (subject, version, wrapped) SELECT %s, %s, %s "
                        "WHERE NOT EXISTS (SELECT 1 FROM {s}.erased e WHERE e.subject = %s) ON CONFLICT DO NOTHING"
                    ),
                    [(s, v, w, s) for s, v, w in rows],
                )
            self._cache.drop(unkeyed)
            keys.update(self._read(unkeyed))  # another process may have made one first: theirs wins
        return {s: _newest(keys[s]) if keys[s] != {} else None for s in subjects}

    def _read(self, subjects: list[str]) -> dict[str, Keys | None]:
        with self._pool.connection() as conn:
            erased = {
                s
                for (s,) in conn.execute(self._q("SELECT subject FROM {s}.erased WHERE subject = ANY(%s)"), (subjects,))
            }
            rows = conn.execute(
                self._q("SELECT subject, version, wrapped FROM {s}.data_key WHERE subject = ANY(%s)"), (subjects,)
            ).fetchall()
        keys: dict[str, Keys | None] = {s: None if s in erased else {} for s in subjects}
        for subject, version, wrapped in rows:
            if subject not in erased:
                keys[subject][version] = self._wrapper.unwrap(subject, version, bytes(wrapped))  # type: ignore[index]
        self._cache.put({s: k for s, k in keys.items() if k != {}})
        return keys

    def rotate(self, subject: str) -> int:
        self.current([subject])
        with self._pool.connection() as conn, conn.transaction():
            if conn.execute(self._q("SELECT 1 FROM {s}.erased WHERE subject = %s"), (subject,)).fetchone():
                raise KeyError(f"{subject} was erased")
            version = (
                1
                + conn.execute(
                    self._q(
                        "SELECT version FROM {s}.data_key WHERE subject = %s ORDER BY version DESC LIMIT 1 FOR UPDATE"
                    ),
                    (subject,),
                ).fetchone()[0]
            )
            conn.execute(
                self._q("INSERT INTO {s}.data_key (subject, version, wrapped) VALUES (%s, %s, %s)"),
                (subject, version, self._wrapper.wrap(subject, version, os.urandom(32))),
            )
        self._cache.drop([subject])
        return version

    def destroy(self, subjects: Iterable[str]) -> None:
        subjects = list(subjects)
        with self._pool.connection() as conn, conn.transaction():
            conn.cursor().executemany(
                self._q("INSERT INTO {s}.erased (subject) VALUES (%s) ON CONFLICT DO NOTHING"), [(s,) for s in subjects]
            )
            conn.execute(self._q("DELETE FROM {s}.data_key WHERE subject = ANY(%s)"), (subjects,))
        self._cache.drop(subjects)

    def forget(self, subjects: Iterable[str]) -> None:
        self._cache.drop(subjects)

    def rewrap(self) -> int:
        """Wrap every key under the current master key (after CROSSVIEW_MASTER_KEY changed); the count."""
        with self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(self._q("SELECT subject, version, wrapped FROM {s}.data_key FOR UPDATE")).fetchall()
            conn.cursor().executemany(
                self._q("UPDATE {s}.data_key SET wrapped = %s WHERE subject = %s AND version = %s"),
                [(self._wrapper.wrap(s, v, self._wrapper.unwrap(s, v, bytes(w))), s, v) for s, v, w in rows],
            )
        return len(rows)
