"""Statements that read many rows of an account find each related row by key.

PostgreSQL's statistics do not know an account whose rows arrived since the last ANALYZE
(its first big import; on a large shared database, until a tenth of a table changed) and
believe it holds one row per table, so every index that starts with the account looks
equally good. A join between the account's tables may then be planned as "for each row, read
all of the account's rows". A lookup written as `LATERAL (... OFFSET 0)` stays a lookup: not
flattened into a join, not turned into a semi-join (README, Layout)."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def recipient(recipient_id: str, account_id: str, columns: str = "*") -> str:
    """The body of a LATERAL subquery: the recipient `recipient_id` (an SQL expression) of
    `account_id` (an SQL expression), by primary key, aliased r."""
    return (f"SELECT {columns} FROM recipients r "
            f"WHERE r.account_id = {account_id} AND r.id = {recipient_id} OFFSET 0")


def subscription(list_id: str, recipient_id: str, account_id: str, columns: str = "1") -> str:
    """The body of a LATERAL or EXISTS subquery: the subscription of `recipient_id` to
    `list_id` in `account_id` (SQL expressions), by the whole primary key, aliased s."""
    return (f"SELECT {columns} FROM subscriptions s WHERE s.account_id = {account_id} "
            f"AND s.list_id = {list_id} AND s.recipient_id = {recipient_id} OFFSET 0")


def membership(group_id: str, recipient_id: str, account_id: str, columns: str = "1") -> str:
    """The body of a LATERAL or EXISTS subquery: the membership of `recipient_id` in
    `group_id` of `account_id` (SQL expressions), by the whole primary key, aliased m. By
    account and recipient alone, the key's group column would be skipped and the btree read
    every membership of the account."""
    return (f"SELECT {columns} FROM group_members m WHERE m.account_id = {account_id} "
            f"AND m.group_id = {group_id} AND m.recipient_id = {recipient_id} OFFSET 0")


# With hash and merge joins off, a join driven by a set of keys looks each key up: the other
# plan left, the whole table read per key, is priced at what it is.
KEYS_LOOKED_UP = {"enable_hashjoin": "off", "enable_mergejoin": "off"}


@contextlib.contextmanager
def local_settings(conn: Connection, settings: dict[str, str]) -> Iterator[None]:
    """The statements of the block run with `settings` (SET LOCAL; fixed names and values
    only), which go back to their defaults after it. Not on an error: the transaction is
    then aborted, its settings with it."""
    for name, value in settings.items():
        conn.execute(sa.text(f"SET LOCAL {name} = '{value}'"))
    yield
    for name in settings:
        conn.execute(sa.text(f"SET LOCAL {name} TO DEFAULT"))


def delete_subscriptions(conn: Connection, keys: str, params: dict[str, Any]) -> int:
    """Delete the subscriptions whose (account_id, list_id, recipient_id) `keys` (fixed SQL)
    selects; returns how many. By key, so that a row another transaction updates meanwhile
    is deleted in its new version (a row address would miss it). The keys come from a
    subquery kept whole (OFFSET 0), so the account is no constant the planner could read the
    table by, and each one is looked up (KEYS_LOOKED_UP)."""
    with local_settings(conn, KEYS_LOOKED_UP):
        return int(conn.execute(sa.text(f"""
            DELETE FROM subscriptions s USING ({keys} OFFSET 0) AS k
            WHERE s.account_id = k.account_id AND s.list_id = k.list_id
              AND s.recipient_id = k.recipient_id"""), params).rowcount)
