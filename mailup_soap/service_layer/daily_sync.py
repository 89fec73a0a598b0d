"""The daily batch sync: every complete file an account posted under `import/<list id>/` on
its FTP site is imported into that list with the bulk engine, then moved to `done/` (or
`failed/`) with a report beside it; then the account's export profiles are written. The
files of a list with an import running wait, and a job tries them again a little later.

Safe to re-run at any point: a file's content is recorded with its import process before any
row is merged, so a sync killed mid-file resumes that process on the next run (the batches
already merged are not merged again), and the same content posted twice to a list changes
nothing the second time."""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Iterable, Iterator

from mailup_soap import errors
from mailup_soap.domain.import_readers import StagedRow, read_csv, utf8_lines
from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessStatus, RowStatus
from mailup_soap.domain.model import AccountStatus, ChangeSource
from mailup_soap.service_layer import exports, ftp_accounts, import_runner
from mailup_soap.service_layer.deps import Deps
from mailup_soap.service_layer.ports import DroppedFile, FileDrop

log = logging.getLogger("mailup_soap.sync")

# MailUp's datasync defaults (spec 7.1): new recipients subscribed, existing ones updated
# without a status change; the optional `status` column asks for more, row by row.
SYNC_OPTIONS = ImportOptions()
EXTRA_COLUMNS = ("status", "groups")
# A report lists this many rejected lines, then says how many more there were.
REPORT_REJECTED_MAX = 10_000
SOURCE = ChangeSource.CONSOLE  # an operator-configured batch import, as in MailUp
# A list with an import running when the sync reaches its files: they are tried again this
# much later by a job, up to this many times; after that the next daily run takes them.
RETRY_AFTER = dt.timedelta(minutes=10)
RETRIES = 12
RETRY_TASK = "mailup:sync_waiting_files"
SYNC_QUEUE = "sync"


@dataclasses.dataclass(frozen=True)
class FileResult:
    file: DroppedFile
    # imported | duplicate | failed | waiting (the list has an import running, or an earlier
    # file of the list waits)
    outcome: str
    report: str | None  # path relative to the account's home
    process_id: int | None = None


@dataclasses.dataclass(frozen=True)
class SyncSummary:
    account_id: int
    files: list[FileResult]
    exports: list[str]


def sync_all(deps: Deps) -> list[SyncSummary]:
    """The periodic job: every active account, one after the other. One account's trouble
    is logged and does not stop the others."""
    with deps.uow() as uow:
        accounts = [a.id for a in uow.accounts.all() if a.status is AccountStatus.ACTIVE]
    summaries = []
    for account_id in accounts:
        try:
            summaries.append(sync_account(deps, account_id))
        except Exception:
            log.exception("daily sync of account %d failed", account_id)
    return summaries


def sync_account(deps: Deps, account_id: int) -> SyncSummary:
    drop = _drop(deps)
    ftp_accounts.prepare_home(deps, account_id)
    results = _sync_files(deps, account_id, drop.ready_files(account_id))
    written = exports.run_profiles(deps, account_id)
    _retry_waiting(deps, account_id, results, attempt=1)
    return SyncSummary(account_id, results, written)


def sync_waiting(deps: Deps, account_id: int, list_ids: list[int],
                 attempt: int) -> list[FileResult]:
    """The retry job: the files of `list_ids` that are ready now (those left waiting, and
    any posted since), once more; `attempt` counts from 1."""
    with deps.uow() as uow:
        account = uow.accounts.get(account_id)
    if account is None or account.status is not AccountStatus.ACTIVE:
        return []
    wanted = set(list_ids)
    ready = [f for f in _drop(deps).ready_files(account_id) if f.list_id in wanted]
    results = _sync_files(deps, account_id, ready)
    _retry_waiting(deps, account_id, results, attempt + 1)
    return results


