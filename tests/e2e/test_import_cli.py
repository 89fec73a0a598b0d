"""`mailup-soap import FILE`: the bulk engine from the command line, XML and MailUp CSV."""
from __future__ import annotations

import dataclasses
import os
import pathlib
import signal
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap import errors
from mailup_soap.db import bulk_import
from mailup_soap.db import tables as t
from mailup_soap.domain.import_readers import read_csv
from mailup_soap.domain.imports import ImportOptions, ProcessStatus
from mailup_soap.service_layer import auth, import_runner, lists, sending
from mailup_soap.service_layer.deps import AccessKey, Deps
from tests.conftest import AccountInfo, new_account
from tests.e2e.conftest import merged_rows

pytestmark = pytest.mark.e2e
CLI = os.path.join(os.path.dirname(sys.executable), "mailup-soap")


def _run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, "import", *args], env=dict(os.environ, DATABASE_URL=database_url),
                          capture_output=True, text=True, timeout=60)


def _list(deps: Deps, account: AccountInfo) -> int:
    key = AccessKey(auth.login(deps, account.console_user, account.password,
                               console_id=account.console_id))
    return lists.create_list(deps, key, "CLI").id


def _recipients(engine: sa.Engine, account: AccountInfo) -> dict[str, str | None]:
    r = t.recipients.c
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(r.email, r.field1).where(
            r.account_id == account.console_id)).all())  # type: ignore[arg-type]


def test_the_cli_imports_xml_and_csv_files_into_a_list(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo,
        tmp_path: pathlib.Path) -> None:
    list_id = _list(deps, account)
    xml = tmp_path / "people.xml"
    xml.write_text('<subscribers><subscriber email="ann@cli.example" Prefix="" Number="" '
                   'Name=""><campo1>Ann</campo1></subscriber></subscribers>')
    csv = tmp_path / "people.csv"
    csv.write_text("1|111\nBob|bob@cli.example\nBad|not-an-email\n")

    from_xml = _run(database_url, str(xml), "--account", str(account.console_id),
                    "--list", str(list_id))
    from_csv = _run(database_url, str(csv), "--account", str(account.console_id),
                    "--list", str(list_id))

    assert from_xml.returncode == 0, from_xml.stderr
    assert "1 new" in from_xml.stdout
    assert from_csv.returncode == 0, from_csv.stderr
    assert "1 new" in from_csv.stdout and "1 rejected" in from_csv.stdout
    assert _recipients(engine, account) == {"ann@cli.example": "Ann", "bob@cli.example": "Bob"}


def test_the_cli_refuses_bad_files_with_a_message_and_imports_nothing(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo,
        tmp_path: pathlib.Path) -> None:
    list_id = _list(deps, account)
    binary = tmp_path / "photo.csv"
    binary.write_bytes(bytes(range(256)) * 20)
    wrong_header = tmp_path / "wrong.csv"
    wrong_header.write_text("email;name\na@b.example;A\n")

    answers = [_run(database_url, str(path), "--account", str(account.console_id),
                    "--list", str(list_id))
               for path in (binary, wrong_header, tmp_path / "missing.xml")]

    assert [a.returncode for a in answers] == [2, 2, 2]
    assert all(a.stderr.startswith("mailup-soap: ") and "Traceback" not in a.stderr
               for a in answers)
    assert _recipients(engine, account) == {}


def test_the_cli_sends_an_email_of_the_list_as_the_confirmation_request_or_refuses_the_id(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo,
        tmp_path: pathlib.Path) -> None:
    list_id = _list(deps, account)
    key = AccessKey(auth.login(deps, account.console_user, account.password,
                               console_id=account.console_id))
    own = sending.create_newsletter(deps, key, list_id, "Confirm", "HTML",
                                    "<p>[subscribe]</p>", [])
    xml = tmp_path / "people.xml"
    xml.write_text('<subscribers><subscriber email="ann@cli.example" Prefix="" Number="" '
                   'Name=""></subscriber></subscribers>')
    flags = ["--account", str(account.console_id), "--list", str(list_id), "--confirm-email"]

    refused = _run(database_url, str(xml), *flags, "--confirm-message", str(own + 1000))
    nothing = _recipients(engine, account)
    done = _run(database_url, str(xml), *flags, "--confirm-message", str(own))
    with engine.connect() as conn:
        jobs = conn.execute(sa.text(
            "SELECT args FROM procrastinate_jobs WHERE task_name = :task "
            "AND (args->>'account_id')::int = :a"),
            {"task": bulk_import.CONFIRM_TASK, "a": account.console_id}).scalars().all()

    assert refused.returncode == 2
    assert refused.stderr.startswith("mailup-soap: idConfirmNL: ") and "Traceback" not in (
        refused.stderr)
    assert nothing == {}
    assert done.returncode == 0, done.stderr
    assert [j["message_id"] for j in jobs] == [own]


