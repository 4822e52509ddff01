"""An operator whose database is not where the settings say gets a sentence saying what to do."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.live import ROOT, env_of


def test_serve_with_no_database_says_which_and_what_to_do(settings):
    env = {**env_of(settings), "CROSSVIEW_DATABASE_URL": "postgresql://crossview:s3cret@127.0.0.1:1/crossview"}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", "--port", "8799"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert "PostgreSQL at 127.0.0.1:1/crossview does not answer" in done.stderr
    assert "make services" in done.stderr and "CROSSVIEW_DATABASE_URL" in done.stderr
    assert "Traceback" not in done.stderr and "s3cret" not in done.stderr


def test_serve_refuses_default_credentials_unless_told_it_is_a_local_trial():
    env = {"PATH": "/usr/bin:/bin", "CROSSVIEW_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "serve", "--port", "8798"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "the database password is the default one" in done.stderr
    assert "CROSSVIEW_AUTH_JWKS_URL" in done.stderr and "CROSSVIEW_AUTH_SIGNING_KEY" in done.stderr
    assert "CROSSVIEW_LOCAL_TRIAL=1" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("arguments", "said"),
    [
        (["export", "--to", "{tmp}/x", "--until", "9999-12-31T23:59:59-05:00"], "out of range once in UTC"),
        (["replay", "--until", "0001-01-01T00:00:00+05:00", "--into", "x"], "out of range once in UTC"),
        (["export", "--to", "{tmp}/x", "--since", "2026-12-01", "--until", "2026-11-01"], "is after --until"),
        (["replay", "--from", "2026-12-01", "--until", "2026-11-01", "--into", "x"], "is after --until"),
        (["export", "--to", "{tmp}/x", "--types", "nosuchtype"], "unknown event types or families: nosuchtype"),
        (["export", "--to", "{tmp}/x", "--workers", "0"], "1 or more"),
        (["replay", "--until", "2026-11-01", "--into", "x", "--workers", "-3"], "1 or more"),
        (["replay", "--until", "2026-11-01", "--into", "x" * 64], "63 characters at most"),
        (["export", "--to", "{tmp}/a-file"], "cannot write the export to"),
    ],
)
def test_a_users_mistake_on_the_command_line_is_a_sentence_and_exit_2(settings, tmp_path, arguments, said):
    (tmp_path / "a-file").write_text("not a directory")
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", *(a.replace("{tmp}", str(tmp_path)) for a in arguments)],
        env=env_of(settings),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert said in done.stderr and "Traceback" not in done.stderr
