"""Import processes. See `service_layer.bulk_repos.ImportRepository`."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from mailup_soap import errors
from mailup_soap.config import IMPORT_LANES_MAX
from mailup_soap.db import bulk_import, import_staging
from mailup_soap.db import tables as t
from mailup_soap.db.repositories import _Repo
from mailup_soap.domain.import_readers import ReaderRow
from mailup_soap.domain.imports import ImportOptions, ImportProcess, ProcessCounts, ProcessStatus
from mailup_soap.domain.model import ChangeSource
from mailup_soap.service_layer import bulk_repos as contracts

_COUNTS = [f.name for f in dataclasses.fields(ProcessCounts)]


def _options(raw: dict[str, Any]) -> ImportOptions:
    return ImportOptions(**(raw | {"group_ids": tuple(raw.get("group_ids", ()))}))


def _process(row: Any) -> ImportProcess:
    return ImportProcess(row.id, row.account_id, row.list_id, ProcessStatus(row.status),
                         _options(row.options), row.rows_staged, row.rows_done,
                         ProcessCounts(**{name: getattr(row, name) for name in _COUNTS}),
                         row.confirmations, row.created_at, row.started_at, row.ended_at,
                         row.error, ChangeSource(row.source), row.by_list_job, row.delivery_id,
                         tuple(row.lanes_done) if row.lanes_done is not None else None,
                         row.rows_by_number)


class ImportRepository(_Repo, contracts.ImportRepository):
    def create(self, account_id: int, list_id: int, options: ImportOptions,
               source: ChangeSource, delivery_id: int | None = None) -> int:
        return int(self.conn.execute(t.import_processes.insert().values(
            account_id=account_id, list_id=list_id, options=dataclasses.asdict(options),
            source=source.value, delivery_id=delivery_id).returning(
                t.import_processes.c.id)).scalar_one())

    def stage(self, process_id: int, rows: Iterable[ReaderRow]) -> None:
        import_staging.stage(self.conn, process_id, rows)

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

    def has_rows_by_number(self, process_id: int, after: int) -> bool:
        return bool(self.conn.execute(sa.text(
            "SELECT EXISTS (SELECT 1 FROM import_rows WHERE process_id = :p AND row_no > :after "
            "AND email IS NULL AND problem IS NULL)"), {"p": process_id, "after": after}
        ).scalar_one())

    def set_lanes(self, process_id: int, lanes: int) -> tuple[int, ...]:
        self.conn.execute(sa.text(
            "UPDATE import_processes SET lanes_done = array_fill(rows_done, ARRAY[:lanes]) "
            "WHERE id = :p AND lanes_done IS NULL"), {"p": process_id, "lanes": lanes})
        return tuple(self.conn.execute(sa.select(t.import_processes.c.lanes_done).where(
            t.import_processes.c.id == process_id)).scalar_one())

    def lane(self, process_id: int, lane: int) -> tuple[ImportProcess, int] | None:
        # KEY SHARE: the lanes of a process share its row (each updates it at the end of its
        # batch, which takes a lock KEY SHARE does not conflict with), while whatever locks
        # it for update (StartProcess, --resume, --cancel, a deletion) waits for their batches.
        row = self.conn.execute(sa.select(t.import_processes).where(
            t.import_processes.c.id == process_id).with_for_update(
                read=True, key_share=True)).first()
        if row is None:
            return None
        # Two runners of one process (a retried job beside a slow one) merge a lane one
        # batch at a time. One 64-bit key, a space apart from running_for_list's pairs.
        self.conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
            sa.cast(process_id * IMPORT_LANES_MAX + lane, sa.BigInteger))))
        done = self.conn.execute(sa.select(t.import_processes.c.lanes_done[lane + 1]).where(
            t.import_processes.c.id == process_id)).scalar_one()
        return _process(row), int(done)

    def merge_batch(self, process: ImportProcess, low: int, high: int, now: dt.datetime,
                    lane: int = 0, lanes: int = 1) -> int:
        try:
            return bulk_import.merge_batch(self.conn, process.id, process.account_id,
                                           process.list_id, process.options, low, high,
                                           process.source, now, lane, lanes)
        except sa.exc.IntegrityError as exc:
            # The batch looked an address up, found nobody, and another transaction (an
            # import of another list, a frontend subscription) created it before our insert.
            diag = getattr(exc.orig, "diag", None)
            if getattr(diag, "constraint_name", None) == "recipients_email_key":
                raise errors.ContactCreatedMeanwhile() from exc
            raise

    def clear_rows(self, process_id: int) -> None:
        self.conn.execute(t.import_rows.delete().where(t.import_rows.c.process_id == process_id))

    def first_duplicate(self, process_id: int) -> str | None:
        found = self.conn.execute(sa.text("""
            SELECT coalesce(lower(email), mobile_number) AS contact FROM import_rows
            WHERE process_id = :p AND problem IS NULL
            GROUP BY 1 HAVING count(*) > 1 LIMIT 1"""), {"p": process_id}).scalar()
        return None if found is None else str(found)

    def rejected_rows(self, process_id: int) -> Iterator[tuple[int, str]]:
        r = t.import_rows.c
        rows = self.conn.execution_options(yield_per=10_000).execute(
            sa.select(r.row_no, r.problem).where(r.process_id == process_id,
                                                  r.problem.isnot(None)).order_by(r.row_no))
        for row in rows:
            yield int(row.row_no), str(row.problem)
