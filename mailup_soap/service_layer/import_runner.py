"""Merging an import process's staged rows (db/bulk_import.py), batch by batch and in lanes:
by a worker's job (`run_process`), or in this process for `mailup-soap import` and the daily
sync, which stage and merge a file's rows themselves."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor

from mailup_soap import errors
from mailup_soap.domain.import_readers import ReaderRow
from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessStatus
from mailup_soap.domain.model import ChangeSource
from mailup_soap.service_layer import imports
from mailup_soap.service_layer.deps import Deps
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger("mailup_soap.imports")

# Rows per merge transaction: large enough that per-statement overhead vanishes and that
# the joins which scan the account's recipients (hash joins) run once per 100,000 rows, not
# per 25,000 (the merge ran 1.7x faster); small enough that a crash redoes little. The
# worker's memory does not depend on it: the batch lives in PostgreSQL's temporary tables.
BATCH_ROWS = 100_000

# A batch rolled back because another transaction created one of its recipients is merged
# again at once (it then finds them); only a contact created again and again could exhaust this.
_BATCH_ATTEMPTS = 5
# A process with fewer rows left than this merges in one lane: a second connection and
# thread would cost more than they save.
LANE_MIN_ROWS = 20_000


def run_process(deps: Deps, process_id: int,
                progress: Callable[[int, int], None] | None = None,
                keep_rows: bool = False) -> ProcessStatus:
    """The worker's part: merge the stored rows batch by batch, from where a previous run
    stopped. A large process merges in lanes (`deps.import_lanes`), one thread and
    connection each, its contacts split among them by a hash of their address (see
    `_lanes`). Each batch takes its lane and starts at the lane's recorded progress, so two
    runners of one process (a retried job beside a slow one) never merge a batch twice. Any
    unexpected error ends the process as failed (status 4) and is logged, once every lane
    has stopped. `keep_rows` leaves the staged rows for the caller (the daily sync reports
    the rejected ones)."""
    try:
        lanes = _lanes(deps, process_id)
        if isinstance(lanes, ProcessStatus):
            return lanes
        ended = _merge_lanes(deps, process_id, lanes, _Progress(progress))
        stopped = [status for status in ended if status is not None]
        if stopped:
            return stopped[0]
        return _complete(deps, process_id, keep_rows)
    except Exception as exc:
        log.exception("import process %d failed", process_id)
        with deps.uow() as uow:
            uow.imports.mark(process_id, ProcessStatus.FAILED, deps.clock.now(),
                             f"{type(exc).__name__}: {exc}"[:500])
            uow.commit()
        return ProcessStatus.FAILED


def _lanes(deps: Deps, process_id: int) -> int | ProcessStatus:
    """How many lanes the process merges in, decided by its first run and kept: the
    configured number for a large process, one for a small one and for one with a row that
    gives a contact by mobile number alone. Such a row finds its recipient by number, which
    a row of another lane may be giving to a recipient at the same time: which one it finds
    would depend on timing, where one lane merges the rows in order. The status instead,
    when the process is not running."""
    with deps.uow() as uow:
        process = uow.imports.get(process_id)
        if process is None or process.status is not ProcessStatus.RUNNING:
            return process.status if process else ProcessStatus.FAILED
        if process.lanes_done is not None:
            return len(process.lanes_done)
        wanted = deps.import_lanes
        if wanted > 1 and (process.rows_staged - process.rows_done < LANE_MIN_ROWS
                           or _has_rows_by_number(uow, process)):
            wanted = 1
        lanes = len(uow.imports.set_lanes(process_id, wanted))
        uow.commit()
        return lanes


def _has_rows_by_number(uow: AbstractUnitOfWork, process: ImportProcess) -> bool:
    if process.rows_by_number is not None:  # counted as the rows were stored
        return process.rows_by_number > 0
    return uow.imports.has_rows_by_number(process.id, process.rows_done)


class _Progress:
    """The progress callback, called from every lane: with the process's progress after
    each batch, never going back (a lane's report may overtake another's)."""

    def __init__(self, callback: Callable[[int, int], None] | None) -> None:
        self._callback = callback
        self._done = 0
        self._lock = threading.Lock()

    def __call__(self, done: int, staged: int) -> None:
        if self._callback is None:
            return
        with self._lock:
            if done >= self._done:
                self._done = done
                self._callback(done, staged)


def _merge_lanes(deps: Deps, process_id: int, lanes: int,
                 report: _Progress) -> list[ProcessStatus | None]:
    """Lane 0 in this thread, the others in threads of their own (none for one lane). When
    one lane fails (or this thread is interrupted: Ctrl-C), the others stop after the batch
    they are merging, which commits whole; the error is raised once they have all stopped."""
    stop = threading.Event()
    # A pool's threads start with the work submitted to it: one lane starts none.
    with ThreadPoolExecutor(max(lanes - 1, 1),
                            thread_name_prefix=f"import-{process_id}") as pool:
        others = [pool.submit(_merge_lane, deps, process_id, lane, lanes, report, stop)
                  for lane in range(1, lanes)]
        try:
            first = _merge_lane(deps, process_id, 0, lanes, report, stop)
            return [first, *(future.result() for future in others)]
        except BaseException:  # also while waiting for the other lanes
            stop.set()
            raise


def _merge_lane(deps: Deps, process_id: int, lane: int, lanes: int, report: _Progress,
                stop: threading.Event) -> ProcessStatus | None:
    """Merge the lane's batches: None once the lane is done (or told to stop), or the
    status of a process that is no longer running. Any error stops the other lanes."""
    try:
        attempts = 0
        while not stop.is_set():
            try:
                step = _merge_next_batch(deps, process_id, lane, lanes)
            except errors.ContactCreatedMeanwhile:
                attempts += 1
                if attempts >= _BATCH_ATTEMPTS:
                    raise
                log.info("import process %d: a recipient was created meanwhile; merging the "
                         "batch again", process_id)
                continue
            attempts = 0
            if step is None or isinstance(step, ProcessStatus):
                return step
            report(*step)
        return None
    except BaseException:
        stop.set()
        raise


def _merge_next_batch(deps: Deps, process_id: int, lane: int,
                      lanes: int) -> ProcessStatus | tuple[int, int] | None:
    """Merge the lane's next batch in one transaction: (the process's rows done, rows
    staged), None when the lane has merged all its rows, or the status of a process no
    longer running."""
    with deps.uow() as uow:
        found = uow.imports.lane(process_id, lane)
        if found is None or found[0].status is not ProcessStatus.RUNNING:
            return found[0].status if found else ProcessStatus.FAILED
        process, low = found
        if low >= process.rows_staged:
            return None
        high = min(low + BATCH_ROWS, process.rows_staged)
        done = uow.imports.merge_batch(process, low, high, deps.clock.now(), lane, lanes)
        uow.commit()
        return done, process.rows_staged


def _complete(deps: Deps, process_id: int, keep_rows: bool) -> ProcessStatus:
    """Every lane has merged its rows: the process is completed (by whichever runner comes
    first)."""
    with deps.uow() as uow:
        process = uow.imports.get(process_id, lock=True)
        if process is None or process.status is not ProcessStatus.RUNNING:
            return process.status if process else ProcessStatus.FAILED
        if any(done < process.rows_staged for done in process.lanes_done or (0,)):
            raise RuntimeError(f"import process {process_id}: a lane stopped before its end")
        uow.imports.mark(process_id, ProcessStatus.COMPLETED, deps.clock.now())
        if not keep_rows:
            uow.imports.clear_rows(process_id)
        uow.commit()
        return ProcessStatus.COMPLETED


def import_now(deps: Deps, account_id: int, list_id: int, rows: Iterable[ReaderRow],
               opts: ImportOptions, source: ChangeSource = ChangeSource.CONSOLE,
               progress: Callable[[int, int], None] | None = None) -> ImportProcess:
    """`mailup-soap import FILE`: the same engine, run in this process (no worker)."""
    imports.check_options(opts)
    with deps.uow() as uow:
        if uow.lists.get(account_id, list_id) is None:
            raise errors.ListNotFound(list_id)
        imports.check_confirmation_message(uow, account_id, list_id, opts)
    refuse_if_running(deps, account_id, list_id)
    with deps.uow() as uow:
        process_id = stage_running(uow, deps, account_id, list_id, rows, opts, source)
        uow.commit()
    return _run_now(deps, process_id, progress)


def refuse_if_running(deps: Deps, account_id: int, list_id: int) -> None:
    """Before a file is read for the list (`stage_running`): ImportAlreadyRunning while a
    process of the list runs. A look without the list's lock, which StartProcess calls would
    otherwise wait for through the whole read; `stage_running` checks again under it."""
    with deps.uow() as uow:
        if uow.imports.running_for_list(account_id, list_id, lock=False):
            raise errors.ImportAlreadyRunning(list_id)


def stage_running(uow: AbstractUnitOfWork, deps: Deps, account_id: int, list_id: int,
                  rows: Iterable[ReaderRow], opts: ImportOptions, source: ChangeSource) -> int:
    """Store the rows as a process marked running, merged by the caller rather than by a
    job under the list's lock, in the caller's unit of work. ImportAlreadyRunning, under
    the list's lock, when a process of the list was started while the rows were read: the
    caller's transaction, rolled back, then leaves nothing."""
    process_id = imports.create_process(uow, account_id, list_id, rows, opts, source)
    if uow.imports.running_for_list(account_id, list_id):
        raise errors.ImportAlreadyRunning(list_id)
    uow.imports.mark(process_id, ProcessStatus.RUNNING, deps.clock.now())
    return process_id


