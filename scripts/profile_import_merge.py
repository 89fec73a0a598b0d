"""Where an import's merge spends its time: ROWS subscribers staged as processes of CHUNK rows
(straight into import_rows, without SOAP or XML parsing) into a list already holding EXISTING
of them, then merged one process after the other by `import_runner.run_process` in this process,
with the time of every SQL statement summed by its first words. A profiling aid for the
engine, not a benchmark (`make bench-import` measures the whole path); it creates its own
accounts, so it can run against the bench database:

    DATABASE_URL=postgresql://mailup@127.0.0.1:54331/mailup MAILUP_SECRET_KEY=x \\
        .venv/bin/python scripts/profile_import_merge.py [--rows 1000000] [--existing 200000]
        [--lists 2]

Each process merges in MAILUP_IMPORT_LANES lanes (2 by default; set it to 1 for one
connection). With --lists N the rows and the existing ones are split over N lists, each in an
account of its own, and the N lists are merged at once, one thread each (and its lanes): what
two workers merging two lists' imports get from the machine (one list's processes merge one
at a time).
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg2
import sqlalchemy as sa
from bench_import import person, seed

from mailup_soap import bootstrap
from mailup_soap.config import load_settings
from mailup_soap.domain.import_readers import StagedRow
from mailup_soap.domain.imports import ImportOptions, ProcessStatus
from mailup_soap.service_layer import accounts, import_runner, imports
from mailup_soap.service_layer.deps import Deps


def staged(deps: Deps, dsn: str, rows: int, existing: int, chunk: int) -> list[int]:
    """A new account whose list 1 holds `existing` of the `rows` subscribers, which are staged
    as running processes of `chunk` rows; their ids, in order."""
    console_id = 700000 + random.randrange(100000)
    accounts.create_account(deps, console_id, "profile", f"prof{console_id}.example.com",
                            "profile-password", "profile-password")
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO lists (account_id, id, guid, name) "
                    "VALUES (%s, 1, gen_random_uuid(), 'profile')", (console_id,))
    seed(dsn, console_id, 1, existing)

    def people(first: int, last: int) -> Iterator[StagedRow]:
        for n in range(first, last):
            email, fields = person(n)
            yield StagedRow(n - first + 1, email, None, dict(enumerate(fields, 1)))

    process_ids = []
    for first in range(0, rows, chunk):
        with deps.uow() as uow:
            process_id = imports.create_process(
                uow, console_id, 1, people(first, min(first + chunk, rows)), ImportOptions())
            uow.imports.mark(process_id, ProcessStatus.RUNNING, deps.clock.now())
            uow.commit()
        process_ids.append(process_id)
    return process_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--existing", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=25_000, help="rows per process")
    parser.add_argument("--lists", type=int, default=1, help="lists merged at once")
    args = parser.parse_args()
    dsn = os.environ["DATABASE_URL"]
    deps = bootstrap.build_deps(load_settings(os.environ), pool_size=args.lists)
    per_list = [staged(deps, dsn, args.rows // args.lists, args.existing // args.lists,
                       args.chunk) for _ in range(args.lists)]

    totals: collections.defaultdict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0])
    counting = threading.Lock()
    engine: sa.Engine = deps.uow.args[0]  # type: ignore[attr-defined]

    @sa.event.listens_for(engine, "before_cursor_execute")
    def started(conn: Any, *_: Any) -> None:
        conn.info["started"] = time.perf_counter()

    @sa.event.listens_for(engine, "after_cursor_execute")
    def ended(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seconds = time.perf_counter() - conn.info["started"]
        with counting:
            total = totals[" ".join(statement.split())[:72]]
            total[0] += 1
            total[1] += seconds

    def merged(process_ids: list[int]) -> None:
        for process_id in process_ids:
            status = import_runner.run_process(deps, process_id)
            if status is not ProcessStatus.COMPLETED:
                raise RuntimeError(f"process {process_id} ended with status {status}")

    began = time.perf_counter()
    with ThreadPoolExecutor(args.lists) as pool:
        list(pool.map(merged, per_list))
    elapsed = time.perf_counter() - began
    where = "the list" if args.lists == 1 else f"its list, {args.lists} lists at once"
    print(f"merge of {args.rows:,} rows ({args.existing:,} already in {where}, processes of "
          f"{args.chunk:,}): {elapsed:.1f} s = {args.rows / elapsed:,.0f} rows/s")
    for statement, (count, seconds) in sorted(totals.items(), key=lambda i: -i[1][1])[:12]:
        print(f"{seconds:8.2f} s {int(count):5d}x  {statement}")


if __name__ == "__main__":
    main()
