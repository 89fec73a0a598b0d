"""The unsubscriber export (spec 7.2): its filter, date window, rows and CSV columns."""
from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import enum
import io
import re
from collections.abc import Iterable, Iterator
from typing import Any

from mailup_soap.domain.model import UnsubscribeReason
from mailup_soap.errors import InvalidArgument

# More ids than this in one filter is a mistake, not a query (and keeps ANY(...) arrays small).
MAX_IDS = 1000
MAX_LIST_ID = 2**31 - 1  # lists.id is a PostgreSQL integer
PROFILE_NAME = re.compile(r"[A-Za-z0-9_-]{1,50}")
CSV_COLUMNS = ("email", "mobile", "idList", "OptOut_Date", "Subscription_Date", "optout_nl",
               "optout_type", "optout_subtype")
DATE_FORMAT = "%Y%m%dT%H%M%S"  # MailUp's OptOut_Date: 20210122T111244, UTC

REASON_DESCRIPTIONS: dict[int, str] = {
    UnsubscribeReason.ADMIN: "admin action",
    UnsubscribeReason.UNSUBSCRIBE_LINK: "unsubscribe link",
    UnsubscribeReason.IMPORTED: "imported as unsubscribed",
    UnsubscribeReason.HARD_BOUNCE: "bounce",
    UnsubscribeReason.SPAM_COMPLAINT: "spam complaint",
    UnsubscribeReason.LIST_UNSUBSCRIBE_LINK: "List-Unsubscribe link",
    UnsubscribeReason.LIST_UNSUBSCRIBE_MAIL: "List-Unsubscribe mail",
    UnsubscribeReason.BAD_SYNTAX: "bad syntax",
    UnsubscribeReason.BAD_DOMAIN: "bad domain",
    UnsubscribeReason.ABANDONED: "abandoned account",
    UnsubscribeReason.INACTIVE: "inactive recipient",
    UnsubscribeReason.BLOCKED: "blocked email",
    UnsubscribeReason.SOFT_BOUNCES: "repeated soft bounces",
    UnsubscribeReason.BLOCKED_MTA: "blocked by the target MTA",
    UnsubscribeReason.BLOCKED_CONTENT: "blocked for spam content",
    UnsubscribeReason.BLOCKED_MTA_CONFIG: "blocked by a target MTA configuration error",
}


class DateMode(enum.StrEnum):
    ALL = "all"
    PREVIOUS_DAY = "previous_day"
    RANGE = "range"


@dataclasses.dataclass(frozen=True)
class Window:
    """Unsubscription dates `start <= at < end`, UTC."""

    start: dt.datetime
    end: dt.datetime


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True)
class UnsubscriberFilter:
    """Which unsubscriptions to export. Empty `lists` / `reasons` mean all of them; a range
    includes both its days (UTC)."""

    lists: tuple[int, ...] = ()
    exclude_lists: tuple[int, ...] = ()
    date: DateMode = DateMode.ALL
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    reasons: tuple[int, ...] = ()
    exclude_reasons: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        for name in ("lists", "exclude_lists"):
            _check_ids(name, getattr(self, name))
        for name in ("reasons", "exclude_reasons"):
            _check_reasons(name, getattr(self, name))
        for name, inc, exc in (("lists", self.lists, self.exclude_lists),
                               ("reasons", self.reasons, self.exclude_reasons)):
            both = sorted(set(inc) & set(exc))
            if both:
                raise InvalidArgument(name, f"{_ids(both)} both included and excluded")
        self._check_dates()

    def _check_dates(self) -> None:
        if self.date is not DateMode.RANGE:
            if self.date_from is not None or self.date_to is not None:
                raise InvalidArgument("date", "from and to dates need a date range")
            return
        if self.date_from is None or self.date_to is None:
            raise InvalidArgument("date", "a range needs a from date and a to date")
        if self.date_from > self.date_to:
            raise InvalidArgument("date", f"from date {self.date_from} is after to date "
                                          f"{self.date_to}")

    def window(self, now: dt.datetime) -> Window | None:
        """The unsubscription dates wanted, or None for any date (and none recorded)."""
        if self.date is DateMode.PREVIOUS_DAY:
            today = _day_start(now.astimezone(dt.UTC).date())
            return Window(today - dt.timedelta(days=1), today)
        if self.date is DateMode.RANGE:
            assert self.date_from is not None and self.date_to is not None
            end = (_day_start(self.date_to) + dt.timedelta(days=1)
                   if self.date_to < dt.date.max else dt.datetime.max.replace(tzinfo=dt.UTC))
            return Window(_day_start(self.date_from), end)
        return None

    def to_json(self) -> dict[str, Any]:
        return {"lists": list(self.lists), "exclude_lists": list(self.exclude_lists),
                "date": self.date.value,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None,
                "reasons": list(self.reasons), "exclude_reasons": list(self.exclude_reasons)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UnsubscriberFilter:
        try:
            return cls(tuple(data.get("lists", ())), tuple(data.get("exclude_lists", ())),
                       DateMode(data.get("date", "all")), _date(data.get("from")),
                       _date(data.get("to")), tuple(data.get("reasons", ())),
                       tuple(data.get("exclude_reasons", ())))
        except (TypeError, ValueError) as exc:
            raise InvalidArgument("filters", f"not a stored filter: {exc}") from None


def _ids(values: Iterable[int]) -> str:
    return ", ".join(str(v) for v in values)


def _check_ids(name: str, ids: tuple[int, ...]) -> None:
    if len(ids) > MAX_IDS:
        raise InvalidArgument(name, f"more than {MAX_IDS} ids")
    bad = [i for i in ids if type(i) is not int or not 0 < i <= MAX_LIST_ID]
    if bad:
        raise InvalidArgument(name, f"{_ids(bad)} is not a list id")


def _check_reasons(name: str, codes: tuple[int, ...]) -> None:
    bad = [c for c in codes if type(c) is not int or c not in REASON_DESCRIPTIONS]
    if bad:
        raise InvalidArgument(name, f"unknown reason code {_ids(bad)} (known: "
                                    f"{_ids(sorted(REASON_DESCRIPTIONS))})")


def _date(raw: str | None) -> dt.date | None:
    return dt.date.fromisoformat(raw) if raw else None


# -- parsing the strings of the CLI and of GetUnsubscribers ----------------------------------


def parse_ids(name: str, raw: str | None) -> tuple[int, ...]:
    """`1;2`, `1,2` or `1 2` -> (1, 2), sorted without repeats; empty -> ()."""
    parts = [p for p in re.split(r"[;,\s]+", raw or "") if p]
    bad = [p for p in parts if not p.isascii() or not p.isdigit()]
    if bad:
        raise InvalidArgument(name, f"{bad[0]!r} is not a number")
    return tuple(sorted({int(p) for p in parts}))


def parse_date(name: str, raw: str | None) -> dt.date | None:
    """`YYYY-MM-DD` -> a date; empty -> None."""
    value = (raw or "").strip()
    if not value:
        return None
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value, flags=re.ASCII):
        raise InvalidArgument(name, f"{value!r} is not a date YYYY-MM-DD")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(name, f"{value!r} is not a date YYYY-MM-DD") from None


