"""`crossview export`: the log and the read models as Parquet files that DuckDB, pandas or Spark read
as they are.

The directory::

    interaction_sms/day=2026-11-30/part-000001-00-00000.parquet   one table per event family, by day
                                                               (part-<run>-<worker>-<sequence>)
    person_registered/day=.../...                              (hive-style partitions)
    undecodable/day=.../...                                    records this version cannot read
    snapshots/people.parquet, functions.parquet, organisations.parquet   the read models, now
    views.sql                                                  CREATE VIEW of every table, for DuckDB
    _export.json                                               how far each log partition was exported

Incremental: a run reads each log partition from where the last one stopped up to the end it found
at its start, writes its files under its own run number, and records the new positions last (an
atomic rename). A run that died leaves files the state does not cover: the next run deletes them
first and exports those records again, so no record is ever written twice or lost.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from projections.data_keys import Keys
from projections.log_export import Filter, Kind, Pseudonyms, Row, columns_of, row_of
from projections.log_export import subjects_to_open as subjects_of
from projections.person_model import PersonView
from projections.snapshot_rows import (
    FUNCTION_COLUMNS,
    ORGANISATION_COLUMNS,
    PEOPLE_COLUMNS,
    function_rows,
    organisation_rows,
    people_rows,
)
from schemas.envelope import WireRecord

STATE = "_export.json"
STATE_FORMAT = 1
SNAPSHOTS = "snapshots"
FLUSH_ROWS = 100_000  # rows held before the fullest partitions are written out (~150 MB of Python rows)

_ARROW: dict[Kind, pa.DataType] = {
    "string": pa.string(),
    "int": pa.int64(),
    "bool": pa.bool_(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "strings": pa.list_(pa.string()),
    "json": pa.string(),
}
_PART = re.compile(r"part-(\d{6})-[\d-]+\.parquet$")  # part-<run>-<worker>-<sequence>


class ExportRefused(ValueError):
    """The directory holds another export (other filters) or something that is not an export."""


class RecordSource(Protocol):
    def poll(self, timeout_ms: int = 500) -> list[WireRecord]: ...

    def close(self) -> None: ...


class KeyReader(Protocol):
    def all_of(self, subjects: Iterable[str]) -> dict[str, Keys | None]: ...


class Snapshots(Protocol):
    def people(self) -> Iterator[list[PersonView]]: ...

    def references(self) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]: ...


Partition = tuple[str, int]


@dataclass
class Progress:
    done: int
    total: int
    elapsed_s: float

    @property
    def rate(self) -> float:
        return self.done / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def left_s(self) -> float | None:
        return (self.total - self.done) / self.rate if self.rate > 0 else None


@dataclass
class Share:
    """One worker's part of a run: whole log partitions, each from where the last run stopped to
    the end found at this run's start."""

    run: int
    worker: int
    starts: dict[Partition, int]
    ends: dict[Partition, int]

    @property
    def records(self) -> int:
        return sum(end - self.starts[p] for p, end in self.ends.items())


@dataclass
class ExportResult:
    records: int  # log records read this run
    rows: dict[str, int]  # rows written this run, per table
    run: int
    positions: dict[str, int] = field(default_factory=dict)


def schema_of(columns: list[tuple[str, Kind]]) -> pa.Schema:
    return pa.schema([(name, _ARROW[kind]) for name, kind in columns])


