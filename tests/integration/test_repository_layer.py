"""Use cases on the real PostgreSQL: transactions, events, access keys, the job worker."""
from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import secrets
import threading

import pytest
import sqlalchemy as sa

from mailup_soap import bootstrap, errors
from mailup_soap.config import Settings
from mailup_soap.db import tables as t
from mailup_soap.db.repositories import SubscriptionRepository
from mailup_soap.domain.model import ChangeSource
from mailup_soap.service_layer import auth, lists
from mailup_soap.service_layer.deps import AccessKey, Deps
from tests import plans
from tests.conftest import AccountInfo

pytestmark = pytest.mark.integration


class SteppingClock:
    def __init__(self) -> None:
        self.current = dt.datetime(2026, 11, 26, 12, 0, tzinfo=dt.UTC)

    def now(self) -> dt.datetime:
        return self.current


def _key(deps: Deps, account: AccountInfo) -> AccessKey:
    return AccessKey(auth.login(deps, account.console_user, account.password,
                                console_id=account.console_id))


def _recipients_in_group(engine: sa.Engine, account_id: int, list_id: int, group_id: int,
                         count: int) -> list[int]:
    """Recipients subscribed to the list and members of the group (no use case adds them yet)."""
    ids = []
    with engine.begin() as conn:
        for _ in range(count):
            rid = conn.execute(t.recipients.insert().values(
                account_id=account_id, email=f"r{secrets.token_hex(6)}@example.test",
                field1="Ann").returning(t.recipients.c.id)).scalar_one()
            conn.execute(t.subscriptions.insert().values(
                account_id=account_id, list_id=list_id, recipient_id=rid, status="subscribed"))
            conn.execute(t.group_members.insert().values(
                account_id=account_id, group_id=group_id, recipient_id=rid))
            ids.append(rid)
    return ids


def _events(engine: sa.Engine, account_id: int) -> list[sa.Row]:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(t.events).where(t.events.c.account_id == account_id)
                                 .order_by(t.events.c.id)))


