"""Migrations that change data, run on a scratch database: upgrade from the revision before,
with rows as the older code left them, and back down."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command

from mailup_soap.config import Settings
from mailup_soap.db.migrate import alembic_config, upgrade


@pytest.fixture()
def scratch_url(database_url: str) -> Iterator[str]:
    base = Settings(database_url=database_url).sqlalchemy_url
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"mailup_migration_{os.getpid()}"
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    yield base.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    admin.dispose()


def _at(scratch_url: str, revision: str) -> sa.Engine:
    """The scratch database at `revision`, with account 1 and its list 1."""
    upgrade(scratch_url, revision)
    engine = sa.create_engine(scratch_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO accounts (id, console_host, status, name)
                VALUES (1, 'one.example.com', 'active', 'one');
            INSERT INTO lists (account_id, id, name, guid)
                VALUES (1, 1, 'list', gen_random_uuid())"""))
    return engine


def test_0014_holds_the_processes_of_send_message_nl_jobs_yet_to_run_for_their_delivery(
        scratch_url: str) -> None:
    engine = _at(scratch_url, "0013")
    with engine.begin() as conn:
        conn.execute(sa.text("""
            -- 1: a SendMessageNL for tomorrow; 2: one whose job is running; 3: an Import
            -- service process running; 4: a queued one
            INSERT INTO import_processes (id, account_id, list_id, status, options, started_at,
                                          by_list_job)
                VALUES (1, 1, 1, 2, '{}', now(), false), (2, 1, 1, 2, '{}', now(), false),
                       (3, 1, 1, 2, '{}', now(), true), (4, 1, 1, 1, '{}', NULL, false);
            INSERT INTO procrastinate_jobs (queue_name, task_name, status, args, lock)
                VALUES ('send', 'mailup:run_message_nl', 'todo',
                        '{"delivery_id": 7, "process_id": 1}', 'delivery-7'),
                       ('send', 'mailup:run_message_nl', 'doing',
                        '{"delivery_id": 8, "process_id": 2}', 'delivery-8'),
                       ('imports', 'mailup:run_import', 'todo', '{"process_id": 3}',
                        'import-list-1-1')"""))
    state = ("SELECT id, status, started_at IS NOT NULL, delivery_id FROM import_processes "
             "ORDER BY id")

    upgrade(scratch_url)
    with engine.connect() as conn:
        upgraded = conn.execute(sa.text(state)).all()
    command.downgrade(alembic_config(scratch_url), "0013")
    with engine.connect() as conn:
        downgraded = conn.execute(sa.text(state.replace("delivery_id", "NULL"))).all()
    engine.dispose()

    assert upgraded == [(1, 1, False, 7), (2, 2, True, None), (3, 2, True, None),
                        (4, 1, False, None)]
    assert downgraded == [(1, 2, True, None), (2, 2, True, None), (3, 2, True, None),
                          (4, 1, False, None)]


def test_0015_goes_back_down_only_once_no_running_process_has_lanes_at_different_rows(
        scratch_url: str) -> None:
    engine = _at(scratch_url, "0014")
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO import_processes (id, account_id, list_id, status, options, "
            "rows_staged, rows_done) "
            "VALUES (1, 1, 1, 2, '{}', 300000, 100000), (2, 1, 1, 2, '{}', 300000, 0)"))
    upgrade(scratch_url)
    with engine.begin() as conn:
        upgraded = conn.execute(sa.text(
            "SELECT id, lanes_done, rows_by_number FROM import_processes ORDER BY id")).all()
        conn.execute(sa.text("UPDATE import_processes SET lanes_done = '{200000,100000}' "
                             "WHERE id = 1"))
        conn.execute(sa.text("UPDATE import_processes SET lanes_done = '{0,0}' WHERE id = 2"))

    with pytest.raises(RuntimeError, match=r"import processes \[1\] are being merged in lanes"):
        command.downgrade(alembic_config(scratch_url), "0014")
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE import_processes SET lanes_done = '{200000,200000}', "
                             "rows_done = 200000 WHERE id = 1"))
    command.downgrade(alembic_config(scratch_url), "0014")
    with engine.connect() as conn:
        downgraded = conn.execute(sa.text(
            "SELECT id, rows_done FROM import_processes ORDER BY id")).all()
    engine.dispose()

    assert upgraded == [(1, None, None), (2, None, None)]
    assert downgraded == [(1, 200000), (2, 0)]


def test_0018_drops_the_opens_and_clicks_of_deleted_deliveries_and_cascades_from_then_on(
        scratch_url: str) -> None:
    engine = _at(scratch_url, "0017")
    with engine.begin() as conn:
        conn.execute(sa.text("""
            INSERT INTO messages (id, account_id, list_id, subject, content_type, html)
                VALUES (1, 1, 1, 'News', 'HTML', '<p>Hi</p>');
            INSERT INTO deliveries (id, account_id, list_id, message_id, status, from_email,
                                    from_name, scheduled_at)
                VALUES (10, 1, 1, 1, 'completed', 'a@b.example', 'A', now()),
                       (11, 1, 1, 1, 'paused', 'a@b.example', 'A', now());
            -- delivery 12 was removed before this revision: its events stayed behind
            INSERT INTO tracking_events (account_id, delivery_id, recipient_id, kind,
                                         occurred_at)
                VALUES (1, 10, 5, 'open', now()), (1, 11, 5, 'open', now()),
                       (1, 12, 5, 'click', now())"""))
    events = "SELECT delivery_id FROM tracking_events ORDER BY delivery_id"

    upgrade(scratch_url)
    with engine.begin() as conn:
        upgraded = conn.execute(sa.text(events)).scalars().all()
        conn.execute(sa.text("DELETE FROM deliveries WHERE id = 11"))
        cascaded = conn.execute(sa.text(events)).scalars().all()
    command.downgrade(alembic_config(scratch_url), "0017")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO tracking_events (account_id, delivery_id, "
                             "recipient_id, kind, occurred_at) VALUES (1, 99, 5, 'open', now())"))
        downgraded = conn.execute(sa.text(events)).scalars().all()
    engine.dispose()

    assert upgraded == [10, 11]
    assert cascaded == [10]
    assert downgraded == [10, 99]  # no key any more