class ExportDirectory:
    """Where an export lives: its files, and the state that says what they cover."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def state(self) -> dict[str, Any]:
        path = self.root / STATE
        if not path.exists():
            if self.root.exists() and any(p for p in self.root.iterdir() if not p.name.startswith(".")):
                raise ExportRefused(f"{self.root} is not empty and holds no export: choose an empty or new directory")
            return {"format": STATE_FORMAT, "runs": 0, "positions": {}, "filter": None, "rows": {}}
        state = json.loads(path.read_text())
        if state.get("format") != STATE_FORMAT:
            raise ExportRefused(f"{path} is of another export format ({state.get('format')})")
        return state

    def save_state(self, state: dict[str, Any]) -> None:
        temporary = self.root / f".{STATE}.tmp"
        temporary.write_text(json.dumps(state, indent=2, sort_keys=True))
        os.replace(temporary, self.root / STATE)

    def remove_unfinished(self, last_run: int) -> int:
        """Delete the files of runs after ``last_run`` (a run that died before recording its state)."""
        removed = 0
        for path in list(self.root.glob("*/day=*/*")):
            match = _PART.search(path.name)
            if path.name.endswith(".tmp") or (match and int(match.group(1)) > last_run):
                path.unlink()
                removed += 1
        return removed

    def write_part(self, family: str, day: str, run: int, worker: int, rows: list[dict[str, Any]]) -> None:
        folder = self.root / family / f"day={day}"
        folder.mkdir(parents=True, exist_ok=True)
        sequence = len(list(folder.glob(f"part-{run:06d}-{worker:02d}-*.parquet")))
        path = folder / f"part-{run:06d}-{worker:02d}-{sequence:05d}.parquet"
        table = pa.Table.from_pylist(rows, schema=schema_of(columns_of(family)))
        temporary = path.with_name(path.name + ".tmp")
        pq.write_table(table, temporary, compression="zstd")
        os.replace(temporary, path)

    def write_snapshot(self, name: str, columns: list[tuple[str, Kind]], pages: Iterable[list[dict[str, Any]]]) -> int:
        folder = self.root / SNAPSHOTS
        folder.mkdir(parents=True, exist_ok=True)
        temporary = folder / f".{name}.parquet.tmp"
        count = 0
        with pq.ParquetWriter(temporary, schema_of(columns), compression="zstd") as writer:
            for rows in pages:
                writer.write_table(pa.Table.from_pylist(rows, schema=schema_of(columns)))
                count += len(rows)
        os.replace(temporary, folder / f"{name}.parquet")
        return count

    def tables(self) -> dict[str, str]:
        """Each table's name and the glob DuckDB reads it from, relative to the export directory."""
        found = {}
        for family in sorted(p.name for p in self.root.iterdir() if p.is_dir() and p.name != SNAPSHOTS):
            if any((self.root / family).glob("day=*/*.parquet")):
                found[family] = f"{family}/*/*.parquet"
        for path in sorted((self.root / SNAPSHOTS).glob("*.parquet")):
            found[path.stem] = f"{SNAPSHOTS}/{path.name}"
        return found

    def write_views(self) -> None:
        """views.sql: `duckdb -init views.sql` in the export directory has every table as a view."""
        lines = ["-- Every table of this export as a DuckDB view; run from this directory:  duckdb -init views.sql"]
        for name, glob in self.tables().items():
            lines.append(f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM {read_parquet_sql(glob)};")
        (self.root / "views.sql").write_text("\n".join(lines) + "\n")


def read_parquet_sql(glob: str) -> str:
    """DuckDB's reader of one table: partitions as a column, the versions' columns unioned by name."""
    if "/day=" in glob or glob.endswith("/*/*.parquet"):
        return f"read_parquet('{glob}', hive_partitioning = true, union_by_name = true)"
    return f"read_parquet('{glob}')"


class Exporter:
    """One export run: the log's new records as rows, then fresh snapshots of the read models."""

    def __init__(
        self,
        directory: ExportDirectory,
        keys: KeyReader,
        secret: bytes,
        snapshots: Snapshots | None,
        flush_rows: int = FLUSH_ROWS,
    ) -> None:
        self._directory = directory
        self._keys = keys
        self._secret = secret
        self._snapshots = snapshots
        self._flush_rows = flush_rows

    def prepare(self, keep: Filter) -> dict[str, Any]:
        """The state to continue from, once the directory is known to hold this export (or none)."""
        self._directory.root.mkdir(parents=True, exist_ok=True)
        state = self._directory.state()
        if state["runs"] == 0:  # the directory is this export's from now on: a first run that dies resumes
            self._directory.save_state(state)
        if state["filter"] is not None and state["filter"] != keep.describe():
            raise ExportRefused(
                f"{self._directory.root} holds an export with {state['filter']}; this one asks for "
                f"{keep.describe()}: give the same --since, --until and --types, or another directory"
            )
        self._directory.remove_unfinished(state["runs"])
        return state

    def plan(self, ends: dict[Partition, int], keep: Filter, workers: int = 1) -> tuple[dict[str, Any], list[Share]]:
        """The state to continue from, and this run's work split into at most ``workers`` shares of
        whole partitions, balanced by the records each has to read."""
        state = self.prepare(keep)
        run = state["runs"] + 1
        positions = {_partition(name): offset for name, offset in state["positions"].items()}
        starts = {p: min(positions.get(p, 0), end) for p, end in ends.items()}
        todo = sorted((p for p, end in ends.items() if starts[p] < end), key=lambda p: starts[p] - ends[p])
        shares = [Share(run, worker, {}, {}) for worker in range(max(1, min(workers, len(todo))))]
        for partition in todo:  # the largest first, each to the share with the least so far
            share = min(shares, key=lambda s: s.records)
            share.starts[partition], share.ends[partition] = starts[partition], ends[partition]
        return state, [s for s in shares if s.ends] or shares[:1]

    def export_share(
        self,
        open_source: Callable[[dict[Partition, int]], RecordSource],
        share: Share,
        keep: Filter,
        on_records: Callable[[int], None] = lambda n: None,
    ) -> dict[str, int]:
        """Read the share's partitions from their starts to their ends and write their rows; the rows
        written per table. Records past an end are left for the next run."""
        buffers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        written: dict[str, int] = {}
        held = 0
        if share.ends:
            source = open_source(dict(share.starts))
            try:
                reached = dict(share.starts)
                while any(reached[p] < end for p, end in share.ends.items()):
                    records = [r for r in source.poll(500) if r.offset < share.ends.get((r.topic, r.partition), -1)]
                    if not records:
                        continue
                    for record in records:
                        reached[(record.topic, record.partition)] = record.offset + 1
                    for row in self._rows(records):
                        if keep.keeps(row):
                            buffers.setdefault((row.family, row.day.isoformat()), []).append(row.values)
                            held += 1
                    if held >= self._flush_rows:
                        held = self._flush_largest(buffers, share, written, held)
                    on_records(len(records))
            finally:
                source.close()
        self._flush_largest(buffers, share, written, held, everything=True)
        return written

    def finish(self, state: dict[str, Any], shares: list[Share], keep: Filter, written: dict[str, int]) -> ExportResult:
        """After every share is written: the snapshots, the views, then the state (last: what it
        records is done)."""
        if self._snapshots is not None:
            self._write_snapshots()
        self._directory.write_views()
        positions = {_partition(name): offset for name, offset in state["positions"].items()}
        for share in shares:
            positions.update(share.ends)
        run = shares[0].run
        state = {
            "format": STATE_FORMAT,
            "runs": run,
            "filter": keep.describe(),
            "positions": {f"{t}:{p}": o for (t, p), o in sorted(positions.items())},
            "rows": {name: state["rows"].get(name, 0) + written.get(name, 0) for name in {*state["rows"], *written}},
            "exported_at": datetime.now(UTC).isoformat(),
        }
        self._directory.save_state(state)
        return ExportResult(sum(s.records for s in shares), written, run, state["positions"])

    def run(
        self,
        open_source: Callable[[dict[Partition, int]], RecordSource],
        ends: dict[Partition, int],
        keep: Filter,
        progress: Callable[[Progress], None] = lambda p: None,
    ) -> ExportResult:
        """The whole run in this process."""
        state, shares = self.plan(ends, keep)
        total, done, began = sum(s.records for s in shares), [0], time.monotonic()

        def counted(records: int) -> None:
            done[0] += records
            progress(Progress(done[0], total, time.monotonic() - began))

        progress(Progress(0, total, 0.0))
        written = self.export_share(open_source, shares[0], keep, counted)
        result = self.finish(state, shares, keep, written)
        progress(Progress(total, total, time.monotonic() - began))
        return result

    def _rows(self, records: list[WireRecord]) -> list[Row]:
        keys = self._keys.all_of(subjects_of(records))
        pseudonyms = Pseudonyms(keys, self._secret)
        return [row_of(record, keys, pseudonyms) for record in records]

    def _flush_largest(
        self,
        buffers: dict[tuple[str, str], list[dict[str, Any]]],
        share: Share,
        written: dict[str, int],
        held: int,
        everything: bool = False,
    ) -> int:
        """Write the fullest partitions until half the budget is free (or all of them at the end);
        the rest wait to grow, so a day gets a few large files, not one per flush (DuckDB and Spark
        read few large files fastest)."""
        for key in sorted(buffers, key=lambda k: len(buffers[k]), reverse=True):
            if held <= self._flush_rows // 2 and not everything:
                break
            rows = buffers.pop(key)
            self._directory.write_part(key[0], key[1], share.run, share.worker, rows)
            written[key[0]] = written.get(key[0], 0) + len(rows)
            held -= len(rows)
        return held

    def _write_snapshots(self) -> None:
        today = datetime.now(UTC).date()
        organisations, titles = self._snapshots.references()

        def people() -> Iterator[list[dict[str, Any]]]:
            for views in self._snapshots.people():
                keys = self._keys.all_of(v.person_id for v in views)
                yield people_rows(views, Pseudonyms(keys, self._secret), today)

        def functions() -> Iterator[list[dict[str, Any]]]:
            for views in self._snapshots.people():
                yield function_rows(views, titles, today)

        self._directory.write_snapshot("people", PEOPLE_COLUMNS, people())
        self._directory.write_snapshot("functions", FUNCTION_COLUMNS, functions())
        self._directory.write_snapshot("organisations", ORGANISATION_COLUMNS, [organisation_rows(organisations)])


def _partition(name: str) -> Partition:
    topic, _, partition = name.rpartition(":")
    return topic, int(partition)
