"""Import processes. See `service_layer.unit_of_work.ImportRepository`."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from mailup_soap import errors
from mailup_soap.db import bulk_import
from mailup_soap.db import tables as t
from mailup_soap.db.repositories import _Repo
from mailup_soap.domain.import_readers import StagedRow
from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessCounts, ProcessStatus
from mailup_soap.domain.model import ChangeSource
from mailup_soap.service_layer import unit_of_work as uow

_COUNTS = [f.name for f in dataclasses.fields(ProcessCounts)]


def _options(raw: dict[str, Any]) -> ImportOptions:
    return ImportOptions(**(raw | {"group_ids": tuple(raw.get("group_ids", ()))}))


def _process(row: Any) -> ImportProcess:
    return ImportProcess(row.id, row.account_id, row.list_id, ProcessStatus(row.status),
                         _options(row.options), row.rows_staged, row.rows_done,
                         ProcessCounts(**{name: getattr(row, name) for name in _COUNTS}),
                         row.confirmations, row.created_at, row.started_at, row.ended_at,
                         row.error, ChangeSource(row.source), row.by_list_job, row.delivery_id)


class ImportRepository(_Repo, uow.ImportRepository):
    def create(self, account_id: int, list_id: int, options: ImportOptions,
               source: ChangeSource, delivery_id: int | None = None) -> int:
        return int(self.conn.execute(t.import_processes.insert().values(
            account_id=account_id, list_id=list_id, options=dataclasses.asdict(options),
            source=source.value, delivery_id=delivery_id).returning(
                t.import_processes.c.id)).scalar_one())

    def stage(self, process_id: int, rows: Iterable[StagedRow]) -> None:
        bulk_import.stage(self.conn, process_id, rows)

    def get(self, process_id: int, account_id: int | None = None,
            lock: bool = False) -> ImportProcess | None:
        q = sa.select(t.import_processes).where(t.import_processes.c.id == process_id)
        if account_id is not None:
            q = q.where(t.import_processes.c.account_id == account_id)
        row = self.conn.execute(q.with_for_update() if lock else q).first()
        return _process(row) if row else None

    def queued(self, account_id: int) -> list[ImportProcess]:
        p = t.import_processes.c
        rows = self.conn.execute(sa.select(t.import_processes).where(
            p.account_id == account_id, p.status == int(ProcessStatus.QUEUED),
            p.delivery_id.is_(None)).order_by(p.id))
        return [_process(r) for r in rows]

    def running_for_list(self, account_id: int, list_id: int,
                         outside_list_jobs: bool = False, lock: bool = True) -> bool:
        # Two StartProcess calls for the same list must not both see "nothing running".
        if lock:
            self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(account_id, list_id)))
        p = t.import_processes.c
        running = sa.select(sa.literal(1)).where(
            p.account_id == account_id, p.list_id == list_id,
            p.status == int(ProcessStatus.RUNNING))
        if outside_list_jobs:
            running = running.where(sa.not_(p.by_list_job))
        return self.conn.execute(running).first() is not None

    def mark(self, process_id: int, status: ProcessStatus, now: dt.datetime,
             error: str | None = None, by_list_job: bool = False) -> None:
        values: dict[str, Any] = {"status": int(status), "error": error}
        if status is ProcessStatus.RUNNING:
            values["started_at"] = now
            values["by_list_job"] = by_list_job
        elif status in (ProcessStatus.COMPLETED, ProcessStatus.FAILED):
            values["ended_at"] = now
        self.conn.execute(t.import_processes.update().where(
            t.import_processes.c.id == process_id).values(values))

    def merge_batch(self, process: ImportProcess, low: int, high: int,
                    now: dt.datetime) -> None:
        try:
            bulk_import.merge_batch(self.conn, process.id, process.account_id,
                                    process.list_id, process.options, low, high,
                                    process.source, now)
        except sa.exc.IntegrityError as exc:
            # The batch looked an address up, found nobody, and another transaction (an
            # import of another list, a frontend subscription) created it before our insert.
            diag = getattr(exc.orig, "diag", None)
            if getattr(diag, "constraint_name", None) == "recipients_email_key":
                raise errors.ContactCreatedMeanwhile() from exc
            raise

    def clear_rows(self, process_id: int) -> None:
        self.conn.execute(t.import_rows.delete().where(t.import_rows.c.process_id == process_id))

    def rejected_rows(self, process_id: int) -> Iterator[tuple[int, str]]:
        r = t.import_rows.c
        rows = self.conn.execution_options(yield_per=10_000).execute(
            sa.select(r.row_no, r.problem).where(r.process_id == process_id,
                                                  r.problem.isnot(None)).order_by(r.row_no))
        for row in rows:
            yield int(row.row_no), str(row.problem)