def _run_now(deps: Deps, process_id: int,
             progress: Callable[[int, int], None] | None) -> ImportProcess:
    try:
        run_process(deps, process_id, progress)
    except KeyboardInterrupt:  # the open batch is rolled back with its connection
        raise errors.ImportInterrupted(process_id) from None
    return _read(deps, process_id)


def _read(deps: Deps, process_id: int) -> ImportProcess:
    with deps.uow() as uow:
        process = uow.imports.get(process_id)
    assert process is not None
    return process


def _interrupted(uow: AbstractUnitOfWork, account_id: int, process_id: int) -> ImportProcess:
    """A process `mailup-soap import` left running (stopped or killed in the middle), locked:
    running, and neither merged by a job that procrastinate would retry nor a daily sync
    file's (the sync goes on with those itself, report and all)."""
    process = uow.imports.get(process_id, account_id, lock=True)
    if process is None:
        raise errors.ImportProcessNotFound(process_id)
    if process.status is not ProcessStatus.RUNNING:
        raise errors.ImportNotInterrupted(process_id, process.status.name.lower())
    if process.by_list_job:
        raise errors.ImportNotInterrupted(process_id, "merged by a worker's job")
    if any(f.process_id == process_id for f in uow.sync_files.importing(account_id)):
        raise errors.ImportNotInterrupted(process_id, "a daily sync file's")
    return process


