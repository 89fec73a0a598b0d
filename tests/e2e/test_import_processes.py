"""Import processes through the real path: SOAP (zeep from MailUp's WSDL), a procrastinate
worker, PostgreSQL."""
from __future__ import annotations

import re
import secrets
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa

from mailup_soap.config import Settings
from mailup_soap.db import tables as t
from mailup_soap.domain.import_readers import read_xml_string
from mailup_soap.domain.imports import ImportOptions
from mailup_soap.service_layer import import_runner
from mailup_soap.service_layer.deps import Deps
from tests.conftest import AccountInfo, SmtpSink, new_account, run_jobs
from tests.e2e.conftest import (
    ServiceFactory,
    auth_header,
    confirm_link,
    login,
    new_list,
    parse,
)

pytestmark = pytest.mark.e2e

FLAGS = {"importType": 3, "mobileInputType": 1, "asPending": False, "ConfirmEmail": False,
         "asOptOut": False, "forceOptIn": False, "replaceGroups": False}


def _doc(*rows: str) -> str:
    return "<subscribers>" + "".join(rows) + "</subscribers>"


def _row(email: str, *fields: str, number: str = "") -> str:
    campi = "".join(f"<campo{i}>{v}</campo{i}>" for i, v in enumerate(fields, 1))
    return f'<subscriber email="{email}" Prefix="" Number="{number}" Name="">{campi}</subscriber>'


def _code(result: str) -> int:
    return int(parse(result).findtext("mailupBody/ReturnCode") or "-9999")


def _new(imp: Any, account: AccountInfo, list_id: int, guid: str, document: str,
         **flags: Any) -> int:
    """NewImportProcess's ReturnCode: the process id, or an error code."""
    return _code(imp.NewImportProcess(idList=list_id, listGUID=guid, xmlDoc=document,
                                      **(FLAGS | {"idGroups": "", "idConfirmNL": 0} | flags),
                                      _soapheaders=[auth_header(account)]))


def _import(soap: ServiceFactory, account: AccountInfo, settings: Settings, list_id: int,
            guid: str, document: str, **flags: Any) -> Any:
    imp = soap("Import")
    header = [auth_header(account)]
    process_id = _new(imp, account, list_id, guid, document, **flags)
    assert process_id > 0, process_id
    queued = parse(imp.GetProcessDetails(idList=list_id, listGUID=guid, idProcess=process_id,
                                         _soapheaders=header))
    assert queued.findtext(".//StatusCode") == "1"
    assert _code(imp.StartProcess(idList=list_id, listGUID=guid, idProcess=process_id,
                                  _soapheaders=header)) == 0
    run_jobs(settings, "imports")
    return parse(imp.GetProcessDetails(idList=list_id, listGUID=guid, idProcess=process_id,
                                       _soapheaders=header)).find(".//ImportProcess")


def _statuses(engine: sa.Engine, account: AccountInfo, list_id: int) -> dict[str, str]:
    s, r = t.subscriptions.c, t.recipients.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(r.email, s.status).join_from(
            t.subscriptions, t.recipients, r.id == s.recipient_id).where(
            s.account_id == account.console_id, s.list_id == list_id))
        return {row.email: row.status for row in rows}


def test_a_new_import_process_runs_on_a_worker_and_reports_its_counts(
        soap: ServiceFactory, account: AccountInfo, server_settings: Settings,
        engine: sa.Engine) -> None:
    list_id, guid = new_list(soap, account, "Imports")
    emails = [f"i{n}.{secrets.token_hex(3)}@example.test" for n in range(3)]
    document = _doc(_row(emails[0], "Ann"), _row(emails[1], "Bob"), _row("not-an-email"),
                    _row(emails[2], "Cy", number="+393331234567"))

    details = _import(soap, account, server_settings, list_id, guid, document)

    assert details.findtext("StatusCode") == "3"
    assert details.findtext("IsRunning") == "False"
    assert (details.findtext("TotalContacts"), details.findtext("NewEmail"),
            details.findtext("RejectedEmail")) == ("4", "3", "1")
    assert details.findtext("StartDate") and details.findtext("EndDate")
    assert _statuses(engine, account, list_id) == {e: "subscribed" for e in emails}