def test_delete_group_with_users_removes_members_and_writes_a_removed_event_each(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    key = _key(deps, account)
    lst = lists.create_list(deps, key, "L")
    other = lists.create_list(deps, key, "Other")
    group = lists.create_group(deps, key, lst.id, "G").group
    members = _recipients_in_group(engine, account.console_id, lst.id, group.id, 3)
    with engine.begin() as conn:  # the first member is also in another list: it must survive
        conn.execute(t.subscriptions.insert().values(
            account_id=account.console_id, list_id=other.id, recipient_id=members[0],
            status="subscribed"))

    removed = lists.delete_group(deps, key, lst.id, group.id, delete_users=True)

    assert removed == 3
    events = _events(engine, account.console_id)
    assert sorted(e.recipient_id for e in events) == sorted(members)
    assert {(e.type, e.source, e.list_id) for e in events} == {("removed", "API", lst.id)}
    assert all(e.email for e in events)
    with engine.connect() as conn:
        left = conn.execute(sa.select(t.recipients.c.id).where(
            t.recipients.c.account_id == account.console_id)).scalars().all()
    assert left == [members[0]]


def test_deleting_a_group_with_its_members_looks_each_one_up_when_statistics_miss_the_account(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    """DeleteGroup with deleteUsers, then DeleteList, in an account the statistics do not
    know yet (tests/plans.py): each member's subscription, and whether the member is left in
    no list, are lookups. As joins, every subscription of the list read all of the group's
    members (30 s for 10,000 members, 68 s for 20,000)."""
    key = _key(deps, account)
    lst = lists.create_list(deps, key, "L")
    other = lists.create_list(deps, key, "Other")
    group = lists.create_group(deps, key, lst.id, "G").group
    found = plans.Notices()
    with plans.statistics_without_new_accounts(deps, engine):
        with engine.begin() as conn:  # 200 members, 100 of them also in Other; 100 others
            conn.execute(sa.text("""
                WITH r AS (INSERT INTO recipients (account_id, email)
                           SELECT :a, 'g' || n || '@example.test'
                           FROM generate_series(1, 300) AS n RETURNING id, email),
                     s AS (INSERT INTO subscriptions (account_id, list_id, recipient_id, status)
                           SELECT :a, :l, id, 'subscribed' FROM r),
                     o AS (INSERT INTO subscriptions (account_id, list_id, recipient_id, status)
                           SELECT :a, :o, id, 'subscribed' FROM r
                           WHERE split_part(email, '@', 1) IN (
                               SELECT 'g' || n FROM generate_series(1, 100) AS n))
                INSERT INTO group_members (account_id, group_id, recipient_id)
                SELECT :a, :g, id FROM r WHERE split_part(email, '@', 1) IN (
                    SELECT 'g' || n FROM generate_series(1, 200) AS n)"""),
                {"a": account.console_id, "l": lst.id, "o": other.id, "g": group.id})
        with engine.begin() as conn:
            plans.explain_into(conn, found)
            repo = SubscriptionRepository(conn)
            removed = repo.remove_group_members(account.console_id, lst.id, group.id,
                                                ChangeSource.API, dt.datetime.now(dt.UTC))
            left_in_other = repo.remove_list(account.console_id, other.id, ChangeSource.API,
                                             dt.datetime.now(dt.UTC))

    assert (removed, left_in_other) == (200, 100)
    with engine.connect() as conn:
        left = conn.execute(sa.text(
            "SELECT count(*), count(*) FILTER (WHERE EXISTS (SELECT 1 FROM subscriptions s "
            "WHERE s.account_id = r.account_id AND s.recipient_id = r.id AND s.list_id = :l))"
            " FROM recipients r WHERE r.account_id = :a"),
            {"a": account.console_id, "l": lst.id}).one()
    assert tuple(left) == (200, 100)  # the 100 outside the group, and Other's 100, out of L
    scans = plans.scans(found)
    assert {plans.table(node) for _, node in scans if plans.looped(node)} >= {
        "recipients", "subscriptions"}  # the check saw the lookups
    # The group's members are read once (by account, the planner believing it small): one
    # pass, not one per row.
    indexes = plans.index_columns(engine)
    assert [plans.describe(query, node, why) for query, node in scans
            if plans.looped(node) and (why := plans.wrong(node, indexes))] == []


def test_a_subscription_updated_meanwhile_is_still_deleted_with_its_group(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    """Another transaction changes a member's subscription while DeleteGroup runs: the
    deletion waits for it and deletes the new version (deleting by row address would miss
    it, and leave a subscription whose removal the events announce)."""
    key = _key(deps, account)
    lst = lists.create_list(deps, key, "L")
    group = lists.create_group(deps, key, lst.id, "G").group
    busy, calm = _recipients_in_group(engine, account.console_id, lst.id, group.id, 2)
    subscription = (t.subscriptions.c.account_id == account.console_id) & (
        t.subscriptions.c.list_id == lst.id)
    with engine.connect() as other:
        other.execute(t.subscriptions.update().where(
            subscription, t.subscriptions.c.recipient_id == busy).values(status="pending"))
        done = threading.Thread(target=lists.delete_group, args=(
            deps, key, lst.id, group.id, True))
        done.start()
        done.join(timeout=1)
        assert done.is_alive()  # waiting for the other transaction's row
        other.commit()
    done.join(timeout=10)

    with engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(t.subscriptions).where(
            subscription)).scalar_one()
    assert left == 0
    assert sorted(e.recipient_id for e in _events(engine, account.console_id)) == sorted(
        [busy, calm])


def test_delete_list_writes_removed_events_and_deletes_subscriptions_and_groups(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    key = _key(deps, account)
    lst = lists.create_list(deps, key, "L")
    group = lists.create_group(deps, key, lst.id, "G").group
    _recipients_in_group(engine, account.console_id, lst.id, group.id, 2)

    lists.delete_list(deps, key, lst.id)

    assert [e.type for e in _events(engine, account.console_id)] == ["removed", "removed"]
    with engine.connect() as conn:
        for table in (t.subscriptions, t.groups, t.group_members):
            count = conn.execute(sa.select(sa.func.count()).select_from(table).where(
                table.c.account_id == account.console_id)).scalar_one()
            assert count == 0, table.name


def test_a_failing_use_case_writes_nothing(deps: Deps, engine: sa.Engine,
                                           account: AccountInfo) -> None:
    key = _key(deps, account)
    with engine.connect() as conn:
        before = conn.execute(sa.select(t.accounts.c.next_list_id).where(
            t.accounts.c.id == account.console_id)).scalar_one()

    with pytest.raises(errors.ListNotFound):  # allocates a list id, then fails
        lists.create_list(deps, key, "L", default_settings="999999")

    with engine.connect() as conn:
        after = conn.execute(sa.select(t.accounts.c.next_list_id).where(
            t.accounts.c.id == account.console_id)).scalar_one()
    assert after == before
    assert lists.get_lists(deps, key) == []


def test_access_keys_are_stored_hashed_and_expire_sixty_minutes_after_login(
        deps: Deps, engine: sa.Engine, account: AccountInfo) -> None:
    clock = SteppingClock()
    timed = dataclasses.replace(deps, clock=clock)
    key = _key(timed, account)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(t.access_keys).where(
            t.access_keys.c.account_id == account.console_id)).one()
    assert stored.key_hash == auth.hash_key(key.key or "") and stored.key_hash != key.key
    assert len(key.key or "") >= 22  # >= 128 bits in URL-safe base64

    clock.current += dt.timedelta(minutes=59)
    assert lists.get_lists(timed, key) == []
    clock.current += dt.timedelta(minutes=1)
    with pytest.raises(errors.AccessKeyInvalid):
        lists.get_lists(timed, key)
    assert auth.purge_expired_sessions(timed) >= 1


def test_the_worker_runs_the_periodic_access_key_purge(settings: Settings, deps: Deps,
                                                       engine: sa.Engine,
                                                       account: AccountInfo) -> None:
    with engine.begin() as conn:
        user_id = conn.execute(sa.select(t.users.c.id).where(
            t.users.c.username == account.console_user)).scalar_one()
        conn.execute(t.access_keys.insert().values(
            key_hash="expired-" + secrets.token_hex(8), account_id=account.console_id,
            user_id=user_id, issued_at=sa.func.now() - dt.timedelta(hours=2),
            expires_at=sa.func.now() - dt.timedelta(hours=1)))
    app = bootstrap.build_job_app(settings)

    with app.open():
        # Our own queueing lock: the worker's periodic deferrer may have queued one already.
        app.configure_task("mailup:purge_expired_access_keys",
                           queueing_lock=f"test-{secrets.token_hex(4)}").defer(timestamp=0)
        app.run_worker(queues=["maintenance"], wait=False, install_signal_handlers=False)

    with engine.connect() as conn:
        left = conn.execute(sa.select(sa.func.count()).select_from(t.access_keys).where(
            t.access_keys.c.account_id == account.console_id)).scalar_one()
        status = conn.execute(sa.text(
            "select status from procrastinate_jobs where task_name = "
            "'mailup:purge_expired_access_keys' order by id desc limit 1")).scalar_one()
    assert left == 0
    assert status == "succeeded"


def test_a_process_has_a_connection_for_every_lane_of_every_import_it_runs_at_once(
        settings: Settings) -> None:
    """A worker running 3 jobs at a time, each merging an import in 8 lanes, holds 24
    connections at once (the pool would otherwise make the 8th wait, then fail)."""
    deps = bootstrap.build_deps(dataclasses.replace(settings, import_lanes=8), pool_size=3)

    with contextlib.ExitStack() as held:
        units = [held.enter_context(deps.uow()) for _ in range(3 * 8)]
        backends = {u.imports.conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
                    for u in units}

    assert len(backends) == 24
