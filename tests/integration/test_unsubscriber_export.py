"""The unsubscriber export on the real PostgreSQL: the repository's filters, keyset pages and
server-side cursor, tenant isolation, the signed continuation token, and export profiles."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable

import pytest
import sqlalchemy as sa

from mailup_soap import errors
from mailup_soap.db.export_repos import ExportRepository
from mailup_soap.domain.unsubscribers import DateMode, UnsubscriberFilter, Window, parse_filter
from mailup_soap.service_layer import exports
from mailup_soap.service_layer.deps import Deps
from tests.conftest import AccountInfo, new_account
from tests.fakes import FakeClock
from tests.unsubscriber_seed import emails, key, new_list, seed

pytestmark = pytest.mark.integration

NOW = dt.datetime(2024, 5, 10, 9, 0, tzinfo=dt.UTC)
YESTERDAY = dt.datetime(2024, 5, 9, 15, 30, tzinfo=dt.UTC)
TWO_DAYS_AGO = dt.datetime(2024, 5, 8, 23, 59, 59, tzinfo=dt.UTC)


def _at(deps: Deps, when: dt.datetime) -> Deps:
    return dataclasses.replace(deps, clock=FakeClock(when))


def _page(engine: sa.Engine, account: AccountInfo, flt: UnsubscriberFilter,
          window: Window | None = None, after: tuple[int, int] | None = None,
          limit: int = 1000) -> list[str | None]:
    with engine.connect() as conn:
        rows = ExportRepository(conn).page(account.console_id, flt, window, after, limit)
    return [r.email for r in rows]


class RecordingDrop:
    """A FileDrop keeping what `write_export` was given (run_profiles only writes exports)."""

    def __init__(self) -> None:
        self.files: dict[tuple[int, str], str] = {}

    def write_export(self, account_id: int, name: str, lines: Iterable[str]) -> str:
        self.files[(account_id, name)] = "".join(lines)
        return f"export/{name}"


# -- the repository -------------------------------------------------------------------------


def test_only_unsubscribed_subscriptions_of_the_account_are_unsubscribers(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    list_id = new_list(deps, account)
    gone, still, waiting = emails(1, "gone"), emails(1, "still"), emails(1, "waiting")
    seed(engine, account, list_id, gone, at=YESTERDAY)
    seed(engine, account, list_id, still, at=None, status="subscribed")
    seed(engine, account, list_id, waiting, at=None, status="pending")

    assert _page(engine, account, UnsubscriberFilter()) == gone


def test_lists_and_reasons_can_be_included_or_excluded(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    one, two, three = (new_list(deps, account) for _ in range(3))
    link1, bounce1, link2, bounce3, unknown3 = (emails(1, t) for t in (
        "link1", "bounce1", "link2", "bounce3", "unknown3"))
    seed(engine, account, one, link1, at=YESTERDAY, reason=2)
    seed(engine, account, one, bounce1, at=YESTERDAY, reason=8)
    seed(engine, account, two, link2, at=YESTERDAY, reason=2)
    seed(engine, account, three, bounce3, at=YESTERDAY, reason=8)
    seed(engine, account, three, unknown3, at=YESTERDAY, reason=None)

    assert _page(engine, account, UnsubscriberFilter(lists=(one, three))) == (
        link1 + bounce1 + bounce3 + unknown3)
    assert _page(engine, account, UnsubscriberFilter(exclude_lists=(one,))) == (
        link2 + bounce3 + unknown3)
    assert _page(engine, account, UnsubscriberFilter(reasons=(8,))) == bounce1 + bounce3
    # No recorded reason is not "the unsubscribe link": an exclusion keeps it.
    assert _page(engine, account, UnsubscriberFilter(exclude_reasons=(2,))) == (
        bounce1 + bounce3 + unknown3)


def test_a_window_keeps_its_start_and_leaves_out_its_end(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    list_id = new_list(deps, account)
    first, last, after, before = (emails(1, t) for t in ("first", "last", "after", "before"))
    day = Window(dt.datetime(2024, 5, 9, tzinfo=dt.UTC), dt.datetime(2024, 5, 10, tzinfo=dt.UTC))
    seed(engine, account, list_id, first, at=day.start)
    seed(engine, account, list_id, last, at=day.end - dt.timedelta(microseconds=1))
    seed(engine, account, list_id, after, at=day.end)
    seed(engine, account, list_id, before, at=day.start - dt.timedelta(microseconds=1))
    seed(engine, account, list_id, emails(1, "undated"), at=None)

    assert _page(engine, account, UnsubscriberFilter(), window=day) == first + last


def test_rows_carry_mobile_dates_message_and_reason(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    list_id = new_list(deps, account)
    subscribed = dt.datetime(2023, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    seed(engine, account, list_id, emails(1), at=YESTERDAY, reason=16, message_id=42,
         mobile="+393331234567", subscribed_at=subscribed)

    with engine.connect() as conn:
        (row,) = ExportRepository(conn).page(account.console_id, UnsubscriberFilter(), None,
                                             None, 10)

    assert (row.list_id, row.mobile, row.unsubscribed_at, row.subscribed_at, row.message_id,
            row.reason, row.reason_description) == (
        list_id, "+393331234567", YESTERDAY, subscribed, 42, 16, "spam complaint")


def test_keyset_pages_follow_list_then_recipient_and_cover_every_row_once(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    one, two = new_list(deps, account), new_list(deps, account)
    seed(engine, account, two, emails(4, "two"), at=YESTERDAY)
    seed(engine, account, one, emails(6, "one"), at=YESTERDAY)
    flt = UnsubscriberFilter()

    seen: list[tuple[int, int]] = []
    after = None
    with engine.connect() as conn:
        repo = ExportRepository(conn)
        while page := repo.page(account.console_id, flt, None, after, 3):
            seen += [(r.list_id, r.recipient_id) for r in page]
            after = seen[-1]

    assert len(seen) == 10
    assert seen == sorted(set(seen))
    assert [lst for lst, _ in seen] == [one] * 6 + [two] * 4


def test_another_account_with_the_same_list_ids_never_shows_up(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    other = new_account(deps)
    mine_list, their_list = new_list(deps, account), new_list(deps, other)
    assert mine_list == their_list == 1  # list ids are per account
    mine, theirs = emails(2, "mine"), emails(2, "theirs")
    seed(engine, account, mine_list, mine, at=YESTERDAY)
    seed(engine, other, their_list, theirs, at=YESTERDAY)

    with engine.connect() as conn:
        streamed = [r.email for r in ExportRepository(conn).stream(
            account.console_id, UnsubscriberFilter(lists=(1,)), None)]

    assert _page(engine, account, UnsubscriberFilter(lists=(1,))) == mine
    assert streamed == mine
    assert _page(engine, other, UnsubscriberFilter()) == theirs


def test_the_stream_reads_through_a_server_side_cursor_in_the_page_order(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    list_id = new_list(deps, account)
    seed(engine, account, list_id, emails(30), at=YESTERDAY)
    flt = UnsubscriberFilter()

    with engine.connect() as conn, conn.begin():
        rows = ExportRepository(conn).stream(account.console_id, flt, None)
        first = next(rows)
        # The rest is still on the server: memory does not grow with the export.
        open_cursors = conn.execute(sa.text("SELECT count(*) FROM pg_cursors")).scalar_one()
        streamed = [first.email, *(r.email for r in rows)]

    assert open_cursors == 1
    assert streamed == _page(engine, account, flt)


# -- GetUnsubscribers' pages and token ------------------------------------------------------


def test_a_previous_day_query_paged_across_midnight_keeps_its_day(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    list_id = new_list(deps, account)
    before_midnight = dt.datetime(2024, 5, 10, 23, 59, tzinfo=dt.UTC)
    ninth, tenth = emails(3, "ninth"), emails(3, "tenth")
    seed(engine, account, list_id, ninth, at=YESTERDAY)
    seed(engine, account, list_id, tenth, at=before_midnight - dt.timedelta(hours=1))
    flt = UnsubscriberFilter(date=DateMode.PREVIOUS_DAY)
    cred = key(deps, account)

    first = exports.unsubscribers_page(_at(deps, before_midnight), cred, flt, 2)
    rest = exports.unsubscribers_page(_at(deps, before_midnight + dt.timedelta(minutes=2)),
                                      cred, flt, 2, first.token)

    assert [r.email for r in first.rows + rest.rows] == ninth
    assert first.token and rest.token == ""


def test_the_last_page_has_no_token_even_when_it_is_full(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    seed(engine, account, new_list(deps, account), emails(4), at=YESTERDAY)

    page = exports.unsubscribers_page(deps, key(deps, account), UnsubscriberFilter(), 4)

    assert (len(page.rows), page.token) == (4, "")


def test_a_token_only_works_unaltered_for_its_account_and_filter(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    other = new_account(deps)
    for acc in (account, other):
        seed(engine, acc, new_list(deps, acc), emails(3), at=YESTERDAY)
    cred, flt = key(deps, account), UnsubscriberFilter()
    token = exports.unsubscribers_page(deps, cred, flt, 1).token
    body, _, mac = token.partition(".")
    altered = body[:-1] + ("A" if body[-1] != "A" else "B") + "." + mac

    attempts = [(cred, flt, altered), (cred, flt, "not a token"),
                (cred, UnsubscriberFilter(reasons=(2,)), token),
                (key(deps, other), flt, token)]

    for who, which, what in attempts:
        with pytest.raises(errors.InvalidArgument) as refused:
            exports.unsubscribers_page(deps, who, which, 1, what)
        assert refused.value.name == "continuationToken"


@pytest.mark.parametrize("size", [-1, 10_001])
def test_a_page_size_out_of_range_is_refused(deps: Deps, account: AccountInfo,
                                             size: int) -> None:
    with pytest.raises(errors.InvalidArgument) as refused:
        exports.unsubscribers_page(deps, key(deps, account), UnsubscriberFilter(), size)

    assert refused.value.name == "pageSize"


def test_a_filter_naming_a_list_the_account_does_not_have_is_refused(
        deps: Deps, account: AccountInfo) -> None:
    list_id = new_list(deps, account)

    with pytest.raises(errors.ListNotFound):
        exports.unsubscribers_page(deps, key(deps, account),
                                   UnsubscriberFilter(lists=(list_id, list_id + 1)))


# -- the whole export and the profiles ------------------------------------------------------


def test_the_issue_example_exports_yesterday_of_list_1_without_link_unsubscriptions(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    one, two = new_list(deps, account), new_list(deps, account)
    wanted = emails(2, "wanted")
    seed(engine, account, one, wanted, at=YESTERDAY, reason=8)
    seed(engine, account, one, emails(1, "clicked"), at=YESTERDAY, reason=2)
    seed(engine, account, one, emails(1, "older"), at=TWO_DAYS_AGO, reason=8)
    seed(engine, account, two, emails(1, "elsewhere"), at=YESTERDAY, reason=8)
    lines: list[str] = []

    count = exports.export_unsubscribers(
        _at(deps, NOW), account.console_id,
        parse_filter(lists=str(one), date="previous-day", exclude_reasons="2"), lines.append)

    assert count == 2
    assert lines[0].startswith("email,mobile,idList,OptOut_Date")
    assert [line.split(",")[:4] for line in lines[1:]] == [
        [email, "", str(one), "20240509T153000"] for email in wanted]


def test_export_profiles_are_saved_listed_removed_per_account(
        deps: Deps, account: AccountInfo) -> None:
    other = new_account(deps)
    list_id = new_list(deps, account)
    flt = UnsubscriberFilter(lists=(list_id,), date=DateMode.PREVIOUS_DAY, exclude_reasons=(2,))

    exports.add_profile(deps, account.console_id, "no-link", flt)
    exports.add_profile(deps, account.console_id, "all", UnsubscriberFilter())
    with pytest.raises(errors.InvalidArgument):
        exports.add_profile(deps, account.console_id, "all", flt)
    listed = exports.list_profiles(deps, account.console_id)
    exports.remove_profile(deps, account.console_id, "all")

    assert [(p.name, p.filter) for p in listed] == [("all", UnsubscriberFilter()),
                                                    ("no-link", flt)]
    assert [p.name for p in exports.list_profiles(deps, account.console_id)] == ["no-link"]
    assert exports.list_profiles(deps, other.console_id) == []
    with pytest.raises(errors.InvalidArgument):
        exports.remove_profile(deps, other.console_id, "no-link")


def test_run_profiles_writes_one_dated_csv_per_profile_of_the_account(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    other = new_account(deps)
    list_id = new_list(deps, account)
    bounced = emails(1, "bounced")
    seed(engine, account, list_id, bounced, at=YESTERDAY, reason=8)
    seed(engine, account, list_id, emails(1, "clicked"), at=YESTERDAY, reason=2)
    exports.add_profile(deps, account.console_id, "bounces",
                        UnsubscriberFilter(date=DateMode.PREVIOUS_DAY, reasons=(8,)))
    exports.add_profile(deps, account.console_id, "everyone", UnsubscriberFilter())
    exports.add_profile(deps, other.console_id, "theirs", UnsubscriberFilter())
    drop = RecordingDrop()

    written = exports.run_profiles(dataclasses.replace(_at(deps, NOW), file_drop=drop),
                                   account.console_id)

    assert written == ["export/bounces-20240510.csv", "export/everyone-20240510.csv"]
    assert set(drop.files) == {(account.console_id, "bounces-20240510.csv"),
                               (account.console_id, "everyone-20240510.csv")}
    bounces = drop.files[(account.console_id, "bounces-20240510.csv")].splitlines()
    assert [line.split(",")[0] for line in bounces] == ["email", *bounced]
    assert len(drop.files[(account.console_id, "everyone-20240510.csv")].splitlines()) == 3


def test_a_profile_with_a_name_unfit_for_a_file_is_refused(
        deps: Deps, account: AccountInfo) -> None:
    with pytest.raises(errors.InvalidArgument):
        exports.add_profile(deps, account.console_id, "../../etc/passwd", UnsubscriberFilter())

    assert exports.list_profiles(deps, account.console_id) == []
