"""`crossview export` on the real log: the Parquet files, read back with DuckDB, hold the topics'
events, counted per type; a second export adds only what is new; personal fields never in clear."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import duckdb

from channels.kafka import KafkaReplay, end_offsets
from projections.data_keys import PostgresDataKeys, Wrapper
from projections.postgres_store import open_pool
from schemas.sealing import ERASED
from services.application.ingest import Ingest
from services.bootstrap import export_topics
from services.demo.data import DEMO_NAMESPACE, seed_scenario, synthetic_interactions
from tests.live import ROOT, ProjectorThread, caught_up, env_of, wait_until

CROSSVIEW = str(Path(sys.executable).parent / "crossview")


def types_on_the_log(settings) -> Counter:
    """Every record of the exported topics, counted by its ce_type header."""
    ends = {p: o for p, o in end_offsets(settings.kafka_bootstrap, export_topics(settings)).items() if o > 0}
    replay = KafkaReplay(settings.kafka_bootstrap, dict.fromkeys(ends, 0))
    counted: Counter = Counter()
    reached = dict.fromkeys(ends, 0)
    try:
        while any(reached[p] < end for p, end in ends.items()):
            for record in replay.poll(500):
                reached[(record.topic, record.partition)] = record.offset + 1
                counted[dict(record.headers)["ce_type"].decode()] += 1
    finally:
        replay.close()
    return counted


def types_in_the_export(directory: Path) -> Counter:
    """Every row of every event table of the export, counted by type, as an analyst would with DuckDB."""
    counted: Counter = Counter()
    for table in sorted(p.name for p in directory.iterdir() if p.is_dir() and p.name != "snapshots"):
        rows = duckdb.sql(
            f"SELECT type, count(*) FROM read_parquet('{directory}/{table}/*/*.parquet', hive_partitioning = true) "
            "GROUP BY type"
        ).fetchall()
        counted.update(dict(rows))
    return counted


def run_export(settings, directory: Path, *options: str) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [CROSSVIEW, "export", "--to", str(directory), *options],
        env=env_of(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_an_export_read_back_with_duckdb_holds_the_logs_events_and_a_second_one_adds_only_the_new(
    settings, publisher, store, tmp_path
):
    pool = open_pool(settings.database_url, max_size=2)
    keys = PostgresDataKeys(pool, settings.namespace, Wrapper(settings.master_key_bytes))
    ingest = Ingest(publisher, settings, keys)  # sealed, as the API publishes them
    scenario, ids = seed_scenario()
    ingest.publish(scenario + list(synthetic_interactions(people=12, per_person=4, seed=31)))
    directory = tmp_path / "export"
    forgotten = str(uuid.uuid5(DEMO_NAMESPACE, "synthetic:31:3"))  # one of the synthetic people
    keys.destroy([forgotten])  # erased: their keys are gone
    try:
        with ProjectorThread(settings):
            wait_until(caught_up(store, settings), 60, "the read models (for the snapshots)")
            first = run_export(settings, directory)
            assert "export [" in first.stderr and " events " in first.stderr and "/s" in first.stderr  # the bar

            on_the_log = types_on_the_log(settings)
            assert types_in_the_export(directory) == on_the_log
            assert sum(on_the_log.values()) > 60

            # Personal fields are pseudonyms; ids, statuses and campaigns are as they were.
            names = duckdb.sql(
                f"SELECT family_name FROM read_parquet('{directory}/person_registered/*/*.parquet') "
                "WHERE family_name IS NOT NULL"
            ).fetchall()
            assert names and all(name.startswith("~") for (name,) in names)
            assert "Bellemare" not in {name for (name,) in names}
            bodies = duckdb.sql(
                f"SELECT DISTINCT body, status, day FROM read_parquet('{directory}/interaction_sms/*/*.parquet') "
                f"WHERE subject <> '{forgotten}'"
            ).fetchall()
            assert bodies and all(body.startswith("~") for body, _, _ in bodies)
            # The erased person's personal fields read "erased" (their keys are gone); their counts remain.
            theirs = duckdb.sql(
                f"SELECT from_number FROM read_parquet('{directory}/interaction_*/*/*.parquet', union_by_name = true) "
                f"WHERE subject = '{forgotten}' AND type IN ('crossview.interaction.sms.v1', 'crossview.interaction.call.v1') "
                f"UNION ALL SELECT address FROM read_parquet('{directory}/interaction_email/*/*.parquet') "
                f"WHERE subject = '{forgotten}'"
            ).fetchall()
            assert theirs and {value for (value,) in theirs} == {ERASED}
            people = duckdb.sql(f"SELECT person_id, family_name FROM '{directory}/snapshots/people.parquet'").fetchall()
            assert ids.fabien in {p for p, _ in people}
            fabien_name = dict(people)[ids.fabien]
            assert fabien_name.startswith("~") and (fabien_name,) in names  # the same pseudonym in both

            files_of_the_first = sorted(p.name for p in directory.rglob("part-*.parquet"))
            later = list(synthetic_interactions(people=5, per_person=3, seed=32))
            ingest.publish(later)
            second = run_export(settings, directory, "--workers", "2")  # two processes share the partitions
            assert "15 log records read" in second.stdout
            assert types_in_the_export(directory) == types_on_the_log(settings)
            assert files_of_the_first == sorted(p.name for p in directory.rglob("part-000001-*.parquet"))
            workers = {p.name.split("-")[2] for p in directory.rglob("part-000002-*.parquet")}
            assert workers == {"00", "01"}  # each worker wrote its share

            third = run_export(settings, directory)  # nothing new: nothing written
            assert "0 log records read" in third.stdout and "nothing new" in third.stdout

        answer = subprocess.run(
            [CROSSVIEW, "sql", "--in", str(directory), "SELECT status, count(*) AS n FROM interaction_sms GROUP BY 1"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert answer.returncode == 0, answer.stderr
        assert answer.stdout.splitlines()[0].split() == ["status", "|", "n"]
        assert answer.stdout.rstrip().endswith("rows)") or "(1 row)" in answer.stdout
        as_csv = subprocess.run(
            [
                CROSSVIEW,
                "sql",
                "--csv",
                "--in",
                str(directory),
                "SELECT count(*) AS n, max(time) AS last FROM interaction_sms",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        header, row = as_csv.stdout.splitlines()
        assert (
            header == "n,last" and int(row.split(",")[0]) == types_on_the_log(settings)["crossview.interaction.sms.v1"]
        )
    finally:
        pool.close()


def test_an_export_refuses_a_directory_of_another_export_or_of_other_files(settings, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = subprocess.run(
        [CROSSVIEW, "export", "--to", str(tmp_path), "--no-snapshots"],
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2 and "not empty" in result.stderr
    directory = tmp_path / "export"
    subprocess.run(
        [CROSSVIEW, "export", "--to", str(directory), "--no-snapshots"], env=env_of(settings), check=True, timeout=120
    )
    other = subprocess.run(
        [CROSSVIEW, "export", "--to", str(directory), "--since", "2026-01-01"],
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert other.returncode == 2 and "same --since" in other.stderr


def test_a_since_or_until_that_is_no_instant_is_refused_naming_the_option(settings, tmp_path):
    for option, value, reason in (
        ("--since", "2026-13-01", "month must be in 1..12"),
        ("--until", "2026-01-01T10:00", "offset from UTC"),
    ):
        result = subprocess.run(
            [CROSSVIEW, "export", "--to", str(tmp_path / "export"), option, value],
            env=env_of(settings),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2 and option in result.stderr and reason in result.stderr
    assert not (tmp_path / "export").exists()
