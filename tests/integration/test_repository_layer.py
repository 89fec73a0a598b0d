"""Use cases on the real PostgreSQL: transactions, events, access keys, the job worker."""
from __future__ import annotations

import dataclasses
import datetime as dt
import secrets

import pytest
import sqlalchemy as sa

from mailup_soap import bootstrap, errors
from mailup_soap.config import Settings
from mailup_soap.db import tables as t
from mailup_soap.service_layer import auth, lists
from mailup_soap.service_layer.deps import AccessKey, Deps
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
