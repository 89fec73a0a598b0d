"""The set-based import engine on the real PostgreSQL, driven through the service layer:
staging, batch merges, status flags, groups, events, confirmations, and a worker killed
between batches."""
from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from xml.sax.saxutils import escape

import pytest
import sqlalchemy as sa

from mailup_soap.db import bulk_import, import_batch
from mailup_soap.db import tables as t
from mailup_soap.domain.import_readers import read_csv, read_xml_string
from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessCounts, ProcessStatus
from mailup_soap.domain.model import ChangeSource, MailingList
from mailup_soap.service_layer import auth, daily_sync, import_runner, imports, lists, webhooks
from mailup_soap.service_layer.deps import AccessKey, Deps, WsLogin
from tests import plans
from tests.conftest import AccountInfo, new_account

pytestmark = pytest.mark.integration


# -- helpers ---------------------------------------------------------------------------------


def _key(deps: Deps, account: AccountInfo) -> AccessKey:
    return AccessKey(auth.login(deps, account.console_user, account.password,
                                console_id=account.console_id))


def _list(deps: Deps, account: AccountInfo, name: str = "Imports") -> MailingList:
    return lists.create_list(deps, _key(deps, account), name)


def _group(deps: Deps, account: AccountInfo, lst: MailingList, name: str) -> int:
    return lists.create_group(deps, _key(deps, account), lst.id, name).group.id


def _email(tag: str = "r") -> str:
    return f"{tag}.{secrets.token_hex(4)}@example.test"


def _doc(*rows: str) -> str:
    return "<subscribers>" + "".join(rows) + "</subscribers>"


def _row(email: str = "", number: str = "", **fields: str) -> str:
    """`_row("a@x", campo1="Ann", campo2="")`; a campo not named is absent from the row."""
    campi = "".join(f"<{name}>{value}</{name}>" for name, value in fields.items())
    return f'<subscriber email="{email}" Prefix="" Number="{number}" Name="">{campi}</subscriber>'


def _create(deps: Deps, account: AccountInfo, lst: MailingList, document: str,
            opts: ImportOptions) -> int:
    with deps.uow() as uow:
        process_id = imports.create_process(uow, account.console_id, lst.id,
                                            read_xml_string(document, opts), opts)
        uow.commit()
    imports.start_process(deps, WsLogin(account.ws_user, account.password), lst.id,
                          str(lst.guid), process_id)
    return process_id


def _process(deps: Deps, process_id: int) -> ImportProcess:
    with deps.uow() as uow:
        process = uow.imports.get(process_id)
    assert process is not None
    return process


def _import(deps: Deps, account: AccountInfo, lst: MailingList, document: str,
            **options: Any) -> ImportProcess:
    """NewImportProcess + StartProcess + the worker's run, to completion."""
    process_id = _create(deps, account, lst, document, ImportOptions(**options))
    assert import_runner.run_process(deps, process_id) is ProcessStatus.COMPLETED
    return _process(deps, process_id)


def _query(engine: sa.Engine, sql: str, **params: Any) -> list[sa.Row[Any]]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(sql), params))


def _recipients(engine: sa.Engine, account_id: int) -> dict[str, sa.Row[Any]]:
    r = t.recipients.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.recipients).where(r.account_id == account_id))
        return {row.email or row.mobile_number: row for row in rows}


def _statuses(engine: sa.Engine, account_id: int, list_id: int) -> dict[str, str]:
    return {row.contact: row.status for row in _query(engine, """
        SELECT COALESCE(r.email, r.mobile_number) AS contact, s.status
        FROM subscriptions s JOIN recipients r
          ON r.account_id = s.account_id AND r.id = s.recipient_id
        WHERE s.account_id = :a AND s.list_id = :l""", a=account_id, l=list_id)}


def _events(engine: sa.Engine, account_id: int, after: int = 0) -> list[sa.Row[Any]]:
    return _query(engine, "SELECT * FROM events WHERE account_id = :a AND id > :after "
                          "ORDER BY id", a=account_id, after=after)


def _last_event_id(engine: sa.Engine, account_id: int) -> int:
    return max((e.id for e in _events(engine, account_id)), default=0)


def _memberships(engine: sa.Engine, account_id: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in _query(engine, """
            SELECT r.email, g.name FROM group_members m
            JOIN recipients r ON r.account_id = m.account_id AND r.id = m.recipient_id
            JOIN groups g ON g.account_id = m.account_id AND g.id = m.group_id
            WHERE m.account_id = :a""", a=account_id):
        found.setdefault(row.email, set()).add(row.name)
    return found


def _confirmation_jobs(engine: sa.Engine, account_id: int) -> list[str]:
    return sorted(row.email for row in _query(engine, """
        SELECT r.email FROM procrastinate_jobs j
        JOIN recipients r ON r.account_id = (j.args->>'account_id')::int
                         AND r.id = (j.args->>'recipient_id')::bigint
        WHERE j.task_name = :task AND (j.args->>'account_id')::int = :a""",
        task=bulk_import.CONFIRM_TASK, a=account_id))


def _staged_rows(engine: sa.Engine, process_id: int) -> int:
    return int(_query(engine, "SELECT count(*) FROM import_rows WHERE process_id = :p",
                      p=process_id)[0][0])


def _set_reason(engine: sa.Engine, account_id: int, email: str, reason: int) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text("""
            UPDATE subscriptions s SET unsubscribe_reason = :reason FROM recipients r
            WHERE r.account_id = s.account_id AND r.id = s.recipient_id
              AND s.account_id = :a AND r.email = :e"""),
            {"reason": reason, "a": account_id, "e": email})


# -- importType: empty fields ----------------------------------------------------------------


def _seed_with_fields(deps: Deps, account: AccountInfo, lst: MailingList) -> tuple[str, str]:
    email, number = _email(), f"+39333{secrets.randbelow(10**7):07d}"
    _import(deps, account, lst, _doc(_row(email, number, campo1="Ann", campo2="Smith",
                                          campo3="ACME")))
    return email, number


def _row_for_channel(import_type: int, email: str, number: str, **fields: str) -> str:
    # importType 2 and 5 read only the mobile: the row must be found by its number.
    if import_type in (2, 5):
        return _row("", number, **fields)
    return _row(email, number, **fields)


@pytest.mark.parametrize("import_type", [1, 2, 3])
def test_import_types_1_to_3_keep_values_when_fields_are_empty(
        deps: Deps, engine: sa.Engine, account: AccountInfo, import_type: int) -> None:
    lst = _list(deps, account)
    email, number = _seed_with_fields(deps, account, lst)

    _import(deps, account, lst, _doc(_row_for_channel(import_type, email, number, campo1="",
                                                      campo2="Jones")),
            import_type=import_type)

    recipient = _recipients(engine, account.console_id)[email]
    assert (recipient.field1, recipient.field2, recipient.field3) == ("Ann", "Jones", "ACME")
    assert recipient.mobile_number == number


