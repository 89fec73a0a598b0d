"""FTP logins of the daily batch sync: one or more per account, each confined to the
account's home (see adapters/file_drop.py)."""
from __future__ import annotations

import re

from mailup_soap import errors
from mailup_soap.domain.model import AccountStatus
from mailup_soap.service_layer.bulk_repos import FtpUser
from mailup_soap.service_layer.deps import Deps
from mailup_soap.service_layer.ports import PasswordHasher

USERNAME = re.compile(r"^[A-Za-z0-9._-]{3,64}$")
PASSWORD_MIN = 8


def add_user(deps: Deps, account_id: int, username: str, password: str) -> None:
    if not USERNAME.match(username):
        raise errors.InvalidArgument("FTP user", "3 to 64 letters, digits, '.', '_' or '-'")
    if len(password) < PASSWORD_MIN:
        raise errors.InvalidArgument("FTP password",
                                     f"must have at least {PASSWORD_MIN} characters")
    with deps.uow() as uow:
        if uow.accounts.get(account_id) is None:
            raise errors.InvalidArgument("account", f"account {account_id} does not exist")
        if not uow.ftp_users.add(account_id, username, deps.hasher.hash(password)):
            raise errors.InvalidArgument("FTP user", f"{username} exists already")
        uow.commit()


def remove_user(deps: Deps, account_id: int, username: str) -> None:
    with deps.uow() as uow:
        if not uow.ftp_users.remove(account_id, username):
            raise errors.InvalidArgument("FTP user",
                                         f"account {account_id} has no user {username}")
        uow.commit()


def list_users(deps: Deps, account_id: int) -> list[FtpUser]:
    with deps.uow() as uow:
        return uow.ftp_users.of_account(account_id)


def authenticate(deps: Deps, username: str, password: str) -> int | None:
    """The account a login opens, or None (unknown user, wrong password, account not
    active): the FTP server answers all three alike."""
    with deps.uow() as uow:
        user = uow.ftp_users.by_username(username)
        account = uow.accounts.get(user.account_id) if user else None
    if user is None or account is None or account.status is not AccountStatus.ACTIVE:
        deps.hasher.verify(_dummy_hash(deps.hasher), password)  # as slow as a real check
        return None
    return user.account_id if deps.hasher.verify(user.password_hash, password) else None


def prepare_home(deps: Deps, account_id: int) -> None:
    """Create the account's home with a folder per list (lists come and go)."""
    if deps.file_drop is None:
        raise RuntimeError("no FTP root configured")
    with deps.uow() as uow:
        list_ids = [lst.id for lst in uow.lists.all(account_id)]
    deps.file_drop.prepare_home(account_id, list_ids)


_DUMMY_HASHES: dict[int, str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    """Checked against when the login is unknown, so that answer takes as long as a real one
    (the user names of the site cannot be told apart by timing). One per hasher."""
    if id(hasher) not in _DUMMY_HASHES:
        _DUMMY_HASHES[id(hasher)] = hasher.hash("not the password of anyone")
    return _DUMMY_HASHES[id(hasher)]