def resume_now(deps: Deps, account_id: int, process_id: int,
               progress: Callable[[int, int], None] | None = None) -> ImportProcess:
    """`mailup-soap import --resume`: merge the rest of an interrupted process, from the
    batch after the last one merged; it ends as one uninterrupted run would have. Safe
    beside a runner still alive: each batch starts from the progress recorded under the
    process's lock."""
    with deps.uow() as uow:
        _interrupted(uow, account_id, process_id)
    return _run_now(deps, process_id, progress)


def cancel_now(deps: Deps, account_id: int, process_id: int) -> ImportProcess:
    """`mailup-soap import --cancel`: end an interrupted process as failed (status 4), which
    frees its list. The batches merged before the interruption stay; the rest of its rows
    are deleted."""
    with deps.uow() as uow:
        process = _interrupted(uow, account_id, process_id)
        lanes = sorted(set(process.lanes_done or (process.rows_done,)))
        unmerged = (f"the rows after row {process.rows_done} were not merged" if len(lanes) == 1
                    else f"the rows after row {process.rows_done} were not all merged (its "
                         f"lanes had merged up to rows {', '.join(map(str, lanes))})")
        uow.imports.mark(process_id, ProcessStatus.FAILED, deps.clock.now(),
                         f"cancelled from the command line: {unmerged}")
        uow.imports.clear_rows(process_id)
        uow.commit()
    return _read(deps, process_id)
