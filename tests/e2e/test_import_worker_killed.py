"""An import process whose `mailup-soap worker` is killed (SIGKILL) in the middle: what it
committed is whole batches, and the job procrastinate retries ends the process in the state a
clean run gives."""
from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap.config import Settings
from mailup_soap.domain.import_readers import StagedRow
from mailup_soap.domain.imports import ImportOptions
from mailup_soap.service_layer import import_runner, imports
from mailup_soap.service_layer.deps import Deps
from tests.conftest import AccountInfo, new_account, run_jobs
from tests.e2e.conftest import (
    ServiceFactory,
    age_the_heartbeat_of_the_worker_running,
    auth_header,
    defer_the_stalled_jobs_check,
    merged_rows,
    new_list,
    parse,
    start_worker,
)

pytestmark = pytest.mark.e2e

# Three batches in each of the two lanes (a lane's batch covers BATCH_ROWS row numbers), so
# a kill after the first commit leaves batches to merge in both.
ROWS = 2 * import_runner.BATCH_ROWS + 50_000
SEEDED = 1_000  # of them already subscribed, with other values


def _rows(count: int, value: str) -> Iterator[StagedRow]:
    for n in range(count):
        yield StagedRow(n + 1, f"k{n}@killed.example", None, {1: f"{value}{n}"})


def _queued(soap: ServiceFactory, deps: Deps, account: AccountInfo) -> tuple[int, int, str]:
    """A list holding SEEDED of the rows, and a process of all ROWS started over SOAP:
    (process id, list id, list GUID)."""
    list_id, guid = new_list(soap, account, "Killed")
    import_runner.import_now(deps, account.console_id, list_id, _rows(SEEDED, "Old"),
                             ImportOptions())
    with deps.uow() as uow:
        process_id = imports.create_process(uow, account.console_id, list_id,
                                            _rows(ROWS, "New"), ImportOptions())
        uow.commit()
    started = parse(soap("Import").StartProcess(idList=list_id, listGUID=guid,
                                                idProcess=process_id,
                                                _soapheaders=[auth_header(account)]))
    assert started.findtext("mailupBody/ReturnCode") == "0"
    return process_id, list_id, guid


def _progress(engine: sa.Engine, process_id: int) -> sa.Row[Any]:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT status, rows_done, lanes_done, new_email, existing_email "
            "FROM import_processes WHERE id = :p"), {"p": process_id}).one()


def _state(engine: sa.Engine, account_id: int, list_id: int) -> dict[str, Any]:
    """The list's recipients with their values and status (as a digest, and counted), and
    the events of each type with the recipients they name."""
    with engine.connect() as conn:
        members = conn.execute(sa.text(
            "SELECT count(*) AS n, md5(string_agg(r.email || '|' || r.field1 || '|' || s.status,"
            "                                     ',' ORDER BY r.email)) AS digest "
            "FROM subscriptions s JOIN recipients r "
            "  ON r.account_id = s.account_id AND r.id = s.recipient_id "
            "WHERE s.account_id = :a AND s.list_id = :l"), {"a": account_id, "l": list_id}).one()
        events = conn.execute(sa.text(
            "SELECT type, count(*), count(DISTINCT recipient_id) FROM events "
            "WHERE account_id = :a AND list_id = :l GROUP BY type ORDER BY type"),
            {"a": account_id, "l": list_id}).all()
    return {"members": tuple(members), "events": [tuple(e) for e in events]}


def _details(soap: ServiceFactory, account: AccountInfo, list_id: int, guid: str,
             process_id: int) -> dict[str, str | None]:
    doc = parse(soap("Import").GetProcessDetails(idList=list_id, listGUID=guid,
                                                 idProcess=process_id,
                                                 _soapheaders=[auth_header(account)]))
    process = doc.find(".//ImportProcess")
    assert process is not None
    return {child.tag: child.text for child in process
            if child.tag not in ("StartDate", "EndDate")}


def test_a_killed_import_worker_commits_whole_batches_and_its_retried_job_ends_as_a_clean_run(
        soap: ServiceFactory, server_settings: Settings, deps: Deps, engine: sa.Engine,
        tmp_path: pathlib.Path) -> None:
    clean, killed = new_account(deps), new_account(deps)
    clean_id, clean_list, clean_guid = _queued(soap, deps, clean)
    run_jobs(server_settings, "imports")
    process_id, list_id, guid = _queued(soap, deps, killed)

    log = tmp_path / "worker.log"
    worker = start_worker(server_settings, log, "--queue", "imports", "--concurrency", "1")
    try:
        deadline = time.monotonic() + 60
        while not any(_progress(engine, process_id).lanes_done or ()):
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.02)
    finally:
        worker.kill()  # SIGKILL: the batches in flight never commit, nothing cleans up
        worker.wait(timeout=10)
    at_kill = _progress(engine, process_id)
    state_at_kill = _state(engine, killed.console_id, list_id)
    merged_at_kill = merged_rows(engine, process_id, at_kill.lanes_done)
    aged = age_the_heartbeat_of_the_worker_running(engine, "mailup:run_import", "process_id",
                                                   process_id)

    defer_the_stalled_jobs_check(server_settings)
    run_jobs(server_settings, "maintenance", "imports")

    # Killed with batches still to merge, and with whole batches committed: each lane's
    # progress is a batch's end, and the list holds exactly what the counters say was merged
    # (the seeded subscribers, plus a recipient and its one event per new row merged).
    assert at_kill.status == 2 and 0 < merged_at_kill < ROWS, at_kill
    assert at_kill.rows_done == min(at_kill.lanes_done)
    assert set(at_kill.lanes_done) <= {0, import_runner.BATCH_ROWS, 2 * import_runner.BATCH_ROWS}
    assert merged_at_kill == at_kill.new_email + at_kill.existing_email
    assert state_at_kill["members"][0] == SEEDED + at_kill.new_email
    assert state_at_kill["events"] == [
        ("subscription_confirmed", SEEDED + at_kill.new_email, SEEDED + at_kill.new_email)]
    assert aged == 1, log.read_text()
    # The retried job merged the rest: the same answer and the same list as the clean run.
    assert _details(soap, killed, list_id, guid, process_id) == _details(
        soap, clean, clean_list, clean_guid, clean_id)
    assert _details(soap, killed, list_id, guid, process_id)["StatusCode"] == "3"
    assert _state(engine, killed.console_id, list_id) == _state(
        engine, clean.console_id, clean_list)
    assert _state(engine, clean.console_id, clean_list)["members"][0] == ROWS