def _sync_files(deps: Deps, account_id: int, files: list[DroppedFile]) -> list[FileResult]:
    """The files in the order they were posted. Once a file of a list waits, the list's
    later files wait too: a list's files are imported in the order they were posted."""
    results = []
    waiting: set[int] = set()
    for file in files:
        if file.list_id in waiting:
            result = FileResult(file, "waiting", None)
        else:
            result = sync_file(deps, file)
        if result.outcome == "waiting":
            waiting.add(file.list_id)
        results.append(result)
    _tidy_interrupted(deps, account_id)
    for result in results:
        log.info("account %d list %d: %s %s (report %s)", account_id, result.file.list_id,
                 result.file.name, result.outcome, result.report)
    return results


def _retry_waiting(deps: Deps, account_id: int, results: list[FileResult],
                   attempt: int) -> None:
    lists = sorted({r.file.list_id for r in results if r.outcome == "waiting"})
    if not lists:
        return
    if attempt > RETRIES:
        log.warning("account %d: lists %s still have an import running; their files wait "
                    "for the next daily sync", account_id, lists)
        return
    with deps.uow() as uow:
        uow.jobs.defer(RETRY_TASK, SYNC_QUEUE,
                       {"account_id": account_id, "list_ids": lists, "attempt": attempt},
                       at=deps.clock.now() + RETRY_AFTER, lock=f"sync-{account_id}")
        uow.commit()


def sync_file(deps: Deps, file: DroppedFile) -> FileResult:
    drop = _drop(deps)
    received = deps.clock.now()
    digest = _sha256(drop, file)
    with deps.uow() as uow:
        known_list = uow.lists.get(file.account_id, file.list_id) is not None
        record = uow.sync_files.get(file.account_id, file.list_id, digest)
    if not known_list:
        return _failed(drop, file, received, f"list {file.list_id} does not exist")
    if record is not None and record.status == "done":
        report = _report(file, "already imported: nothing changed", received, deps.clock.now(),
                         extra=[f"same content as {record.name}, imported "
                                f"{_iso(record.done_at or record.received_at)} "
                                f"(import process {record.process_id})"])
        return FileResult(file, "duplicate", drop.finish(file, "done", report),
                          record.process_id)
    if record is not None and record.process_id is not None:
        process_id = record.process_id  # a run stopped mid-file: go on where it stopped
    else:
        try:
            started = _stage(deps, file, digest)
        except (errors.ImportDocumentEmpty, errors.ImportDocumentInvalid) as exc:
            return _failed(drop, file, received, exc.reason)
        if started is None:
            return FileResult(file, "waiting", None)
        process_id = started
    status = import_runner.run_process(deps, process_id, keep_rows=True)
    with deps.uow() as uow:
        process = uow.imports.get(process_id)
        assert process is not None
        rejected = _first(uow.imports.rejected_rows(process_id), REPORT_REJECTED_MAX)
    done = status is ProcessStatus.COMPLETED
    report = _report(file, "imported" if done else "failed", received, deps.clock.now(),
                     process, rejected)
    path = drop.finish(file, "done" if done else "failed", report)
    with deps.uow() as uow:
        if done:
            uow.sync_files.mark_done(file.account_id, file.list_id, digest, deps.clock.now())
        else:
            uow.sync_files.forget(file.account_id, file.list_id, digest)
        uow.imports.clear_rows(process_id)
        uow.commit()
    return FileResult(file, "imported" if done else "failed", path, process_id)


def _stage(deps: Deps, file: DroppedFile, digest: str) -> int | None:
    """Store the file's rows as a running import process, recorded with the content's hash,
    in one transaction: all of it or nothing. None when the list has an import running,
    before the file is read or once it is stored (import_runner.stage_running)."""
    drop = _drop(deps)
    try:
        import_runner.refuse_if_running(deps, file.account_id, file.list_id)
        with deps.uow() as uow:
            group_ids = {g.id for g in uow.groups.for_lists(file.account_id, [file.list_id])}
            with drop.open(file) as raw:
                rows = checked_rows(read_csv(utf8_lines(raw), SYNC_OPTIONS, EXTRA_COLUMNS),
                                    group_ids, file.list_id)
                process_id = import_runner.stage_running(uow, deps, file.account_id, file.list_id,
                                                         rows, SYNC_OPTIONS, SOURCE)
            if not uow.sync_files.add(file.account_id, file.list_id, digest, file.name,
                                      process_id, deps.clock.now()):
                return None  # another sync is importing the same content right now
            uow.commit()
            return process_id
    except errors.ImportAlreadyRunning:
        return None


