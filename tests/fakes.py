"""In-memory twins of the service layer's ports for unit tests: a unit of work over a shared
`FakeStore`, a settable clock, a transparent password hasher, and helpers that wire them."""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hmac
import itertools
import secrets
import uuid
from typing import Any

from mailup_soap.domain.model import (
    PERSONAL_FIELD_COUNT,
    Account,
    AccountStatus,
    ChangeSource,
    EventType,
    Field,
    Group,
    MailingList,
    Session,
    SubscriptionStatus,
    User,
    UserKind,
)
from mailup_soap.service_layer import accounts, auth, repositories, unit_of_work
from mailup_soap.service_layer.deps import AccessKey, Deps, WsLogin

EPOCH = dt.datetime(2024, 1, 15, 9, 30, tzinfo=dt.UTC)


class FakeIntegrityError(Exception):
    """What PostgreSQL would refuse: a duplicate key, a dangling foreign key, a failed check."""


# -- committed state ------------------------------------------------------------------------


@dataclasses.dataclass
class SessionRow:
    session: Session
    issued_at: dt.datetime
    revoked_at: dt.datetime | None = None


@dataclasses.dataclass
class RecipientRow:
    id: int
    account_id: int
    email: str | None
    mobile_prefix: str | None = None
    mobile_number: str | None = None


@dataclasses.dataclass(frozen=True)
class EventRow:
    account_id: int
    list_id: int
    recipient_id: int | None
    type: EventType
    source: ChangeSource
    email: str | None
    occurred_at: dt.datetime


@dataclasses.dataclass
class State:
    """The tables, keyed like their primary keys."""

    accounts: dict[int, Account] = dataclasses.field(default_factory=dict)
    next_ids: dict[int, dict[str, int]] = dataclasses.field(default_factory=dict)
    users: dict[int, User] = dataclasses.field(default_factory=dict)
    sessions: dict[str, SessionRow] = dataclasses.field(default_factory=dict)
    lists: dict[tuple[int, int], MailingList] = dataclasses.field(default_factory=dict)
    groups: dict[tuple[int, int], Group] = dataclasses.field(default_factory=dict)
    fields: dict[tuple[int, int], Field] = dataclasses.field(default_factory=dict)
    recipients: dict[int, RecipientRow] = dataclasses.field(default_factory=dict)
    # (account, list, recipient) -> status
    subscriptions: dict[tuple[int, int, int], SubscriptionStatus] = dataclasses.field(
        default_factory=dict)
    # (account, group, recipient)
    group_members: set[tuple[int, int, int]] = dataclasses.field(default_factory=set)
    events: list[EventRow] = dataclasses.field(default_factory=list)
    # identity columns (users.id, recipients.id) are global, like PostgreSQL sequences
    serial: dict[str, int] = dataclasses.field(default_factory=dict)

    def next_serial(self, name: str) -> int:
        self.serial[name] = self.serial.get(name, 0) + 1
        return self.serial[name]


class FakeStore:
    """The committed state shared by every `FakeUnitOfWork` of one test ("the database").

    Seeding helpers write committed rows directly, for data no use case creates yet.
    """

    def __init__(self) -> None:
        self.state = State()
        self.commits = 0

    def replace_account(self, account_id: int, **changes: Any) -> Account:
        account = dataclasses.replace(self.state.accounts[account_id], **changes)
        self.state.accounts[account_id] = account
        return account

    def add_recipient(self, account_id: int, email: str) -> int:
        rid = self.state.next_serial("recipients")
        self.state.recipients[rid] = RecipientRow(rid, account_id, email)
        return rid

    def subscribe(self, account_id: int, list_id: int, recipient_id: int,
                  status: SubscriptionStatus = SubscriptionStatus.SUBSCRIBED) -> None:
        if (account_id, list_id) not in self.state.lists:
            raise FakeIntegrityError(f"no list {list_id} in account {account_id}")
        self.state.subscriptions[(account_id, list_id, recipient_id)] = status

    def add_member(self, account_id: int, group_id: int, recipient_id: int) -> None:
        if (account_id, group_id) not in self.state.groups:
            raise FakeIntegrityError(f"no group {group_id} in account {account_id}")
        self.state.group_members.add((account_id, group_id, recipient_id))


# -- repositories ---------------------------------------------------------------------------


class _Repo:
    def __init__(self, work: FakeUnitOfWork) -> None:
        self._work = work

    @property
    def s(self) -> State:
        return self._work.state


def _copy_list(lst: MailingList) -> MailingList:
    return dataclasses.replace(lst, options=dict(lst.options))