@pytest.mark.parametrize("import_type", [4, 5, 6])
def test_import_types_4_to_6_clear_values_sent_empty_and_keep_those_not_sent(
        deps: Deps, engine: sa.Engine, account: AccountInfo, import_type: int) -> None:
    lst = _list(deps, account)
    email, number = _seed_with_fields(deps, account, lst)

    _import(deps, account, lst, _doc(_row_for_channel(import_type, email, number, campo1="",
                                                      campo2="Jones")),
            import_type=import_type)

    recipient = _recipients(engine, account.console_id)[email]
    assert (recipient.field1, recipient.field2, recipient.field3) == (None, "Jones", "ACME")


def test_a_number_and_an_email_of_the_same_recipient_in_one_batch_merge_once(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    email, number = _email(), f"+39333{secrets.randbelow(10**7):07d}"
    _import(deps, account, _list(deps, account, "Other"), _doc(_row(email, number)))

    process = _import(deps, account, lst, _doc(_row(email, campo1="first"),
                                               _row("", number, campo1="last")))

    assert _statuses(engine, account.console_id, lst.id) == {email: "subscribed"}
    assert _recipients(engine, account.console_id)[email].field1 == "last"
    assert (process.counts.existing_email, process.counts.existing_mobile) == (0, 1)


def test_import_type_1_does_not_touch_an_existing_mobile(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    email, number = _seed_with_fields(deps, account, lst)

    _import(deps, account, lst, _doc(_row(email, "+441234567890")), import_type=1)

    assert _recipients(engine, account.console_id)[email].mobile_number == number


# -- existing recipients ---------------------------------------------------------------------


def test_existing_recipients_get_their_fields_updated_and_keep_their_status(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    pending, subscribed, unsubscribed = _email("p"), _email("s"), _email("u")
    _import(deps, account, lst, _doc(_row(pending)), as_pending=True)
    _import(deps, account, lst, _doc(_row(subscribed)))
    _import(deps, account, lst, _doc(_row(unsubscribed)), as_opt_out=True)
    before = _last_event_id(engine, account.console_id)

    process = _import(deps, account, lst, _doc(*(_row(e, campo1="New", campo5="Five")
                                                 for e in (pending, subscribed, unsubscribed))))

    assert _statuses(engine, account.console_id, lst.id) == {
        pending: "pending", subscribed: "subscribed", unsubscribed: "unsubscribed"}
    recipients = _recipients(engine, account.console_id)
    assert {e: (recipients[e].field1, recipients[e].field5) for e in recipients} == {
        e: ("New", "Five") for e in (pending, subscribed, unsubscribed)}
    assert _events(engine, account.console_id, after=before) == []
    assert process.counts == ProcessCounts(total=3, existing_email=3, opt_out_email=1)


def test_a_recipient_of_another_list_joins_this_list_as_a_new_subscription(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    first, second = _list(deps, account, "First"), _list(deps, account, "Second")
    email = _email()
    _import(deps, account, first, _doc(_row(email, campo1="Ann")))

    process = _import(deps, account, second, _doc(_row(email)))

    assert _statuses(engine, account.console_id, second.id) == {email: "subscribed"}
    assert len(_recipients(engine, account.console_id)) == 1
    assert (process.counts.new_email, process.counts.existing_email) == (0, 1)


def test_hard_bounced_and_complaining_recipients_stay_unsubscribed_under_force_opt_in(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    bounced, complained, quit_ = _email("b"), _email("c"), _email("q")
    _import(deps, account, lst, _doc(_row(bounced), _row(complained), _row(quit_)),
            as_opt_out=True)
    _set_reason(engine, account.console_id, bounced, 8)
    _set_reason(engine, account.console_id, complained, 16)

    _import(deps, account, lst, _doc(_row(bounced), _row(complained), _row(quit_)),
            force_opt_in=True)
    _import(deps, account, lst, _doc(_row(bounced), _row(complained)), force_opt_in=True,
            confirm_email=True)

    assert _statuses(engine, account.console_id, lst.id) == {
        bounced: "unsubscribed", complained: "unsubscribed", quit_: "subscribed"}
    assert _confirmation_jobs(engine, account.console_id) == []


# -- groups ----------------------------------------------------------------------------------


def test_id_groups_adds_memberships_and_keeps_the_other_groups(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    g1, g2 = _group(deps, account, lst, "G1"), _group(deps, account, lst, "G2")
    old, new = _email("old"), _email("new")
    _import(deps, account, lst, _doc(_row(old)), group_ids=(g1,))

    _import(deps, account, lst, _doc(_row(old), _row(new)), group_ids=(g2,))

    assert _memberships(engine, account.console_id) == {old: {"G1", "G2"}, new: {"G2"}}


def test_replace_groups_removes_the_lists_other_groups_but_not_other_lists_groups(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst, other = _list(deps, account), _list(deps, account, "Other")
    g1, g2 = _group(deps, account, lst, "G1"), _group(deps, account, lst, "G2")
    elsewhere = _group(deps, account, other, "Elsewhere")
    email, untouched = _email(), _email("untouched")
    _import(deps, account, lst, _doc(_row(email), _row(untouched)), group_ids=(g1,))
    _import(deps, account, other, _doc(_row(email)), group_ids=(elsewhere,))

    _import(deps, account, lst, _doc(_row(email)), group_ids=(g2,), replace_groups=True)

    assert _memberships(engine, account.console_id) == {
        email: {"G2", "Elsewhere"}, untouched: {"G1"}}


def test_a_group_id_of_another_list_is_not_joined(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst, other = _list(deps, account), _list(deps, account, "Other")
    foreign = _group(deps, account, other, "Foreign")
    email = _email()

    _import(deps, account, lst, _doc(_row(email)), group_ids=(foreign,))

    assert _memberships(engine, account.console_id) == {}


def test_the_event_of_a_recipient_imported_into_a_group_carries_that_group(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    group = _group(deps, account, lst, "G")
    hook = webhooks.add_webhook(deps, account.console_id, lst.id, "http://127.0.0.1:9/hook")
    try:
        _import(deps, account, lst, _doc(_row(_email(), campo1="Ann")), group_ids=(group,))
    finally:
        webhooks.set_webhook_active(deps, hook.id, False)

    [event] = _events(engine, account.console_id)
    assert event.payload == {"groups": [group], "fields": {"1": "Ann"}}


def test_events_carry_the_recipients_stored_contact_data_with_or_without_a_webhook(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    stored = f"Ann.{secrets.token_hex(4)}@Example.test"
    _import(deps, account, _list(deps, account, "Other"), _doc(_row(stored)))
    for hooked in (False, True):  # without a webhook the engine skips the lookup of new ones
        new, number = _email(f"new{hooked}"), f"+39333{secrets.randbelow(10**7):07d}"
        target = _list(deps, account, f"Target {hooked}") if hooked else lst
        hook = (webhooks.add_webhook(deps, account.console_id, target.id,
                                     "http://127.0.0.1:9/hook") if hooked else None)
        before = _last_event_id(engine, account.console_id)
        try:
            _import(deps, account, target, _doc(_row(stored.lower()), _row(new, number)),
                    as_opt_out=True)
        finally:
            if hook:
                webhooks.set_webhook_active(deps, hook.id, False)
        assert {(e.email, e.mobile_prefix, e.mobile_number, e.type, e.reason)
                for e in _events(engine, account.console_id, after=before)} == {
            (stored, None, None, "unsubscribed", 4), (new, "", number, "unsubscribed", 4)}


def test_without_a_webhook_to_deliver_it_an_event_carries_no_snapshot(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    email = _email()

    _import(deps, account, lst, _doc(_row(email, campo1="Ann")))

    [event] = _events(engine, account.console_id)
    assert (event.type, event.email, event.payload) == ("subscription_confirmed", email, {})


# -- confirmations, events, webhooks ---------------------------------------------------------


def test_confirm_email_makes_new_recipients_pending_and_queues_one_confirmation_each(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    emails = [_email(f"c{n}") for n in range(3)]
    number = f"+39333{secrets.randbelow(10**7):07d}"

    process = _import(deps, account, lst, _doc(*(_row(e) for e in emails), _row("", number)),
                      confirm_email=True)

    assert _statuses(engine, account.console_id, lst.id) == {
        **{e: "pending" for e in emails}, number: "pending"}
    assert _confirmation_jobs(engine, account.console_id) == sorted(emails)
    assert process.confirmations == 3
    assert [e.type for e in _events(engine, account.console_id)] == [
        "subscription_requested"] * 4


def test_confirm_email_also_queues_a_confirmation_for_recipients_already_pending(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    pending = _email("p")
    _import(deps, account, lst, _doc(_row(pending)), as_pending=True)
    before = _last_event_id(engine, account.console_id)

    _import(deps, account, lst, _doc(_row(pending)), confirm_email=True)

    assert _confirmation_jobs(engine, account.console_id) == [pending]
    assert _events(engine, account.console_id, after=before) == []


def test_every_status_change_writes_one_event_and_one_webhook_delivery(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    hook = webhooks.add_webhook(deps, account.console_id, lst.id, "http://127.0.0.1:9/hook")
    stays, leaves, arrives_out = _email("stays"), _email("leaves"), _email("out")
    phases = []
    try:
        for document, options in [(_doc(_row(stays), _row(leaves)), {}),
                                  (_doc(_row(stays)), {}),
                                  (_doc(_row(leaves), _row(arrives_out)), {"as_opt_out": True})]:
            before = _last_event_id(engine, account.console_id)
            _import(deps, account, lst, document, **options)
            phases.append({(e.type, e.email, e.reason, e.source, e.list_id)
                           for e in _events(engine, account.console_id, after=before)})
        events = _events(engine, account.console_id)
        deliveries = _query(engine, "SELECT * FROM webhook_deliveries WHERE webhook_id = :w",
                            w=hook.id)
    finally:
        webhooks.set_webhook_active(deps, hook.id, False)

    assert phases == [
        {("subscription_confirmed", e, None, "API", lst.id) for e in (stays, leaves)},
        set(),
        {("unsubscribed", e, 4, "API", lst.id) for e in (leaves, arrives_out)}]
    assert len(events) == 4
    assert sorted(d.event_id for d in deliveries) == [e.id for e in events]


def test_a_webhook_of_another_list_gets_no_delivery(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst, other = _list(deps, account), _list(deps, account, "Other")
    hook = webhooks.add_webhook(deps, account.console_id, other.id, "http://127.0.0.1:9/hook")
    try:
        _import(deps, account, lst, _doc(_row(_email())))
    finally:
        webhooks.set_webhook_active(deps, hook.id, False)

    assert len(_events(engine, account.console_id)) == 1
    assert _query(engine, "SELECT * FROM webhook_deliveries WHERE webhook_id = :w",
                  w=hook.id) == []


# -- documents, counters, staging ------------------------------------------------------------


# Values that COPY text escapes, or whose characters it could take for its own: a tab, a
# backslash, a literal \N, line ends; and some that it does not.
_AWKWARD = {1: "tab\there", 2: "back\\slash\\", 3: "\\N", 4: "two\nlines", 5: "cr\rx",
            6: "é € 😀 <&>", 7: ""}


def test_values_copy_text_escapes_reach_the_recipients_as_sent_from_any_kind_of_row(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    plain, with_number, from_csv = _email("p"), _email("n"), _email("c")
    number = f"+39333{secrets.randbelow(10**7):07d}"
    # A CR is written as a reference: XML turns a literal one into a line feed.
    fields = {f"campo{i}": escape(v).replace("\r", "&#13;") for i, v in _AWKWARD.items()}
    _import(deps, account, lst, _doc(_row(plain, **fields), _row(with_number, number, **fields)))
    csv_row = "|".join('"' + v.replace('"', '""') + '"' for v in _AWKWARD.values())
    with deps.uow() as uow:
        process_id = import_runner.stage_running(
            uow, deps, account.console_id, lst.id,
            read_csv([f"111|{'|'.join(map(str, _AWKWARD))}\n", f"{from_csv}|{csv_row}\n"],
                     ImportOptions()), ImportOptions(), ChangeSource.CONSOLE)
        uow.commit()
    assert import_runner.run_process(deps, process_id) is ProcessStatus.COMPLETED

    recipients = _recipients(engine, account.console_id)
    for email in (plain, with_number, from_csv):
        given = [getattr(recipients[email], f"field{i}") for i in _AWKWARD]
        assert given == [*list(_AWKWARD.values())[:-1], None]  # empty: nothing to store
        assert recipients[email].field8 is None  # absent


def test_duplicate_emails_in_one_document_make_one_recipient_and_the_last_row_wins(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    email = _email()

    process = _import(deps, account, lst, _doc(
        _row(email.upper(), campo1="First", campo2="Kept?"), _row(email, campo1="Second"),
        _row(email, campo1="Last")))

    [recipient] = _recipients(engine, account.console_id).values()
    assert (recipient.email, recipient.field1, recipient.field2) == (email, "Last", None)
    assert len(_events(engine, account.console_id)) == 1
    assert (process.counts.total, process.counts.new_email) == (3, 1)


def test_the_counters_report_new_existing_opted_out_and_rejected_contacts(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    existing, opted_out = _email("e"), _email("o")
    _import(deps, account, lst, _doc(_row(existing)))
    _import(deps, account, lst, _doc(_row(opted_out)), as_opt_out=True)
    number = f"+39333{secrets.randbelow(10**7):07d}"

    process = _import(deps, account, lst, _doc(
        _row(_email("n1")), _row(_email("n2")), _row(existing), _row(opted_out),
        _row("", number), _row("not-an-email"), _row(_email("m"), "12ab"), _row("")))

    assert process.status is ProcessStatus.COMPLETED
    assert process.counts == ProcessCounts(
        total=8, new_email=2, new_mobile=1, existing_email=2, opt_out_email=1,
        rejected_email=1, rejected_mobile=1, rejected_other=1)
    assert (process.rows_staged, process.rows_done) == (8, 8)
    assert process.started_at is not None and process.ended_at is not None


def test_the_staged_rows_are_kept_until_the_process_completes_then_deleted(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    process_id = _create(deps, account, lst, _doc(_row(_email()), _row("bad")), ImportOptions())
    staged = _staged_rows(engine, process_id)

    assert import_runner.run_process(deps, process_id) is ProcessStatus.COMPLETED

    assert staged == 2
    assert _staged_rows(engine, process_id) == 0


def test_a_process_larger_than_a_batch_merges_every_batch(
        deps: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_runner, "BATCH_ROWS", 3)
    lst = _list(deps, account)
    emails = [_email(f"b{n}") for n in range(7)]
    seen: list[tuple[int, int]] = []
    process_id = _create(deps, account, lst, _doc(*(_row(e) for e in emails), _row("bad")),
                         ImportOptions())

    assert import_runner.run_process(deps, process_id,
                                     progress=lambda d, n: seen.append((d, n))) is (
        ProcessStatus.COMPLETED)

    assert seen == [(3, 8), (6, 8), (8, 8)]
    assert _statuses(engine, account.console_id, lst.id) == {e: "subscribed" for e in emails}
    process = _process(deps, process_id)
    assert (process.counts.new_email, process.counts.rejected_email, process.rows_done) == (
        7, 1, 8)


def test_a_list_deleted_between_batches_ends_its_process_and_nothing_more_is_merged(
        deps: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_runner, "BATCH_ROWS", 2)
    lst = _list(deps, account)
    emails = [_email(f"d{n}") for n in range(5)]
    process_id = _create(deps, account, lst, _doc(*map(_row, emails)), ImportOptions())

    def delete_the_list(done: int, staged: int) -> None:
        lists.delete_list(deps, _key(deps, account), lst.id)

    status = import_runner.run_process(deps, process_id, progress=delete_the_list)

    assert status is ProcessStatus.FAILED
    with deps.uow() as uow:
        assert uow.imports.get(process_id) is None  # gone with its list, and its rows too
    assert _staged_rows(engine, process_id) == 0
    assert _statuses(engine, account.console_id, lst.id) == {}
    # The first batch was committed before the delete: its contacts stay in the account
    # (recipients belong to the account, not to a list), with their subscription's event
    # and the removal's; the later batches never ran.
    assert sorted(_recipients(engine, account.console_id)) == sorted(emails[:2])
    assert sorted((e.type, e.email) for e in _events(engine, account.console_id)) == sorted(
        [("subscription_confirmed", e) for e in emails[:2]]
        + [("removed", e) for e in emails[:2]])


# -- a worker killed between batches ---------------------------------------------------------


class WorkerKilled(BaseException):
    """What a SIGKILL looks like from inside: not an Exception, so nothing marks it failed."""


def _seed(deps: Deps, account: AccountInfo, lst: MailingList,
          seeded: tuple[str, str, str]) -> None:
    s1, s2, u1 = seeded
    _import(deps, account, lst, _doc(_row(s1, campo1="S1"), _row(s2), _row(u1)))
    _import(deps, account, lst, _doc(_row(u1)), as_opt_out=True)


def _big_document(seeded: tuple[str, str, str], new: list[str]) -> str:
    s1, s2, u1 = seeded
    n1, n2, n3 = new
    return _doc(
        _row(n1, campo1="N1"), _row(s1, campo1="S1 again"), _row(n2),        # batch 1
        _row("not-an-email"), _row(n3, campo2="x"), _row(u1, campo1="U1"),  # batch 2
        _row(s2, campo3="S2"), _row(n1, campo1="N1 last"))                  # batch 3


def _snapshot(engine: sa.Engine, account_id: int, list_id: int) -> dict[str, Any]:
    return {
        "recipients": {e: (r.mobile_number, r.field1, r.field2, r.field3)
                       for e, r in _recipients(engine, account_id).items()},
        "subscriptions": {row.email: (row.status, row.unsubscribe_reason) for row in _query(
            engine, """SELECT r.email, s.status, s.unsubscribe_reason FROM subscriptions s
                       JOIN recipients r ON r.account_id = s.account_id
                                        AND r.id = s.recipient_id
                       WHERE s.account_id = :a AND s.list_id = :l""", a=account_id,
            l=list_id)},
        "groups": _memberships(engine, account_id),
        "events": sorted((e.type, e.email, e.reason, e.source)
                         for e in _events(engine, account_id)),
        "confirmations": _confirmation_jobs(engine, account_id),
    }


def _outcome(process: ImportProcess) -> tuple[Any, ...]:
    return (process.status, process.rows_staged, process.rows_done, process.counts,
            process.confirmations, process.error)


def test_a_worker_killed_mid_process_leaves_no_half_batch_and_the_retry_ends_like_a_clean_run(
        deps: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(import_runner, "BATCH_ROWS", 3)
    seeded = (_email("s1"), _email("s2"), _email("u1"))
    new = [_email(f"n{n}") for n in range(1, 4)]
    lst = _list(deps, account)
    group = _group(deps, account, lst, "Imported")
    _seed(deps, account, lst, seeded)
    opts = ImportOptions(confirm_email=True, force_opt_in=True, group_ids=(group,))
    process_id = _create(deps, account, lst, _big_document(seeded, new), opts)
    recipients_before = set(_recipients(engine, account.console_id))
    events_before = _last_event_id(engine, account.console_id)

    real_merge, calls = bulk_import.merge_batch, []

    def killed_during_the_second_batch(*args: Any, **kwargs: Any) -> int:
        calls.append(args[5:7])  # (low, high)
        done = real_merge(*args, **kwargs)  # the batch's statements ran, its commit never comes
        if len(calls) == 2:
            raise WorkerKilled()
        return done

    monkeypatch.setattr(bulk_import, "merge_batch", killed_during_the_second_batch)
    with pytest.raises(WorkerKilled):
        import_runner.run_process(deps, process_id)

    killed = _process(deps, process_id)
    assert calls == [(0, 3), (3, 6)]
    assert (killed.status, killed.rows_done) == (ProcessStatus.RUNNING, 3)
    assert (killed.counts.new_email, killed.counts.existing_email) == (2, 1)
    assert set(_recipients(engine, account.console_id)) - recipients_before == {new[0], new[1]}
    assert {e.email for e in _events(engine, account.console_id, after=events_before)} == {
        new[0], seeded[0], new[1]}
    assert _statuses(engine, account.console_id, lst.id)[seeded[2]] == "unsubscribed"
    assert _memberships(engine, account.console_id) == {
        e: {"Imported"} for e in (new[0], seeded[0], new[1])}
    assert _confirmation_jobs(engine, account.console_id) == sorted(
        [new[0], seeded[0], new[1]])
    assert _staged_rows(engine, process_id) == 8

    assert import_runner.run_process(deps, process_id) is ProcessStatus.COMPLETED
    assert calls[2:] == [(3, 6), (6, 8)]

    clean_account = new_account(deps)
    clean_list = _list(deps, clean_account)
    clean_group = _group(deps, clean_account, clean_list, "Imported")
    _seed(deps, clean_account, clean_list, seeded)
    clean_id = _create(deps, clean_account, clean_list, _big_document(seeded, new),
                       ImportOptions(confirm_email=True, force_opt_in=True,
                                     group_ids=(clean_group,)))
    assert import_runner.run_process(deps, clean_id) is ProcessStatus.COMPLETED

    assert _outcome(_process(deps, process_id)) == _outcome(_process(deps, clean_id))
    assert _snapshot(engine, account.console_id, lst.id) == _snapshot(
        engine, clean_account.console_id, clean_list.id)
    assert _staged_rows(engine, process_id) == 0


def _racing(engine: sa.Engine, account_id: int, emails: list[str]) -> Any:
    """A bulk_import._runner under which, each time a batch is about to insert its new
    recipients, another transaction first creates and commits the next of `emails`."""
    real_runner, left = bulk_import._runner, list(emails)

    def runner(conn: Any, params: dict[str, Any]) -> Any:
        run = real_runner(conn, params)

        def racing_run(sql: str, **extra: Any) -> Any:
            if sql.lstrip().startswith("INSERT INTO recipients") and left:
                with engine.begin() as other:
                    other.execute(sa.text("INSERT INTO recipients (account_id, email, field1) "
                                          "VALUES (:a, :e, 'theirs')"),
                                  {"a": account_id, "e": left.pop(0)})
            return run(sql, **extra)
        return racing_run
    return runner


def test_a_recipient_another_transaction_creates_during_a_batch_is_merged_on_a_retry(
        deps: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lst = _list(deps, account)
    racer, calm = _email("racer"), _email("calm")
    monkeypatch.setattr(bulk_import, "_runner", _racing(engine, account.console_id, [racer]))

    process = _import(deps, account, lst, _doc(_row(racer, campo1="ours"), _row(calm)))

    assert _recipients(engine, account.console_id)[racer].field1 == "ours"
    assert _statuses(engine, account.console_id, lst.id) == {racer: "subscribed",
                                                             calm: "subscribed"}
    assert (process.counts.new_email, process.counts.existing_email) == (1, 1)


def test_a_batch_that_keeps_losing_the_race_fails_the_process_and_changes_nothing(
        deps: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lst = _list(deps, account)
    emails = [_email(f"r{n}") for n in range(import_runner._BATCH_ATTEMPTS + 1)]
    monkeypatch.setattr(bulk_import, "_runner",
                        _racing(engine, account.console_id, emails[:-1]))

    process_id = _create(deps, account, lst, _doc(*map(_row, emails)), ImportOptions())

    assert import_runner.run_process(deps, process_id) is ProcessStatus.FAILED
    assert "ContactCreatedMeanwhile" in (_process(deps, process_id).error or "")
    assert _statuses(engine, account.console_id, lst.id) == {}
    assert sorted(_recipients(engine, account.console_id)) == sorted(emails[:-1])


# -- plans that stale statistics cannot turn quadratic ---------------------------------------


def _scans(plan: Any) -> list[tuple[str, str | None, str | None]]:
    """Every (node type, relation, index) of an EXPLAIN (FORMAT JSON) plan, subplans too."""
    found = [(plan["Node Type"], plan.get("Relation Name"), plan.get("Index Name"))]
    for child in plan.get("Plans", []):
        found += _scans(child)
    return found


def test_a_batch_finds_recipients_by_their_contact_index_when_statistics_miss_the_account(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    """The statistics do not know an account whose recipients came after the last ANALYZE
    (any account's first big import): the planner then believes it has one recipient. An
    index starting with account_id alone was then priced like the email index and read all
    of the account's recipients for every row looked up (over 14 minutes for 25,000 rows
    into 60,000; migration 0011)."""
    lst = _list(deps, account)
    process_id = _create(deps, account, lst,
                         _doc(_row(_email("e")), _row(number="+393331234567")), ImportOptions())
    known = new_account(deps)
    recipients = """INSERT INTO recipients (account_id, email, mobile_number)
                    SELECT :a, 'r' || g || '@example.test', '+39333' || g
                    FROM generate_series(1, :n) AS g"""
    with engine.connect() as conn:  # rolled back: nothing of this stays
        conn.execute(sa.text(recipients), {"a": known.console_id, "n": 20_000})
        conn.execute(sa.text("ANALYZE recipients"))  # statistics that know only `known`
        conn.execute(sa.text(recipients), {"a": account.console_id, "n": 5_000})
        batch = import_batch.batch_statement(conn, lanes=1).replace(
            "CREATE TEMP TABLE ib ON COMMIT DROP AS", "EXPLAIN (FORMAT JSON)")
        plan = conn.execute(sa.text(batch), {
            "p": process_id, "a": account.console_id, "l": lst.id, "lo": 0, "hi": 2,
            "table": import_batch.transitions(ImportOptions())}).scalar_one()
        conn.rollback()

    on_recipients = {(node, index) for node, table, index in _scans(plan[0]["Plan"])
                     if table == "recipients"}
    assert on_recipients == {("Index Scan", "recipients_email_key"),
                             ("Index Scan", "recipients_mobile_idx")}


def _explaining(found: plans.Notices) -> Any:
    """A bulk_import._runner that has auto_explain send the plan of every statement of each
    batch (nested ones too: the reference checks, the events) to `found`."""
    real = bulk_import._runner

    def runner(conn: Any, params: dict[str, Any]) -> Any:
        plans.explain_into(conn, found)
        return real(conn, params)
    return runner


def test_no_lookup_of_a_batch_scans_the_accounts_rows_when_statistics_miss_the_account(
        deps: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every statement of four imports (events without and with a webhook, groups replaced,
    contacts by email and by number, and the daily sync's CSV with rows that cancel, rows
    that unsubscribe and a `groups` column), planned with statistics that know another
    account only, while this account already holds some of the contacts. The replaced
    groups were once deleted by reading the account's memberships and, for each, the whole
    batch (70 s for 25,000 rows into 20,000 members), the cancelled rows by reading the
    account's subscriptions and memberships once per batch."""
    lst = _list(deps, account)
    kept, joined = _group(deps, account, lst, "Kept"), _group(deps, account, lst, "Joined")
    existing = [(_email(f"x{n}"), f"+39340{n:07d}") for n in range(300)]
    found = plans.Notices()
    with plans.statistics_without_new_accounts(deps, engine):
        monkeypatch.setattr(bulk_import, "_runner", _explaining(found))
        _import(deps, account, lst, _doc(*(_row(e, m) for e, m in existing)),
                group_ids=(kept,))
        first = [_row(e, campo1="again") for e, _ in existing[:150]]
        by_number = [_row(number=m) for _, m in existing[200:203]]
        _import(deps, account, lst, _doc(*first, *(_row(_email("n")) for _ in range(150)),
                                         *by_number),
                group_ids=(joined,), replace_groups=True)
        webhooks.add_webhook(deps, account.console_id, lst.id, "http://127.0.0.1:9/hook")
        second = [_row(e) for e, _ in existing[100:250]]
        _import(deps, account, lst, _doc(*second, *(_row(_email("m")) for _ in range(150))),
                group_ids=(kept,), as_opt_out=True)
        # The daily sync's CSV: rows that cancel or unsubscribe, and a `groups` column.
        csv = ["111|333|status|groups\n",
               *(f"{e}||delete|\n" for e, _ in existing[:60]),
               *(f"|{m}|unsubscribe|{joined}\n" for _, m in existing[60:90]),
               *(f"{_email('c')}||subscribe|{kept},{joined}\n" for _ in range(60))]
        import_runner.import_now(deps, account.console_id, lst.id,
                                 read_csv(csv, ImportOptions(), daily_sync.EXTRA_COLUMNS),
                                 ImportOptions())

    scans = plans.scans(found)
    # The check saw what it judges: lookups in each big table, and reads of the batch.
    assert {plans.table(node) for _, node in scans if plans.looped(node)} >= set(plans.BIG)
    assert "ib" in {plans.table(node) for _, node in scans}
    assert {"DELETE FROM group_members", "DELETE FROM subscriptions"} <= {
        query[:25] for query, _ in scans}
    indexes = plans.index_columns(engine)
    assert [plans.describe(query, node, why)
            for query, node in scans if (why := plans.wrong(node, indexes))] == []


# -- the references checked per statement (migration 0006) ------------------------------------


def _insert(engine: sa.Engine, sql: str, **params: Any) -> None:
    with engine.begin() as conn:
        conn.execute(sa.text(sql), params)


def test_a_subscription_to_a_recipient_of_another_account_is_refused(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    other = new_account(deps)
    _import(deps, other, _list(deps, other), _doc(_row(email := _email())))
    foreign_id = _recipients(engine, other.console_id)[email].id

    with pytest.raises(sa.exc.IntegrityError, match="foreign key"):
        _insert(engine, "INSERT INTO subscriptions (account_id, list_id, recipient_id, status) "
                        "VALUES (:a, :l, :r, 'subscribed')",
                a=account.console_id, l=lst.id, r=foreign_id)


@pytest.mark.parametrize("sql", [
    "INSERT INTO subscriptions (account_id, list_id, recipient_id, status) "
    "VALUES (:a, 987654, :r, 'subscribed')",
    "INSERT INTO group_members (account_id, group_id, recipient_id) VALUES (:a, 987654, :r)",
    "INSERT INTO recipients (account_id, email) VALUES (987654321, 'x@example.test')",
    "INSERT INTO events (account_id, list_id, type, source, occurred_at) "
    "VALUES (987654321, 1, 'removed', 'API', now())",
    "INSERT INTO import_rows (process_id, row_no) VALUES (987654321, 1)",
])
def test_a_row_whose_parent_does_not_exist_is_refused(
        deps: Deps, engine: sa.Engine, account: AccountInfo, sql: str) -> None:
    _import(deps, account, _list(deps, account), _doc(_row(email := _email())))
    recipient_id = _recipients(engine, account.console_id)[email].id

    with pytest.raises(sa.exc.IntegrityError, match="foreign key"):
        _insert(engine, sql, a=account.console_id, r=recipient_id)


def test_a_parent_of_another_transaction_is_locked_against_deletion_until_commit(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    _import(deps, account, _list(deps, account, "Other"), _doc(_row(email := _email())))
    recipient_id = _recipients(engine, account.console_id)[email].id

    with engine.connect() as writer, engine.connect() as deleter:
        writer.execute(sa.text("INSERT INTO subscriptions (account_id, list_id, recipient_id, "
                               "status) VALUES (:a, :l, :r, 'subscribed')"),
                       {"a": account.console_id, "l": lst.id, "r": recipient_id})
        deleter.execute(sa.text("SET lock_timeout = '300ms'"))
        with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
            deleter.execute(sa.text("DELETE FROM recipients WHERE account_id = :a AND id = :r"),
                            {"a": account.console_id, "r": recipient_id})
        writer.rollback()

    assert email in _recipients(engine, account.console_id)


def test_parents_written_by_the_same_transaction_count_and_a_missing_one_still_refuses(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    """Migration 0010: a parent row this transaction created is not locked again, but it
    still counts as found; beside it, a key with no parent fails the whole statement."""
    lst = _list(deps, account)
    _import(deps, account, _list(deps, account, "Other"), _doc(_row(old := _email())))
    old_id = _recipients(engine, account.console_id)[old].id
    insert = ("INSERT INTO subscriptions (account_id, list_id, recipient_id, status) "
              "SELECT :a, :l, unnest(CAST(:ids AS bigint[])), 'subscribed'")

    with engine.begin() as conn:
        new_id = conn.execute(sa.text(
            "INSERT INTO recipients (account_id, email) VALUES (:a, :e) RETURNING id"),
            {"a": account.console_id, "e": _email("new")}).scalar_one()
        conn.execute(sa.text(insert), {"a": account.console_id, "l": lst.id,
                                       "ids": [new_id, old_id]})
    with pytest.raises(sa.exc.IntegrityError, match="foreign key"), engine.begin() as conn:
        mine = conn.execute(sa.text(
            "INSERT INTO recipients (account_id, email) VALUES (:a, :e) RETURNING id"),
            {"a": account.console_id, "e": _email("mine")}).scalar_one()
        conn.execute(sa.text(insert), {"a": account.console_id, "l": lst.id,
                                       "ids": [mine, 987654321]})

    assert sorted(_statuses(engine, account.console_id, lst.id).values()) == [
        "subscribed", "subscribed"]


_DANGLING = ("INSERT INTO subscriptions (account_id, list_id, recipient_id, status) "
             "VALUES (:a, :l, 987654321, 'subscribed')")


def test_only_the_check_named_in_fk_vouched_is_skipped_and_only_in_its_transaction(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    """Migration 0012: a statement run while `mailup.fk_vouched` names a check skips that
    check, and no other; SET LOCAL ends with the transaction."""
    lst = _list(deps, account)
    params = {"a": account.console_id, "l": lst.id}

    with pytest.raises(sa.exc.IntegrityError, match="recipient_id_fkey"), \
            engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL mailup.fk_vouched = "
                             "'subscriptions_account_id_list_id_fkey'"))
        conn.execute(sa.text(_DANGLING), params)
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL mailup.fk_vouched = "
                             "'subscriptions_account_id_recipient_id_fkey'"))
        conn.execute(sa.text(_DANGLING), params)  # vouched for, wrongly: nothing stops it
        conn.rollback()
        with pytest.raises(sa.exc.IntegrityError, match="recipient_id_fkey"):
            conn.execute(sa.text(_DANGLING), params)

    assert _statuses(engine, account.console_id, lst.id) == {}


def test_a_merged_batch_leaves_the_reference_checks_on_for_the_rest_of_its_transaction(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    """The merge vouches for its new recipients' subscriptions in one statement only."""
    lst = _list(deps, account)
    opts = ImportOptions()
    process_id = _create(deps, account, lst, _doc(_row(new := _email())), opts)

    with pytest.raises(sa.exc.IntegrityError, match="recipient_id_fkey"), \
            engine.begin() as conn:
        bulk_import.merge_batch(conn, process_id, account.console_id, lst.id, opts, 0, 1,
                                _process(deps, process_id).source, deps.clock.now())
        assert conn.execute(sa.text("SELECT status FROM subscriptions WHERE account_id = :a "
                                    "AND list_id = :l"),
                            {"a": account.console_id, "l": lst.id}).scalars().all() == [
            "subscribed"]
        assert conn.execute(sa.text(
            "SELECT current_setting('mailup.fk_vouched', true)")).scalar_one() in ("", None)
        conn.execute(sa.text(_DANGLING), {"a": account.console_id, "l": lst.id})

    assert new not in _recipients(engine, account.console_id)
    assert import_runner.run_process(deps, process_id) is ProcessStatus.COMPLETED
    assert _statuses(engine, account.console_id, lst.id) == {new: "subscribed"}


def test_the_key_of_a_subscription_or_a_recipient_never_changes(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    _import(deps, account, lst, _doc(_row(email := _email()), _row(_email())))
    ids = sorted(row.id for row in _recipients(engine, account.console_id).values())
    other = new_account(deps)

    with pytest.raises(sa.exc.IntegrityError):
        _insert(engine, "UPDATE subscriptions SET recipient_id = :b "
                        "WHERE account_id = :a AND recipient_id = :r",
                a=account.console_id, r=ids[0], b=ids[1])
    with pytest.raises(sa.exc.IntegrityError):
        _insert(engine, "UPDATE recipients SET account_id = :o WHERE account_id = :a",
                a=account.console_id, o=other.console_id)
    assert _statuses(engine, account.console_id, lst.id)[email] == "subscribed"


def test_deleting_a_recipient_or_an_account_deletes_what_refers_to_it(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    lst = _list(deps, account)
    group = _group(deps, account, lst, "G")
    _import(deps, account, lst, _doc(_row(gone := _email()), _row(kept := _email())),
            group_ids=(group,))
    gone_id = _recipients(engine, account.console_id)[gone].id

    _insert(engine, "DELETE FROM recipients WHERE account_id = :a AND id = :r",
            a=account.console_id, r=gone_id)
    after_recipient = (_statuses(engine, account.console_id, lst.id),
                       _memberships(engine, account.console_id))
    _insert(engine, "DELETE FROM accounts WHERE id = :a", a=account.console_id)

    assert after_recipient == ({kept: "subscribed"}, {kept: {"G"}})
    for table in ("recipients", "subscriptions", "group_members", "events"):
        assert _query(engine, f"SELECT 1 FROM {table} WHERE account_id = :a",
                      a=account.console_id) == []


# -- lanes: a large process merged on several connections at once ----------------------------


@pytest.fixture
def laned(deps: Deps, monkeypatch: pytest.MonkeyPatch) -> Deps:
    """Deps merging every process in two lanes, in batches of 3 rows."""
    monkeypatch.setattr(import_runner, "LANE_MIN_ROWS", 0)
    monkeypatch.setattr(import_runner, "BATCH_ROWS", 3)
    return dataclasses.replace(deps, import_lanes=2)


_LANED_OPTIONS = {"confirm_email": True, "force_opt_in": True}


def _laned_scene(deps: Deps, engine: sa.Engine, account: AccountInfo,
                 contacts: tuple[tuple[str, ...], list[str]]) -> tuple[MailingList, int]:
    """A list holding subscribed, opted-out and hard-bounced contacts, and a process (not
    run) of new and existing ones, a contact given twice in two cases and an invalid row:
    the list and the process."""
    (s1, s2, u1, final), new = contacts
    lst = _list(deps, account)
    group = _group(deps, account, lst, "Imported")
    _seed(deps, account, lst, (s1, s2, u1))
    _import(deps, account, lst, _doc(_row(final)))
    _import(deps, account, lst, _doc(_row(final)), as_opt_out=True)
    _set_reason(engine, account.console_id, final, 8)
    rows = [_row(e, campo1=f"N{n}") for n, e in enumerate(new)]
    rows[3:3] = [_row(s1, campo1="S1 again"), _row(final), _row("not-an-email"),
                 _row(new[0].upper(), campo1="N0 upper")]
    rows[9:9] = [_row(u1, campo2="U1"), _row(s2, campo3="S2"), _row(new[0], campo1="N0 last")]
    return lst, _create(deps, account, lst, _doc(*rows),
                        ImportOptions(**_LANED_OPTIONS, group_ids=(group,)))


def _contacts() -> tuple[tuple[str, ...], list[str]]:
    return (_email("s1"), _email("s2"), _email("u1"), _email("f")), [
        _email(f"n{n}") for n in range(16)]


def _clean_run(deps: Deps, engine: sa.Engine,
               contacts: tuple[tuple[str, ...], list[str]]) -> tuple[Any, dict[str, Any]]:
    """The same scene merged in one lane, in a new account: its outcome and snapshot."""
    clean_account = new_account(deps)
    one_lane = dataclasses.replace(deps, import_lanes=1)
    lst, process_id = _laned_scene(one_lane, engine, clean_account, contacts)
    assert import_runner.run_process(one_lane, process_id) is ProcessStatus.COMPLETED
    process = _process(deps, process_id)
    assert process.lanes_done == (process.rows_staged,)
    return _outcome(process), _snapshot(engine, clean_account.console_id, lst.id)


def _assert_ends_as_a_clean_run(deps: Deps, engine: sa.Engine, account: AccountInfo,
                                lst: MailingList, process_id: int,
                                contacts: tuple[tuple[str, ...], list[str]]) -> None:
    """The process's outcome and the list's state are those of the scene merged in one lane,
    in one go."""
    outcome, snapshot = _clean_run(deps, engine, contacts)
    assert _outcome(_process(deps, process_id)) == outcome
    assert _snapshot(engine, account.console_id, lst.id) == snapshot


def _lane_calls(monkeypatch: pytest.MonkeyPatch, before: Any = None) -> list[tuple[int, int]]:
    """(lane, low) of every batch merged from now on; `before(lane, low)` runs first."""
    real_merge, calls = bulk_import.merge_batch, []

    def merge(*args: Any) -> int:
        calls.append((args[9], args[5]))
        if before:
            before(args[9], args[5])
        return real_merge(*args)

    monkeypatch.setattr(bulk_import, "merge_batch", merge)
    return calls


def test_a_process_merged_in_two_lanes_ends_as_one_merged_in_one_lane(
        laned: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    contacts = _contacts()
    lst, process_id = _laned_scene(laned, engine, account, contacts)
    calls = _lane_calls(monkeypatch)
    progress: list[int] = []

    status = import_runner.run_process(laned, process_id, progress=lambda d, n: progress.append(d))

    process = _process(laned, process_id)
    assert status is ProcessStatus.COMPLETED
    assert process.lanes_done == (23, 23)
    assert {lane for lane, _ in calls} == {0, 1}
    assert progress == sorted(progress) and progress[-1] == 23
    _assert_ends_as_a_clean_run(laned, engine, account, lst, process_id, contacts)
    (_, _, _, final), new = contacts
    assert _recipients(engine, account.console_id)[new[0]].field1 == "N0 last"
    assert _statuses(engine, account.console_id, lst.id)[final] == "unsubscribed"
    assert _staged_rows(engine, process_id) == 0


def test_a_process_with_a_contact_given_by_number_alone_or_few_rows_merges_in_one_lane(
        deps: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    lst = _list(deps, account)
    laned = dataclasses.replace(deps, import_lanes=2)

    def merged(*rows: str, stored_before_0015: bool = False) -> ImportProcess:
        process_id = _create(laned, account, lst, _doc(*rows), ImportOptions())
        if stored_before_0015:  # its rows by number were not counted: they are looked at
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE import_processes SET rows_by_number = NULL "
                                     "WHERE id = :p"), {"p": process_id})
        assert import_runner.run_process(laned, process_id) is ProcessStatus.COMPLETED
        return _process(laned, process_id)

    small = merged(*(_row(_email()) for _ in range(5)))
    monkeypatch.setattr(import_runner, "LANE_MIN_ROWS", 0)
    number = "+393331234567"
    by_number = merged(_row(_email()), _row("", number), _row("", "12ab"))
    by_number_before = merged(_row(_email()), _row("", number), stored_before_0015=True)
    by_email = merged(_row(_email()), _row(_email(), number))
    by_email_before = merged(_row(_email()), _row(_email(), number), stored_before_0015=True)

    assert (small.lanes_done, small.rows_by_number) == ((5,), 0)  # under LANE_MIN_ROWS
    assert (by_number.lanes_done, by_number.rows_by_number) == ((3,), 1)
    assert (by_number_before.lanes_done, by_number_before.rows_by_number) == ((2,), None)
    assert (by_email.lanes_done, by_email.rows_by_number) == ((2, 2), 0)
    assert (by_email_before.lanes_done, by_email_before.rows_by_number) == ((2, 2), None)
    assert len(_statuses(engine, account.console_id, lst.id)) == 5 + 2 + 1 + 2 + 2


def test_a_worker_killed_in_one_lane_stops_the_other_and_the_retry_ends_like_a_clean_run(
        laned: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    contacts = _contacts()
    lst, process_id = _laned_scene(laned, engine, account, contacts)

    killed_once: list[bool] = []

    def killed_in_lane_1s_second_batch(lane: int, low: int) -> None:
        if (lane, low) == (1, 3) and not killed_once:
            killed_once.append(True)
            raise WorkerKilled()

    calls = _lane_calls(monkeypatch, killed_in_lane_1s_second_batch)
    with pytest.raises(WorkerKilled):
        import_runner.run_process(laned, process_id)
    killed = _process(laned, process_id)
    first_run = list(calls)

    assert import_runner.run_process(laned, process_id) is ProcessStatus.COMPLETED

    assert killed.status is ProcessStatus.RUNNING
    assert killed.lanes_done is not None and killed.lanes_done[1] == 3
    assert killed.rows_done == min(killed.lanes_done)
    # lane 0 stopped after the batch it was merging (or at its end), which it committed
    assert min(max(low for lane, low in first_run if lane == 0) + 3, 23) == (
        killed.lanes_done[0])
    # the killed batch was rolled back, and the retry merged it first in its lane
    assert first_run.count((1, 3)) == 1
    assert next(c for c in calls[len(first_run):] if c[0] == 1) == (1, 3)
    _assert_ends_as_a_clean_run(laned, engine, account, lst, process_id, contacts)


def test_a_lane_that_fails_fails_the_process_once_the_other_lane_stopped(
        laned: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    contacts = _contacts()
    _, process_id = _laned_scene(laned, engine, account, contacts)
    failed = threading.Event()

    def lane_1_fails(lane: int, low: int) -> None:
        if lane == 1:
            failed.set()
            raise RuntimeError("the disk is full")
        assert failed.wait(10)  # lane 0 merges its first batch once lane 1 has failed

    calls = _lane_calls(monkeypatch, lane_1_fails)
    status = import_runner.run_process(laned, process_id)

    process = _process(laned, process_id)
    assert status is ProcessStatus.FAILED
    assert (process.status, process.error) == (ProcessStatus.FAILED,
                                               "RuntimeError: the disk is full")
    assert calls == [(1, 0), (0, 0)] or calls == [(0, 0), (1, 0)]
    assert process.lanes_done == (3, 0)  # lane 0's batch committed, then it stopped


def test_a_lane_taken_by_another_runner_waits_for_it_while_the_other_lanes_go_on(
        laned: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Two runners of one process (a retried job beside a slow one): a runner merges a lane
    only while no other runner merges in it, reading the lane's progress once it has it."""
    contacts = _contacts()
    lst, process_id = _laned_scene(laned, engine, account, contacts)
    with laned.uow() as uow:
        assert uow.imports.set_lanes(process_id, 2) == (0, 0)
        uow.commit()
    calls = _lane_calls(monkeypatch)

    with ThreadPoolExecutor(1) as pool, laned.uow() as other_runner:
        taken = other_runner.imports.lane(process_id, 0)  # as if merging lane 0's batch
        running = pool.submit(import_runner.run_process, laned, process_id)
        deadline = time.monotonic() + 10
        while (_process(laned, process_id).lanes_done or (0, 0))[1] != 23:
            assert time.monotonic() < deadline and not running.done()
            time.sleep(0.05)
        time.sleep(0.2)
        merged_while_taken = list(calls)
        progress_while_taken = _process(laned, process_id).lanes_done
        other_runner.rollback()
        status = running.result(timeout=30)

    assert taken is not None and taken[1] == 0
    assert {lane for lane, _ in merged_while_taken} == {1}
    assert progress_while_taken == (0, 23)
    assert status is ProcessStatus.COMPLETED
    assert sorted(calls) == sorted({(lane, low) for lane in (0, 1) for low in range(0, 23, 3)})
    _assert_ends_as_a_clean_run(laned, engine, account, lst, process_id, contacts)


def test_ctrl_c_while_the_other_lanes_still_merge_stops_them_after_their_batch(
        laned: Deps, engine: sa.Engine, account: AccountInfo,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Lane 0 (this thread) is done and waits for lane 1 when Ctrl-C comes."""
    _, process_id = _laned_scene(laned, engine, account, _contacts())

    def ctrl_c_once_lane_0_is_done(lane: int, low: int) -> None:
        if (lane, low) != (1, 0):
            return
        deadline = time.monotonic() + 10
        while (_process(laned, process_id).lanes_done or (0,))[0] != 23:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.5)  # the main thread takes the signal meanwhile

    _lane_calls(monkeypatch, ctrl_c_once_lane_0_is_done)
    with pytest.raises(KeyboardInterrupt):
        import_runner.run_process(laned, process_id)

    stopped = _process(laned, process_id)
    assert stopped.status is ProcessStatus.RUNNING
    assert stopped.lanes_done == (23, 3)  # lane 1 committed the batch it was merging, no more