def test_an_import_never_resubscribes_an_unsubscribed_recipient(
        soap: ServiceFactory, account: AccountInfo, server_settings: Settings,
        engine: sa.Engine) -> None:
    list_id, guid = new_list(soap, account, "Imports")
    stays_out, bounced = (f"{n}.{secrets.token_hex(3)}@example.test" for n in ("out", "bounce"))
    _import(soap, account, server_settings, list_id, guid,
            _doc(_row(stays_out), _row(bounced)), asOptOut=True)
    with engine.begin() as conn:
        conn.execute(t.subscriptions.update().where(
            t.subscriptions.c.recipient_id == sa.select(t.recipients.c.id).where(
                t.recipients.c.email == bounced).scalar_subquery()).values(unsubscribe_reason=8))

    plain = _import(soap, account, server_settings, list_id, guid,
                    _doc(_row(stays_out, "New name"), _row(bounced)))
    forced = _import(soap, account, server_settings, list_id, guid,
                     _doc(_row(stays_out), _row(bounced)), forceOptIn=True)

    assert plain.findtext("OptOutEmail") == "2" and plain.findtext("ExistingEmail") == "2"
    assert forced.findtext("StatusCode") == "3"
    assert _statuses(engine, account, list_id) == {stays_out: "subscribed",
                                                   bounced: "unsubscribed"}


def test_bad_documents_get_their_codes_and_import_nothing(
        soap: ServiceFactory, account: AccountInfo, engine: sa.Engine) -> None:
    list_id, guid = new_list(soap, account, "Imports")
    imp = soap("Import")

    def new(document: str) -> int:
        return _new(imp, account, list_id, guid, document)

    codes = [new(""), new("this is not xml"), new("<subscribers><subscriber"),
             new('<!DOCTYPE s [<!ENTITY x "y">]><subscribers><subscriber email="a@b.example">'
                 "<campo1>&x;</campo1></subscriber></subscribers>"),
             new("<people/>")]
    beyond = _new(imp, account, list_id, guid, _doc(_row("a@b.example")), idGroups="99999999999")
    no_list = _new(imp, account, 0, "", _doc(_row("a@b.example")))
    header = [auth_header(account)]
    no_list_details = _code(imp.GetProcessDetails(idList=0, listGUID="", idProcess=1,
                                                  _soapheaders=header))
    no_list_start = _code(imp.StartProcess(idList=0, listGUID="", idProcess=1,
                                           _soapheaders=header))

    assert codes == [-401, -402, -402, -402, -402]
    assert beyond == -400
    assert (no_list, no_list_details, no_list_start) == (-101, -101, -101)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.import_processes).where(
            t.import_processes.c.account_id == account.console_id)).scalar_one() == 0


def _newsletter(soap: ServiceFactory, account: AccountInfo, list_id: int, subject: str,
                content: str) -> int:
    doc = parse(soap("Send").CreateNewsletter(accessKey=login(soap, account), listID=list_id,
                                              subject=subject, type="HTML", content=content,
                                              options=None))
    return int(doc.findtext("newsletterID") or 0)


def test_id_confirm_nl_sends_that_email_of_the_list_as_the_confirmation_request(
        soap: ServiceFactory, account: AccountInfo, server_settings: Settings,
        smtp: SmtpSink, engine: sa.Engine) -> None:
    list_id, guid = new_list(soap, account, "Imports")
    own = _newsletter(soap, account, list_id, "Dear [campo1], one more step",
                      "<p>Hello [campo1],</p><p>please [subscribe] to our news.</p>")
    ann, bob = (f"{n}.{secrets.token_hex(3)}@example.test" for n in ("ann", "bob"))

    details = _import(soap, account, server_settings, list_id, guid,
                      _doc(_row(ann, "Ann"), _row(bob, "Bob")), ConfirmEmail=True,
                      idConfirmNL=own)
    run_jobs(server_settings, "mail")
    [mail] = smtp.to(ann)
    html = mail.get_body(("html",)).get_content()  # type: ignore[union-attr]
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    link = re.search(r'href="([^"]+)"', html).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    confirmed = confirm_link(link)

    assert (details.findtext("ConfirmationEmail"), details.findtext("ConfirmationSent")) == (
        "True", "2")
    assert mail["Subject"] == "Dear Ann, one more step"
    assert f'please <a href="{link.replace("&", "&amp;")}">Confirm your subscription</a> to' \
        in html
    assert "Hello Ann," in text and f"please {link} to our news." in text
    assert [m["Subject"] for m in smtp.to(bob)] == ["Dear Bob, one more step"]
    assert confirmed.status_code == 200
    assert _statuses(engine, account, list_id) == {ann: "subscribed", bob: "pending"}


