"""Unsubscribers written straight into recipients/subscriptions (fast, explicit dates) for the
export tests, and the lists they belong to."""
from __future__ import annotations

import datetime as dt
import secrets

import sqlalchemy as sa

from mailup_soap.service_layer import auth, lists
from mailup_soap.service_layer.deps import AccessKey, Deps
from tests.conftest import AccountInfo


def key(deps: Deps, account: AccountInfo) -> AccessKey:
    return AccessKey(auth.login(deps, account.console_user, account.password,
                                console_id=account.console_id))


def new_list(deps: Deps, account: AccountInfo, name: str = "Export") -> int:
    """A new list of the account; its id is per account (the first list is 1)."""
    return lists.create_list(deps, key(deps, account), name).id


def emails(count: int, tag: str = "u") -> list[str]:
    run = secrets.token_hex(4)
    return [f"{tag}.{run}.{n}@example.test" for n in range(count)]


def seed(engine: sa.Engine, account: AccountInfo, list_id: int, addresses: list[str], *,
         at: dt.datetime | None, reason: int | None = 2, status: str = "unsubscribed",
         message_id: int | None = None, mobile: str | None = None,
         subscribed_at: dt.datetime | None = None) -> None:
    """The recipients (created when new) get a subscription to the list in `status`, with
    `at` as unsubscription date."""
    params = {"a": account.console_id, "l": list_id, "emails": addresses, "at": at,
              "reason": reason, "status": status, "msg": message_id, "mobile": mobile,
              "sub": subscribed_at}
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO recipients (account_id, email, mobile_prefix, mobile_number) "
            "SELECT :a, e, CASE WHEN CAST(:mobile AS text) IS NOT NULL THEN '' END, :mobile "
            "FROM unnest(CAST(:emails AS text[])) AS e "
            "ON CONFLICT (account_id, lower(email)) WHERE email IS NOT NULL DO NOTHING"), params)
        conn.execute(sa.text(
            "INSERT INTO subscriptions (account_id, list_id, recipient_id, status, "
            "  subscribed_at, unsubscribed_at, unsubscribe_reason, optout_message_id) "
            "SELECT :a, :l, r.id, :status, :sub, "
            "  CASE WHEN :status = 'unsubscribed' THEN CAST(:at AS timestamptz) END, "
            "  CASE WHEN :status = 'unsubscribed' THEN CAST(:reason AS integer) END, :msg "
            "FROM recipients r WHERE r.account_id = :a AND r.email = ANY(CAST(:emails AS text[]))"),
            params)
