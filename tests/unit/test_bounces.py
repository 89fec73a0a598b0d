"""Bounces: the signed VERP return path, reading delivery status notifications as MTAs send
them (RFC 3464, in Postfix's shape), and the soft bounce limit's setting."""
from __future__ import annotations

import email
import email.policy

import pytest

from mailup_soap.config import ConfigurationError, load_settings
from mailup_soap.domain.bounces import Bounce, Verdict, classify, read_verp, verp_address
from tests.bounce_samples import dsn

SECRET = "s3cret"


def parsed(text: str) -> email.message.Message:
    return email.message_from_bytes(text.encode(), policy=email.policy.default)


@pytest.mark.parametrize(("action", "status", "verdict"), [
    ("failed", "5.1.1", Verdict(Bounce.HARD, "5.1.1")),
    ("failed", "5.7.1 (blocked)", Verdict(Bounce.HARD, "5.7.1")),
    ("Failed", "5.2.2", Verdict(Bounce.HARD, "5.2.2")),
    ("delayed", "4.4.1", Verdict(Bounce.SOFT, "4.4.1")),
    # gave up on a transient failure: not a dead address
    ("failed", "4.2.2", Verdict(Bounce.SOFT, "4.2.2")),
    ("delayed", "", Verdict(Bounce.SOFT, "")),
    ("delivered", "2.0.0", Verdict(Bounce.NONE)),
    ("relayed", "2.0.0", Verdict(Bounce.NONE)),
])
def test_a_delivery_status_notification_is_hard_soft_or_nothing(
        action: str, status: str, verdict: Verdict) -> None:
    assert classify(parsed(dsn(action, status))) == verdict


def test_a_bounce_without_a_delivery_status_part_is_not_read_as_one() -> None:
    free_text = ("From: postmaster@mx.example\r\nSubject: failure notice\r\n\r\n"
                 "Sorry, we were unable to deliver your message: 550 5.1.1 user unknown\r\n")

    assert classify(parsed(free_text)) == Verdict(Bounce.NONE)
    assert classify(parsed(dsn("failed", "5.1.1", report_type="text/plain"))) == Verdict(
        Bounce.NONE)


def test_the_return_path_carries_the_ids_signed_with_the_secret() -> None:
    address = verp_address(SECRET, 12, 345, "shop.example")

    assert address.startswith("bounces+12-345-") and address.endswith("@shop.example")
    assert len(address.split("@")[0]) <= 64
    assert read_verp(SECRET, address) == (12, 345)
    assert read_verp(SECRET, address.upper()) == (12, 345)  # an MTA may fold the case
    assert read_verp(SECRET, f"Bounces <{address}>") == (12, 345)


def test_a_forged_or_foreign_return_path_is_not_ours() -> None:
    address = verp_address(SECRET, 12, 345, "shop.example")
    tag = address.split("-")[2].split("@")[0]

    assert read_verp("another secret", address) is None
    assert read_verp(SECRET, f"bounces+12-346-{tag}@shop.example") is None
    assert read_verp(SECRET, "bounces+12-345@shop.example") is None  # the unsigned old form
    assert read_verp(SECRET, "ann@example.test") is None
    assert read_verp(SECRET, "") is None


def test_the_soft_bounce_limit_is_read_and_a_malformed_one_refused() -> None:
    base = {"DATABASE_URL": "postgresql://u@h/db"}

    assert load_settings(base).soft_bounce_limit == 5
    assert load_settings(base | {"MAILUP_SOFT_BOUNCE_LIMIT": "0"}).soft_bounce_limit == 0
    with pytest.raises(ConfigurationError, match="MAILUP_SOFT_BOUNCE_LIMIT"):
        load_settings(base | {"MAILUP_SOFT_BOUNCE_LIMIT": "many"})