def test_id_confirm_nl_must_name_an_email_of_the_list_or_gets_410(
        soap: ServiceFactory, account: AccountInfo, deps: Deps, engine: sa.Engine) -> None:
    list_id, guid = new_list(soap, account, "Imports")
    other_list, _ = new_list(soap, account, "Imports")
    stranger = new_account(deps)
    strangers_list, _ = new_list(soap, stranger, "Imports")
    imp = soap("Import")
    document = _doc(_row(f"c.{secrets.token_hex(3)}@example.test"))
    theirs = _newsletter(soap, stranger, strangers_list, "Theirs", "<p>[subscribe]</p>")
    elsewhere = _newsletter(soap, account, other_list, "Other list", "<p>[subscribe]</p>")

    def new(message_id: int, confirm: bool = True) -> int:
        return _new(imp, account, list_id, guid, document, ConfirmEmail=confirm,
                    idConfirmNL=message_id)

    refused = [new(theirs), new(elsewhere), new(987654321), new(-1)]
    with engine.connect() as conn:
        created = conn.execute(sa.select(sa.func.count()).select_from(t.import_processes).where(
            t.import_processes.c.account_id == account.console_id)).scalar_one()
    without_confirmation = new(987654321, confirm=False)

    assert refused == [-410] * 4
    assert created == 0
    assert without_confirmation > 0  # idConfirmNL is read only with ConfirmEmail


def test_start_process_refuses_a_second_start_and_a_second_running_process_per_list(
        soap: ServiceFactory, account: AccountInfo) -> None:
    list_id, guid = new_list(soap, account, "Imports")
    imp, header = soap("Import"), [auth_header(account)]
    ids = [_new(imp, account, list_id, guid, _doc(_row(f"s{n}@example.test")))
           for n in range(2)]

    first = _code(imp.StartProcess(idList=list_id, listGUID=guid, idProcess=ids[0],
                                   _soapheaders=header))
    again = _code(imp.StartProcess(idList=list_id, listGUID=guid, idProcess=ids[0],
                                   _soapheaders=header))
    other = _code(imp.StartProcess(idList=list_id, listGUID=guid, idProcess=ids[1],
                                   _soapheaders=header))
    unknown = _code(imp.GetProcessDetails(idList=list_id, listGUID=guid, idProcess=99_999_999,
                                          _soapheaders=header))

    assert (first, again, other, unknown) == (0, -602, -601, -501)


def test_start_import_processes_imports_into_several_lists_with_per_list_codes(
        soap: ServiceFactory, account: AccountInfo, server_settings: Settings,
        engine: sa.Engine) -> None:
    (l1, g1), (l2, g2) = new_list(soap, account, "Imports"), new_list(soap, account, "Imports")
    imp, header = soap("Import"), [auth_header(account)]
    address = f"multi.{secrets.token_hex(3)}@example.test"

    mismatch = parse(imp.StartImportProcesses(listsIDs=f"{l1};{l2}", listsGUIDs=g1,
                                              xmlDoc=_doc(_row(address)), groupsIDs="",
                                              **FLAGS, _soapheaders=header))
    done = parse(imp.StartImportProcesses(listsIDs=f"{l1};{l2};999999",
                                          listsGUIDs=f"{g1};{g2};{g2}",
                                          xmlDoc=_doc(_row(address)), groupsIDs=";;",
                                          **FLAGS, _soapheaders=header))
    run_jobs(server_settings, "imports")

    assert mismatch.findtext("mailupBody/ReturnCode") == "-450"
    per_list = [(p.findtext("listID"), p.findtext("ReturnCode"))
                for p in done.iter("process")]
    assert per_list == [(str(l1), "0"), (str(l2), "0"), ("999999", "-101")]
    assert done.findtext("mailupBody/ReturnCode") == "-101"
    assert _statuses(engine, account, l1) == {address: "subscribed"}
    assert _statuses(engine, account, l2) == {address: "subscribed"}


