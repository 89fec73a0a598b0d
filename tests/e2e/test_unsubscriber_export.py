"""GetUnsubscribers over HTTP with zeep (built from our served WSDL: MailUp's has no such
operation), and `mailup-soap export-unsubscribers` / `export-profile` run as a subprocess."""
from __future__ import annotations

import datetime as dt
import os
import pathlib
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy as sa
import zeep
from lxml import etree
from zeep.transports import Transport

from mailup_soap.service_layer.deps import Deps
from tests.conftest import AccountInfo, new_account
from tests.e2e.conftest import ServiceFactory, login, parse
from tests.unsubscriber_seed import emails, new_list, seed

pytestmark = pytest.mark.e2e
CLI = os.path.join(os.path.dirname(sys.executable), "mailup-soap")
ARGUMENT_ERROR = "-1105"


def _days_ago(days: int, hour: int = 12) -> dt.datetime:
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - dt.timedelta(days=days) + dt.timedelta(hours=hour)


@pytest.fixture(scope="module")
def report(server_url: str) -> Any:
    client = zeep.Client(server_url + "/MailupReport.asmx?WSDL", transport=Transport(cache=False))
    return client.service


def _get(report: Any, key: str, **params: Any) -> etree._Element:
    return parse(report.GetUnsubscribers(accessKey=key, **{"pageSize": 0} | params))


def _emails(doc: etree._Element) -> list[str]:
    return [u.get("Email") for u in doc.iterfind("Unsubscribers/Unsubscriber")]


def _issue_example_data(deps: Deps, engine: sa.Engine, account: AccountInfo) -> list[str]:
    """Rows of every kind around the issue's example; returns the emails it must answer."""
    one, two = new_list(deps, account), new_list(deps, account)
    assert one == 1
    wanted, no_reason = emails(2, "wanted"), emails(1, "noreason")
    seed(engine, account, one, wanted, at=_days_ago(1), reason=8, message_id=7,
         mobile="+393331234567", subscribed_at=_days_ago(30))
    seed(engine, account, one, no_reason, at=_days_ago(1, hour=0), reason=None)
    seed(engine, account, one, emails(1, "clicked"), at=_days_ago(1), reason=2)
    seed(engine, account, one, emails(1, "older"), at=_days_ago(2, hour=23), reason=8)
    seed(engine, account, one, emails(1, "today"), at=_days_ago(0, hour=0), reason=8)
    seed(engine, account, two, emails(1, "otherlist"), at=_days_ago(1), reason=8)
    seed(engine, account, one, emails(1, "subscribed"), at=None, status="subscribed")
    return wanted + no_reason


# -- GetUnsubscribers -----------------------------------------------------------------------


def test_pages_of_a_thousand_return_each_of_2500_unsubscribers_exactly_once(
        soap: ServiceFactory, report: Any, deps: Deps, engine: sa.Engine,
        account: AccountInfo) -> None:
    one, two = new_list(deps, account), new_list(deps, account)
    seeded = emails(1500, "one") + emails(1000, "two")
    seed(engine, account, one, seeded[:1500], at=_days_ago(3), reason=8)
    seed(engine, account, two, seeded[1500:], at=_days_ago(3), reason=16)
    key = login(soap, account, "Report")

    pages, token = [], ""
    while True:
        doc = _get(report, key, pageSize=1000, continuationToken=token)
        assert doc.findtext("errorCode") == "0", etree.tostring(doc)
        pages.append(doc)
        token = doc.findtext("ContinuationToken") or ""
        if not token:
            break

    got = [email for doc in pages for email in _emails(doc)]
    assert [doc.find("Unsubscribers").get("Count") for doc in pages] == ["1000", "1000", "500"]
    assert sorted(got) == sorted(seeded)
    assert len(set(got)) == 2500