def _subscribed(engine: sa.Engine, account: AccountInfo, list_id: int) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text(
            "SELECT count(*) FROM subscriptions WHERE account_id = :a AND list_id = :l "
            "AND status = 'subscribed'"), {"a": account.console_id, "l": list_id}).scalar_one())


def _process(engine: sa.Engine, account: AccountInfo) -> sa.Row[Any] | None:
    with engine.connect() as conn:
        return conn.execute(sa.text(
            "SELECT id, status, rows_done, rows_staged, new_email, error, lanes_done "
            "FROM import_processes WHERE account_id = :a ORDER BY id DESC LIMIT 1"),
            {"a": account.console_id}).first()


@pytest.mark.parametrize("lanes", [1, 2])
def test_an_import_stopped_with_ctrl_c_keeps_whole_batches_and_resumes_to_a_clean_runs_end(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo,
        tmp_path: pathlib.Path, lanes: int) -> None:
    list_id = _list(deps, account)
    rows = 2 * import_runner.BATCH_ROWS + 1  # three batches
    big = tmp_path / "big.csv"
    big.write_text("111|1\n" + "".join(f"p{n}@ctrl-c.example|P{n}\n" for n in range(rows)))
    running = subprocess.Popen(
        [CLI, "import", str(big), "--account", str(account.console_id), "--list", str(list_id)],
        env=dict(os.environ, DATABASE_URL=database_url, MAILUP_IMPORT_LANES=str(lanes)),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while (process := _process(engine, account)) is None or process.rows_done == 0:
        assert running.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    running.send_signal(signal.SIGINT)  # Ctrl-C, with batches still to merge
    _, stderr = running.communicate(timeout=60)
    stopped = _process(engine, account)
    merged_when_stopped = _subscribed(engine, account, list_id)
    assert stopped is not None
    merged_by_lanes = merged_rows(engine, stopped.id, stopped.lanes_done)
    unreadable = tmp_path / "unreadable.csv"  # the list's being busy is told first
    unreadable.write_text("email;name\nsmall@ctrl-c.example;S\n")
    busy = _run(database_url, str(unreadable), "--account", str(account.console_id),
                "--list", str(list_id))

    resumed = _run(database_url, "--resume", str(process.id), "--account",
                   str(account.console_id))

    assert running.returncode == 130
    assert f"mailup-soap import --resume {process.id} --account {account.console_id}" in stderr
    assert "Traceback" not in stderr
    assert stopped.status == 2
    assert len(stopped.lanes_done) == lanes
    # Whole batches and their counters, no half of one (row 1 is the CSV header). Ctrl-C
    # rolls back this thread's batch; the other lanes commit the batch they were merging.
    assert set(stopped.lanes_done) <= {import_runner.BATCH_ROWS, 2 * import_runner.BATCH_ROWS}
    assert stopped.rows_done == min(stopped.lanes_done)
    assert merged_when_stopped == stopped.new_email == merged_by_lanes
    if lanes == 1:
        assert merged_when_stopped == stopped.rows_done - 1
    assert busy.returncode == 2
    assert busy.stderr == f"mailup-soap: an import process is already running for list {list_id}\n"
    assert resumed.returncode == 0, resumed.stderr
    assert f"process {process.id}: status 3 (completed), {rows} rows: {rows} new" in (
        resumed.stdout)
    assert _subscribed(engine, account, list_id) == rows
    assert _recipients(engine, account)[f"p{rows - 1}@ctrl-c.example"] == f"P{rows - 1}"


def test_an_interrupted_import_can_be_cancelled_which_frees_its_list(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo,
        tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    list_id = _list(deps, account)
    monkeypatch.setattr(import_runner, "BATCH_ROWS", 2)

    def ctrl_c(done: int, total: int) -> None:
        raise KeyboardInterrupt

    rows = read_csv(["111\n", *[f"{c}@cancel.example\n" for c in "abcde"]], ImportOptions())
    with pytest.raises(errors.ImportInterrupted) as interrupted:
        import_runner.import_now(deps, account.console_id, list_id, rows, ImportOptions(),
                                 progress=ctrl_c)
    process_id = interrupted.value.process_id
    other = new_account(deps)

    elsewhere = _run(database_url, "--cancel", str(process_id), "--account",
                     str(other.console_id))
    cancelled = _run(database_url, "--cancel", str(process_id), "--account",
                     str(account.console_id))
    again = _run(database_url, "--resume", str(process_id), "--account",
                 str(account.console_id))
    with engine.connect() as conn:
        staged = conn.execute(sa.text("SELECT count(*) FROM import_rows WHERE process_id = :p"),
                              {"p": process_id}).scalar_one()
    later = tmp_path / "later.csv"
    later.write_text("111\nlater@cancel.example\n")
    freed = _run(database_url, str(later), "--account", str(account.console_id),
                 "--list", str(list_id))

    assert elsewhere.returncode == 2 and f"import process {process_id} not found" in (
        elsewhere.stderr)
    assert cancelled.returncode == 1, cancelled.stderr
    # the first batch: row 1 is the CSV header, row 2 the first address
    assert (f"process {process_id}: status 4 (failed), 5 rows: 1 new, 0 existing, 0 opted out, "
            "0 rejected; cancelled from the command line: the rows after row 2 were not "
            "merged") in cancelled.stdout
    assert again.returncode == 2
    assert (f"import process {process_id} is failed, not an import the command line left "
            "running") in again.stderr
    assert staged == 0
    assert freed.returncode == 0, freed.stderr
    assert _subscribed(engine, account, list_id) == 2


def test_a_cancelled_import_whose_lanes_stopped_at_different_rows_says_where_each_was(
        deps: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    list_id = _list(deps, account)
    monkeypatch.setattr(import_runner, "BATCH_ROWS", 2)
    monkeypatch.setattr(import_runner, "LANE_MIN_ROWS", 0)
    laned = dataclasses.replace(deps, import_lanes=2)
    real_merge, lane_1_merged = bulk_import.merge_batch, threading.Event()
    lane_1_batches: list[int] = []

    def ctrl_c_in_lane_0_once_lane_1_merged_two_batches(*args: Any) -> int:
        if args[9] == 0:
            assert lane_1_merged.wait(10)
            raise KeyboardInterrupt
        lane_1_batches.append(args[5])
        done = real_merge(*args)
        if len(lane_1_batches) == 2:
            lane_1_merged.set()
        return done

    monkeypatch.setattr(bulk_import, "merge_batch",
                        ctrl_c_in_lane_0_once_lane_1_merged_two_batches)
    rows = read_csv(["111\n", *[f"{c}@lanes.example\n" for c in "abcdef"]], ImportOptions())
    with pytest.raises(errors.ImportInterrupted) as interrupted:
        import_runner.import_now(laned, account.console_id, list_id, rows, ImportOptions())
    process_id = interrupted.value.process_id
    stopped = _process(engine, account)

    cancelled = import_runner.cancel_now(deps, account.console_id, process_id)

    assert stopped is not None and stopped.lanes_done[0] == 0
    assert stopped.lanes_done[1] in (4, 6, 7)  # two batches, or the one it was merging too
    assert (cancelled.status, cancelled.error) == (
        ProcessStatus.FAILED, "cancelled from the command line: the rows after row 0 were not "
        f"all merged (its lanes had merged up to rows 0, {stopped.lanes_done[1]})")


def test_resume_and_cancel_leave_the_processes_of_workers_and_of_the_daily_sync_alone(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    list_id = _list(deps, account)
    with engine.begin() as conn:
        by_job, by_sync = (conn.execute(sa.text(
            "INSERT INTO import_processes (account_id, list_id, status, options, by_list_job) "
            "VALUES (:a, :l, 2, '{}', :job) RETURNING id"),
            {"a": account.console_id, "l": list_id, "job": job}).scalar_one()
            for job in (True, False))
        conn.execute(sa.text("INSERT INTO sync_files (account_id, list_id, sha256, name, "
                             "process_id) VALUES (:a, :l, 'f00d', 'daily.csv', :p)"),
                     {"a": account.console_id, "l": list_id, "p": by_sync})

    answers = [_run(database_url, action, str(process), "--account", str(account.console_id))
               for process in (by_job, by_sync) for action in ("--resume", "--cancel")]

    assert [a.returncode for a in answers] == [2, 2, 2, 2]
    assert [a.stderr.split(" is ", 1)[1].split(",")[0] for a in answers] == [
        "merged by a worker's job", "merged by a worker's job", "a daily sync file's",
        "a daily sync file's"]
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM import_processes WHERE account_id = :a"),
                            {"a": account.console_id}).scalars().all() == [2, 2]
