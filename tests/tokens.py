"""Credentials for tests: development tokens signed with the demo key that servers built from default
settings accept (the role matrix in tests/unit/test_access.py checks each role precisely)."""

from __future__ import annotations

from services.application.auth import Role, development_token
from services.settings import DEMO_SIGNING_KEY


def bearer(*roles: Role, subject: str = "tester") -> dict[str, str]:
    return {"Authorization": f"Bearer {development_token(DEMO_SIGNING_KEY, subject, roles)}"}


EVERY_ROLE_TOKEN = development_token(DEMO_SIGNING_KEY, "tester", list(Role))
EVERY_ROLE = {"Authorization": f"Bearer {EVERY_ROLE_TOKEN}"}