def test_the_issue_example_previous_day_of_list_1_without_link_unsubscriptions(
        soap: ServiceFactory, report: Any, deps: Deps, engine: sa.Engine,
        account: AccountInfo) -> None:
    wanted = _issue_example_data(deps, engine, account)
    key = login(soap, account, "Report")

    doc = _get(report, key, listsIncluded="1", dateFilter="previousday", reasonsExcluded="2")

    assert doc.findtext("errorCode") == "0", etree.tostring(doc)
    assert doc.findtext("ContinuationToken") == ""
    assert doc.find("Unsubscribers").get("Count") == "3"
    assert _emails(doc) == wanted
    first = doc.find("Unsubscribers/Unsubscriber")
    assert dict(first.attrib) == {
        "Email": wanted[0], "Mobile": "+393331234567", "ListID": "1",
        "OptOutDate": _days_ago(1).strftime("%Y%m%dT120000"),
        "SubscriptionDate": _days_ago(30).strftime("%Y%m%dT120000"), "OptOutMessageID": "7",
        "Reason": "8", "ReasonType": "bounce"}
    assert doc.findall("Unsubscribers/Unsubscriber")[2].get("Reason") == ""


def test_a_date_range_and_included_reasons_select_by_day_and_code(
        soap: ServiceFactory, report: Any, deps: Deps, engine: sa.Engine,
        account: AccountInfo) -> None:
    list_id = new_list(deps, account)
    spam = emails(1, "spam")
    seed(engine, account, list_id, spam, at=_days_ago(5), reason=16)
    seed(engine, account, list_id, emails(1, "bounce"), at=_days_ago(5), reason=8)
    seed(engine, account, list_id, emails(1, "late"), at=_days_ago(2), reason=16)
    key = login(soap, account, "Report")
    day = _days_ago(5).date().isoformat()

    doc = _get(report, key, dateFilter="RANGE", fromDate=day, toDate=day,
               reasonsIncluded="16;32")

    assert _emails(doc) == spam


@pytest.mark.parametrize("params", [
    {"listsIncluded": "1;two"},
    {"listsIncluded": "1", "listsExcluded": "1"},
    {"dateFilter": "tomorrow"},
    {"dateFilter": "range", "fromDate": "2024-02-02", "toDate": "2024-02-01"},
    {"dateFilter": "range", "fromDate": "02/01/2024", "toDate": "2024-02-01"},
    {"reasonsIncluded": "3"},
    {"pageSize": 10_001},
    {"pageSize": -5},
], ids=["list", "both", "mode", "order", "date", "reason", "big-page", "negative-page"])
def test_bad_arguments_answer_the_argument_error_code(
        soap: ServiceFactory, report: Any, account: AccountInfo, params: dict[str, Any]) -> None:
    doc = _get(report, login(soap, account, "Report"), **params)

    assert doc.findtext("errorCode") == ARGUMENT_ERROR
    assert doc.findtext("errorDescription")
    assert doc.find("Unsubscribers") is None


def test_a_list_the_account_does_not_have_answers_list_not_found(
        soap: ServiceFactory, report: Any, account: AccountInfo) -> None:
    doc = _get(report, login(soap, account, "Report"), listsIncluded="999")

    assert doc.findtext("errorCode") == "-1101"


def test_an_altered_token_or_another_accounts_token_is_refused(
        soap: ServiceFactory, report: Any, deps: Deps, engine: sa.Engine,
        account: AccountInfo) -> None:
    other = new_account(deps)
    for acc in (account, other):
        seed(engine, acc, new_list(deps, acc), emails(3), at=_days_ago(1))
    key, other_key = login(soap, account, "Report"), login(soap, other, "Report")
    token = _get(report, key, pageSize=1).findtext("ContinuationToken")
    assert token
    body, _, mac = token.partition(".")
    altered = ("B" if body[0] == "A" else "A") + body[1:] + "." + mac

    answers = [_get(report, key, pageSize=1, continuationToken=altered),
               _get(report, key, pageSize=1, continuationToken="garbage"),
               _get(report, other_key, pageSize=1, continuationToken=token)]

    assert [a.findtext("errorCode") for a in answers] == [ARGUMENT_ERROR] * 3


def test_another_accounts_key_sees_none_of_this_accounts_unsubscribers(
        soap: ServiceFactory, report: Any, deps: Deps, engine: sa.Engine,
        account: AccountInfo) -> None:
    other = new_account(deps)
    mine, theirs = emails(3, "mine"), emails(2, "theirs")
    seed(engine, account, new_list(deps, account), mine, at=_days_ago(1))
    seed(engine, other, new_list(deps, other), theirs, at=_days_ago(1))

    seen_by_other = _get(report, login(soap, other, "Report"), listsIncluded="1")

    assert _emails(seen_by_other) == theirs


