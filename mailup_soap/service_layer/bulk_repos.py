"""The repository contracts of the data that comes and goes in bulk: import processes,
unsubscriber exports, reports, FTP logins and the files the daily sync imported
(implemented in db.import_repos, db.export_repos, db.report_repos and db.sync_repos).

Every repository method takes the account id first: nothing reads or writes across accounts.
"""
from __future__ import annotations

import abc
import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator

from mailup_soap.domain import reports
from mailup_soap.domain.import_readers import ReaderRow
from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessStatus
from mailup_soap.domain.model import ChangeSource
from mailup_soap.domain.unsubscribers import (
    ExportProfile,
    Unsubscriber,
    UnsubscriberFilter,
    Window,
)


class ImportRepository(abc.ABC):
    @abc.abstractmethod
    def create(self, account_id: int, list_id: int, options: ImportOptions,
               source: ChangeSource, delivery_id: int | None = None) -> int:
        """A queued process; with `delivery_id`, held for that SendMessageNL delivery."""

    @abc.abstractmethod
    def stage(self, process_id: int, rows: Iterable[ReaderRow]) -> None:
        """Store the rows (COPY); the document is read as it is stored."""

    @abc.abstractmethod
    def get(self, process_id: int, account_id: int | None = None,
            lock: bool = False) -> ImportProcess | None: ...

    @abc.abstractmethod
    def queued(self, account_id: int) -> list[ImportProcess]:
        """The account's queued processes, in creation order, except those held for a
        SendMessageNL delivery."""

    @abc.abstractmethod
    def running_for_list(self, account_id: int, list_id: int,
                         outside_list_jobs: bool = False, lock: bool = True) -> bool:
        """Whether a process of the list runs (`outside_list_jobs`: one that no job under
        the list's lock merges). With `lock`, also serialises concurrent starts for the list
        until commit; without, a mere look, on whose answer nothing may be marked running
        (it holds nothing while the caller goes on, e.g. reading a file)."""

    @abc.abstractmethod
    def mark(self, process_id: int, status: ProcessStatus, now: dt.datetime,
             error: str | None = None, by_list_job: bool = False) -> None:
        """`by_list_job` (with RUNNING): a job under the list's lock will merge it."""

    @abc.abstractmethod
    def has_rows_by_number(self, process_id: int, after: int) -> bool:
        """Whether valid rows after row `after` give a contact by its mobile number alone
        (for a process stored before they were counted, migration 0015)."""

    @abc.abstractmethod
    def set_lanes(self, process_id: int, lanes: int) -> tuple[int, ...]:
        """Split the process into `lanes` lanes, each at its progress, unless a runner
        did first: the lanes' progress, as it stands."""

    @abc.abstractmethod
    def lane(self, process_id: int, lane: int) -> tuple[ImportProcess, int] | None:
        """For a batch of the lane: the process, and the lane's progress read after
        taking the lane until commit (other runners of the lane wait; the other lanes go
        on). None when the process is gone."""

    @abc.abstractmethod
    def merge_batch(self, process: ImportProcess, low: int, high: int, now: dt.datetime,
                    lane: int = 0, lanes: int = 1) -> int:
        """Merge the lane's rows low < row_no <= high; the process's progress after it
        (the least of its lanes'). Raises ContactCreatedMeanwhile when another transaction
        created one of the batch's new recipients first (the caller rolls back and merges
        it again)."""

    @abc.abstractmethod
    def clear_rows(self, process_id: int) -> None: ...

    @abc.abstractmethod
    def rejected_rows(self, process_id: int) -> Iterator[tuple[int, str]]:
        """(row number, reason) of the rows refused at staging, in row order."""

    @abc.abstractmethod
    def first_duplicate(self, process_id: int) -> str | None:
        """An address (or, for a row without one, a mobile number) that two valid staged rows
        give, if any."""


class ExportRepository(abc.ABC):
    """Unsubscribers (spec 7.2) and the saved export profiles, one account at a time."""

    @abc.abstractmethod
    def page(self, account_id: int, flt: UnsubscriberFilter, window: Window | None,
             after: tuple[int, int] | None, limit: int) -> list[Unsubscriber]:
        """Up to `limit` unsubscribers matching `flt` and unsubscribed inside `window` (any
        date when None), ordered by (list id, recipient id), strictly after `after`."""

    @abc.abstractmethod
    def stream(self, account_id: int, flt: UnsubscriberFilter,
               window: Window | None) -> Iterator[Unsubscriber]:
        """Every match in the same order, read in batches through a server-side cursor so
        memory stays flat; consume it inside the unit of work."""

    @abc.abstractmethod
    def add_profile(self, account_id: int, profile: ExportProfile) -> bool:
        """False when the account has a profile of that name already."""

    @abc.abstractmethod
    def profiles(self, account_id: int) -> list[ExportProfile]:
        """By name."""

    @abc.abstractmethod
    def remove_profile(self, account_id: int, name: str) -> bool:
        """False when there was no such profile."""


class ReportRepository(abc.ABC):
    """The opens and clicks of a list's email messages (spec 5). `message_id` None: every
    message of the list."""

    @abc.abstractmethod
    def by_message(self, account_id: int, list_id: int,
                   message_id: int | None) -> reports.MessageReport:
        """Clicks by link (the most clicked first) and opens, each with its count per
        address (the most active first)."""

    @abc.abstractmethod
    def subscriber(self, account_id: int, list_id: int,
                   email: str) -> reports.Subscriber | None:
        """The recipient with this address (case-insensitive) as the list knows them; None
        when nobody has it or they are not in the list."""

    @abc.abstractmethod
    def hits(self, account_id: int, list_id: int, recipient_id: int,
             message_id: int | None) -> list[reports.Hit]:
        """The recipient's opens and clicks, oldest first."""


@dataclasses.dataclass(frozen=True)
class FtpUser:
    username: str
    account_id: int
    password_hash: str
    created_at: dt.datetime


class FtpUserRepository(abc.ABC):
    @abc.abstractmethod
    def add(self, account_id: int, username: str, password_hash: str) -> bool:
        """False when the username is taken (by any account)."""

    @abc.abstractmethod
    def by_username(self, username: str) -> FtpUser | None: ...

    @abc.abstractmethod
    def of_account(self, account_id: int) -> list[FtpUser]: ...

    @abc.abstractmethod
    def remove(self, account_id: int, username: str) -> bool: ...


@dataclasses.dataclass(frozen=True)
class SyncFile:
    """A file content imported (or being imported) into a list by the daily sync."""

    account_id: int
    list_id: int
    sha256: str
    name: str
    process_id: int | None
    status: str  # importing | done
    received_at: dt.datetime
    done_at: dt.datetime | None


class SyncFileRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, account_id: int, list_id: int, sha256: str,
            lock: bool = False) -> SyncFile | None: ...

    @abc.abstractmethod
    def add(self, account_id: int, list_id: int, sha256: str, name: str, process_id: int,
            now: dt.datetime) -> bool:
        """False when that content is already recorded for the list (another sync has it)."""

    @abc.abstractmethod
    def importing(self, account_id: int) -> list[SyncFile]: ...

    @abc.abstractmethod
    def mark_done(self, account_id: int, list_id: int, sha256: str, now: dt.datetime) -> None: ...

    @abc.abstractmethod
    def forget(self, account_id: int, list_id: int, sha256: str) -> None:
        """The import failed: a later copy of the file is imported afresh."""
