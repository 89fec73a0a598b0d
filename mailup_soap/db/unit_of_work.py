"""The PostgreSQL unit of work: one connection and one transaction per use case."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from mailup_soap.db import (
    export_repos,
    import_repos,
    report_repos,
    sending_repos,
    sms_repos,
    sync_repos,
)
from mailup_soap.db import lifecycle_repos as lrepos
from mailup_soap.db import repositories as repos
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork


def make_engine(url: str, pool_size: int = 5, max_overflow: int = 5) -> Engine:
    """Build an engine; call it after fork (gunicorn workers each build their own)."""
    # READ COMMITTED (PostgreSQL's default) is enough: writes that must not interleave take
    # row locks (the account row for id counters) instead of serializable retries.
    # pool_recycle instead of pool_pre_ping: a ping is one more round trip on every call
    # (measured by make bench); recycling hourly covers servers that drop idle connections.
    return sa.create_engine(url, pool_size=pool_size, max_overflow=max_overflow,
                            pool_recycle=3600)


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def __enter__(self) -> AbstractUnitOfWork:
        self._conn = conn = self._engine.connect()
        conn.begin()
        self.accounts = repos.AccountRepository(conn)
        self.users = repos.UserRepository(conn)
        self.sessions = repos.SessionRepository(conn)
        self.lists = repos.ListRepository(conn)
        self.groups = repos.GroupRepository(conn)
        self.fields = repos.FieldRepository(conn)
        self.subscriptions = repos.SubscriptionRepository(conn)
        self.recipients = lrepos.RecipientRepository(conn)
        self.lifecycle = lrepos.LifecycleRepository(conn)
        self.jobs = lrepos.JobQueue(conn)
        self.frontend_ips = lrepos.FrontendIpRepository(conn)
        self.webhooks = lrepos.WebhookRepository(conn)
        self.imports = import_repos.ImportRepository(conn)
        self.ftp_users = sync_repos.FtpUserRepository(conn)
        self.sync_files = sync_repos.SyncFileRepository(conn)
        self.sending = sending_repos.SendingRepository(conn)
        self.sms = sms_repos.SmsRepository(conn)
        self.exports = export_repos.ExportRepository(conn)
        self.reports = report_repos.ReportRepository(conn)
        return self

    def __exit__(self, *args: object) -> None:
        try:
            super().__exit__(*args)  # type: ignore[arg-type]
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def commit(self) -> None:
        assert self._conn is not None, "commit() outside the unit of work's block"
        self._conn.commit()

    def rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()
