"""Account administration for the command line: create, list, seed the demo account."""
from __future__ import annotations

import dataclasses

from mailup_soap import errors
from mailup_soap.domain.model import Account, AccountStatus, Field, UserKind, username_for
from mailup_soap.service_layer.deps import Deps

# MailUp accounts start with 11 personal fields (spec section 7.3, Magento's defaults).
DEFAULT_FIELDS = ("nome", "cognome", "azienda", "città", "provincia", "cap", "regione", "paese",
                  "indirizzo", "fax", "telefono")


@dataclasses.dataclass(frozen=True)
class NewAccount:
    account: Account
    console_user: str
    ws_user: str


def create_account(deps: Deps, console_id: int, name: str, console_host: str,
                   console_password: str, ws_password: str,
                   status: AccountStatus = AccountStatus.ACTIVE) -> NewAccount:
    """Create an account with its console user m<id> and web-service user a<id>."""
    if console_id <= 0:
        raise errors.InvalidArgument("console id", "must be a positive integer")
    host = console_host.strip().lower()
    if not host or "/" in host or " " in host:
        raise errors.InvalidArgument("console host", "must be a bare host name")
    for label, pw in (("console password", console_password), ("ws password", ws_password)):
        if len(pw) < 8:
            raise errors.InvalidArgument(label, "must have at least 8 characters")
    account = Account(console_id, name.strip() or f"Account {console_id}", status, host)
    with deps.uow() as uow:
        if uow.accounts.get(console_id) is not None:
            raise errors.InvalidArgument("console id", f"account {console_id} exists already")
        if uow.accounts.by_console_host(host) is not None:
            raise errors.InvalidArgument("console host", f"{host} is used by another account")
        uow.accounts.add(account)
        for kind, pw in ((UserKind.CONSOLE, console_password), (UserKind.WEB_SERVICE, ws_password)):
            uow.users.add(console_id, username_for(kind, console_id), kind, deps.hasher.hash(pw))
        uow.fields.set_many(console_id, [Field(i, n) for i, n in enumerate(DEFAULT_FIELDS, 1)])
        uow.commit()
    return NewAccount(account, username_for(UserKind.CONSOLE, console_id),
                      username_for(UserKind.WEB_SERVICE, console_id))


def list_accounts(deps: Deps) -> list[Account]:
    with deps.uow() as uow:
        return uow.accounts.all()


def account_exists(deps: Deps, console_id: int) -> bool:
    with deps.uow() as uow:
        return uow.accounts.get(console_id) is not None
