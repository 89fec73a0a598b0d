"""SQLAlchemy Core implementations of the repositories; see `service_layer.repositories`."""
from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mailup_soap.db import events, lookups
from mailup_soap.db import tables as t
from mailup_soap.domain.model import (
    Account,
    AccountStatus,
    ChangeSource,
    EventType,
    Field,
    Group,
    MailingList,
    Session,
    User,
    UserKind,
)
from mailup_soap.service_layer import repositories as contracts


class _Repo:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn


def _account(row: Any) -> Account:
    return Account(row.id, row.name, AccountStatus(row.status), row.console_host,
                   row.ws_enabled, row.ws_active)


class AccountRepository(_Repo, contracts.AccountRepository):
    _cols = (t.accounts.c.id, t.accounts.c.name, t.accounts.c.status, t.accounts.c.console_host,
             t.accounts.c.ws_enabled, t.accounts.c.ws_active)

    def get(self, account_id: int) -> Account | None:
        row = self.conn.execute(sa.select(*self._cols).where(t.accounts.c.id == account_id)).first()
        return _account(row) if row else None

    def by_console_host(self, host: str) -> Account | None:
        q = sa.select(*self._cols).where(t.accounts.c.console_host == host.lower())
        row = self.conn.execute(q).first()
        return _account(row) if row else None

    def add(self, account: Account) -> None:
        self.conn.execute(t.accounts.insert().values(
            id=account.id, name=account.name, status=account.status.value,
            console_host=account.console_host, ws_enabled=account.ws_enabled,
            ws_active=account.ws_active))

    def all(self) -> list[Account]:
        rows = self.conn.execute(sa.select(*self._cols).order_by(t.accounts.c.id))
        return [_account(r) for r in rows]

    def _next(self, column: sa.Column[int], account_id: int) -> int:
        q = (t.accounts.update().where(t.accounts.c.id == account_id)
             .values({column: column + 1}).returning(column - 1))
        return int(self.conn.execute(q).scalar_one())

    def next_list_id(self, account_id: int) -> int:
        return self._next(t.accounts.c.next_list_id, account_id)

    def next_group_id(self, account_id: int) -> int:
        return self._next(t.accounts.c.next_group_id, account_id)


def _user(row: Any) -> User:
    return User(row.id, row.account_id, row.username, UserKind(row.kind), row.password_hash)


class UserRepository(_Repo, contracts.UserRepository):
    def by_username(self, username: str) -> User | None:
        row = self.conn.execute(sa.select(t.users).where(t.users.c.username == username)).first()
        return _user(row) if row else None

    def get(self, account_id: int, user_id: int) -> User | None:
        q = sa.select(t.users).where(t.users.c.account_id == account_id, t.users.c.id == user_id)
        row = self.conn.execute(q).first()
        return _user(row) if row else None

    def add(self, account_id: int, username: str, kind: UserKind, password_hash: str) -> User:
        q = t.users.insert().values(account_id=account_id, username=username, kind=kind.value,
                                    password_hash=password_hash).returning(t.users.c.id)
        return User(self.conn.execute(q).scalar_one(), account_id, username, kind, password_hash)

    def for_account(self, account_id: int) -> list[User]:
        q = sa.select(t.users).where(t.users.c.account_id == account_id).order_by(t.users.c.id)
        return [_user(r) for r in self.conn.execute(q)]


class SessionRepository(_Repo, contracts.SessionRepository):
    def add(self, session: Session, issued_at: dt.datetime) -> None:
        self.conn.execute(t.access_keys.insert().values(
            key_hash=session.key_hash, account_id=session.account_id, user_id=session.user_id,
            issued_at=issued_at, expires_at=session.expires_at))

    def get(self, key_hash: str) -> Session | None:
        k = t.access_keys.c
        q = sa.select(k.key_hash, k.account_id, k.user_id, k.expires_at).where(
            k.key_hash == key_hash, k.revoked_at.is_(None))
        row = self.conn.execute(q).first()
        return Session(row.key_hash, row.account_id, row.user_id, row.expires_at) if row else None

    def revoke(self, key_hash: str, now: dt.datetime) -> None:
        self.conn.execute(t.access_keys.update().where(t.access_keys.c.key_hash == key_hash)
                          .values(revoked_at=now))

    def purge_expired(self, now: dt.datetime) -> int:
        k = t.access_keys.c
        q = t.access_keys.delete().where(sa.or_(k.expires_at <= now, k.revoked_at.isnot(None)))
        return self.conn.execute(q).rowcount


def _list(row: Any) -> MailingList:
    return MailingList(row.account_id, row.id, row.guid, row.name, dict(row.options), row.auto_id,
                       row.created_at)


class ListRepository(_Repo, contracts.ListRepository):
    def _select(self, account_id: int) -> sa.Select[tuple[object, ...]]:
        return sa.select(t.lists).where(t.lists.c.account_id == account_id).order_by(t.lists.c.id)

    def add(self, mailing_list: MailingList) -> None:
        self.conn.execute(t.lists.insert().values(
            account_id=mailing_list.account_id, id=mailing_list.id, guid=mailing_list.guid,
            name=mailing_list.name, options=mailing_list.options, auto_id=mailing_list.auto_id))

    def get(self, account_id: int, list_id: int) -> MailingList | None:
        row = self.conn.execute(self._select(account_id).where(t.lists.c.id == list_id)).first()
        return _list(row) if row else None

    def all(self, account_id: int) -> list[MailingList]:
        return [_list(r) for r in self.conn.execute(self._select(account_id))]

    def by_auto_id(self, account_id: int, auto_id: str) -> list[MailingList]:
        q = self._select(account_id).where(t.lists.c.auto_id == auto_id)
        return [_list(r) for r in self.conn.execute(q)]

    def by_guid(self, account_id: int, guid: uuid.UUID) -> MailingList | None:
        row = self.conn.execute(self._select(account_id).where(t.lists.c.guid == guid)).first()
        return _list(row) if row else None

    def set_options(self, account_id: int, list_id: int, options: dict[str, str]) -> None:
        self.conn.execute(t.lists.update().where(
            t.lists.c.account_id == account_id, t.lists.c.id == list_id).values(options=options))

    def delete(self, account_id: int, list_id: int) -> None:
        self.conn.execute(t.lists.delete().where(
            t.lists.c.account_id == account_id, t.lists.c.id == list_id))


