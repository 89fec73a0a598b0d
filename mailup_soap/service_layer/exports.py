"""The unsubscriber export (spec 7.2): GetUnsubscribers pages, the CLI's whole export, and
the export profiles written to each account's `export/` after the daily sync."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from mailup_soap import errors
from mailup_soap.domain import tokens
from mailup_soap.domain.unsubscribers import (
    ExportProfile,
    Unsubscriber,
    UnsubscriberFilter,
    Window,
    check_profile_name,
    csv_lines,
)
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger("mailup_soap.exports")

PAGE_SIZE_DEFAULT = 1_000
PAGE_SIZE_MAX = 10_000  # a page is built in memory and sent as one SOAP string
TOKEN_PURPOSE = "unsubscribers-page"


@dataclasses.dataclass(frozen=True)
class UnsubscriberPage:
    rows: list[Unsubscriber]
    token: str  # pass it back for the next page; "" on the last page


def _account(uow: AbstractUnitOfWork, account_id: int) -> None:
    if uow.accounts.get(account_id) is None:
        raise errors.AccountNotValid()


def _check_lists(uow: AbstractUnitOfWork, account_id: int, flt: UnsubscriberFilter) -> None:
    known = {lst.id for lst in uow.lists.all(account_id)}
    missing = sorted((set(flt.lists) | set(flt.exclude_lists)) - known)
    if missing:
        raise errors.ListNotFound(missing[0])


def _page_size(page_size: int | None) -> int:
    if not page_size:
        return PAGE_SIZE_DEFAULT
    if not 1 <= page_size <= PAGE_SIZE_MAX:
        raise errors.InvalidArgument("pageSize", f"must be 1 to {PAGE_SIZE_MAX} "
                                                 f"(0: {PAGE_SIZE_DEFAULT})")
    return page_size


# -- the continuation token -----------------------------------------------------------------
# It carries the last row's key and the date window resolved on the first page, so a
# "previous day" query paged across midnight keeps its day. It is signed, and bound to the
# account and the filter it was issued for.


def _digest(flt: UnsubscriberFilter) -> str:
    text = json.dumps(flt.to_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _make_token(deps: Deps, account_id: int, flt: UnsubscriberFilter, window: Window | None,
                last: Unsubscriber) -> str:
    span = [window.start.isoformat(), window.end.isoformat()] if window else None
    return tokens.make(deps.secret_key, TOKEN_PURPOSE, {
        "a": account_id, "f": _digest(flt), "w": span, "k": [last.list_id, last.recipient_id]})


def _read_token(deps: Deps, account_id: int, flt: UnsubscriberFilter,
                token: str) -> tuple[Window | None, tuple[int, int]]:
    try:
        payload = tokens.read(deps.secret_key, TOKEN_PURPOSE, token.strip())
    except errors.InvalidToken:
        raise errors.InvalidArgument("continuationToken", "altered or malformed") from None
    if payload.get("a") != account_id or payload.get("f") != _digest(flt):
        raise errors.InvalidArgument("continuationToken",
                                     "issued for another account or other filters")
    try:
        return _window(payload["w"]), _key(payload["k"])
    except (KeyError, TypeError, ValueError):
        raise errors.InvalidArgument("continuationToken", "malformed") from None


def _window(span: Any) -> Window | None:
    if span is None:
        return None
    start, end = span
    return Window(dt.datetime.fromisoformat(start), dt.datetime.fromisoformat(end))


def _key(key: Any) -> tuple[int, int]:
    list_id, recipient_id = key
    if type(list_id) is not int or type(recipient_id) is not int:
        raise TypeError("key")
    return list_id, recipient_id


# -- use cases ------------------------------------------------------------------------------


def unsubscribers_page(deps: Deps, cred: Credentials, flt: UnsubscriberFilter,
                       page_size: int | None = None, token: str | None = None) -> UnsubscriberPage:
    """GetUnsubscribers: one page, ordered by (list id, recipient id); `token` is the one
    the previous page returned, with the same filter."""
    size = _page_size(page_size)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        if token and token.strip():
            window, after = _read_token(deps, caller.account_id, flt, token)
        else:
            _check_lists(uow, caller.account_id, flt)
            window, after = flt.window(deps.clock.now()), None
        # One row more than asked: whether a next page exists, without an empty last page.
        rows = uow.exports.page(caller.account_id, flt, window, after, size + 1)
    if len(rows) <= size:
        return UnsubscriberPage(rows, "")
    rows = rows[:size]
    return UnsubscriberPage(rows, _make_token(deps, caller.account_id, flt, window, rows[-1]))


class _Counted:
    """Passes rows through, counting them."""

    def __init__(self, rows: Iterable[Unsubscriber]) -> None:
        self.rows = rows
        self.count = 0

    def __iter__(self) -> Iterator[Unsubscriber]:
        for row in self.rows:
            self.count += 1
            yield row


def export_unsubscribers(deps: Deps, account_id: int, flt: UnsubscriberFilter,
                         write: Callable[[str], object]) -> int:
    """`mailup-soap export-unsubscribers`: the CSV lines (header first, CRLF-terminated) to
    `write`, streamed inside one read transaction; returns the number of rows."""
    with deps.uow() as uow:
        _account(uow, account_id)
        _check_lists(uow, account_id, flt)
        rows = _Counted(uow.exports.stream(account_id, flt, flt.window(deps.clock.now())))
        for line in csv_lines(rows):
            write(line)
        return rows.count


def add_profile(deps: Deps, account_id: int, name: str, flt: UnsubscriberFilter) -> ExportProfile:
    profile = ExportProfile(check_profile_name(name), flt)
    with deps.uow() as uow:
        _account(uow, account_id)
        _check_lists(uow, account_id, flt)
        if not uow.exports.add_profile(account_id, profile):
            raise errors.InvalidArgument("name", f"export profile {profile.name!r} exists")
        uow.commit()
    return profile


def list_profiles(deps: Deps, account_id: int) -> list[ExportProfile]:
    with deps.uow() as uow:
        _account(uow, account_id)
        return uow.exports.profiles(account_id)


def remove_profile(deps: Deps, account_id: int, name: str) -> None:
    with deps.uow() as uow:
        _account(uow, account_id)
        if not uow.exports.remove_profile(account_id, name):
            raise errors.InvalidArgument("name", f"no export profile {name!r}")
        uow.commit()


def run_profiles(deps: Deps, account_id: int) -> list[str]:
    """Write `export/<profile>-<YYYYMMDD>.csv` (today, UTC) for each profile of the account,
    replacing a file of the same name; returns the paths relative to the account's home.
    Safe to re-run: the same day gives the same file names."""
    if deps.file_drop is None:
        raise RuntimeError("run_profiles needs deps.file_drop (the accounts' FTP homes)")
    now = deps.clock.now()
    with deps.uow() as uow:
        profiles = uow.exports.profiles(account_id)
    written = []
    for profile in profiles:
        with deps.uow() as uow:  # one read transaction per file, streamed
            rows = uow.exports.stream(account_id, profile.filter, profile.filter.window(now))
            name = profile.file_name(now.astimezone(dt.UTC).date())
            written.append(deps.file_drop.write_export(account_id, name, csv_lines(rows)))
        log.info("account %s: export profile %s written to %s", account_id, profile.name,
                 written[-1])
    return written
