"""The repository contracts of accounts, their users and sessions, lists, groups, personal
fields and subscriptions (implemented in db.repositories).

Every repository method takes the account id first: nothing reads or writes across accounts.
"""
from __future__ import annotations

import abc
import datetime as dt
import uuid

from mailup_soap.domain.model import (
    Account,
    ChangeSource,
    Field,
    Group,
    MailingList,
    Session,
    User,
    UserKind,
)


class AccountRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, account_id: int) -> Account | None: ...

    @abc.abstractmethod
    def by_console_host(self, host: str) -> Account | None: ...

    @abc.abstractmethod
    def add(self, account: Account) -> None: ...

    @abc.abstractmethod
    def all(self) -> list[Account]: ...

    @abc.abstractmethod
    def next_list_id(self, account_id: int) -> int:
        """Allocate the next per-account list id (locks the account row until commit)."""

    @abc.abstractmethod
    def next_group_id(self, account_id: int) -> int:
        """Allocate the next per-account group id (locks the account row until commit)."""


class UserRepository(abc.ABC):
    @abc.abstractmethod
    def by_username(self, username: str) -> User | None: ...

    @abc.abstractmethod
    def get(self, account_id: int, user_id: int) -> User | None: ...

    @abc.abstractmethod
    def add(self, account_id: int, username: str, kind: UserKind, password_hash: str) -> User: ...

    @abc.abstractmethod
    def for_account(self, account_id: int) -> list[User]: ...


class SessionRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, session: Session, issued_at: dt.datetime) -> None: ...

    @abc.abstractmethod
    def get(self, key_hash: str) -> Session | None:
        """The session unless it was revoked (expiry is the caller's check)."""

    @abc.abstractmethod
    def revoke(self, key_hash: str, now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def purge_expired(self, now: dt.datetime) -> int: ...


class ListRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, mailing_list: MailingList) -> None: ...

    @abc.abstractmethod
    def get(self, account_id: int, list_id: int) -> MailingList | None: ...

    @abc.abstractmethod
    def all(self, account_id: int) -> list[MailingList]: ...

    @abc.abstractmethod
    def by_auto_id(self, account_id: int, auto_id: str) -> list[MailingList]: ...

    @abc.abstractmethod
    def by_guid(self, account_id: int, guid: uuid.UUID) -> MailingList | None: ...

    @abc.abstractmethod
    def set_options(self, account_id: int, list_id: int, options: dict[str, str]) -> None: ...

    @abc.abstractmethod
    def delete(self, account_id: int, list_id: int) -> None:
        """Delete the list with its groups and subscriptions (remove the subscriptions first)."""


class GroupRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, group: Group) -> None: ...

    @abc.abstractmethod
    def get(self, account_id: int, group_id: int) -> Group | None: ...

    @abc.abstractmethod
    def by_name(self, account_id: int, list_id: int, name: str) -> Group | None: ...

    @abc.abstractmethod
    def for_lists(self, account_id: int, list_ids: list[int]) -> list[Group]: ...

    @abc.abstractmethod
    def update(self, group: Group) -> None: ...

    @abc.abstractmethod
    def delete(self, account_id: int, group_id: int) -> None: ...


class FieldRepository(abc.ABC):
    @abc.abstractmethod
    def all(self, account_id: int) -> list[Field]: ...

    @abc.abstractmethod
    def set_many(self, account_id: int, fields: list[Field]) -> None: ...


class SubscriptionRepository(abc.ABC):
    """Set-based subscription changes; each writes its lifecycle events in the same transaction."""

    @abc.abstractmethod
    def remove_list(self, account_id: int, list_id: int, source: ChangeSource,
                    now: dt.datetime) -> int:
        """Remove every subscription of the list (a `removed` event each); returns the count."""

    @abc.abstractmethod
    def remove_group_members(self, account_id: int, list_id: int, group_id: int,
                             source: ChangeSource, now: dt.datetime) -> int:
        """Remove the group's members from the list (a `removed` event each), then delete
        recipients left in no list of the account; returns the number of subscriptions removed."""