class FakeAccountRepository(_Repo, repositories.AccountRepository):
    """See `AccountRepository`."""

    def get(self, account_id: int) -> Account | None:
        return self.s.accounts.get(account_id)

    def by_console_host(self, host: str) -> Account | None:
        return next((a for a in self.s.accounts.values() if a.console_host == host.lower()), None)

    def add(self, account: Account) -> None:
        if account.id in self.s.accounts or self.by_console_host(account.console_host):
            raise FakeIntegrityError(f"account {account.id} / {account.console_host} exists")
        self.s.accounts[account.id] = account
        self.s.next_ids[account.id] = {"list": 1, "group": 1}

    def all(self) -> list[Account]:
        return [self.s.accounts[k] for k in sorted(self.s.accounts)]

    def _next(self, kind: str, account_id: int) -> int:
        if account_id not in self.s.next_ids:
            raise FakeIntegrityError(f"no account {account_id}")
        counters = self.s.next_ids[account_id]
        counters[kind] += 1
        return counters[kind] - 1

    def next_list_id(self, account_id: int) -> int:
        return self._next("list", account_id)

    def next_group_id(self, account_id: int) -> int:
        return self._next("group", account_id)


class FakeUserRepository(_Repo, repositories.UserRepository):
    """See `UserRepository`."""

    def by_username(self, username: str) -> User | None:
        return next((u for u in self.s.users.values() if u.username == username), None)

    def get(self, account_id: int, user_id: int) -> User | None:
        user = self.s.users.get(user_id)
        return user if user is not None and user.account_id == account_id else None

    def add(self, account_id: int, username: str, kind: UserKind, password_hash: str) -> User:
        if account_id not in self.s.accounts:
            raise FakeIntegrityError(f"no account {account_id}")
        if self.by_username(username) is not None:
            raise FakeIntegrityError(f"user {username} exists")
        user = User(self.s.next_serial("users"), account_id, username, kind, password_hash)
        self.s.users[user.id] = user
        return user

    def for_account(self, account_id: int) -> list[User]:
        return [u for _, u in sorted(self.s.users.items()) if u.account_id == account_id]


class FakeSessionRepository(_Repo, repositories.SessionRepository):
    """See `SessionRepository`."""

    def add(self, session: Session, issued_at: dt.datetime) -> None:
        if session.key_hash in self.s.sessions:
            raise FakeIntegrityError("duplicate access key")
        if session.user_id not in self.s.users:
            raise FakeIntegrityError(f"no user {session.user_id}")
        self.s.sessions[session.key_hash] = SessionRow(session, issued_at)

    def get(self, key_hash: str) -> Session | None:
        row = self.s.sessions.get(key_hash)
        return row.session if row is not None and row.revoked_at is None else None

    def revoke(self, key_hash: str, now: dt.datetime) -> None:
        if key_hash in self.s.sessions:
            self.s.sessions[key_hash].revoked_at = now

    def purge_expired(self, now: dt.datetime) -> int:
        gone = [k for k, row in self.s.sessions.items()
                if row.session.expires_at <= now or row.revoked_at is not None]
        for key in gone:
            del self.s.sessions[key]
        return len(gone)


class FakeListRepository(_Repo, repositories.ListRepository):
    """See `ListRepository`."""

    def add(self, mailing_list: MailingList) -> None:
        key = (mailing_list.account_id, mailing_list.id)
        if mailing_list.account_id not in self.s.accounts:
            raise FakeIntegrityError(f"no account {mailing_list.account_id}")
        if key in self.s.lists or any(lst.guid == mailing_list.guid
                                      for lst in self.s.lists.values()):
            raise FakeIntegrityError(f"list {key} or its guid exists")
        created = self._work.now() or mailing_list.created_at  # the column default is now()
        self.s.lists[key] = dataclasses.replace(_copy_list(mailing_list), created_at=created)

    def get(self, account_id: int, list_id: int) -> MailingList | None:
        found = self.s.lists.get((account_id, list_id))
        return _copy_list(found) if found is not None else None

    def all(self, account_id: int) -> list[MailingList]:
        return [_copy_list(lst) for (acc, _), lst in sorted(self.s.lists.items())
                if acc == account_id]

    def by_auto_id(self, account_id: int, auto_id: str) -> list[MailingList]:
        return [lst for lst in self.all(account_id) if lst.auto_id == auto_id]

    def by_guid(self, account_id: int, guid: uuid.UUID) -> MailingList | None:
        return next((lst for lst in self.all(account_id) if lst.guid == guid), None)

    def set_options(self, account_id: int, list_id: int, options: dict[str, str]) -> None:
        key = (account_id, list_id)
        if key in self.s.lists:
            self.s.lists[key] = dataclasses.replace(self.s.lists[key], options=dict(options))

    def delete(self, account_id: int, list_id: int) -> None:
        # ON DELETE CASCADE: the list's groups (and their members) and subscriptions go too.
        self.s.lists.pop((account_id, list_id), None)
        for key, group in list(self.s.groups.items()):
            if key[0] == account_id and group.list_id == list_id:
                _drop_group(self.s, account_id, group.id)
        for sub in [k for k in self.s.subscriptions if k[:2] == (account_id, list_id)]:
            del self.s.subscriptions[sub]


