"""Bounces piped in by the MTA (`mailup-soap inbound-mail`): a newsletter delivered by a real
worker through a real SMTP server on loopback, then delivery status notifications sent back
to the return path it was delivered with."""
from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

import pytest
import sqlalchemy as sa

from mailup_soap.config import Settings
from tests.bounce_samples import dsn
from tests.conftest import AccountInfo, SmtpSink
from tests.e2e.conftest import ServiceFactory, login, parse
from tests.e2e.send_helpers import (
    html_part,
    new_list,
    newsletter_sent,
    query,
    request,
    subscribe,
)

pytestmark = pytest.mark.e2e

CLI = os.path.join(os.path.dirname(sys.executable), "mailup-soap")


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.test"


def _pipe(settings: Settings, mail: str, *args: str, soft_limit: int = 5) -> str:
    env = dict(os.environ, DATABASE_URL=settings.database_url,
               MAILUP_SECRET_KEY=settings.secret_key, MAILUP_SOFT_BOUNCE_LIMIT=str(soft_limit))
    done = subprocess.run([CLI, "inbound-mail", *args], input=mail, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_hard_bounce_unsubscribes_with_reason_8_and_a_soft_or_forged_one_changes_nothing(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = new_list(soap, key)
    ann, bob = _email("ann"), _email("bob")
    ann_id = subscribe(engine, account.console_id, list_id, ann)
    bob_id = subscribe(engine, account.console_id, list_id, bob)
    message_id = newsletter_sent(soap, key, list_id, "News", "<p>Hello</p>", server_settings)
    [to_ann] = smtp.to(ann)
    [to_bob] = smtp.to(bob)
    ann_path = to_ann["Return-Path"].strip("<>")
    bob_path = to_bob["Return-Path"].strip("<>")
    forged = bob_path.rsplit("-", 1)[0] + "-" + ann_path.rsplit("-", 1)[1]

    def status(rid: int) -> list[sa.Row[object]]:
        return query(engine, "SELECT status, unsubscribe_reason, optout_message_id "
                             "FROM subscriptions WHERE recipient_id = :r", r=rid)

    soft = _pipe(server_settings, dsn("delayed", "4.4.1"), "--recipient", ann_path)
    after_soft = status(ann_id)
    ignored = _pipe(server_settings, dsn("failed", "5.1.1"), "--recipient", forged)
    # Postfix's pipe transport with flag O names the recipient in X-Original-To.
    hard = _pipe(server_settings, f"X-Original-To: {ann_path}\r\n" + dsn("failed", "5.1.1"))
    again = _pipe(server_settings, dsn("failed", "5.1.1"), "--recipient", ann_path)

    assert ann_path.startswith("bounces+") and ann_path.endswith("@shop.example")
    assert soft == "soft bounce 1: recorded"
    assert after_soft == [("subscribed", None, None)]
    assert ignored == "ignored: not a return path of this server"
    assert status(bob_id) == [("subscribed", None, None)]
    assert hard == "hard bounce: unsubscribed"
    assert status(ann_id) == [("unsubscribed", 8, message_id)]
    assert again == "hard bounce: nothing to do (not subscribed)"
    assert query(engine, "SELECT type, source, reason FROM events WHERE recipient_id = :r",
                 r=ann_id) == [("unsubscribed", "Console", 8)]
    assert query(engine, "SELECT kind, status FROM bounces WHERE recipient_id = :r ORDER BY id",
                 r=ann_id) == [("soft", "4.4.1"), ("hard", "5.1.1"), ("hard", "5.1.1")]
    report = parse(soap("Report").ReportByUserEN(accessKey=key, email=ann, listID=list_id,
                                                 messageID=0))
    assert report.findtext("Channels/Email") == "Unsubscribed"
    assert report.findtext("Bounce")  # the date of the hard bounce


def test_soft_bounces_of_as_many_deliveries_as_the_limit_unsubscribe_with_reason_512(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine, smtp: SmtpSink,
        server_settings: Settings) -> None:
    key = login(soap, account, "Send")
    list_id = new_list(soap, key)
    ann = _email("ann")
    ann_id = subscribe(engine, account.console_id, list_id, ann)
    for n in (1, 2, 3):
        newsletter_sent(soap, key, list_id, f"News {n}", "<p>Hello</p>", server_settings)
    first, second, third = [(m["Return-Path"].strip("<>"), m) for m in smtp.to(ann)]

    def soft(path: str) -> str:
        return _pipe(server_settings, dsn("delayed", "4.2.2"), "--recipient", path,
                     soft_limit=2)

    outcomes = [soft(first[0]), soft(first[0])]  # the same delivery twice counts once
    pixel = re.search(r'src="([^"]*/frontend/t/o\?[^"]*)"', html_part(second[1]))
    assert pixel and request(pixel.group(1).replace("&amp;", "&")).status == 200
    # Opening a message shows the mailbox works: the soft bounces before it no longer count.
    outcomes += [soft(second[0])]
    status_before = query(engine, "SELECT status FROM subscriptions WHERE recipient_id = :r",
                          r=ann_id)
    outcomes += [soft(third[0])]

    assert outcomes == ["soft bounce 1: recorded", "soft bounce 1: recorded",
                        "soft bounce 1: recorded",
                        "soft bounce 2: unsubscribed (repeated soft bounces)"]
    assert status_before == [("subscribed",)]
    assert query(engine, "SELECT status, unsubscribe_reason FROM subscriptions "
                         "WHERE recipient_id = :r", r=ann_id) == [("unsubscribed", 512)]
    assert query(engine, "SELECT type, source, reason FROM events WHERE recipient_id = :r",
                 r=ann_id) == [("unsubscribed", "Console", 512)]
    first_delivery = int(first[1]["X-MailUp-Delivery"])
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM deliveries WHERE id = :d"), {"d": first_delivery})
    assert soft(first[0]) == "ignored: the delivery no longer exists"
    assert query(engine, "SELECT count(*) FROM bounces WHERE delivery_id = :d",
                 d=first_delivery) == [(0,)]
