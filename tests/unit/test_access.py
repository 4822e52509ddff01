"""The door: every operation answers its declared roles and no other, whatever the credentials.

The matrix is generated from the OpenAPI document, so an operation added tomorrow is tried too, and
one that declares no access cannot even be built.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from services.application.auth import DEV_ISSUER, Role, api_key_digest
from services.bootstrap import embedded
from services.http.access import check_every_route_declares_access
from services.http.app import create_app
from services.settings import DEMO_SIGNING_KEY, Settings
from tests.tokens import bearer

ADAPTER_KEY = "cvk_test-adapter-key-for-the-matrix"
SETTINGS = Settings(adapter_keys=f"crm-sync={api_key_digest(ADAPTER_KEY)}")


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(lambda: embedded(SETTINGS))) as client:
        yield client


def _operations() -> list[tuple[str, str, list[str]]]:
    with TestClient(create_app(lambda: embedded(SETTINGS, with_demo=False))) as client:
        document = client.get("/openapi.json").json()
    return [
        (method.upper(), path, operation.get("x-crossview-roles"))
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    ]


OPERATIONS = _operations()
GUARDED = [(m, p, roles) for m, p, roles in OPERATIONS if roles not in (["public"], ["provider-signature"])]
CREDENTIALS = {role.value: bearer(role) for role in Role} | {"api-key": {"X-Api-Key": ADAPTER_KEY}}


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]):
    url = path.replace("{person_id}", "7d6c0d8e-59c7-4ad5-9b0e-1c4d2a8f3e10").replace(
        "{organisation_id}", "0b9f0d3c-2a8e-4f1b-8c77-5e6d4a3b2c1d"
    )
    for name in ("function_id", "absorbed_id", "name", "code", "attribute", "campaign"):
        url = url.replace("{" + name + "}", "3c1e7a52-8f0d-4b6e-a9d2-6f5b4c3a2e1d" if name.endswith("_id") else "x")
    body = None if method in ("GET", "DELETE") else {}
    return client.request(method, url, json=body, headers=headers)


def test_every_operation_says_who_may_call_it():
    assert OPERATIONS and all(roles for _, _, roles in OPERATIONS), [o for o in OPERATIONS if not o[2]]
    assert len(GUARDED) >= 24


@pytest.mark.parametrize(("method", "path", "roles"), GUARDED, ids=[f"{m} {p}" for m, p, _ in GUARDED])
def test_an_operation_answers_its_roles_and_refuses_everyone_else(client, method, path, roles):
    anonymous = _call(client, method, path, {})
    assert anonymous.status_code == 401, anonymous.text
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"] == "application/problem+json"
    for who, headers in CREDENTIALS.items():
        holds = (who == "api-key" and "adapter" in roles) or who in roles
        answer = _call(client, method, path, headers)
        if holds:
            assert answer.status_code not in (401, 403), (who, answer.text)
        else:
            assert answer.status_code == 403, (who, answer.status_code, answer.text)
            assert "needs the role" in answer.json()["detail"]


def test_public_operations_need_no_credentials(client):
    public = [(m, p) for m, p, roles in OPERATIONS if roles == ["public"]]
    assert ("GET", "/v1/health") in public
    for method, path in public:
        # answered without credentials: the console's sign-in refuses an empty body (422), and no more
        assert _call(client, method, path, {}).status_code in (200, 204, 422), (method, path)
    assert ("POST", "/v1/console/session") in public and ("GET", "/sign-in") in public
    client.cookies.clear()  # the demo's one-click sign-in left its session: the other tests send their own


def test_a_route_that_declares_no_access_cannot_be_built():
    app, router = FastAPI(), APIRouter()

    @router.get("/v1/secrets")
    def secrets() -> dict:
        return {}

    app.include_router(router)
    with pytest.raises(RuntimeError, match="/v1/secrets declares no access"):
        check_every_route_declares_access(app)


def test_credentials_are_checked_before_the_body_is_read(client):
    garbage = b"[" * 100_000 + b"\xff"  # unparsable, and deep: never looked at without credentials
    assert client.post("/v1/events", content=garbage).status_code == 401
    assert client.post("/v1/events", content=garbage, headers=bearer(Role.ADVISOR)).status_code == 403


def _token(claims: dict, key: str = DEMO_SIGNING_KEY, algorithm: str = "HS256", **headers) -> dict[str, str]:
    now = int(time.time())
    base = {"sub": "mallory", "roles": ["admin"], "iss": DEV_ISSUER, "aud": "crossview", "iat": now, "exp": now + 60}
    token = jwt.encode({**base, **claims}, key, algorithm=algorithm, headers=headers or None)
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize(
    "headers",
    [
        _token({"exp": int(time.time()) - 3600}),
        _token({}, key="another-key-that-is-long-enough-for-hs256!"),
        _token({"aud": "somebody-else"}),
        _token({"iss": "https://idp.example"}),
        {"Authorization": "Bearer " + jwt.encode({"sub": "mallory", "roles": ["admin"]}, None, algorithm="none")},
        {"Authorization": "Bearer not.a.token"},
        {"Authorization": "Basic YWRtaW46YWRtaW4="},
        {"X-Api-Key": "cvk_guessed"},
    ],
    ids=["expired", "other-key", "other-audience", "other-issuer", "alg-none", "garbage", "basic", "unknown-key"],
)
def test_credentials_that_do_not_verify_get_401(client, headers):
    answer = client.get("/v1/titles", headers=headers)
    assert answer.status_code == 401, answer.text


def test_a_token_without_a_known_role_gets_403(client):
    assert client.get("/v1/titles", headers=_token({"roles": ["superuser"]})).status_code == 403


def test_an_adapter_key_publishes_and_reads_nothing(client):
    assert client.post("/v1/events", json={}, headers={"X-Api-Key": ADAPTER_KEY}).status_code == 422  # let in
    assert client.get("/v1/titles", headers={"X-Api-Key": ADAPTER_KEY}).status_code == 403


def test_adapter_keys_are_configured_as_digests_and_a_bad_entry_is_named():
    with pytest.raises(ValueError, match="'crm-sync' needs name=<sha256 hex of the key>"):
        Settings(adapter_keys="crm-sync=the-key-itself")


def _hs256(claims: dict, secret: bytes) -> str:
    """A token signed by hand, as an attacker would who holds only public material."""

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = json.dumps({"alg": "HS256", "typ": "JWT"}).encode()
    signing_input = f"{part(header)}.{part(json.dumps(claims).encode())}"
    return f"{signing_input}.{part(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())}"


class _Jwks:
    """A JWKS endpoint on the loopback, as an OIDC provider serves it."""

    def __init__(self) -> None:
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        document = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the standard library's name
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(document)

            def log_message(self, *args) -> None:
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/jwks.json"

    def token(self, claims: dict) -> dict[str, str]:
        now = int(time.time())
        base = {"sub": "alice", "iss": "https://idp.example", "aud": "crossview", "iat": now, "exp": now + 60}
        return {"Authorization": f"Bearer {jwt.encode({**base, **claims}, self.private, 'RS256', {'kid': 'k1'})}"}


def test_tokens_of_an_oidc_provider_are_verified_against_its_jwks():
    provider = _Jwks()
    settings = Settings(auth_jwks_url=provider.url, auth_issuer="https://idp.example", auth_roles_claim="realm.roles")
    try:
        with TestClient(create_app(lambda: embedded(settings, with_demo=False))) as client:
            assert (
                client.get("/v1/titles", headers=provider.token({"realm": {"roles": ["analyst"]}})).status_code == 200
            )
            assert (
                client.get("/v1/search?q=x", headers=provider.token({"realm": {"roles": ["analyst"]}})).status_code
                == 403
            )
            assert client.get("/v1/titles", headers=provider.token({"iss": "https://evil.example"})).status_code == 401
            # With a provider configured, the public demo key signs nothing any more.
            assert client.get("/v1/titles", headers=bearer(Role.ADMIN)).status_code == 401
            # Nor does the provider's public key turned into an HMAC secret (algorithm confusion).
            public_pem = provider.private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            claims = {"sub": "m", "roles": ["admin"], "iss": "https://idp.example", "aud": "crossview"}
            forged = _hs256({**claims, "exp": int(time.time()) + 60}, public_pem)
            assert client.get("/v1/titles", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    finally:
        provider.server.shutdown()


def test_personal_data_is_for_advisors_and_admins_and_analysts_only_read_it():
    personal = [
        (m, p, r) for m, p, r in GUARDED if any(w in p for w in ("/persons", "/search", "/targetings", "/people"))
    ]
    assert len(personal) >= 14
    for method, path, roles in personal:
        assert set(roles) <= {"advisor", "admin", "analyst"}, (method, path, roles)
        if "analyst" in roles:  # and then pseudonymised: tests/unit/test_pseudonyms.py
            assert method == "GET" or path == "/v1/targetings", (method, path)
    assert ("GET", "/v1/search") not in [(m, p) for m, p, r in personal if "analyst" in r]  # names are not queries
