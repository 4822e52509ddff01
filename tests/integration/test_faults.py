"""Faults survived by themselves: PostgreSQL restarted, the broker restarted, an API process and the
relay killed mid-work. Real processes on real services; the test restarts nothing but the service
it took away (or the killed process, as a supervisor would). Each ends with the same check: every
view equals the pure fold of every distinct event, nothing lost, nothing doubled."""

from __future__ import annotations

import random
import signal
import time

import psycopg
from psycopg import sql

from services.bootstrap import create_topics, event_store
from tests.faults import Api, Load, assert_nothing_lost_or_doubled, log_ids, relay_caught_up
from tests.live import SpareBroker, SparePostgres, crossview_process, wait_until


def alive(*processes) -> bool:
    return all(p.poll() is None for p in processes)


def test_postgresql_restarted_mid_stream_projector_relay_and_api_carry_on_by_themselves(settings, tmp_path):
    database = SparePostgres()
    database.start()
    settings = settings.model_copy(update={"database_url": database.url})
    api = Api(settings, tmp_path / "api.log")
    projector = crossview_process(settings, "projector", log=tmp_path / "projector.log")
    load = None
    try:
        api.start()
        load = Load(api.url, seed=21)
        load.start()
        time.sleep(4)
        database.stop("immediate")  # connections cut, as in a crash
        # Commands wait for the event store about 12 s, then answer 503: keep it down until they do.
        wait_until(lambda: load.unavailable > 0, 60, "a command refused while PostgreSQL is down")
        during = load.commands
        database.start()
        wait_until(lambda: load.commands > during + 20, 60, "commands to succeed again after the restart")
        load.finish()

        assert not load.unexpected, load.unexpected[:5]  # ...with a 503 problem, never a 500
        assert alive(api.process, projector), (tmp_path / "projector.log").read_text()[-3000:]
        verdict = assert_nothing_lost_or_doubled(settings, load)
        assert verdict.stored > 40 and verdict.interactions > 40
    finally:
        if load is not None:
            load.finish()
        api.stop()
        projector.terminate()
        projector.wait(timeout=30)
        database.remove()


def test_the_broker_restarted_under_the_relay_and_the_projector_both_resume_by_themselves(settings, tmp_path):
    broker = SpareBroker(tmp_path / "spare-broker")
    broker.start()
    settings = settings.model_copy(update={"kafka_bootstrap": broker.bootstrap, "ack_timeout_s": 3})
    create_topics(settings)
    relay = crossview_process(settings, "relay", log=tmp_path / "relay.log")
    projector = crossview_process(settings, "projector", log=tmp_path / "projector.log")
    app = event_store(settings)
    try:
        people = [app.register_person("Fabien", f"Bellemare {n}") for n in range(30)]
        time.sleep(3)
        broker.kill()
        for n, person in enumerate(people):  # stored while the broker is away: relayed once it is back
            app.set_attribute(person, "mobile_phone", f"+3361{n:07d}")
        broker.start()
        for person in people:
            app.rename_person(person, "Fabien", "Bellemare-Dupont")
        assert alive(relay, projector)
        verdict = assert_nothing_lost_or_doubled(settings, None)
        assert verdict.people == 30 and verdict.stored >= 90
        assert alive(relay, projector), (tmp_path / "relay.log").read_text()[-3000:]
    finally:
        app.close()
        for process in (relay, projector):
            process.terminate()
            process.wait(timeout=30)
        broker.kill()


def test_an_api_process_killed_in_the_middle_of_commands_leaves_no_half_stored_command(settings, tmp_path):
    api = Api(settings, tmp_path / "api.log")
    projector = crossview_process(settings, "projector", log=tmp_path / "projector.log")
    rng = random.Random()
    load = None
    try:
        api.start()
        load = Load(api.url, seed=22, pause_s=0)
        load.start()
        for _kill in range(3):
            time.sleep(rng.uniform(1.0, 2.5))
            api.process.send_signal(signal.SIGKILL)
            api.process.wait()
            api.start()  # a new process carries on (what a supervisor does)
        time.sleep(1)
        load.finish()
        assert load.cut > 0  # requests really were in flight when the processes died
        assert not load.unexpected, load.unexpected[:5]
        verdict = assert_nothing_lost_or_doubled(settings, load)  # also: no half-stored command
        assert verdict.stored > 20
    finally:
        if load is not None:
            load.finish()
        api.stop()
        projector.terminate()
        projector.wait(timeout=30)


def test_a_relay_killed_between_publish_and_record_is_followed_by_one_that_republishes_and_nothing_doubles(
    settings, tmp_path
):
    projector = crossview_process(settings, "projector", log=tmp_path / "projector.log")
    app = event_store(settings)
    log = tmp_path / "relay.log"
    relay = crossview_process(settings, "relay", log=log)
    try:
        people = [app.register_person("Fabien", f"Bellemare {n}") for n in range(20)]
        wait_until(lambda: len(log_ids(settings)) >= 20, 60, "the first relay to publish")
        for kill in range(3):
            # The previous relay's successor first republishes and records what it inherited.
            wait_until(lambda: relay_caught_up(settings, app), 60, "the new relay to record its position")
            with psycopg.connect(settings.database_url) as conn:
                # Hold the relay's position row: the relay publishes, then waits to record. Killed there.
                conn.execute(
                    sql.SQL("SELECT * FROM {} FOR UPDATE").format(
                        sql.Identifier(f"{settings.namespace}_meta", "relay_position")
                    )
                )
                published = len(log_ids(settings))
                # Frozen while the changes are stored, so that its next batch holds all of them (a
                # relay polling half-way would publish a part, then wait on the row for good).
                relay.send_signal(signal.SIGSTOP)
                for n, person in enumerate(people):
                    app.set_attribute(person, "mobile_phone", f"+3362{kill}{n:06d}")
                relay.send_signal(signal.SIGCONT)
                wait_until(lambda: len(log_ids(settings)) >= published + 20, 60, "the relay to publish")  # noqa: B023
                relay.send_signal(signal.SIGKILL)
                relay.wait()
                # Its statement still waits for the row; PostgreSQL would end it on noticing the
                # client gone, which it only checks when told to: end it as that check would.
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE pid <> pg_backend_pid() AND wait_event_type = 'Lock' AND query LIKE %s",
                    ("%relay_position%",),
                )
            relay = crossview_process(settings, "relay", log=log)
        verdict = assert_nothing_lost_or_doubled(settings, None)
        assert verdict.duplicates_on_log >= 60  # each killed relay's last events went out twice...
        assert verdict.stored >= 80  # ...and count once in every view and timeline
    finally:
        app.close()
        for process in (relay, projector):
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
