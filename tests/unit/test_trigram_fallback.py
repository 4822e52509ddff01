"""Without pg_trgm (a database where it cannot be created), search keeps working on sequential
scans: the indexes are skipped and the operator is told once, not at every install."""

from __future__ import annotations

import contextlib
import logging

import psycopg
import pytest

from projections import postgres_indexes


class _RefusingDatabase:
    """A connection on which pg_trgm is absent and CREATE EXTENSION is refused."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def transaction(self):
        return contextlib.nullcontext()

    def execute(self, statement, params=None):
        self.statements.append(str(statement))
        if "CREATE EXTENSION" in str(statement):
            raise psycopg.errors.InsufficientPrivilege('permission denied to create extension "pg_trgm"')
        return self

    def fetchone(self):
        return None


def test_without_pg_trgm_the_trigram_indexes_are_skipped_with_one_warning(monkeypatch, caplog):
    monkeypatch.setattr(postgres_indexes, "_warned_without_trigrams", False)
    with caplog.at_level(logging.WARNING, logger=postgres_indexes.__name__):
        for _ in range(3):
            assert postgres_indexes.trigram_schema(_RefusingDatabase()) is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "sequential scans" in warnings[0].getMessage()


@pytest.mark.parametrize("found", ["public", "extensions"])
def test_an_installed_pg_trgm_is_used_where_it_lives(found):
    class _Installed(_RefusingDatabase):
        def fetchone(self):
            return (found,)

    db = _Installed()
    assert postgres_indexes.trigram_schema(db) == found
    assert not [s for s in db.statements if "CREATE EXTENSION" in s]
