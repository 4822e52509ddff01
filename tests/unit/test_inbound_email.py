"""Inbound email as SendGrid Inbound Parse and Mailgun routes post it: the fields each provider
names, the Message-ID wherever it is, and what is refused naming the field."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

import pytest

from channels import inbound_email
from channels.webhook_fields import PayloadError

INBOUND = Path(__file__).parents[1] / "fixtures" / "inbound"
MULTIPART = "multipart/form-data; boundary=xYzZY"


def sendgrid_fields() -> dict[str, str]:
    return inbound_email.form(MULTIPART, (INBOUND / "sendgrid_parse.multipart").read_bytes())


def mailgun_fields() -> dict[str, str]:
    return json.loads((INBOUND / "mailgun_route.json").read_text())


def test_a_sendgrid_parse_post_gives_the_sender_the_message_id_and_the_text_attachments_left_out():
    fields = sendgrid_fields()
    assert "attachment1" not in fields and fields["attachments"] == "1"
    email = inbound_email.parse_sendgrid(fields)
    assert (email.sender, email.message_id) == (
        "tresorier@croissance-plus.example",
        "CAFbX0n4Q9+treso-2026-11-30@mail.croissance-plus.example",
    )
    assert email.recipients == ("reclamation+complaint@support.crossview.example",)
    assert email.subject == "Facture de cotisation en double" and "prélevée deux fois" in email.text
    assert email.at.isoformat() == "2026-11-30T08:14:05+00:00"  # its Date header, in UTC


def test_a_sendgrid_send_raw_post_is_read_from_the_whole_message():
    raw = (
        "From: Fabien Bellemare <tresorier@croissance-plus.example>\r\nTo: support@crm.example\r\n"
        "Subject: Raw\r\nMessage-ID: <raw-1@croissance-plus.example>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
        "Le texte brut.\r\n"
    )
    email = inbound_email.parse_sendgrid(
        {"from": "tresorier@croissance-plus.example", "email": raw, "to": "support@crm.example"}
    )
    assert (email.message_id, email.subject, email.text) == ("raw-1@croissance-plus.example", "Raw", "Le texte brut.")


def test_a_message_without_message_id_gets_the_same_digest_each_time_it_is_posted():
    fields = {**sendgrid_fields(), "headers": "Subject: no id\n"}
    first, again = inbound_email.parse_sendgrid(fields), inbound_email.parse_sendgrid(dict(fields))
    assert first.message_id.startswith("digest:") and first.message_id == again.message_id


def test_a_mailgun_route_post_reads_the_same_form_encoded_or_multipart():
    fields = mailgun_fields()
    encoded = inbound_email.form("application/x-www-form-urlencoded", urlencode(fields).encode())
    email = inbound_email.parse_mailgun(encoded)
    assert (email.sender, email.message_id) == (
        "fabien@fabulous-garden.example",
        "20261130101500.1.FAB@mail.fabulous-garden.example",
    )
    assert email.text == "Bonjour,\n\nLe contrat d'entretien couvre-t-il les serres ?"  # stripped of the quote
    assert "question@support.crossview.example" in email.recipients
    without = {k: v for k, v in fields.items() if k != "Message-Id"}  # then from message-headers
    assert inbound_email.parse_mailgun(without).message_id == email.message_id


@pytest.mark.parametrize(
    ("content_type", "body", "field"),
    [
        ("application/json", b"{}", "header.content-type"),
        ("multipart/form-data", b"--x--", "header.content-type"),  # no boundary
    ],
)
def test_what_is_not_a_form_is_refused_naming_the_header(content_type, body, field):
    with pytest.raises(PayloadError) as refused:
        inbound_email.form(content_type, body)
    assert refused.value.field == field


def test_no_sender_address_is_refused_naming_the_field():
    with pytest.raises(PayloadError, match="from"):
        inbound_email.parse_sendgrid({"from": "nobody", "envelope": "{}"})
    with pytest.raises(PayloadError, match="from"):
        inbound_email.parse_mailgun({"from": "", "sender": "not an address"})
    with pytest.raises(PayloadError, match="envelope"):
        inbound_email.parse_sendgrid({"from": "", "envelope": "not json"})


@pytest.mark.parametrize("date", ["Fri, 31 Dec 9999 23:59:59 -0100", "not a date", "Fri, 31 Dec 2026 23:59:59"])
def test_a_date_header_out_of_range_once_in_utc_or_unreadable_gives_the_arrival_time(date):
    sendgrid = {**sendgrid_fields(), "headers": f"Message-ID: <d@x.example>\nDate: {date}\n"}
    mailgun = {**mailgun_fields(), "Date": date}
    for email in (inbound_email.parse_sendgrid(sendgrid), inbound_email.parse_mailgun(mailgun)):
        assert email.at.tzinfo is not None and email.at.year >= 2026
