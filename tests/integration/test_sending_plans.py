"""Picking and claiming a delivery's recipients in an account the statistics do not know yet
(tests/plans.py), as right after its first big import: every recipient, subscription and
membership is a lookup. As joins, each subscription of the list read all of the account's
recipients (and, for GROUPS, the group's members for each): a send to a list of tens of
thousands took minutes before its first message."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap.db.sending_repos import SendingRepository
from mailup_soap.db.sms_repos import SmsRepository
from mailup_soap.domain.import_readers import read_csv
from mailup_soap.domain.imports import ImportOptions
from mailup_soap.domain.messages import (
    ContentType,
    Message,
    MessageOptions,
    SendOptions,
    SendTo,
)
from mailup_soap.domain.sms import SmsSendOptions
from mailup_soap.service_layer import auth, imports, lists
from mailup_soap.service_layer.deps import AccessKey, Deps
from tests import plans
from tests.conftest import AccountInfo

pytestmark = pytest.mark.integration

SUBSCRIBERS = 600  # even ones in group G, odd ones in group H
LISTED = [f"p{n}@example.test" for n in range(1, 300)]


def _list_of_subscribers(deps: Deps, engine: sa.Engine, account: AccountInfo
                         ) -> tuple[int, int, int]:
    key = AccessKey(auth.login(deps, account.console_user, account.password,
                               console_id=account.console_id))
    lst = lists.create_list(deps, key, "L")
    g, h = (lists.create_group(deps, key, lst.id, name).group.id for name in "GH")
    with engine.begin() as conn:
        conn.execute(sa.text("""
            WITH r AS (INSERT INTO recipients (account_id, email, mobile_number)
                       SELECT :a, 'p' || n || '@example.test', '+39333' || n
                       FROM generate_series(1, :n) AS n RETURNING id),
                 s AS (INSERT INTO subscriptions (account_id, list_id, recipient_id, status)
                       SELECT :a, :l, id, 'subscribed' FROM r)
            INSERT INTO group_members (account_id, group_id, recipient_id)
            SELECT :a, CASE WHEN id % 2 = 0 THEN :g ELSE :h END, id FROM r"""),
            {"a": account.console_id, "l": lst.id, "g": g, "h": h, "n": SUBSCRIBERS})
    return lst.id, g, h


def _lookups_only(engine: sa.Engine, found: plans.Notices) -> list[str]:
    """What a looped scan reads too much of (a list's subscriptions are read once, by
    design: a send goes to the list)."""
    scans = plans.scans(found)
    assert {plans.table(node) for _, node in scans if plans.looped(node)} >= {
        "recipients", "subscriptions"}  # the check saw the lookups
    indexes = plans.index_columns(engine)
    return [plans.describe(query, node, why) for query, node in scans
            if plans.looped(node) and (why := plans.wrong(node, indexes))]


def _newsletter(repo: SendingRepository, account: AccountInfo, list_id: int,
                now: dt.datetime) -> Message:
    message = repo.message(account.console_id, repo.add_message(
        account.console_id, list_id, "Hi", ContentType.HTML, "<p>Hi</p>", MessageOptions(),
        now))
    assert message is not None
    return message


# Options for the list's groups G and H, and how many recipients they pick.
Options = Callable[[int, int], Any]


@pytest.mark.parametrize(("options", "expected"), [
    (lambda g, h: SendOptions(SendTo.ALL), SUBSCRIBERS),
    (lambda g, h: SendOptions(SendTo.GROUPS, groups=(g,)), SUBSCRIBERS // 2),
    (lambda g, h: SendOptions(SendTo.RECIPIENTS, recipients=tuple(LISTED)), len(LISTED)),
    (lambda g, h: SendOptions(SendTo.ALL, exclude_groups=(h,)), SUBSCRIBERS // 2),
], ids=["all", "groups", "recipients", "excluding"])
def test_a_newsletter_picks_and_claims_its_recipients_by_lookups(
        deps: Deps, engine: sa.Engine, account: AccountInfo, options: Options,
        expected: int) -> None:
    found = plans.Notices()
    now = dt.datetime.now(dt.UTC)
    with plans.statistics_without_new_accounts(deps, engine):
        list_id, g, h = _list_of_subscribers(deps, engine, account)
        with engine.begin() as conn:
            repo = SendingRepository(conn)
            message = _newsletter(repo, account, list_id, now)
            plans.explain_into(conn, found)
            delivery = repo.create_delivery(account.console_id, message, options(g, h),
                                            "a@b.test", "A", now, now)
            claimed = repo.claim(delivery, 1000)

    assert delivery.total == len(claimed) == expected
    assert _lookups_only(engine, found) == []


def test_a_file_of_addresses_joins_a_delivery_by_lookups(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    """SendMessageNL with a file: the file's rows find their subscribers one by one."""
    found = plans.Notices()
    now = dt.datetime.now(dt.UTC)
    with plans.statistics_without_new_accounts(deps, engine):
        list_id, _, _ = _list_of_subscribers(deps, engine, account)
        with deps.uow() as uow:
            process_id = imports.create_process(
                uow, account.console_id, list_id,
                read_csv(["111\n", *(f"{e.upper()}\n" for e in LISTED), "x@nobody.test\n"],
                         ImportOptions()), ImportOptions())
            uow.commit()
        with engine.begin() as conn:
            repo = SendingRepository(conn)
            delivery = repo.create_delivery(account.console_id,
                                            _newsletter(repo, account, list_id, now),
                                            SendOptions(SendTo.RECIPIENTS), "a@b.test", "A",
                                            now, now)
            plans.explain_into(conn, found)
            total = repo.add_from_import(delivery, process_id)

    assert total == len(LISTED)
    assert _lookups_only(engine, found) == []


@pytest.mark.parametrize(("options", "expected"), [
    (lambda g, h: SmsSendOptions(SendTo.ALL), SUBSCRIBERS),
    (lambda g, h: SmsSendOptions(SendTo.GROUPS, groups=(g,)), SUBSCRIBERS // 2),
], ids=["all", "groups"])
def test_an_sms_picks_and_claims_its_recipients_by_lookups(
        deps: Deps, engine: sa.Engine, account: AccountInfo, options: Options,
        expected: int) -> None:
    found = plans.Notices()
    now = dt.datetime.now(dt.UTC)
    with plans.statistics_without_new_accounts(deps, engine):
        list_id, g, h = _list_of_subscribers(deps, engine, account)
        with engine.begin() as conn:
            repo = SmsRepository(conn)
            sms_id = repo.add_sms(account.console_id, list_id, "Hi", "Hello", "", now)
            plans.explain_into(conn, found)
            delivery = repo.create_delivery(account.console_id, list_id, sms_id,
                                            options(g, h), "Shop", now, now)
            claimed = repo.claim(delivery, 1000)

    assert delivery.total == len(claimed) == expected
    assert _lookups_only(engine, found) == []
