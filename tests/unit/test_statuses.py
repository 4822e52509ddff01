"""One vocabulary past the edge: every provider status maps to a canonical one, and the timeline,
consent and campaign indicators read one table, for new events and for events from before the
canonical status was carried."""

from datetime import UTC, datetime

import pytest

from projections.campaigns import campaign_rows
from projections.facts import Fact
from projections.person_view import reachability_change, status_stage
from schemas.events import CallInteraction, EmailInteraction, SmsInteraction
from schemas.statuses import CANONICAL_STATUSES, MEANINGS, PROVIDER_STATUSES, canonical, meaning

EVERY_PROVIDER_STATUS = [(p, raw) for p, statuses in PROVIDER_STATUSES.items() for raw in statuses]

# What each provider's documentation lists (as its parser reports it): none may fall to "other".
DOCUMENTED = {
    "twilio": "accepted scheduled queued sending sent delivered undelivered failed receiving received read "
    "initiated ringing in-progress completed busy no-answer canceled",
    "vonage": "accepted buffered delivered expired failed rejected received",
    "sendgrid": "processed dropped delivered deferred bounce open click spamreport unsubscribe "
    "group_unsubscribe group_resubscribe",
    "mailgun": "accepted delivered bounce failed opened clicked unsubscribed complained rejected",
    "ses": "sent delivered bounce complained opened clicked reject renderingfailure deliverydelay",
    "connect": "initiated queued in-progress answered completed wrapped-up",
    "asterisk": "ringing in-progress completed note",
    "segment": "received",
}


def test_the_table_gives_every_canonical_status_a_meaning_and_nothing_else():
    assert set(MEANINGS) == set(CANONICAL_STATUSES)


@pytest.mark.parametrize(("provider", "raw"), EVERY_PROVIDER_STATUS)
def test_every_provider_status_maps_to_a_canonical_one(provider, raw):
    assert canonical(provider, raw) in CANONICAL_STATUSES


@pytest.mark.parametrize(("provider", "raw"), [(p, s) for p, names in DOCUMENTED.items() for s in names.split()])
def test_no_documented_provider_status_is_left_unmapped(provider, raw):
    assert raw in PROVIDER_STATUSES[provider]
    assert canonical(provider, raw) != "other"


def test_a_status_nobody_mapped_yet_is_other_and_changes_nothing():
    assert canonical("twilio", "teleported") == "other"
    assert meaning("other") == (1, None, None, None)


def test_a_mailgun_temporary_failure_is_a_delay_never_a_bounce():
    # Mailgun retries a temporary failure: the address is fine, the campaign did not bounce.
    assert canonical("mailgun", "failed") == "deferred"
    assert canonical("mailgun", "bounce") == "bounced"
    assert meaning("deferred").reachable is None and meaning("deferred").indicator is None


def test_a_blocked_bounce_is_a_soft_bounce_whoever_reports_it():
    assert canonical("sendgrid", "bounce", "blocked") == "soft-bounced"
    assert canonical("ses", "bounce", "blocked") == "soft-bounced"
    assert canonical("ses", "bounce", "bounce") == "bounced"


def _email(status: str, canonical_status: str | None, provider: str = "sendgrid") -> EmailInteraction:
    return EmailInteraction(
        direction="outbound",
        provider=provider,
        provider_id="msg-1",
        status=status,
        canonical_status=canonical_status,
        address="fabien@fabulous-garden.example",
        campaign="spring-promo",
        reason="No such mailbox",
    )


def _fact(data) -> Fact:
    at = datetime(2026, 11, 20, 10, tzinfo=UTC)
    return Fact("e1", data.event_type, "fabien", at, data, data.model_dump_json().encode(), "interactions", 0, 0)


@pytest.mark.parametrize(("provider", "raw"), EVERY_PROVIDER_STATUS)
def test_an_old_event_without_the_canonical_status_reads_as_a_new_one(provider, raw):
    old = _email(raw, None, provider)
    new = _email(raw, canonical(provider, raw), provider)
    assert old.lifecycle == new.lifecycle
    assert reachability_change(old) == reachability_change(new)
    assert campaign_rows([_fact(old)]) == campaign_rows([_fact(new)])


@pytest.mark.parametrize("status", CANONICAL_STATUSES)
def test_the_fold_consent_and_indicators_read_one_table(status):
    said = MEANINGS[status]
    data = _email(status, status, provider="mailgun")
    change = reachability_change(data)
    assert (change is None) == (said.reachable is None)
    if change is not None:
        assert change[0] is said.reachable and change[1].startswith(said.reason)
    rows = campaign_rows([_fact(data)])
    assert {indicator for _, _, indicator, _ in rows} == {"sent"} | ({said.indicator} if said.indicator else set())
    for provider, statuses in PROVIDER_STATUSES.items():
        for raw, mapped in statuses.items():
            if mapped == status:
                assert status_stage(f"email:{provider}:msg-1", raw) == said.stage


def test_a_mailgun_temporary_failure_on_the_log_from_before_is_read_right():
    # Written before the canonical status existed: Mailgun's parser said "failed" for a temporary one.
    old = _email("failed", None, "mailgun")
    assert reachability_change(old) is None
    assert {i for _, _, i, _ in campaign_rows([_fact(old)])} == {"sent"}
    assert status_stage("email:mailgun:msg-1", "failed") < status_stage("email:mailgun:msg-1", "delivered")


def test_sms_and_call_statuses_of_the_same_word_mean_the_same():
    sms = SmsInteraction(
        direction="outbound",
        provider="twilio",
        provider_id="SM1",
        status="undelivered",
        from_number="+33100000000",
        to_number="+33611223344",
    )
    call = CallInteraction(
        direction="outbound",
        provider="twilio",
        provider_id="CA1",
        status="failed",
        from_number="+33100000000",
        to_number="+33611223344",
    )
    assert sms.lifecycle == call.lifecycle == "failed"
