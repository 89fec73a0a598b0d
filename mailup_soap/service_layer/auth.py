"""Logins, accessKeys and the Import service's per-call credentials."""
from __future__ import annotations

import hashlib
import secrets

from mailup_soap import errors
from mailup_soap.domain.model import Account, AccountStatus, Session, User, UserKind
from mailup_soap.service_layer.deps import (
    AccessKey,
    Caller,
    Credentials,
    Deps,
    RegisteredCaller,
    WsLogin,
)
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

# 32 random bytes = 256 bits, well above the 128 the contract asks for.
ACCESS_KEY_BYTES = 32

_STATUS_ERRORS: dict[AccountStatus, type[errors.AuthenticationError]] = {
    AccountStatus.SUSPENDED: errors.AccountSuspended,
    AccountStatus.INACTIVE: errors.AccountInactive,
    AccountStatus.EXPIRED: errors.AccountExpired,
}


def hash_key(key: str) -> str:
    # A 256-bit random key needs no slow hash: SHA-256 keeps lookups O(1) and makes a leaked
    # table useless.
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _check_account(account: Account | None) -> Account:
    if account is None:
        raise errors.AccountNotValid()
    if account.status in _STATUS_ERRORS:
        raise _STATUS_ERRORS[account.status]()
    return account


def _verify_user(uow: AbstractUnitOfWork, deps: Deps, username: str | None,
                 password: str | None, kinds: tuple[UserKind, ...]) -> tuple[User, Account]:
    user = uow.users.by_username((username or "").strip().lower())
    if user is None or user.kind not in kinds:
        raise errors.AccountNotValid()
    if not password or not deps.hasher.verify(user.password_hash, password):
        raise errors.PasswordNotValid()
    return user, _check_account(uow.accounts.get(user.account_id))


def authorize(uow: AbstractUnitOfWork, deps: Deps, credentials: Credentials) -> Caller:
    """Check credentials inside the caller's unit of work; raise an AuthenticationError."""
    if isinstance(credentials, RegisteredCaller):
        return _registered_caller(uow, credentials)
    if isinstance(credentials, WsLogin):
        user, account = _verify_user(uow, deps, credentials.user, credentials.password,
                                     (UserKind.WEB_SERVICE,))
        if not account.ws_enabled:
            raise errors.WebServiceNotEnabled()
        if not account.ws_active:
            raise errors.WebServiceNotActive()
        return Caller(account.id, user.id)
    return _session_caller(uow, deps, credentials)


def account_for_host(uow: AbstractUnitOfWork, host: str) -> Account | None:
    """The account whose console host name is `host` (port ignored); an installation with
    one account serves it on any host."""
    found = uow.accounts.by_console_host(host.split(":")[0].strip().lower())
    if found is not None:
        return found
    accounts = uow.accounts.all()
    return accounts[0] if len(accounts) == 1 else None


def _registered_caller(uow: AbstractUnitOfWork, credentials: RegisteredCaller) -> Caller:
    account = _check_account(account_for_host(uow, credentials.host))
    if not uow.frontend_ips.allowed(account.id, credentials.ip):
        raise errors.IpNotRegistered(credentials.ip)
    ws_user = next((u for u in uow.users.for_account(account.id)
                    if u.kind is UserKind.WEB_SERVICE), None)
    if ws_user is None:
        raise errors.AccountNotValid()
    return Caller(account.id, ws_user.id)


def _session_caller(uow: AbstractUnitOfWork, deps: Deps, credentials: AccessKey) -> Caller:
    if not credentials.key:
        raise errors.AccessKeyInvalid()
    session = uow.sessions.get(hash_key(credentials.key.strip()))
    if session is None or session.expires_at <= deps.clock.now():
        raise errors.AccessKeyInvalid()
    account = uow.accounts.get(session.account_id)
    if account is None or account.status is not AccountStatus.ACTIVE:
        raise errors.AccessKeyInvalid()
    return Caller(session.account_id, session.user_id)


def login(deps: Deps, user: str | None, password: str | None, *, console_id: int | None = None,
          console_host: str | None = None) -> str:
    """Issue an accessKey valid `deps.access_key_ttl` from now (it does not slide on use).

    LoginFromId names the account by console id, Login by console host name; either must be
    the account the user belongs to.
    """
    with deps.uow() as uow:
        found, account = _verify_user(uow, deps, user, password,
                                      (UserKind.CONSOLE, UserKind.WEB_SERVICE))
        if console_id is not None and console_id != account.id:
            raise errors.AccountNotValid()
        if console_host is not None and console_host.strip().lower() != account.console_host:
            raise errors.AccountNotValid()
        key = secrets.token_urlsafe(ACCESS_KEY_BYTES)
        now = deps.clock.now()
        uow.sessions.add(Session(hash_key(key), account.id, found.id, now + deps.access_key_ttl),
                         issued_at=now)
        uow.commit()
        return key


def logout(deps: Deps, access_key: str | None) -> None:
    with deps.uow() as uow:
        _session_caller(uow, deps, AccessKey(access_key))
        uow.sessions.revoke(hash_key((access_key or "").strip()), deps.clock.now())
        uow.commit()


def purge_expired_sessions(deps: Deps) -> int:
    """Delete expired and revoked accessKeys; run periodically by the worker."""
    with deps.uow() as uow:
        count = uow.sessions.purge_expired(deps.clock.now())
        uow.commit()
        return count