def _group(row: Any) -> Group:
    return Group(row.account_id, row.id, row.list_id, row.name, row.notes)


class GroupRepository(_Repo, contracts.GroupRepository):
    def add(self, group: Group) -> None:
        self.conn.execute(t.groups.insert().values(
            account_id=group.account_id, id=group.id, list_id=group.list_id, name=group.name,
            notes=group.notes))

    def get(self, account_id: int, group_id: int) -> Group | None:
        q = sa.select(t.groups).where(t.groups.c.account_id == account_id,
                                      t.groups.c.id == group_id)
        row = self.conn.execute(q).first()
        return _group(row) if row else None

    def by_name(self, account_id: int, list_id: int, name: str) -> Group | None:
        g = t.groups.c
        q = sa.select(t.groups).where(g.account_id == account_id, g.list_id == list_id,
                                      g.name == name)
        row = self.conn.execute(q).first()
        return _group(row) if row else None

    def for_lists(self, account_id: int, list_ids: list[int]) -> list[Group]:
        if not list_ids:
            return []
        g = t.groups.c
        q = (sa.select(t.groups).where(g.account_id == account_id, g.list_id.in_(list_ids))
             .order_by(g.list_id, g.id))
        return [_group(r) for r in self.conn.execute(q)]

    def update(self, group: Group) -> None:
        self.conn.execute(t.groups.update().where(
            t.groups.c.account_id == group.account_id, t.groups.c.id == group.id,
        ).values(name=group.name, notes=group.notes))

    def delete(self, account_id: int, group_id: int) -> None:
        self.conn.execute(t.groups.delete().where(
            t.groups.c.account_id == account_id, t.groups.c.id == group_id))


class FieldRepository(_Repo, contracts.FieldRepository):
    def all(self, account_id: int) -> list[Field]:
        q = (sa.select(t.fields.c.id, t.fields.c.name)
             .where(t.fields.c.account_id == account_id).order_by(t.fields.c.id))
        return [Field(r.id, r.name) for r in self.conn.execute(q)]

    def set_many(self, account_id: int, fields: list[Field]) -> None:
        if fields:
            self.conn.execute(t.fields.insert(), [
                {"account_id": account_id, "id": f.id, "name": f.name} for f in fields])


# DeleteGroup with its members: every row found from the group's members by key (db/lookups).
# Joined any other way, statistics that did not know the account yet (one row, they believed)
# had each subscription of the list read all of the group's members (119 s for 20,000).
_MEMBERS_SUBSCRIPTIONS = """
SELECT m.account_id, CAST(:list_id AS integer) AS list_id, m.recipient_id
FROM group_members m WHERE m.account_id = :account_id AND m.group_id = :group_id"""
# The members left without a subscription to any list: each list of the account looked up by
# the whole key of subscriptions (by account and recipient alone, the primary key (account,
# list, recipient) may be searched skipping the list: every subscription of the account read
# for each member).
_ORPHANED_MEMBERS = f"""
DELETE FROM recipients r
USING (SELECT x.id FROM group_members m
       CROSS JOIN LATERAL (SELECT x.id FROM recipients x
                           WHERE x.account_id = :account_id AND x.id = m.recipient_id
                             AND NOT EXISTS (
                                 SELECT 1 FROM lists l
                                 WHERE l.account_id = :account_id AND EXISTS (
                                     {lookups.subscription("l.id", "x.id", ":account_id")})
                                 OFFSET 0)
                           OFFSET 0) AS x
       WHERE m.account_id = :account_id AND m.group_id = :group_id OFFSET 0) AS k
WHERE r.id = k.id"""


class SubscriptionRepository(_Repo, contracts.SubscriptionRepository):
    """Set-based: one statement records the events (and their webhook deliveries), one DELETE
    removes the rows."""

    def remove_list(self, account_id: int, list_id: int, source: ChangeSource,
                    now: dt.datetime) -> int:
        events.record(self.conn, account_id, list_id, EventType.REMOVED, source, now,
                      recipients=events.LIST_SUBSCRIBERS)
        s = t.subscriptions.c
        return self.conn.execute(t.subscriptions.delete().where(
            s.account_id == account_id, s.list_id == list_id)).rowcount

    def remove_group_members(self, account_id: int, list_id: int, group_id: int,
                             source: ChangeSource, now: dt.datetime) -> int:
        keys = {"account_id": account_id, "list_id": list_id, "group_id": group_id}
        events.record(self.conn, account_id, list_id, EventType.REMOVED, source, now,
                      recipients=events.GROUP_MEMBERS_IN_LIST, group_id=group_id)
        removed = lookups.delete_subscriptions(self.conn, _MEMBERS_SUBSCRIPTIONS, keys)
        self.conn.execute(sa.text(_ORPHANED_MEMBERS), keys)
        return removed
