"""The plans PostgreSQL runs while its statistics do not know an account yet: its rows came
after the last ANALYZE, as during any account's first big import, and on a large shared
database until autovacuum's threshold (a tenth of the table) is reached. The planner then
believes the account has one row in each table, and a statement that should look its rows
up one by one may read all of them instead, or worse, once per row of something else.
auto_explain reports each plan with its actual row counts; `wrong` names those shapes."""
from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap.service_layer.deps import Deps
from tests.conftest import new_account

BIG = ("recipients", "subscriptions", "group_members")


class Notices:
    """Where psycopg2 puts a connection's notices. Not a list: SQLAlchemy empties an
    iterable `notices` after each statement (it logs them), so it must not look like one."""

    def __init__(self) -> None:
        self.kept: list[str] = []

    def append(self, notice: str) -> None:
        self.kept.append(notice)


def explain_into(conn: sa.Connection, plans: Notices) -> None:
    """Have auto_explain send the plan of every statement of `conn`'s transaction (nested
    ones too: triggers, functions) with actual row counts to `plans`."""
    dbapi: Any = conn.connection.dbapi_connection
    if dbapi.notices is not plans:
        try:
            conn.execute(sa.text("LOAD 'auto_explain'"))
        except sa.exc.DBAPIError as exc:  # MAILUP_TEST_DATABASE_URL without a superuser
            pytest.skip(f"auto_explain cannot be loaded: {exc.orig}")
        dbapi.notices = plans
    for name, value in (("log_min_duration", "0"), ("log_analyze", "on"),
                        ("log_timing", "off"), ("log_nested_statements", "on"),
                        ("log_format", "json"), ("log_level", "notice")):
        conn.execute(sa.text(f"SET LOCAL auto_explain.{name} = '{value}'"))


@contextlib.contextmanager
def statistics_without_new_accounts(deps: Deps, engine: sa.Engine) -> Iterator[None]:
    """Statistics that know one other account with 20,000 recipients, each subscribed and in
    a group: an account whose rows are written inside the block is "one row" in each table.
    Autovacuum is off for the big tables meanwhile, so no ANALYZE comes in between."""
    known = new_account(deps).console_id
    with engine.begin() as conn:
        conn.execute(sa.text("""
            WITH l AS (INSERT INTO lists (account_id, id, guid, name)
                       VALUES (:a, 1, gen_random_uuid(), 'Known')),
                 g AS (INSERT INTO groups (account_id, id, list_id, name)
                       VALUES (:a, 1, 1, 'Known')),
                 r AS (INSERT INTO recipients (account_id, email, mobile_number)
                       SELECT :a, 'k' || g || '@example.test', '+39333' || g
                       FROM generate_series(1, 20000) AS g RETURNING id),
                 s AS (INSERT INTO subscriptions (account_id, list_id, recipient_id, status)
                       SELECT :a, 1, id, 'subscribed' FROM r)
            INSERT INTO group_members (account_id, group_id, recipient_id)
            SELECT :a, 1, id FROM r"""), {"a": known})
        for table in BIG:
            conn.execute(sa.text(f"ALTER TABLE {table} SET (autovacuum_enabled = off)"))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(f"ANALYZE {', '.join(BIG)}"))
        yield
    finally:
        with engine.begin() as conn:
            for table in BIG:
                conn.execute(sa.text(f"ALTER TABLE {table} RESET (autovacuum_enabled)"))
            conn.execute(sa.text("DELETE FROM accounts WHERE id = :a"), {"a": known})


def scans(plans: Notices) -> list[tuple[str, dict[str, Any]]]:
    """(query, plan node) of every node that reads a table or an index."""
    found = []
    for notice in plans.kept:
        if "{" not in notice:
            continue
        explained = json.loads(notice[notice.index("{"):])
        query = " ".join(explained["Query Text"].split())[:90]
        nodes = [explained["Plan"]]
        while nodes:
            node = nodes.pop()
            nodes += node.get("Plans", [])
            if "Relation Name" in node or "Index Name" in node:
                found.append((query, node))
    return found


def table(node: dict[str, Any]) -> str:
    """The table a scan reads (a bitmap index scan names only its index)."""
    return node.get("Relation Name") or next(
        (name for name in BIG if node["Index Name"].startswith(name + "_")), "")


def looped(node: dict[str, Any]) -> bool:
    """Run once per row of something else: a lookup."""
    return int(node.get("Actual Loops", 0)) > 1


# A condition that finds rows of a contact: by recipient, by id, by email or by number.
_CONTACT_KEY = re.compile(r"\b(recipient_id|id|email|mobile_number)\b")


def index_columns(engine: sa.Engine) -> dict[str, list[str]]:
    """The column of each key of every index of the big tables (`lower(email)`: email)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text("""
            SELECT c.relname, pg_get_indexdef(x.indexrelid, k, true)
            FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid
            CROSS JOIN LATERAL generate_series(1, x.indnkeyatts) AS k
            WHERE x.indrelid = ANY (CAST(:tables AS regclass[])) ORDER BY c.relname, k"""),
            {"tables": list(BIG)}).all()
    found: dict[str, list[str]] = {}
    for index, key in rows:
        found.setdefault(index, []).append(re.findall(r"[a-z_]+", key)[-1])
    return found


def wrong(node: dict[str, Any], indexes: dict[str, list[str]]) -> str | None:
    """Why a scan has the shape of a statement that reads the account instead of looking
    its rows up, or None. `indexes`: index_columns()."""
    name = table(node)
    # The import's batch table has no index: a scan of it run per row reads all of it. (Not
    # import_rows: its primary key is the lookup, and the planner knows the table's size
    # from its files; a table of a few pages is read whole, rightly, in the tests.)
    if name == "ib" and looped(node):
        return "reads the whole batch once per row of something else"
    if name not in BIG or node["Node Type"] in ("ModifyTable", "Tid Scan"):
        return None
    if node["Node Type"] == "Seq Scan":
        return "reads the whole table"
    if node["Node Type"] != "Bitmap Heap Scan" and not _CONTACT_KEY.search(
            node.get("Index Cond", "")):
        return "reads all of the account's (or list's) rows"
    if looped(node) and node.get("Rows Removed by Filter", 0) > 1:
        return "throws away more than a row per lookup"
    keys = indexes.get(node.get("Index Name", ""), [])
    used = [bool(re.search(rf"\b{key}\b", node.get("Index Cond", ""))) for key in keys]
    if False in used and True in used[used.index(False):]:
        # (account_id, group_id, recipient_id) searched by account and recipient: the
        # btree reads every entry of the account to find the recipient's.
        return f"skips {keys[used.index(False)]}, reads all the entries before it"
    return None


def describe(query: str, node: dict[str, Any], why: str) -> str:
    return (f"{query}: {node['Node Type']} {node.get('Index Name')} cond "
            f"{node.get('Index Cond')} filter {node.get('Filter')}: {why}")