def _drop_group(s: State, account_id: int, group_id: int) -> None:
    s.groups.pop((account_id, group_id), None)
    s.group_members = {m for m in s.group_members if m[:2] != (account_id, group_id)}


class FakeGroupRepository(_Repo, repositories.GroupRepository):
    """See `GroupRepository`."""

    def add(self, group: Group) -> None:
        if (group.account_id, group.list_id) not in self.s.lists:
            raise FakeIntegrityError(f"no list {group.list_id} in account {group.account_id}")
        if (group.account_id, group.id) in self.s.groups:
            raise FakeIntegrityError(f"group {group.id} exists")
        self._check_name(group)
        self.s.groups[(group.account_id, group.id)] = group

    def _check_name(self, group: Group) -> None:
        clash = self.by_name(group.account_id, group.list_id, group.name)
        if clash is not None and clash.id != group.id:
            raise FakeIntegrityError(f"group name {group.name!r} exists in list {group.list_id}")

    def get(self, account_id: int, group_id: int) -> Group | None:
        return self.s.groups.get((account_id, group_id))

    def by_name(self, account_id: int, list_id: int, name: str) -> Group | None:
        return next((g for (acc, _), g in self.s.groups.items()
                     if acc == account_id and g.list_id == list_id and g.name == name), None)

    def for_lists(self, account_id: int, list_ids: list[int]) -> list[Group]:
        found = [g for (acc, _), g in self.s.groups.items()
                 if acc == account_id and g.list_id in list_ids]
        return sorted(found, key=lambda g: (g.list_id, g.id))

    def update(self, group: Group) -> None:
        key = (group.account_id, group.id)
        if key in self.s.groups:
            self._check_name(group)
            old = self.s.groups[key]
            self.s.groups[key] = dataclasses.replace(old, name=group.name, notes=group.notes)

    def delete(self, account_id: int, group_id: int) -> None:
        _drop_group(self.s, account_id, group_id)


class FakeFieldRepository(_Repo, repositories.FieldRepository):
    """See `FieldRepository`."""

    def all(self, account_id: int) -> list[Field]:
        return [f for (acc, _), f in sorted(self.s.fields.items()) if acc == account_id]

    def set_many(self, account_id: int, fields: list[Field]) -> None:
        for field in fields:
            if (account_id, field.id) in self.s.fields or not 1 <= field.id <= PERSONAL_FIELD_COUNT:
                raise FakeIntegrityError(f"field {field.id} exists or is out of range")
            self.s.fields[(account_id, field.id)] = field


class FakeSubscriptionRepository(_Repo, repositories.SubscriptionRepository):
    """See `SubscriptionRepository`."""

    def _remove(self, keys: list[tuple[int, int, int]], source: ChangeSource,
                now: dt.datetime) -> int:
        for key in sorted(keys):
            account_id, list_id, recipient_id = key
            recipient = self.s.recipients.get(recipient_id)
            self.s.events.append(EventRow(account_id, list_id, recipient_id, EventType.REMOVED,
                                          source, recipient.email if recipient else None, now))
            del self.s.subscriptions[key]
        return len(keys)

    def remove_list(self, account_id: int, list_id: int, source: ChangeSource,
                    now: dt.datetime) -> int:
        keys = [k for k in self.s.subscriptions if k[:2] == (account_id, list_id)]
        return self._remove(keys, source, now)

    def remove_group_members(self, account_id: int, list_id: int, group_id: int,
                             source: ChangeSource, now: dt.datetime) -> int:
        members = {rid for acc, gid, rid in self.s.group_members
                   if (acc, gid) == (account_id, group_id)}
        keys = [k for k in self.s.subscriptions
                if k[:2] == (account_id, list_id) and k[2] in members]
        removed = self._remove(keys, source, now)
        subscribed = {rid for acc, _, rid in self.s.subscriptions if acc == account_id}
        for rid in members - subscribed:
            # The recipient row goes; its group memberships cascade.
            self.s.recipients.pop(rid, None)
            self.s.group_members = {m for m in self.s.group_members
                                    if (m[0], m[2]) != (account_id, rid)}
        return removed