def test_an_invalid_access_key_gets_no_rows(report: Any) -> None:
    doc = _get(report, "not-a-key")

    assert doc.findtext("errorCode") == "-1100"
    assert doc.find("Unsubscribers") is None


# -- the command line -----------------------------------------------------------------------


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], env=dict(os.environ, DATABASE_URL=database_url,
                                                 MAILUP_SECRET_KEY="cli-secret"),
                          capture_output=True, text=True, timeout=60)


def test_the_cli_runs_the_issue_example_as_written(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    wanted = _issue_example_data(deps, engine, account)

    done = _cli(database_url, "export-unsubscribers", "--account", str(account.console_id),
                "--list", "1", "--date", "previous-day", "--exclude-reason", "2")

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == ("email,mobile,idList,OptOut_Date,Subscription_Date,optout_nl,"
                        "optout_type,optout_subtype")
    assert [line.split(",")[0] for line in lines[1:]] == wanted
    assert lines[1].split(",")[1:] == [
        "+393331234567", "1", _days_ago(1).strftime("%Y%m%dT120000"),
        _days_ago(30).strftime("%Y%m%dT120000"), "7", "8", "bounce"]


def test_the_cli_writes_a_file_whole_and_leaves_no_temporary_file(
        database_url: str, deps: Deps, engine: sa.Engine, account: AccountInfo,
        tmp_path: pathlib.Path) -> None:
    list_id = new_list(deps, account)
    seeded = emails(3)
    seed(engine, account, list_id, seeded, at=_days_ago(10), reason=4)
    out = tmp_path / "unsubscribers.csv"
    out.write_text("an older export\n")

    done = _cli(database_url, "export-unsubscribers", "--account", str(account.console_id),
                "--reason", "4,8", "-o", str(out))

    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "3 unsubscribers" in done.stderr
    assert [line.split(",")[0] for line in out.read_text().splitlines()] == ["email", *seeded]
    assert [p.name for p in tmp_path.iterdir()] == ["unsubscribers.csv"]


def test_the_cli_refuses_bad_filters_with_a_message_and_writes_nothing(
        database_url: str, account: AccountInfo, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "x.csv"
    base = ["export-unsubscribers", "--account", str(account.console_id), "-o", str(out)]

    answers = [_cli(database_url, *base, "--reason", "3"),
               _cli(database_url, *base, "--date", "2024-02-02..2024-02-01"),
               _cli(database_url, *base, "--list", "12345"),
               _cli(database_url, "export-unsubscribers", "--account", "1", "--date", "all")]

    assert [a.returncode for a in answers] == [2, 2, 2, 2]
    assert "unknown reason code 3" in answers[0].stderr
    assert "after to date" in answers[1].stderr
    assert "list 12345 not found" in answers[2].stderr
    assert "account not valid" in answers[3].stderr
    assert all(a.stderr.startswith("mailup-soap: ") and "Traceback" not in a.stderr
               for a in answers)
    assert list(tmp_path.iterdir()) == []


def test_the_cli_adds_lists_and_removes_export_profiles(
        database_url: str, deps: Deps, account: AccountInfo) -> None:
    new_list(deps, account)
    acc = ["--account", str(account.console_id)]

    added = _cli(database_url, "export-profile", "add", "no-link", *acc, "--list", "1",
                 "--date", "previous-day", "--exclude-reason", "2")
    twice = _cli(database_url, "export-profile", "add", "no-link", *acc)
    bad_name = _cli(database_url, "export-profile", "add", "../x", *acc)
    listed = _cli(database_url, "export-profile", "list", *acc)
    removed = _cli(database_url, "export-profile", "remove", "no-link", *acc)
    after = _cli(database_url, "export-profile", "list", *acc)

    assert added.returncode == 0, added.stderr
    assert (twice.returncode, bad_name.returncode) == (2, 2)
    assert listed.stdout.startswith("no-link\t")
    assert '"date": "previous_day"' in listed.stdout
    assert '"exclude_reasons": [2]' in listed.stdout and '"lists": [1]' in listed.stdout
    assert removed.returncode == 0 and after.stdout == ""
