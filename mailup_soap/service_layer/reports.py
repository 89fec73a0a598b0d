"""The Report service's statistics: ReportByMessage and ReportByUser (spec 5)."""
from __future__ import annotations

from mailup_soap import errors
from mailup_soap.domain import reports
from mailup_soap.domain.contacts import normalize_email
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.deps import Caller, Credentials, Deps
from mailup_soap.service_layer.lists import checked_list
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork


def _message_of_list(uow: AbstractUnitOfWork, caller: Caller, list_id: int,
                     message_id: int) -> int | None:
    """The message asked for, which must be one of the list's; 0 means all of them."""
    checked_list(uow, caller, list_id, None)
    if message_id == 0:
        return None
    if uow.sending.message(caller.account_id, message_id, list_id) is None:
        raise errors.MessageNotFound(message_id)
    return message_id


def by_message(deps: Deps, cred: Credentials, list_id: int | None,
               message_id: int | None) -> reports.MessageReport:
    list_id = list_id or 0
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        message = _message_of_list(uow, caller, list_id, message_id or 0)
        return uow.reports.by_message(caller.account_id, list_id, message)


def by_user(deps: Deps, cred: Credentials, email: str | None, list_id: int | None,
            message_id: int | None) -> reports.UserReport:
    """Not registered (no subscriber) when nobody in the list has the address; no opens or
    clicks for an unsubscribed address, as MailUp."""
    list_id = list_id or 0
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        message = _message_of_list(uow, caller, list_id, message_id or 0)
        address = normalize_email(email)
        if address is None:
            raise errors.InvalidArgument("email", "must not be empty")
        found = uow.reports.subscriber(caller.account_id, list_id, address)
        if found is None or not found.has_stats:
            return reports.UserReport(found)
        hits = uow.reports.hits(caller.account_id, list_id, found.recipient_id, message)
    return reports.UserReport(found, clicks=tuple(h for h in hits if h.url is not None),
                              opens=tuple(h for h in hits if h.url is None))
