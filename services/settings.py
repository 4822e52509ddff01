"""Every setting Crossview reads, from the environment (prefix ``CROSSVIEW_``), with safe local defaults."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Literal

from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.webhook_fields import MAX_JSON_DEPTH
from schemas.events import AUDIT, DOMAIN, INTERACTIONS

# Signs development tokens when no key is set: public, so a server using it is a local trial.
DEMO_SIGNING_KEY = "crossview-demo-signing-key: public, for local trials only"


def parse_api_keys(setting: str | None) -> dict[str, str]:
    """``name=sha256hex,name=sha256hex`` -> {digest: name}. Only digests are configured, never keys."""
    keys: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in (setting or "").split(","))):
        name, _, digest = entry.partition("=")
        digest = digest.strip().lower().removeprefix("sha256:")
        if not name.strip() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"CROSSVIEW_ADAPTER_KEYS: {name.strip() or entry!r} needs name=<sha256 hex of the key>")
        keys[digest] = name.strip()
    return keys


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CROSSVIEW_", frozen=True)

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, host:port[,host:port].")
    database_url: str = Field(
        "postgresql://crossview:crossview@127.0.0.1:5432/crossview", description="PostgreSQL URL of the read models."
    )
    namespace: str = Field(
        "crossview",
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Prefix of topic names and PostgreSQL schemas; lets several installs share one broker and database.",
    )
    partitions: int = Field(6, ge=1, le=1000, description="Partitions of each topic, fixed at creation.")
    ack_timeout_s: float = Field(10, gt=0, description="How long ingest waits for the broker before answering 503.")
    max_wait_ms: int = Field(10_000, ge=0, description="Upper bound of a query's wait_ms (read-your-writes).")
    journey_stall_minutes: float = Field(
        30, gt=0, description="An open journey with no step for this long shows as stalled in the 360° view."
    )
    session_timeout_ms: int = Field(
        10_000, ge=6_000, description="How soon the group notices a dead projector and hands its partitions over."
    )
    log_level: str = "INFO"
    probe_timeout_s: float = Field(
        2.0, gt=0, le=30, description="How long /readyz and /metrics wait for each of Kafka and PostgreSQL."
    )
    ready_max_relay_lag: int = Field(
        1000, ge=0, description="/readyz fails when the relay is more than this many stored events behind."
    )

    # --- who may do what ---------------------------------------------------------------------
    auth_jwks_url: str | None = Field(
        None, description="JWKS URL of the OIDC provider whose bearer tokens are accepted (RS256, ES256, EdDSA...)."
    )
    auth_issuer: str | None = Field(None, description="The `iss` the OIDC provider's tokens must carry.")
    auth_audience: str = Field("crossview", description="The `aud` every token must carry.")
    auth_roles_claim: str = Field(
        "roles", description="Claim holding the caller's roles; dotted for nested ones (Keycloak: realm_access.roles)."
    )
    trusted_proxies: str | None = Field(
        None,
        description="Addresses of the reverse proxies in front of the API, comma-separated (or *): their "
        "X-Forwarded-For and X-Forwarded-Proto are believed. Unset, none are, and the audit trail records "
        "the address that connected.",
    )
    auth_signing_key: str | None = Field(
        None,
        min_length=32,
        description="Key signing development tokens (HS256) that `crossview token` prints; "
        "unset, the embedded demo and local trials use a public demo key.",
    )
    adapter_keys: str | None = Field(
        None,
        description="API keys of the systems that publish events, as name=<sha256 hex of the key>, comma-separated "
        "(`crossview api-key NAME` makes one). They give the adapter role only.",
    )
    master_key: str | None = Field(
        None,
        description="Base64 of 32 random bytes wrapping every person's data key (crypto-shredding); unset, "
        "the embedded demo and local trials use a public demo key. Rotate it by moving the old value to "
        "CROSSVIEW_PREVIOUS_MASTER_KEY and running `crossview keys rewrap`.",
    )
    previous_master_key: str | None = Field(
        None,
        description="The master key before a rotation: still opens data keys until `crossview keys rewrap`.",
    )
    local_trial: bool = Field(
        False, description="Let `crossview serve` start with default credentials and the public demo key."
    )

    # --- channel adapters -------------------------------------------------------------------
    twilio_auth_token: str | None = Field(None, description="Twilio auth token: verifies X-Twilio-Signature.")
    sendgrid_verification_key: str | None = Field(
        None, description="SendGrid Event Webhook verification key (base64 public key from SendGrid's settings)."
    )
    vonage_signature_secret: str | None = Field(None, description="Vonage signature secret.")
    vonage_signature_method: Literal["md5hash", "md5", "sha1", "sha256", "sha512"] = Field(
        "md5hash", description="The signature method chosen in the Vonage account's API settings."
    )
    ses_topic_arns: str | None = Field(
        None, description="Comma-separated SNS topic ARNs whose SES events are accepted (others are refused)."
    )
    asterisk_secret: str | None = Field(
        None, description="Password the ARI event forwarder sends with HTTP Basic (any user name)."
    )
    connect_api_key: str | None = Field(
        None,
        description="Secret of the EventBridge connection posting Amazon Connect events: "
        "its X-Api-Key header, or its HTTP Basic password.",
    )
    mailgun_signing_key: str | None = Field(None, description="Mailgun HTTP webhook signing key.")
    sendgrid_parse_verification_key: str | None = Field(
        None,
        description="SendGrid Inbound Parse: the public key (base64 DER) of the Parse webhook's security policy, "
        "with signature verification enabled; inbound emails open service requests.",
    )
    segment_write_key: str | None = Field(
        None, description="Write key of the Segment source (HTTP Basic user name of Segment-compatible libraries)."
    )
    webhook_max_age_s: int = Field(
        600, ge=0, description="Signed webhooks whose timestamp is older than this are refused (replays); 0: no limit."
    )
    public_base_url: str | None = Field(
        None,
        description="The URL providers call (e.g. https://crm.example.org), when a proxy sits in front; "
        "signatures are computed over it.",
    )
    insecure_skip_signatures: bool = Field(
        False, description="Accept unsigned webhooks, for local trials only: never in production."
    )
    default_country_code: str = Field(
        "33", pattern=r"^[1-9]\d{0,2}$", description="Country calling code for phone numbers written nationally."
    )
    max_webhook_bytes: int = Field(1_000_000, ge=1_000, description="Larger webhook bodies are refused unread.")
    max_body_bytes: int = Field(
        5_000_000,
        ge=1_000,
        description="Larger bodies of every other route (commands, queries, ingest) are refused unread.",
    )
    max_json_depth: int = Field(
        MAX_JSON_DEPTH,
        ge=2,
        le=200,
        description="JSON bodies nested deeper than this are refused before any parser reads them.",
    )

    @field_validator("master_key", "previous_master_key")
    @classmethod
    def _master_key_is_32_bytes(cls, value: str | None) -> str | None:
        if value is not None and len(_b64(value)) != 32:
            raise ValueError("must be the base64 of 32 random bytes (e.g. `openssl rand -base64 32`)")
        return value

    @property
    def master_key_bytes(self) -> bytes:
        return _b64(self.master_key) if self.master_key else hashlib.sha256(DEMO_SIGNING_KEY.encode()).digest()

    @property
    def previous_master_key_bytes(self) -> bytes | None:
        return _b64(self.previous_master_key) if self.previous_master_key else None

    @field_validator("adapter_keys")
    @classmethod
    def _adapter_keys_parse(cls, value: str | None) -> str | None:
        parse_api_keys(value)  # raises, naming the entry, when one is not name=<sha256 hex>
        return value

    @property
    def development_signing_key(self) -> str | None:
        """The key of development tokens: the configured one, else the public demo key — unless an OIDC
        provider is configured, whose tokens are then the only ones accepted."""
        if self.auth_signing_key:
            return self.auth_signing_key
        return None if self.auth_jwks_url else DEMO_SIGNING_KEY

    def insecure_defaults(self) -> list[str]:
        """What a real deployment must not run with; `serve` refuses it unless this is a local trial."""
        problems = []
        if conninfo_to_dict(self.database_url).get("password") == "crossview":
            problems.append("the database password is the default one: set CROSSVIEW_DATABASE_URL")
        if not self.auth_jwks_url and not self.auth_signing_key:
            problems.append(
                "no key verifies bearer tokens: set CROSSVIEW_AUTH_JWKS_URL (and CROSSVIEW_AUTH_ISSUER) for an "
                "OIDC provider, or CROSSVIEW_AUTH_SIGNING_KEY (32+ characters) for development tokens"
            )
        if self.auth_signing_key == DEMO_SIGNING_KEY:
            problems.append("CROSSVIEW_AUTH_SIGNING_KEY is the public demo key: choose a secret one")
        if not self.master_key:
            problems.append(
                "no master key wraps the people's data keys: set CROSSVIEW_MASTER_KEY (base64 of 32 random bytes)"
            )
        if self.auth_jwks_url and not self.auth_issuer:
            problems.append("CROSSVIEW_AUTH_JWKS_URL needs CROSSVIEW_AUTH_ISSUER (the provider's `iss`)")
        return problems

    def topic(self, stream: str) -> str:
        return f"{self.namespace}.{stream}"

    @property
    def event_topics(self) -> list[str]:
        """The topics the projector follows (person-scoped but for a few audit records)."""
        return [self.topic(INTERACTIONS), self.topic(DOMAIN), self.topic(AUDIT)]

    @property
    def dead_letter_topic(self) -> str:
        return self.topic("deadletter")

    @property
    def projector_group(self) -> str:
        return f"{self.namespace}.person-view"


def _b64(value: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError("is not base64") from error
