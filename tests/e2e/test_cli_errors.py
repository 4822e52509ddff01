"""An operator whose database is not where the settings say gets a sentence saying what to do."""

from __future__ import annotations

import subprocess
import sys

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
