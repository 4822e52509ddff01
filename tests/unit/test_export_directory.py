"""The export's directory on its own (no broker): every record once, incremental, a dead run's files
removed, the flushes' files each whole."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import duckdb
import pytest

from projections.data_keys import MemoryDataKeys
from projections.log_export import Filter
from schemas.envelope import CloudEvent, WireRecord, to_binary
from services.adapters.duckdb_sql import query
from services.adapters.parquet_export import ExportDirectory, Exporter, ExportRefused

TOPIC = "t.interactions"


def records(count: int, start: int = 0) -> list[WireRecord]:
    out = []
    for n in range(start, start + count):
        event = CloudEvent(
            id=f"visit-{n}",
            source="segment",
            type="crossview.interaction.web.v1",
            subject=f"person-{n % 7}",
            time=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(hours=5 * n),
            data={
                "direction": "inbound",
                "provider": "segment",
                "provider_id": f"v{n}",
                "status": "received",
                "action": "page",
                "name": "Home",
            },
        )
        key, value, headers = to_binary(event)
        out.append(WireRecord(TOPIC, n % 2, n // 2, key, value, tuple(headers), 0))
    return out


class ListSource:
    """What KafkaReplay gives: the records of the asked partitions from the asked offsets, a few a poll."""

    def __init__(self, log: list[WireRecord], starts: dict) -> None:
        self._left = [r for r in log if (r.topic, r.partition) in starts and r.offset >= starts[(r.topic, r.partition)]]

    def poll(self, timeout_ms: int = 500) -> list[WireRecord]:
        batch, self._left = self._left[:5], self._left[5:]
        return batch

    def close(self) -> None:
        pass


def export(root, log: list[WireRecord], flush_rows: int = 1000):
    ends = {(TOPIC, 0): 0, (TOPIC, 1): 0}
    for r in log:
        ends[(r.topic, r.partition)] = max(ends[(r.topic, r.partition)], r.offset + 1)
    exporter = Exporter(ExportDirectory(root), MemoryDataKeys(), b"secret", None, flush_rows=flush_rows)
    return exporter.run(lambda starts: ListSource(log, starts), ends, Filter())


def ids_in(root) -> list[str]:
    return sorted(
        i for (i,) in duckdb.sql(f"SELECT id FROM read_parquet('{root}/interaction_web/*/*.parquet')").fetchall()
    )


def test_every_record_once_across_flushes_and_runs(tmp_path):
    log = records(60)
    first = export(tmp_path, log, flush_rows=8)
    assert first.records == 60 and first.rows == {"interaction_web": 60}
    assert ids_in(tmp_path) == sorted(f"visit-{n}" for n in range(60))
    days = {p.parent.name for p in tmp_path.rglob("*.parquet")}
    assert len(days) == 13  # every 5 hours from Nov 1st: 13 days
    log += records(9, start=60)
    second = export(tmp_path, log, flush_rows=8)
    assert second.records == 9 and second.run == 2
    assert ids_in(tmp_path) == sorted(f"visit-{n}" for n in range(69))


def test_the_files_of_a_run_that_died_are_removed_and_its_records_exported_again(tmp_path):
    log = records(20)
    export(tmp_path, log)
    ghost = tmp_path / "interaction_web" / "day=2026-11-02" / "part-000002-00000.parquet"
    ghost.write_bytes(b"a run that died before recording its state")
    export(tmp_path, log + records(4, start=20))
    assert not ghost.exists()
    assert ids_in(tmp_path) == sorted(f"visit-{n}" for n in range(24))


def test_a_first_run_that_died_is_resumed_by_the_next(tmp_path):
    log = records(20)

    def dies(starts):  # the first run writes a flush, then its process is killed
        class Dying(ListSource):
            def poll(self, timeout_ms: int = 500):
                raise KeyboardInterrupt

        return Dying(log, starts)

    exporter = Exporter(ExportDirectory(tmp_path), MemoryDataKeys(), b"secret", None, flush_rows=1)
    with pytest.raises(KeyboardInterrupt):
        exporter.run(dies, {(TOPIC, 0): 10, (TOPIC, 1): 10}, Filter())
    ghost = tmp_path / "interaction_web" / "day=2026-11-02" / "part-000001-00-00000.parquet"
    ghost.parent.mkdir(parents=True)
    ghost.write_bytes(b"what the dead run had written")
    export(tmp_path, log)  # not refused as a directory holding something else
    assert ids_in(tmp_path) == sorted(f"visit-{n}" for n in range(20))  # the dead run's file gone (it would not read)


def test_an_empty_statement_is_refused_with_a_sentence(tmp_path):
    export(tmp_path, records(3))
    for nothing in ("", "  ", ";", "-- a comment"):
        with pytest.raises(ValueError, match="nothing to run"):
            query(tmp_path, nothing)


def test_a_directory_with_other_files_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ExportRefused, match="not empty"):
        export(tmp_path, records(3))
