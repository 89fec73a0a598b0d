"""FTP logins and the files the daily sync imported. See `service_layer.bulk_repos`."""
from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mailup_soap.db import tables as t
from mailup_soap.db.repositories import _Repo
from mailup_soap.service_layer import bulk_repos as contracts


def _ftp_user(row: Any) -> contracts.FtpUser:
    return contracts.FtpUser(row.username, row.account_id, row.password_hash, row.created_at)


class FtpUserRepository(_Repo, contracts.FtpUserRepository):
    def add(self, account_id: int, username: str, password_hash: str) -> bool:
        done = self.conn.execute(insert(t.ftp_users).values(
            username=username, account_id=account_id, password_hash=password_hash)
            .on_conflict_do_nothing().returning(t.ftp_users.c.username)).first()
        return done is not None

    def by_username(self, username: str) -> contracts.FtpUser | None:
        row = self.conn.execute(sa.select(t.ftp_users).where(
            t.ftp_users.c.username == username)).first()
        return _ftp_user(row) if row else None

    def of_account(self, account_id: int) -> list[contracts.FtpUser]:
        rows = self.conn.execute(sa.select(t.ftp_users).where(
            t.ftp_users.c.account_id == account_id).order_by(t.ftp_users.c.username))
        return [_ftp_user(r) for r in rows]

    def remove(self, account_id: int, username: str) -> bool:
        gone = self.conn.execute(t.ftp_users.delete().where(
            t.ftp_users.c.account_id == account_id, t.ftp_users.c.username == username))
        return gone.rowcount > 0


def _sync_file(row: Any) -> contracts.SyncFile:
    return contracts.SyncFile(row.account_id, row.list_id, row.sha256, row.name, row.process_id,
                        row.status, row.received_at, row.done_at)


class SyncFileRepository(_Repo, contracts.SyncFileRepository):
    def _key(self, account_id: int, list_id: int, sha256: str) -> Any:
        c = t.sync_files.c
        return sa.and_(c.account_id == account_id, c.list_id == list_id, c.sha256 == sha256)

    def get(self, account_id: int, list_id: int, sha256: str,
            lock: bool = False) -> contracts.SyncFile | None:
        q = sa.select(t.sync_files).where(self._key(account_id, list_id, sha256))
        row = self.conn.execute(q.with_for_update() if lock else q).first()
        return _sync_file(row) if row else None

    def add(self, account_id: int, list_id: int, sha256: str, name: str, process_id: int,
            now: dt.datetime) -> bool:
        done = self.conn.execute(insert(t.sync_files).values(
            account_id=account_id, list_id=list_id, sha256=sha256, name=name,
            process_id=process_id, received_at=now).on_conflict_do_nothing()
            .returning(t.sync_files.c.sha256)).first()
        return done is not None

    def importing(self, account_id: int) -> list[contracts.SyncFile]:
        c = t.sync_files.c
        rows = self.conn.execute(sa.select(t.sync_files).where(
            c.account_id == account_id, c.status == "importing").order_by(c.received_at))
        return [_sync_file(r) for r in rows]

    def mark_done(self, account_id: int, list_id: int, sha256: str, now: dt.datetime) -> None:
        self.conn.execute(t.sync_files.update().where(self._key(account_id, list_id, sha256))
                          .values(status="done", done_at=now))

    def forget(self, account_id: int, list_id: int, sha256: str) -> None:
        self.conn.execute(t.sync_files.delete().where(self._key(account_id, list_id, sha256)))
