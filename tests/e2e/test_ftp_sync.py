"""The daily batch sync over a real FTP site (pyftpdlib on loopback, driven with ftplib):
uploads, the sync job on a real procrastinate worker, reports and exports read back over FTP,
bad files, duplicates, an interrupted run, TLS and confinement."""
from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import ftplib
import io
import ipaddress
import os
import secrets
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap import bootstrap
from mailup_soap.config import Settings
from mailup_soap.db import bulk_import
from mailup_soap.domain.import_readers import read_csv
from mailup_soap.domain.imports import ImportOptions
from mailup_soap.domain.model import AccountStatus, MailingList
from mailup_soap.service_layer import daily_sync, ftp_accounts, import_runner, imports, lists
from mailup_soap.service_layer.deps import AccessKey, Deps, WsLogin
from tests.conftest import AccountInfo, HeldRead, new_account, run_jobs

# -- the FTP site --------------------------------------------------------------------------


class FtpSite:
    def __init__(self, settings: Settings) -> None:
        self.server = bootstrap.build_ftp_server(settings, bind=("127.0.0.1", 0))
        self.port = int(self.server.address[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close_all()


@pytest.fixture(scope="module")
def site(settings: Settings) -> Iterator[FtpSite]:
    running = FtpSite(settings)
    yield running
    running.close()


@pytest.fixture
def user(deps: Deps, account: AccountInfo) -> tuple[str, str]:
    name, password = f"ftp{account.console_id}", "ftp-" + secrets.token_hex(8)
    ftp_accounts.add_user(deps, account.console_id, name, password)
    return name, password


def _connect(site: FtpSite, user: tuple[str, str]) -> ftplib.FTP:
    ftp = ftplib.FTP()
    try:
        ftp.connect("127.0.0.1", site.port, timeout=10)
        ftp.login(*user)
    except BaseException:
        ftp.close()
        raise
    return ftp


def _upload(site: FtpSite, user: tuple[str, str], path: str, content: bytes) -> None:
    with _connect(site, user) as ftp:
        ftp.storbinary(f"STOR {path}", io.BytesIO(content))


def _download_bytes(site: FtpSite, user: tuple[str, str], path: str) -> bytes:
    out = io.BytesIO()
    with _connect(site, user) as ftp:
        ftp.retrbinary(f"RETR {path}", out.write)
    return out.getvalue()


def _download(site: FtpSite, user: tuple[str, str], path: str) -> str:
    return _download_bytes(site, user, path).decode("utf-8")


def _names(site: FtpSite, user: tuple[str, str], folder: str) -> list[str]:
    with _connect(site, user) as ftp:
        return sorted(name.rsplit("/", 1)[-1] for name in ftp.nlst(folder))


# -- data ------------------------------------------------------------------------------------


def _key(deps: Deps, account: AccountInfo) -> AccessKey:
    from mailup_soap.service_layer import auth

    return AccessKey(auth.login(deps, account.console_user, account.password))


def _list(deps: Deps, account: AccountInfo) -> MailingList:
    return lists.create_list(deps, _key(deps, account), "Synced")


def _group(deps: Deps, account: AccountInfo, lst: MailingList, name: str) -> int:
    return lists.create_group(deps, _key(deps, account), lst.id, name, "").group.id


def _email(tag: str) -> str:
    return f"{tag}-{secrets.token_hex(4)}@example.test"


def _q(engine: sa.Engine, sql: str, **params: Any) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def _state(engine: sa.Engine, account_id: int, list_id: int) -> dict[str, tuple[Any, ...]]:
    rows = _q(engine, """SELECT r.email, s.status, s.unsubscribe_reason, r.field1, r.field2,
                                (SELECT string_agg(g.name, ',' ORDER BY g.name)
                                 FROM group_members m JOIN groups g
                                   ON g.account_id = m.account_id AND g.id = m.group_id
                                 WHERE m.account_id = r.account_id AND m.recipient_id = r.id)
                         FROM recipients r LEFT JOIN subscriptions s
                           ON s.account_id = r.account_id AND s.recipient_id = r.id
                          AND s.list_id = :l
                         WHERE r.account_id = :a""", a=account_id, l=list_id)
    return {r[0]: tuple(r[1:]) for r in rows}


def _events(engine: sa.Engine, account_id: int) -> list[tuple[str, str]]:
    return sorted((r.type, r.email) for r in _q(
        engine, "SELECT type, email FROM events WHERE account_id = :a", a=account_id))


def _seed(deps: Deps, account: AccountInfo, lst: MailingList, subscribed: list[str],
          unsubscribed: list[str]) -> None:
    rows = read_csv(["111|1\n", *[f"{e}|Seeded\n" for e in subscribed + unsubscribed]],
                    ImportOptions())
    import_runner.import_now(deps, account.console_id, lst.id, rows, ImportOptions())
    if unsubscribed:
        rows = read_csv(["111\n", *[f"{e}\n" for e in unsubscribed]], ImportOptions())
        import_runner.import_now(deps, account.console_id, lst.id, rows,
                                 ImportOptions(as_opt_out=True))


def _sync_job(settings: Settings) -> None:
    """What the periodic task does at MAILUP_SYNC_TIME, run on a real worker."""
    app = bootstrap.build_job_app(settings)
    with app.open():
        app.configure_task("mailup:daily_sync", queue="sync").defer(timestamp=0)
    run_jobs(settings, "sync")


# -- tests -----------------------------------------------------------------------------------


def test_a_posted_csv_is_imported_by_the_daily_job_and_its_report_read_back_over_ftp(
        site: FtpSite, user: tuple[str, str], deps: Deps, settings: Settings,
        engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    vip = _group(deps, account, lst, "VIP")
    existing, leaving, removed, bounced = (_email(t) for t in ("old", "leave", "gone", "bnc"))
    _seed(deps, account, lst, [existing, leaving, removed], [bounced])
    with engine.begin() as conn:  # a hard bounce: the sync must never undo it
        conn.execute(sa.text("UPDATE subscriptions SET unsubscribe_reason = 8 "
                             "WHERE account_id = :a AND list_id = :l"
                             " AND status = 'unsubscribed'"), {"a": account.console_id,
                                                                "l": lst.id})
    new, pending, new_unsub = _email("new"), _email("pend"), _email("newu")
    content = "\n".join([
        "1|2|111|status|groups",
        f"Ann|Smith|{new}||{vip}",              # line 2: new, subscribed, in VIP
        f"Old|Updated|{existing}||",            # line 3: data updated, status unchanged
        f"||{leaving}|unsubscribe|",            # line 4: unsubscribed, reason 4
        f"||{removed}|delete|",                 # line 5: subscription removed
        f"||{pending}|pending|",                # line 6: pending, confirmation email
        f"||{bounced}|subscribe|",              # line 7: a hard bounce stays unsubscribed
        "||not-an-email||",                     # line 8: rejected
        f"||{_email('x')}|maybe|",              # line 9: rejected, unknown status
        f"||{_email('y')}||999",                # line 10: rejected, not a group of the list
        f"||{new_unsub}|unsubscribe|",          # line 11: new, imported as unsubscribed
    ]) + "\n"
    _upload(site, user, f"import/{lst.id}/subscribers.csv", content.encode())

    _sync_job(settings)

    state = _state(engine, account.console_id, lst.id)
    assert state[new] == ("subscribed", None, "Ann", "Smith", "VIP")
    assert state[existing] == ("subscribed", None, "Old", "Updated", None)
    assert state[leaving][:2] == ("unsubscribed", 4)
    assert state[removed][:2] == (None, None)
    assert state[pending][:2] == ("pending", None)
    assert state[bounced][:2] == ("unsubscribed", 8)
    assert state[new_unsub][:2] == ("unsubscribed", 4)
    assert "not-an-email" not in state
    events = [e for e in _events(engine, account.console_id) if e[1] in (
        new, existing, leaving, removed, pending, bounced, new_unsub)]
    assert sorted(events) == sorted([
        ("subscription_confirmed", existing), ("subscription_confirmed", leaving),
        ("subscription_confirmed", removed), ("subscription_confirmed", bounced),
        ("unsubscribed", bounced),  # the seed
        ("subscription_confirmed", new), ("unsubscribed", leaving), ("removed", removed),
        ("subscription_requested", pending), ("unsubscribed", new_unsub)])

    assert _names(site, user, f"import/{lst.id}") == ["done", "failed"]
    assert _names(site, user, f"import/{lst.id}/done") == [
        "subscribers.csv", "subscribers.csv.report.txt"]
    report = _download(site, user, f"import/{lst.id}/done/subscribers.csv.report.txt")
    assert "result: imported" in report
    assert "rows read: 10" in report
    assert "new recipients: 3" in report
    assert "rejected rows: 3" in report
    assert "line 8: Email: " in report
    assert "line 9: unknown status 'maybe'" in report
    assert f"line 10: group '999' is not a group of list {lst.id}" in report
    assert _download(site, user, f"import/{lst.id}/done/subscribers.csv") == content


def test_a_file_still_being_uploaded_is_not_touched_until_its_upload_ends(
        site: FtpSite, user: tuple[str, str], deps: Deps, engine: sa.Engine,
        account: AccountInfo) -> None:
    lst = _list(deps, account)
    first, second = _email("first"), _email("second")
    with _connect(site, user) as ftp:
        ftp.voidcmd("TYPE I")
        data = ftp.transfercmd(f"STOR import/{lst.id}/today.csv")
        data.sendall(f"111\n{first}\n".encode())

        summary = daily_sync.sync_account(deps, account.console_id)

        assert summary.files == []
        assert _state(engine, account.console_id, lst.id) == {}
        data.sendall(f"{second}\n".encode())
        data.close()
        ftp.voidresp()

    summary = daily_sync.sync_account(deps, account.console_id)

    assert [(r.file.name, r.outcome) for r in summary.files] == [("today.csv", "imported")]
    assert set(_state(engine, account.console_id, lst.id)) == {first, second}


def test_an_interrupted_upload_leaves_nothing_behind(
        site: FtpSite, user: tuple[str, str], deps: Deps, account: AccountInfo,
        settings: Settings) -> None:
    lst = _list(deps, account)
    with _connect(site, user) as ftp:
        ftp.voidcmd("TYPE I")
        data = ftp.transfercmd(f"STOR import/{lst.id}/cut.csv")
        data.sendall(b"111\nsomeone@example.test\n")
        ftp.abort()
        data.close()

    assert daily_sync.sync_account(deps, account.console_id).files == []
    assert _names(site, user, f"import/{lst.id}") == ["done", "failed"]


def test_the_same_file_posted_twice_changes_nothing_the_second_time(
        site: FtpSite, user: tuple[str, str], deps: Deps, engine: sa.Engine,
        account: AccountInfo) -> None:
    lst = _list(deps, account)
    content = f"111|status\n{_email('a')}|\n{_email('b')}|pending\n".encode()
    _upload(site, user, f"import/{lst.id}/monday.csv", content)
    daily_sync.sync_account(deps, account.console_id)
    before = (_state(engine, account.console_id, lst.id), _events(engine, account.console_id))

    _upload(site, user, f"import/{lst.id}/tuesday.csv", content)
    summary = daily_sync.sync_account(deps, account.console_id)

    assert [(r.file.name, r.outcome) for r in summary.files] == [("tuesday.csv", "duplicate")]
    assert (_state(engine, account.console_id, lst.id),
            _events(engine, account.console_id)) == before
    report = _download(site, user, f"import/{lst.id}/done/tuesday.csv.report.txt")
    assert "already imported: nothing changed" in report
    assert "same content as monday.csv" in report


def test_a_daily_file_with_the_same_name_keeps_every_days_copy_and_report(
        site: FtpSite, user: tuple[str, str], deps: Deps, account: AccountInfo) -> None:
    lst = _list(deps, account)
    for day in ("a", "b"):
        _upload(site, user, f"import/{lst.id}/daily.csv", f"111\n{_email(day)}\n".encode())
        daily_sync.sync_account(deps, account.console_id)

    assert _names(site, user, f"import/{lst.id}/done") == sorted([
        "daily.csv", "daily.csv.report.txt", "daily.2.csv", "daily.2.csv.report.txt"])


@pytest.mark.parametrize(("content", "reason"), [
    (b"111,1\na@example.test,Ann\n", "not separated by '|'"),
    (b"111|77\na@example.test|x\n", "unknown column '77'"),
    (b"1|2\nAnn|Smith\n", "no email (111) or mobile (333/444) column"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\xff", "is not UTF-8 text"),
    (b"", "empty"),
])
def test_a_bad_file_moves_to_failed_with_a_report_and_imports_nothing(
        site: FtpSite, user: tuple[str, str], deps: Deps, engine: sa.Engine,
        account: AccountInfo, content: bytes, reason: str) -> None:
    lst = _list(deps, account)
    _upload(site, user, f"import/{lst.id}/bad.csv", content)

    summary = daily_sync.sync_account(deps, account.console_id)

    assert [(r.file.name, r.outcome) for r in summary.files] == [("bad.csv", "failed")]
    assert _state(engine, account.console_id, lst.id) == {}
    assert _q(engine, "SELECT id FROM import_processes WHERE account_id = :a",
              a=account.console_id) == []
    report = _download(site, user, f"import/{lst.id}/failed/bad.csv.report.txt")
    assert "result: failed: nothing imported" in report
    assert reason in report
    assert _download_bytes(site, user, f"import/{lst.id}/failed/bad.csv") == content


def test_a_file_for_a_list_that_does_not_exist_is_refused_with_a_report(
        site: FtpSite, user: tuple[str, str], deps: Deps, account: AccountInfo) -> None:
    with _connect(site, user) as ftp:
        ftp.mkd("import/999")
        ftp.storbinary("STOR import/999/x.csv", io.BytesIO(b"111\na@example.test\n"))

    summary = daily_sync.sync_account(deps, account.console_id)

    assert [(r.outcome, r.report) for r in summary.files] == [
        ("failed", "import/999/failed/x.csv.report.txt")]
    assert "list 999 does not exist" in _download(site, user, summary.files[0].report or "")


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: not an Exception, so nothing marks it failed."""


@pytest.mark.parametrize("lanes", [1, 2])
def test_a_sync_killed_mid_file_resumes_and_ends_like_one_clean_run(
        site: FtpSite, deps: Deps, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch,
        lanes: int) -> None:
    monkeypatch.setattr(import_runner, "BATCH_ROWS", 2)
    monkeypatch.setattr(import_runner, "LANE_MIN_ROWS", 0)
    laned = dataclasses.replace(deps, import_lanes=lanes)
    subscribed = [_email(f"s{n}") for n in range(3)]
    lines = ["111|1|status", f"{subscribed[0]}|changed|", f"{_email('n1')}|new|",
             f"{subscribed[1]}||unsubscribe", "bad||", f"{subscribed[2]}||delete",
             f"{_email('n2')}||pending", f"{_email('n3')}||"]
    content = ("\n".join(lines) + "\n").encode()

    def prepared() -> tuple[AccountInfo, MailingList, tuple[str, str]]:
        acc = new_account(deps)
        lst = _list(deps, acc)
        _seed(deps, acc, lst, subscribed, [])
        login = (f"ftp{acc.console_id}", "pw-" + secrets.token_hex(6))
        ftp_accounts.add_user(deps, acc.console_id, *login)
        _upload(site, login, f"import/{lst.id}/crm.csv", content)
        return acc, lst, login

    killed_acc, killed_list, killed_login = prepared()
    real_merge, calls = bulk_import.merge_batch, []

    def killed_during_the_second_batch(*args: Any, **kwargs: Any) -> int:
        calls.append(args[5:7])
        done = real_merge(*args, **kwargs)
        if len(calls) == 2:
            raise WorkerKilled()
        return done

    monkeypatch.setattr(bulk_import, "merge_batch", killed_during_the_second_batch)
    with pytest.raises(WorkerKilled):
        daily_sync.sync_account(laned, killed_acc.console_id)
    monkeypatch.setattr(bulk_import, "merge_batch", real_merge)
    assert "crm.csv" in _names(site, killed_login, f"import/{killed_list.id}")
    [lanes_done] = _q(engine, "SELECT p.lanes_done FROM sync_files f JOIN import_processes p "
                              "ON p.id = f.process_id WHERE f.account_id = :a",
                      a=killed_acc.console_id)[0]

    resumed = daily_sync.sync_account(laned, killed_acc.console_id)
    clean_acc, clean_list, _ = prepared()  # merged in one lane, in one go
    daily_sync.sync_account(dataclasses.replace(deps, import_lanes=1), clean_acc.console_id)

    assert [r.outcome for r in resumed.files] == ["imported"]
    assert len(lanes_done) == lanes
    if lanes == 1:
        assert calls == [(0, 2), (2, 4)]
    assert _state(engine, killed_acc.console_id, killed_list.id) == _state(
        engine, clean_acc.console_id, clean_list.id)
    assert _events(engine, killed_acc.console_id) == _events(engine, clean_acc.console_id)
    killed_report = _download(site, killed_login,
                              f"import/{killed_list.id}/done/crm.csv.report.txt")
    assert "rows read: 7" in killed_report and "line 5: Email" in killed_report
    assert _q(engine, "SELECT status FROM sync_files WHERE account_id = :a",
              a=killed_acc.console_id) == [("done",)]


def test_files_of_a_list_with_an_import_running_wait_and_are_tried_again_ten_minutes_later(
        site: FtpSite, user: tuple[str, str], deps: Deps, settings: Settings,
        engine: sa.Engine, account: AccountInfo) -> None:
    # `mailup-soap import` merging into the list when the daily run reaches its files.
    lst = _list(deps, account)
    with engine.begin() as conn:
        console = conn.execute(sa.text(
            "INSERT INTO import_processes (account_id, list_id, status, options, source) "
            "VALUES (:a, :l, 2, '{}', 'Console') RETURNING id"),
            {"a": account.console_id, "l": lst.id}).scalar_one()
    first, second = _email("first"), _email("second")
    _upload(site, user, f"import/{lst.id}/1.csv", f"111\n{first}\n".encode())
    _upload(site, user, f"import/{lst.id}/2.csv", f"111\n{second}\n".encode())
    retries = ("SELECT args, round(extract(epoch FROM scheduled_at - now()) / 60) "
               "FROM procrastinate_jobs WHERE lock = :lock AND status = 'todo'")
    lock = f"sync-{account.console_id}"

    daily = daily_sync.sync_account(deps, account.console_id)
    retry_jobs = _q(engine, retries, lock=lock)
    last = daily_sync.sync_waiting(deps, account.console_id, [lst.id], daily_sync.RETRIES)
    after_last = _q(engine, retries, lock=lock)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE import_processes SET status = 3 WHERE id = :p"),
                     {"p": console})
        conn.execute(sa.text("UPDATE procrastinate_jobs SET scheduled_at = now() "
                             "WHERE lock = :lock AND status = 'todo'"), {"lock": lock})
    run_jobs(settings, "sync")

    assert [(r.file.name, r.outcome) for r in daily.files] == [
        ("1.csv", "waiting"), ("2.csv", "waiting")]
    assert retry_jobs == [({"account_id": account.console_id, "list_ids": [lst.id],
                            "attempt": 1}, 10)]
    assert [r.outcome for r in last] == ["waiting", "waiting"]
    assert after_last == retry_jobs  # the last attempt queues no other
    assert _names(site, user, f"import/{lst.id}/done") == [
        "1.csv", "1.csv.report.txt", "2.csv", "2.csv.report.txt"]
    assert set(_state(engine, account.console_id, lst.id)) == {first, second}
    assert _q(engine, retries, lock=lock) == []


def test_a_lists_later_file_waits_with_its_first_even_when_the_import_ends_in_between(
        site: FtpSite, user: tuple[str, str], deps: Deps, settings: Settings,
        engine: sa.Engine, account: AccountInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    # Posted in this order: first.csv (list A), other.csv (list B), second.csv (list A). A's
    # import ends while the sync reads other.csv: second.csv must not go before first.csv.
    list_a, list_b = _list(deps, account), _list(deps, account)
    with engine.begin() as conn:
        console = conn.execute(sa.text(
            "INSERT INTO import_processes (account_id, list_id, status, options, source) "
            "VALUES (:a, :l, 2, '{}', 'Console') RETURNING id"),
            {"a": account.console_id, "l": list_a.id}).scalar_one()
    reader = _email("a")
    posted = [(f"import/{list_a.id}/first.csv", f"111|1\n{reader}|first\n"),
              (f"import/{list_b.id}/other.csv", f"111\n{_email('b')}\n"),
              (f"import/{list_a.id}/second.csv", f"111|1\n{reader}|second\n")]
    assert deps.file_drop is not None
    home = deps.file_drop.home(account.console_id)
    for n, (path, content) in enumerate(posted):
        _upload(site, user, path, content.encode())
        os.utime(home / path, (1_700_000_000 + n, 1_700_000_000 + n))
    held = HeldRead(daily_sync.utf8_lines)
    monkeypatch.setattr(daily_sync, "utf8_lines", held)

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        sync = pool.submit(daily_sync.sync_account, deps, account.console_id)
        try:
            assert held.reading.wait(30)  # other.csv: first.csv is waiting already
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE import_processes SET status = 3 WHERE id = :p"),
                             {"p": console})
        finally:
            held.release()
        daily = sync.result(timeout=60)
    after_daily = _state(engine, account.console_id, list_a.id)
    lock = f"sync-{account.console_id}"
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE procrastinate_jobs SET scheduled_at = now() "
                             "WHERE lock = :lock AND status = 'todo'"), {"lock": lock})
    run_jobs(settings, "sync")

    assert [(r.file.name, r.outcome) for r in daily.files] == [
        ("first.csv", "waiting"), ("other.csv", "imported"), ("second.csv", "waiting")]
    assert reader not in after_daily
    assert _names(site, user, f"import/{list_a.id}/done") == [
        "first.csv", "first.csv.report.txt", "second.csv", "second.csv.report.txt"]
    # The retry imported them in the order they were posted: the later file's value stays.
    assert _state(engine, account.console_id, list_a.id)[reader][:3] == (
        "subscribed", None, "second")
    assert _q(engine, "SELECT 1 FROM procrastinate_jobs WHERE lock = :lock "
                      "AND status = 'todo'", lock=lock) == []


def test_start_process_for_the_list_does_not_wait_while_the_sync_reads_a_file(
        site: FtpSite, user: tuple[str, str], deps: Deps, settings: Settings,
        engine: sa.Engine, account: AccountInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    # The sync reads a file without the list's lock (StartProcess waited for the whole read
    # before). A process started meanwhile makes the file wait, as if it had run already.
    lst = _list(deps, account)
    queued_reader, posted = _email("queued"), _email("posted")
    with deps.uow() as uow:
        queued = imports.create_process(uow, account.console_id, lst.id, read_csv(
            ["111\n", f"{queued_reader}\n"], ImportOptions()), ImportOptions())
        uow.commit()
    _upload(site, user, f"import/{lst.id}/crm.csv", f"111\n{posted}\n".encode())
    held = HeldRead(daily_sync.utf8_lines)
    monkeypatch.setattr(daily_sync, "utf8_lines", held)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        sync = pool.submit(daily_sync.sync_account, deps, account.console_id)
        assert held.reading.wait(30)
        start = pool.submit(imports.start_process, deps,
                            WsLogin(account.ws_user, account.password), lst.id, str(lst.guid),
                            queued)
        try:
            start.result(timeout=10)  # while the file is still being read
        finally:
            held.release()
        daily = sync.result(timeout=60)
    run_jobs(settings, "imports")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE procrastinate_jobs SET scheduled_at = now() "
                             "WHERE lock = :lock AND status = 'todo'"),
                     {"lock": f"sync-{account.console_id}"})
    run_jobs(settings, "sync")

    assert [(r.file.name, r.outcome) for r in daily.files] == [("crm.csv", "waiting")]
    assert _q(engine, "SELECT status FROM import_processes WHERE account_id = :a ORDER BY id",
              a=account.console_id) == [(3,), (3,)]
    assert set(_state(engine, account.console_id, lst.id)) == {queued_reader, posted}
    assert _names(site, user, f"import/{lst.id}/done") == ["crm.csv", "crm.csv.report.txt"]


def test_a_login_sees_only_its_own_home(
        site: FtpSite, user: tuple[str, str], deps: Deps, account: AccountInfo) -> None:
    lst = _list(deps, account)
    other = new_account(deps)
    other_list = _list(deps, other)
    _upload(site, user, f"import/{lst.id}/mine.csv", b"111\na@example.test\n")

    with _connect(site, user) as ftp:
        ftp.cwd("/..")
        assert ftp.pwd() == "/"
        assert sorted(ftp.nlst()) == ["export", "import"]
        assert [n.rsplit("/", 1)[-1] for n in ftp.nlst("import")] == [str(lst.id)]
        with pytest.raises(ftplib.error_perm):
            ftp.cwd(f"../{other.console_id}")
        with pytest.raises(ftplib.error_perm):
            ftp.retrbinary(f"RETR ../{other.console_id}/import/{other_list.id}/x.csv",
                           lambda _: None)


def test_wrong_passwords_unknown_users_and_suspended_accounts_cannot_log_in(
        site: FtpSite, user: tuple[str, str], deps: Deps) -> None:
    suspended = new_account(deps, status=AccountStatus.SUSPENDED)
    ftp_accounts.add_user(deps, suspended.console_id, f"ftp{suspended.console_id}",
                          "long-enough-pw")
    logins = [(user[0], "wrong-password"), ("nobody-here", "whatever-pw"),
              (f"ftp{suspended.console_id}", "long-enough-pw")]

    def refusal(login: tuple[str, str]) -> str:
        try:
            _connect(site, login).close()
        except ftplib.error_perm as exc:
            return str(exc)
        return "logged in"

    # The site answers a failed login after a pause (against guessing): try them together.
    with concurrent.futures.ThreadPoolExecutor(len(logins)) as pool:
        answers = list(pool.map(refusal, logins))

    assert [a[:3] for a in answers] == ["530"] * 3
    _connect(site, user).close()  # the right password still works


def test_appending_and_resuming_uploads_are_refused(
        site: FtpSite, user: tuple[str, str], deps: Deps, account: AccountInfo) -> None:
    lst = _list(deps, account)
    with _connect(site, user) as ftp, pytest.raises(ftplib.error_perm, match="550"):
        ftp.storbinary(f"APPE import/{lst.id}/x.csv", io.BytesIO(b"111\n"))


def test_an_export_profile_writes_its_csv_into_export_after_the_sync(
        site: FtpSite, user: tuple[str, str], deps: Deps, engine: sa.Engine,
        account: AccountInfo) -> None:
    from mailup_soap.domain import unsubscribers as unsub
    from mailup_soap.service_layer import exports

    lst = _list(deps, account)
    gone = _email("gone")
    _seed(deps, account, lst, [_email("stay")], [gone])
    exports.add_profile(deps, account.console_id, "all-unsubscribers",
                        unsub.parse_filter(str(lst.id), "", "all", None, None, "", ""))

    summary = daily_sync.sync_account(deps, account.console_id)

    today = dt.datetime.now(dt.UTC).strftime("%Y%m%d")
    assert summary.exports == [f"export/all-unsubscribers-{today}.csv"]
    exported = _download(site, user, summary.exports[0]).splitlines()
    assert exported[0].startswith("email,")
    assert [line.split(",")[0] for line in exported[1:]] == [gone]


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return str(folder / "cert.pem"), str(folder / "key.pem")


def test_explicit_tls_carries_the_upload_and_can_be_required(
        settings: Settings, tls_files: tuple[str, str], user: tuple[str, str], deps: Deps,
        engine: sa.Engine, account: AccountInfo) -> None:
    import dataclasses

    cert, key = tls_files
    tls_site = FtpSite(dataclasses.replace(settings, ftp_tls_cert=cert, ftp_tls_key=key,
                                           ftp_tls_required=True))
    lst = _list(deps, account)
    try:
        context = ssl.create_default_context(cafile=cert)
        with ftplib.FTP_TLS(context=context) as ftps:
            ftps.connect("127.0.0.1", tls_site.port, timeout=10)
            ftps.login(*user)
            ftps.prot_p()
            ftps.storbinary(f"STOR import/{lst.id}/secure.csv",
                            io.BytesIO(f"111\n{(who := _email('tls'))}\n".encode()))
        with pytest.raises(ftplib.error_perm, match=r"550|530"):
            _connect(tls_site, user)
    finally:
        tls_site.close()

    daily_sync.sync_account(deps, account.console_id)
    assert set(_state(engine, account.console_id, lst.id)) == {who}


CLI = os.path.join(os.path.dirname(sys.executable), "mailup-soap")


def _cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATABASE_URL=settings.database_url, MAILUP_FTP_ROOT=settings.ftp_root,
               MAILUP_FTP_SETTLE_SECONDS="0", MAILUP_SECRET_KEY="test-secret")
    return subprocess.run([CLI, *args], env=env, capture_output=True, text=True, timeout=120)


def test_ftp_user_commands_add_list_and_remove_a_login_that_then_works_and_stops_working(
        site: FtpSite, settings: Settings, account: AccountInfo) -> None:
    name = f"cli{account.console_id}"
    added = _cli(settings, "ftp-user", "add", name, "--account", str(account.console_id),
                 "--password", "cli-password-1")
    listed = _cli(settings, "ftp-user", "list", "--account", str(account.console_id))
    _connect(site, (name, "cli-password-1")).close()
    taken = _cli(settings, "ftp-user", "add", name, "--account", str(account.console_id),
                 "--password", "cli-password-1")
    short = _cli(settings, "ftp-user", "add", name + "x", "--account",
                 str(account.console_id), "--password", "short")
    removed = _cli(settings, "ftp-user", "remove", name, "--account", str(account.console_id))

    assert added.returncode == 0, added.stderr
    assert listed.stdout.split("\t")[:2] == [name, str(account.console_id)]
    assert (taken.returncode, taken.stderr.strip()) == (
        2, f"mailup-soap: FTP user: {name} exists already")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert removed.returncode == 0
    with pytest.raises(ftplib.error_perm, match="530"):
        _connect(site, (name, "cli-password-1"))


def test_sync_now_runs_in_the_terminal_and_sync_queues_the_job_for_a_worker(
        site: FtpSite, user: tuple[str, str], deps: Deps, settings: Settings,
        engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    first, second = _email("now"), _email("queued")
    _upload(site, user, f"import/{lst.id}/a.csv", f"111\n{first}\nnope\n".encode())

    now = _cli(settings, "sync", "--now", "--account", str(account.console_id))

    assert now.returncode == 0, now.stderr
    assert now.stdout.splitlines() == [
        f"account {account.console_id} list {lst.id}: a.csv: imported "
        f"(report import/{lst.id}/done/a.csv.report.txt)"]
    assert set(_state(engine, account.console_id, lst.id)) == {first}

    _upload(site, user, f"import/{lst.id}/b.csv", f"111\n{second}\n".encode())
    queued = _cli(settings, "sync")
    assert queued.returncode == 0 and "daily sync queued" in queued.stdout
    assert set(_state(engine, account.console_id, lst.id)) == {first}
    run_jobs(settings, "sync")
    assert set(_state(engine, account.console_id, lst.id)) == {first, second}


def test_stou_is_refused_so_no_upload_lands_under_a_name_the_sync_would_take(
        site: FtpSite, user: tuple[str, str], deps: Deps, account: AccountInfo) -> None:
    lst = _list(deps, account)
    with _connect(site, user) as ftp:
        ftp.cwd(f"import/{lst.id}")
        with pytest.raises(ftplib.error_perm, match="502"):
            ftp.storbinary("STOU", io.BytesIO(b"111\na@example.test\n"))