def checked_rows(rows: Iterable[StagedRow], group_ids: set[int],
                 list_id: int) -> Iterator[StagedRow]:
    """Validate the sync's extra columns: `status` one of RowStatus (or empty), `groups`
    ids of groups of the list, comma separated. A bad value rejects its row."""
    allowed = {s.value for s in RowStatus}
    for row in rows:
        if row.problem is not None:
            yield row
            continue
        status = row.extra.get("status", "").strip().lower()
        raw_groups = [g.strip() for g in row.extra.get("groups", "").split(",") if g.strip()]
        problem = None
        if status and status not in allowed:
            problem = f"unknown status {status!r} (subscribe, unsubscribe, pending or delete)"
        for group in raw_groups:
            if not (group.isascii() and group.isdigit() and int(group) in group_ids):
                problem = f"group {group!r} is not a group of list {list_id}"
                break
        if problem:
            yield StagedRow(row.row_no, None, None, {}, problem)
        else:
            extra = {"status": status} if status else {}
            if raw_groups:
                extra["groups"] = ",".join(raw_groups)
            yield dataclasses.replace(row, extra=extra)


def _tidy_interrupted(deps: Deps, account_id: int) -> None:
    """A run stopped after moving a file but before recording it: finish the bookkeeping."""
    with deps.uow() as uow:
        for record in uow.sync_files.importing(account_id):
            process = uow.imports.get(record.process_id) if record.process_id else None
            if process is None or process.status is ProcessStatus.FAILED:
                uow.sync_files.forget(account_id, record.list_id, record.sha256)
            elif process.status is ProcessStatus.COMPLETED:
                uow.sync_files.mark_done(account_id, record.list_id, record.sha256,
                                         deps.clock.now())
            else:
                continue
            if process is not None:
                uow.imports.clear_rows(process.id)
        uow.commit()


def _failed(drop: FileDrop, file: DroppedFile, received: dt.datetime, reason: str) -> FileResult:
    report = _report(file, "failed: nothing imported", received, received, extra=[
        f"reason: {reason}"])
    return FileResult(file, "failed", drop.finish(file, "failed", report))


def _report(file: DroppedFile, result: str, received: dt.datetime, finished: dt.datetime,
            process: ImportProcess | None = None,
            rejected: tuple[list[tuple[int, str]], int] | None = None,
            extra: list[str] | None = None) -> str:
    lines = [f"file: {file.name}", f"list: {file.list_id}", f"result: {result}",
             f"received: {_iso(received)}", f"finished: {_iso(finished)}", *(extra or [])]
    if process is not None:
        c = process.counts
        rejected_total = c.rejected_email + c.rejected_mobile + c.rejected_other
        lines += [f"import process: {process.id}",
                  f"rows read: {c.total}",
                  f"new recipients: {c.new_email + c.new_mobile}",
                  f"existing recipients: {c.existing_email + c.existing_mobile}",
                  f"unsubscribed: {c.opt_out_email + c.opt_out_mobile}",
                  f"confirmation emails: {process.confirmations}",
                  f"rejected rows: {rejected_total}"]
        if process.error:
            lines.append(f"error: {process.error}")
    if rejected and rejected[0]:
        shown, more = rejected
        lines += ["", "rejected lines:", *[f"line {n}: {why}" for n, why in shown]]
        if more:
            lines.append(f"... and {more} more")
    return "\n".join(lines) + "\n"


def _first(items: Iterator[tuple[int, str]], limit: int) -> tuple[list[tuple[int, str]], int]:
    shown: list[tuple[int, str]] = []
    more = 0
    for item in items:
        if len(shown) < limit:
            shown.append(item)
        else:
            more += 1
    return shown, more


def _sha256(drop: FileDrop, file: DroppedFile) -> str:
    digest = hashlib.sha256()
    with drop.open(file) as raw:
        while chunk := raw.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _drop(deps: Deps) -> FileDrop:
    if deps.file_drop is None:
        raise RuntimeError("no FTP root configured (MAILUP_FTP_ROOT)")
    return deps.file_drop