# -- the unit of work -----------------------------------------------------------------------


class FakeUnitOfWork(unit_of_work.AbstractUnitOfWork):
    """Works on a private copy of the store's state taken on `__enter__`; `commit()` publishes
    the copy, leaving the block without commit throws it away (like a rolled-back transaction).
    """

    def __init__(self, store: FakeStore, clock: FakeClock | None = None) -> None:
        self.store = store
        self.clock = clock
        self.state: State = State()
        self._open = False
        self.accounts = FakeAccountRepository(self)
        self.users = FakeUserRepository(self)
        self.sessions = FakeSessionRepository(self)
        self.lists = FakeListRepository(self)
        self.groups = FakeGroupRepository(self)
        self.fields = FakeFieldRepository(self)
        self.subscriptions = FakeSubscriptionRepository(self)

    def now(self) -> dt.datetime | None:
        return self.clock.now() if self.clock is not None else None

    def __enter__(self) -> unit_of_work.AbstractUnitOfWork:
        self.state = copy.deepcopy(self.store.state)
        self._open = True
        return super().__enter__()

    def __exit__(self, *args: Any) -> None:
        try:
            super().__exit__(*args)
        finally:
            self._open = False

    def commit(self) -> None:
        assert self._open, "commit() outside the unit of work's block"
        self.store.state = copy.deepcopy(self.state)
        self.store.commits += 1

    def rollback(self) -> None:
        self.state = copy.deepcopy(self.store.state)


# -- other ports ----------------------------------------------------------------------------


class FakeClock:
    """See `Clock`. Starts at a fixed instant; tests move it with `set` or `advance`."""

    def __init__(self, start: dt.datetime = EPOCH) -> None:
        self._now = _aware(start)

    def now(self) -> dt.datetime:
        return self._now

    def set(self, when: dt.datetime) -> None:
        self._now = _aware(when)

    def advance(self, delta: dt.timedelta | None = None, **units: float) -> dt.datetime:
        self._now += (delta or dt.timedelta()) + dt.timedelta(**units)
        return self._now


def _aware(when: dt.datetime) -> dt.datetime:
    if when.tzinfo is None:
        raise ValueError("FakeClock needs a timezone-aware datetime")
    return when.astimezone(dt.UTC)


class FakeHasher:
    """See `PasswordHasher`. Readable hashes, so tests can see what was stored."""

    PREFIX = "fake$"

    def hash(self, password: str) -> str:
        return self.PREFIX + password

    def verify(self, password_hash: str, password: str) -> bool:
        return password_hash.startswith(self.PREFIX) and hmac.compare_digest(
            password_hash.encode("utf-8", "surrogatepass"),
            self.hash(password).encode("utf-8", "surrogatepass"))


def fake_deps(store: FakeStore | None = None, clock: FakeClock | None = None) -> Deps:
    store = store if store is not None else FakeStore()
    clock = clock if clock is not None else FakeClock()
    return Deps(uow=lambda: FakeUnitOfWork(store, clock), hasher=FakeHasher(), clock=clock)


# -- test data ------------------------------------------------------------------------------

_console_ids = itertools.count(1001)


def random_name(prefix: str = "name") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


@dataclasses.dataclass(frozen=True)
class SeededAccount:
    """An account made by `make_account`, with the plain passwords of its two users."""

    id: int
    host: str
    console_user: str
    console_password: str
    ws_user: str
    ws_password: str

    def login(self, deps: Deps) -> AccessKey:
        """Credentials of a fresh accessKey of the console user."""
        return AccessKey(auth.login(deps, self.console_user, self.console_password,
                                    console_id=self.id))

    @property
    def ws_login(self) -> WsLogin:
        """The Import service's Authentication header credentials."""
        return WsLogin(self.ws_user, self.ws_password)


def make_account(deps: Deps, status: AccountStatus = AccountStatus.ACTIVE) -> SeededAccount:
    """A new account with unique id, host and passwords, through `accounts.create_account`."""
    console_id = next(_console_ids)
    host = f"c{console_id}-{secrets.token_hex(3)}.example.test"
    console_pw, ws_pw = random_name("console-pw"), random_name("ws-pw")
    made = accounts.create_account(deps, console_id, f"Account {console_id}", host, console_pw,
                                   ws_pw, status=status)
    return SeededAccount(console_id, host, made.console_user, console_pw, made.ws_user, ws_pw)
