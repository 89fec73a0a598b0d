"""Import processes through the Import service: created with their document (validated and
stored at once), started one at a time per list as jobs that a worker runs
(service_layer/import_runner.py merges them)."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from mailup_soap import errors
from mailup_soap.domain.contacts import parse_ids
from mailup_soap.domain.import_readers import ReaderRow, read_xml_string
from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessStatus
from mailup_soap.domain.model import ChangeSource
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.deps import Caller, Credentials, Deps
from mailup_soap.service_layer.lists import checked_list
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

IMPORT_TASK = "mailup:run_import"
IMPORT_QUEUE = "imports"


@dataclasses.dataclass(frozen=True)
class ListResult:
    """StartImportProcesses: what happened for one list."""

    list_id: int
    process_id: int
    error: errors.MailUpError | None


def check_options(opts: ImportOptions) -> None:
    problems = opts.problems()
    if problems:
        raise errors.InvalidArgument("import options", "; ".join(problems))


def create_process(uow: AbstractUnitOfWork, account_id: int, list_id: int,
                   rows: Iterable[ReaderRow], opts: ImportOptions,
                   source: ChangeSource = ChangeSource.API,
                   delivery_id: int | None = None) -> int:
    """Create a queued process and store its rows, in the caller's unit of work. With
    `delivery_id` the process is held for that SendMessageNL delivery: only `start_held`
    starts it."""
    process_id = uow.imports.create(account_id, list_id, opts, source, delivery_id)
    uow.imports.stage(process_id, rows)
    return process_id


def new_process(deps: Deps, cred: Credentials, list_id: int, list_guid: str | None,
                document: str | None, group_ids: str | None, opts: ImportOptions,
                start: bool = False) -> int:
    """NewImportProcess: returns the id of a process with status 1 (queued). With `start`
    (StartImportProcesses) the process is started in the same transaction, so one that
    cannot start (-601) is not left queued for a later start of everything queued."""
    opts = dataclasses.replace(opts, group_ids=tuple(parse_ids(group_ids, ",")))
    check_options(opts)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, list_guid)
        check_confirmation_message(uow, caller.account_id, list_id, opts)
        process_id = create_process(uow, caller.account_id, list_id,
                                    read_xml_string(document, opts), opts)
        if start:
            _start(uow, deps, caller, list_id, process_id)
        uow.commit()
        return process_id


def check_confirmation_message(uow: AbstractUnitOfWork, account_id: int, list_id: int,
                              opts: ImportOptions) -> None:
    """`idConfirmNL` with `ConfirmEmail`: an email of the list, sent as the confirmation
    request instead of the built-in one (0: the built-in one); any other id is -410."""
    message_id = opts.confirmation_message
    if message_id == 0:
        return
    if uow.sending.message(account_id, message_id, list_id) is None:
        raise errors.ConfirmationMessageNotFound(message_id, list_id)


def list_lock(account_id: int, list_id: int) -> str:
    """The procrastinate lock of a list's import jobs: one at a time on any number of
    workers, in the order they were started."""
    return f"import-list-{account_id}-{list_id}"


def _start(uow: AbstractUnitOfWork, deps: Deps, caller: Caller, list_id: int,
           process_id: int, refuse_if_running: bool = True) -> None:
    """Queue the process for a worker. StartProcess refuses while another process of the list
    runs (-601); starting everything queued instead lines them up: the per-list lock runs
    them one after the other. Only the jobs started here and by `start_held` hold that lock:
    while the daily sync or `mailup-soap import` has a process of the list running, a start
    of everything queued refuses too. A process held for a SendMessageNL is its sending's to
    start (-602)."""
    process = uow.imports.get(process_id, caller.account_id, lock=True)
    if process is None or process.list_id != list_id:
        raise errors.ImportProcessNotFound(process_id)
    if process.status is not ProcessStatus.QUEUED or process.delivery_id is not None:
        raise errors.ImportAlreadyStarted(process_id)
    _line_up(uow, deps, process, IMPORT_TASK, {"process_id": process_id},
             behind_list_jobs=not refuse_if_running)


def start_held(uow: AbstractUnitOfWork, deps: Deps, process: ImportProcess, task: str,
               args: dict[str, object]) -> None:
    """SendMessageNL's sending time: start the process held for it (locked by the caller) as
    a job `task` under the list's lock, after the list's processes started before it. Raises
    ImportAlreadyRunning while the daily sync or `mailup-soap import` merges a process of
    the list, which nothing lines up behind (nothing is written then)."""
    _line_up(uow, deps, process, task, args, behind_list_jobs=True)


def _line_up(uow: AbstractUnitOfWork, deps: Deps, process: ImportProcess, task: str,
             args: dict[str, object], behind_list_jobs: bool) -> None:
    """Mark the process running and defer `task` under the list's lock; ImportAlreadyRunning
    while a process of the list runs (`behind_list_jobs`: only one no job of that lock
    merges, since the lock lines this one up behind the others)."""
    if uow.imports.running_for_list(process.account_id, process.list_id,
                                    outside_list_jobs=behind_list_jobs):
        raise errors.ImportAlreadyRunning(process.list_id)
    uow.imports.mark(process.id, ProcessStatus.RUNNING, deps.clock.now(), by_list_job=True)
    uow.jobs.defer(task, IMPORT_QUEUE, args, lock=list_lock(process.account_id, process.list_id))


def start_process(deps: Deps, cred: Credentials, list_id: int, list_guid: str | None,
                  process_id: int) -> None:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, list_guid)
        _start(uow, deps, caller, list_id, process_id)
        uow.commit()


def process_details(deps: Deps, cred: Credentials, list_id: int, list_guid: str | None,
                    process_id: int) -> ImportProcess:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, list_guid)
        process = uow.imports.get(process_id, caller.account_id)
        if process is None or process.list_id != list_id:
            raise errors.ImportProcessNotFound(process_id)
        return process


def start_processes(deps: Deps, cred: Credentials, lists_ids: str | None,
                    lists_guids: str | None, document: str | None, groups_ids: str | None,
                    opts: ImportOptions) -> list[ListResult]:
    """StartImportProcesses: one process per list (`;`-separated ids and GUIDs, groups
    `22,23;24`), or, without a document, start every process NewImportProcess queued."""
    check_options(opts)
    if not (document or "").strip():
        return _start_queued(deps, cred)
    ids = [i.strip() for i in (lists_ids or "").split(";")]
    guids = [g.strip() for g in (lists_guids or "").split(";")]
    if len(ids) != len(guids):
        raise errors.ListCountMismatch()
    groups = (groups_ids or "").split(";")
    results = []
    for index, (raw_id, guid) in enumerate(zip(ids, guids, strict=True)):
        list_id = int(raw_id) if raw_id.isascii() and raw_id.isdigit() else 0
        try:
            process_id = new_process(deps, cred, list_id, guid, document,
                                     groups[index] if index < len(groups) else "", opts,
                                     start=True)
            results.append(ListResult(list_id, process_id, None))
        except errors.AuthenticationError:
            raise
        except errors.MailUpError as exc:
            results.append(ListResult(list_id, 0, exc))
    return results


def _start_queued(deps: Deps, cred: Credentials) -> list[ListResult]:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        queued = uow.imports.queued(caller.account_id)
    results = []
    for process in queued:
        try:
            with deps.uow() as uow:
                _start(uow, deps, caller, process.list_id, process.id, refuse_if_running=False)
                uow.commit()
            results.append(ListResult(process.list_id, process.id, None))
        except errors.ImportAlreadyStarted:
            # Another call (StartProcess, or this one from a client's other thread) started
            # it since the list was read: it is no longer queued, and not this call's.
            continue
        except errors.MailUpError as exc:
            results.append(ListResult(process.list_id, process.id, exc))
    return results
