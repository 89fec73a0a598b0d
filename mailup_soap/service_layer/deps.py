"""What a use case needs from outside, bundled once by bootstrap, and who is calling."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from mailup_soap.service_layer.ports import Clock, PasswordHasher
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork


@dataclasses.dataclass(frozen=True)
class Deps:
    uow: Callable[[], AbstractUnitOfWork]
    hasher: PasswordHasher
    clock: Clock
    access_key_ttl: dt.timedelta = dt.timedelta(minutes=60)


@dataclasses.dataclass(frozen=True)
class AccessKey:
    """Send / Manage / Report credentials: the key returned by Login or LoginFromId."""

    key: str | None


@dataclasses.dataclass(frozen=True)
class WsLogin:
    """Import credentials: the web-service user and password of the Authentication header."""

    user: str | None
    password: str | None


Credentials = AccessKey | WsLogin


@dataclasses.dataclass(frozen=True)
class Caller:
    """The authenticated account (and user) a use case acts for."""

    account_id: int
    user_id: int
