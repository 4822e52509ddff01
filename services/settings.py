"""Every setting Crossview reads, from the environment (prefix ``CROSSVIEW_``), with safe local defaults."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from channels.webhook_fields import MAX_JSON_DEPTH
from schemas.events import DOMAIN, INTERACTIONS


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
    session_timeout_ms: int = Field(
        10_000, ge=6_000, description="How soon the group notices a dead projector and hands its partitions over."
    )
    log_level: str = "INFO"

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

    def topic(self, stream: str) -> str:
        return f"{self.namespace}.{stream}"

    @property
    def event_topics(self) -> list[str]:
        """The person-scoped topics the projector follows."""
        return [self.topic(INTERACTIONS), self.topic(DOMAIN)]

    @property
    def dead_letter_topic(self) -> str:
        return self.topic("deadletter")

    @property
    def projector_group(self) -> str:
        return f"{self.namespace}.person-view"
