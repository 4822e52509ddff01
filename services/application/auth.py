"""Who is calling, and in which roles: JWT bearer tokens and adapters' API keys.

Tokens come from an OIDC provider (verified against its JWKS) or, for development, are signed with a
local key (HS256) that `crossview token` shares with the server through the same settings. Systems
that only publish events hold an API key instead; it gives the ``adapter`` role and nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import jwt

# The embedded demo's signing key. It is public (it is in this file): `crossview serve` refuses it
# unless told it is a local trial.
DEV_ISSUER = "crossview-development"
ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class Role(StrEnum):
    ADAPTER = "adapter"  # publishes events, reads nothing
    ADVISOR = "advisor"  # reads people and acts on them
    ANALYST = "analyst"  # reads, personal data pseudonymised
    ADMIN = "admin"  # referentials, policy, erasure, audit
    PERSONAL_DATA = "personal-data"  # a grant, not a role: an analyst holding it sees personal data in clear


@dataclass(frozen=True)
class Caller:
    subject: str
    roles: frozenset[Role]
    via: str  # "token" or "api-key"


class Unauthenticated(Exception):
    """No credentials, or credentials that do not verify; the message says which (never whose)."""


def api_key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class Authenticator:
    """Verifies bearer tokens and API keys; knows nothing of HTTP."""

    def __init__(
        self,
        *,
        signing_key: str | None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str = "crossview",
        roles_claim: str = "roles",
        api_keys: Mapping[str, str] | None = None,
    ) -> None:
        self._signing_key = signing_key
        self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=5) if jwks_url else None
        self._issuer = issuer
        self._audience = audience
        self._roles_claim = roles_claim.split(".")
        self._api_keys = dict(api_keys or {})
        # A token verified once is trusted until it expires (five minutes at most): the same client
        # sends the same token request after request, and verifying costs more than a view's query.
        self._verified: dict[str, tuple[float, Caller]] = {}

    def from_bearer(self, token: str) -> Caller:
        known = self._verified.get(token)
        if known is not None and time.time() < known[0]:
            return known[1]
        caller, expires = self._verify(token)
        if len(self._verified) >= 10_000:
            self._verified.clear()
        self._verified[token] = (min(expires, time.time() + 300), caller)
        return caller

    def _verify(self, token: str) -> tuple[Caller, float]:
        try:
            algorithm = jwt.get_unverified_header(token).get("alg")
            if algorithm == "HS256" and self._signing_key:
                claims = self._decode(token, self._signing_key, ["HS256"], DEV_ISSUER)
            elif algorithm in ASYMMETRIC and self._jwks is not None:
                key = self._jwks.get_signing_key_from_jwt(token).key
                claims = self._decode(token, key, [algorithm], self._issuer)
            else:
                raise Unauthenticated(f"tokens signed with {algorithm!r} are not accepted here")
        except jwt.PyJWKClientError as error:
            raise Unauthenticated("the token's signing key is not known to the identity provider") from error
        except jwt.InvalidTokenError as error:
            raise Unauthenticated(f"invalid token: {error}") from error
        subject = str(claims["sub"])
        if not subject.strip() or not subject.isprintable():
            # The audit trail names every caller by it: one it could not record is no caller.
            raise Unauthenticated("the token's subject must be printable characters, not empty")
        return Caller(subject=subject, roles=self._roles(claims), via="token"), float(claims["exp"])

    def from_api_key(self, key: str) -> Caller:
        digest = api_key_digest(key)
        for known, name in self._api_keys.items():
            if hmac.compare_digest(known, digest):
                return Caller(subject=name, roles=frozenset({Role.ADAPTER}), via="api-key")
        raise Unauthenticated("unknown API key")

    def _decode(self, token: str, key: Any, algorithms: list[str], issuer: str | None) -> dict[str, Any]:
        return jwt.decode(
            token,
            key,
            algorithms=algorithms,
            audience=self._audience,
            issuer=issuer,
            options={"require": ["exp", "sub", "aud"]},
            leeway=30,
        )

    def _roles(self, claims: dict[str, Any]) -> frozenset[Role]:
        value: Any = claims
        for step in self._roles_claim:
            value = value.get(step) if isinstance(value, dict) else None
        if isinstance(value, str):
            value = value.split()
        known = {role.value for role in Role}
        return frozenset(Role(v) for v in value or () if isinstance(v, str) and v in known)


def development_token(
    signing_key: str, subject: str, roles: Iterable[Role], audience: str = "crossview", ttl_s: int = 8 * 3600
) -> str:
    """A token the server started with the same signing key accepts, for development and the demo."""
    now = int(time.time())
    claims = {
        "sub": subject,
        "roles": sorted(role.value for role in roles),
        "iss": DEV_ISSUER,
        "aud": audience,
        "iat": now,
        "exp": now + ttl_s,
    }
    return jwt.encode(claims, signing_key, algorithm="HS256")