def parse_date_mode(raw: str | None) -> DateMode | None:
    """`all`, `previousday` / `previous-day` / `previous_day`, `range`, any case; empty ->
    None (not chosen)."""
    value = re.sub(r"[\s_-]", "", raw or "").lower()
    if not value:
        return None
    for mode in DateMode:
        if value == mode.value.replace("_", ""):
            return mode
    raise InvalidArgument("dateFilter", f"{raw!r} is not all, previousday or range")


def parse_filter(lists: str | None = None, exclude_lists: str | None = None,
                 date: str | None = None, date_from: str | None = None,
                 date_to: str | None = None, reasons: str | None = None,
                 exclude_reasons: str | None = None) -> UnsubscriberFilter:
    """A filter from GetUnsubscribers' strings. No date mode but dates given means a range."""
    start, end = parse_date("fromDate", date_from), parse_date("toDate", date_to)
    mode = parse_date_mode(date)
    if mode is None:
        mode = DateMode.RANGE if start or end else DateMode.ALL
    return UnsubscriberFilter(parse_ids("listsIncluded", lists),
                              parse_ids("listsExcluded", exclude_lists), mode, start, end,
                              parse_ids("reasonsIncluded", reasons),
                              parse_ids("reasonsExcluded", exclude_reasons))


def parse_date_option(raw: str | None) -> tuple[str, str | None, str | None]:
    """The CLI's `--date`: `all`, `previous-day`, `YYYY-MM-DD..YYYY-MM-DD` or one day
    `YYYY-MM-DD` -> (mode, from, to) strings for `parse_filter`."""
    value = (raw or "").strip()
    if re.match(r"\d", value):
        start, sep, end = value.partition("..")
        return "range", start, end if sep else start
    return value, None, None


# -- rows and CSV ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Unsubscriber:
    """One recipient unsubscribed from one list."""

    list_id: int
    recipient_id: int
    email: str | None
    mobile: str | None
    unsubscribed_at: dt.datetime | None
    subscribed_at: dt.datetime | None
    message_id: int | None  # the message whose link or complaint caused it
    reason: int | None

    @property
    def reason_description(self) -> str:
        return REASON_DESCRIPTIONS.get(self.reason, "") if self.reason is not None else ""


def full_mobile(prefix: str | None, number: str | None) -> str | None:
    """Numbers are stored with their international prefix inside (`+39...`, see
    contacts.normalize_mobile); a separate prefix is only prepended to a bare number."""
    if not number:
        return None
    return number if number.startswith("+") else (prefix or "") + number


def format_date(when: dt.datetime | None) -> str:
    return when.astimezone(dt.UTC).strftime(DATE_FORMAT) if when is not None else ""


def csv_values(row: Unsubscriber) -> list[str]:
    return [row.email or "", row.mobile or "", str(row.list_id), format_date(row.unsubscribed_at),
            format_date(row.subscribed_at),
            str(row.message_id) if row.message_id is not None else "",
            str(row.reason) if row.reason is not None else "", row.reason_description]


def csv_lines(rows: Iterable[Unsubscriber]) -> Iterator[str]:
    """The header line, then one line per row; each line ends with CRLF (RFC 4180)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # excel dialect: comma, quotes only where needed, CRLF
    for values in _with_header(rows):
        writer.writerow(values)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


def _with_header(rows: Iterable[Unsubscriber]) -> Iterator[Iterable[str]]:
    yield CSV_COLUMNS
    for row in rows:
        yield csv_values(row)


# -- export profiles ------------------------------------------------------------------------


def check_profile_name(name: str | None) -> str:
    """Profile names become file names: 1..50 of A-Z a-z 0-9 _ -."""
    value = (name or "").strip()
    if not PROFILE_NAME.fullmatch(value):
        raise InvalidArgument("name", f"{value!r} is not 1 to 50 letters, digits, _ or -")
    return value


@dataclasses.dataclass(frozen=True)
class ExportProfile:
    """A saved filter whose CSV is written to `export/` after every daily sync."""

    name: str
    filter: UnsubscriberFilter
    created_at: dt.datetime | None = None

    def file_name(self, today: dt.date) -> str:
        return f"{self.name}-{today:%Y%m%d}.csv"