def test_start_import_processes_without_a_document_starts_everything_queued_in_order(
        soap: ServiceFactory, account: AccountInfo, server_settings: Settings,
        engine: sa.Engine) -> None:
    list_id, guid = new_list(soap, account, "Imports")
    imp, header = soap("Import"), [auth_header(account)]
    address = f"queued.{secrets.token_hex(3)}@example.test"
    first = _new(imp, account, list_id, guid, _doc(_row(address, "First")))
    second = _new(imp, account, list_id, guid, _doc(_row(address, "Second")))

    started = parse(imp.StartImportProcesses(listsIDs="", listsGUIDs="", xmlDoc="",
                                             groupsIDs="", **FLAGS, _soapheaders=header))
    run_jobs(server_settings, "imports")

    assert [(p.findtext("processID"), p.findtext("ReturnCode"))
            for p in started.iter("process")] == [(str(first), "0"), (str(second), "0")]
    with engine.connect() as conn:
        name = conn.execute(sa.select(t.recipients.c.field1).where(
            t.recipients.c.email == address)).scalar_one()
    assert name == "Second"  # the later process ran last


def _wait_for_lock_waiters(engine: sa.Engine, process_id: int, count: int) -> None:
    """Until `count` sessions wait for a lock on import process `process_id`'s row (the
    statement text carries the id: psycopg2 interpolates parameters)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            waiting = conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query ~ :pattern"),
                {"pattern": rf"import_processes\.id = {process_id}\M.*FOR UPDATE"}).scalar_one()
        if waiting >= count:
            return
        time.sleep(0.05)
    raise AssertionError(f"{count} sessions never waited for import process {process_id}")


def test_start_import_processes_leaves_out_a_process_another_call_started_meanwhile(
        soap: ServiceFactory, account: AccountInfo, server_settings: Settings,
        engine: sa.Engine) -> None:
    # A client's two threads each start what is queued: the call that finds a process
    # already started by the other must not report it as an error (-602).
    list_id, guid = new_list(soap, account, "Imports")
    header = [auth_header(account)]
    first, second = (_new(soap("Import"), account, list_id, guid,
                          _doc(_row(f"race{n}.{secrets.token_hex(3)}@example.test")))
                     for n in range(2))

    with engine.connect() as holder, ThreadPoolExecutor(2) as pool:
        holder.execute(sa.select(t.import_processes.c.id).where(
            t.import_processes.c.id == first).with_for_update())
        # StartProcess waits for the first process's row; StartImportProcesses has listed
        # both processes as queued and waits behind it; the row is released.
        other = pool.submit(soap("Import").StartProcess, idList=list_id, listGUID=guid,
                            idProcess=first, _soapheaders=header)
        _wait_for_lock_waiters(engine, first, 1)
        everything = pool.submit(soap("Import").StartImportProcesses, listsIDs="",
                                 listsGUIDs="", xmlDoc="", groupsIDs="", **FLAGS,
                                 _soapheaders=header)
        _wait_for_lock_waiters(engine, first, 2)
        holder.rollback()
        started_first = _code(other.result(timeout=30))
        started = parse(everything.result(timeout=30))
    run_jobs(server_settings, "imports")

    assert started_first == 0
    assert started.findtext("mailupBody/ReturnCode") == "0"
    assert [(p.findtext("processID"), p.findtext("ReturnCode"))
            for p in started.iter("process")] == [(str(second), "0")]
    with engine.connect() as conn:
        statuses = conn.execute(sa.select(t.import_processes.c.status).where(
            t.import_processes.c.id.in_([first, second])).order_by(
            t.import_processes.c.id)).scalars().all()
    assert statuses == [3, 3]


def test_start_import_processes_leaves_nothing_behind_for_a_list_whose_import_runs(
        soap: ServiceFactory, account: AccountInfo, server_settings: Settings,
        engine: sa.Engine) -> None:
    # -601 for a list means its document was not imported: no process may stay queued for
    # a later start of everything queued to run behind the client's back.
    busy, busy_guid = new_list(soap, account, "Imports")
    free, free_guid = new_list(soap, account, "Imports")
    imp, header = soap("Import"), [auth_header(account)]
    late = f"late.{secrets.token_hex(3)}@example.test"
    running = _new(imp, account, busy, busy_guid,
                   _doc(_row(f"early.{secrets.token_hex(3)}@example.test")))
    assert _code(imp.StartProcess(idList=busy, listGUID=busy_guid, idProcess=running,
                                  _soapheaders=header)) == 0

    both = parse(imp.StartImportProcesses(listsIDs=f"{busy};{free}",
                                          listsGUIDs=f"{busy_guid};{free_guid}",
                                          xmlDoc=_doc(_row(late)), groupsIDs="", **FLAGS,
                                          _soapheaders=header))
    queued = parse(imp.StartImportProcesses(listsIDs="", listsGUIDs="", xmlDoc="",
                                            groupsIDs="", **FLAGS, _soapheaders=header))
    run_jobs(server_settings, "imports")

    per_list = [(p.findtext("listID"), p.findtext("ReturnCode"), p.findtext("processID"))
                for p in both.iter("process")]
    assert per_list[0] == (str(busy), "-601", "0")
    assert per_list[1][:2] == (str(free), "0") and int(per_list[1][2]) > running
    assert list(queued.iter("process")) == []
    with engine.connect() as conn:
        processes = conn.execute(sa.select(t.import_processes.c.list_id).where(
            t.import_processes.c.account_id == account.console_id,
            t.import_processes.c.list_id.in_([busy, free])).order_by(
            t.import_processes.c.id)).scalars().all()
    assert processes == [busy, free]
    assert late not in _statuses(engine, account, busy)
    assert _statuses(engine, account, free) == {late: "subscribed"}


def test_a_queued_process_waits_for_a_console_import_of_its_list_to_end(
        soap: ServiceFactory, account: AccountInfo, server_settings: Settings,
        deps: Deps, engine: sa.Engine) -> None:
    # `mailup-soap import` (and the daily sync) merge in their own process, outside the
    # list's job lock: starting what is queued meanwhile must not run beside them.
    list_id, guid = new_list(soap, account, "Imports")
    imp, header = soap("Import"), [auth_header(account)]
    console, api = (f"{who}.{secrets.token_hex(3)}@example.test" for who in ("cli", "api"))
    queued_id = _new(imp, account, list_id, guid, _doc(_row(api)))
    merged, resume = threading.Event(), threading.Event()

    def between_batches(done: int, total: int) -> None:
        merged.set()
        assert resume.wait(30)

    with ThreadPoolExecutor(1) as pool:
        cli = pool.submit(import_runner.import_now, deps, account.console_id, list_id,
                          read_xml_string(_doc(_row(console)), ImportOptions()),
                          ImportOptions(), progress=between_batches)
        assert merged.wait(30)
        during = parse(imp.StartImportProcesses(listsIDs="", listsGUIDs="", xmlDoc="",
                                                groupsIDs="", **FLAGS, _soapheaders=header))
        resume.set()
        assert cli.result(timeout=30).status.name == "COMPLETED"
    after = parse(imp.StartImportProcesses(listsIDs="", listsGUIDs="", xmlDoc="",
                                           groupsIDs="", **FLAGS, _soapheaders=header))
    run_jobs(server_settings, "imports")

    assert during.findtext("mailupBody/ReturnCode") == "-601"
    assert [(p.findtext("processID"), p.findtext("ReturnCode"))
            for p in during.iter("process")] == [(str(queued_id), "-601")]
    assert [(p.findtext("processID"), p.findtext("ReturnCode"))
            for p in after.iter("process")] == [(str(queued_id), "0")]
    assert _statuses(engine, account, list_id) == {console: "subscribed", api: "subscribed"}
