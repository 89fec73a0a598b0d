"""The floor of an import on this machine: the work any implementation of the Import service
must do for N subscribers with personal fields sent as MailUp XML into a list already holding
EXISTING of them, each step as bare as it can be, one after the other, timed alone.

- parse: libxml2 parses the XML documents (chunks of CHUNK rows) into trees, in C, with the
  settings the service uses; no row reaches Python;
- stage: COPY the rows into a table shaped like import_rows;
- look up: each row's recipient by email, one probe of the (account, lower(email)) index;
- insert the new recipients, update the existing ones' fields, insert the new subscriptions
  and their events: one plain statement each, over every row at once.

The tables are copies of recipients, subscriptions, events and import_rows with the same
columns, indexes and constraints, in a schema of their own, without the triggers, foreign
keys, batches, transitions, counters, webhooks or validation the real merge has; nothing is
sent over HTTP or SOAP. So the sum is less than any real import can cost: the CPU time it
takes bounds from above what rate two cores could ever reach with this data model. It is
what `make bench-import` prints its own run against; run alone:

    DATABASE_URL=... .venv/bin/python scripts/import_floor.py [--rows 1000000] [--existing 200000]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import io
import os
import time
from collections.abc import Callable

import psycopg2
from bench_import import cpu_busy, person, xml_rows
from lxml import etree

SCHEMA = "bench_floor"


@dataclasses.dataclass
class Step:
    name: str
    seconds: float
    cpu: float  # CPU-seconds the whole machine was busy meanwhile


def _timed(steps: list[Step], name: str, work: Callable[[], object]) -> None:
    started, busy = time.perf_counter(), cpu_busy()
    work()
    steps.append(Step(name, time.perf_counter() - started, cpu_busy() - busy))


def _parse_seconds(rows: int, chunk: int) -> float:
    """Seconds libxml2 takes to parse the documents into trees, in C, with the service's
    parser settings (import_readers._secure_iterparse): no Python per row. Building the
    documents is the client's work and is not counted."""
    parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True,
                             huge_tree=False, remove_pis=True)
    seconds = 0.0
    for first in range(0, rows, chunk):
        document = xml_rows(first, min(first + chunk, rows)).encode()
        started = time.perf_counter()
        tree = etree.fromstring(document, parser)
        seconds += time.perf_counter() - started
        del tree
    return seconds


def measure(dsn: str, rows: int, existing: int, chunk: int = 25_000) -> list[Step]:
    """The floor's steps, timed; leaves nothing behind."""
    # The parse keeps one core busy: its CPU time is its time.
    parse = _parse_seconds(rows, chunk)
    steps = [Step("parse the XML (libxml2, no Python per row)", parse, parse)]
    staged = io.StringIO()
    for n in range(rows):
        email, fields = person(n)
        staged.write("\t".join(["1", str(n + 1), email, *fields]) + "\n")
    # Each statement its own transaction (VACUUM needs none): not `with conn`, which opens
    # one even on an autocommit connection.
    with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        conn.autocommit = True
        cur.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
        cur.execute(f"CREATE SCHEMA {SCHEMA}")
        try:
            for table in ("import_rows", "recipients", "subscriptions", "events"):
                cur.execute(f"CREATE TABLE {SCHEMA}.{table} (LIKE public.{table} INCLUDING ALL)")
            cur.execute(f"SET search_path = {SCHEMA}")
            cur.execute("SET work_mem = '256MB'")
            cur.execute("INSERT INTO recipients (id, account_id, email, field1) "
                        "SELECT n, 1, 'user' || n || '@bench.example', 'Old' || n "
                        "FROM generate_series(0, %s - 1) n", (existing,))
            cur.execute("INSERT INTO subscriptions (account_id, list_id, recipient_id, status) "
                        "SELECT 1, 1, id, 'subscribed' FROM recipients")
            cur.execute("CHECKPOINT")
            cur.execute("VACUUM ANALYZE recipients, subscriptions")
            staged.seek(0)

            def run(name: str, sql: str) -> None:
                _timed(steps, name, lambda: cur.execute(sql))

            def copy() -> None:
                cur.copy_expert("COPY import_rows (process_id, row_no, email, field1, field2, "
                                "field3, field4, field5) FROM STDIN", staged)

            _timed(steps, "stage: COPY into import_rows", copy)
            run("look up each row's recipient by email",
                "CREATE UNLOGGED TABLE found AS SELECT i.row_no, (SELECT r.id FROM recipients r "
                "WHERE r.account_id = 1 AND r.email IS NOT NULL AND lower(r.email) = "
                "lower(i.email)) AS id FROM import_rows i")
            run("insert the new recipients",
                "INSERT INTO recipients (id, account_id, email, field1, field2, field3, field4, "
                "field5) SELECT 1000000000 + i.row_no, 1, i.email, i.field1, i.field2, i.field3, "
                "i.field4, i.field5 FROM found f JOIN import_rows i USING (row_no) "
                "WHERE f.id IS NULL")
            run("update the existing recipients' fields",
                "UPDATE recipients r SET field1 = i.field1, field2 = i.field2, field3 = i.field3, "
                "field4 = i.field4, field5 = i.field5, updated_at = now() "
                "FROM found f JOIN import_rows i USING (row_no) WHERE r.id = f.id")
            run("insert the new subscriptions",
                "INSERT INTO subscriptions (account_id, list_id, recipient_id, status, "
                "subscribed_at) SELECT 1, 1, 1000000000 + row_no, 'subscribed', now() "
                "FROM found WHERE id IS NULL")
            run("insert their events",
                "INSERT INTO events (account_id, list_id, recipient_id, type, source, email, "
                "occurred_at) SELECT 1, 1, 1000000000 + f.row_no, 'subscription_confirmed', "
                "'import', i.email, now() FROM found f JOIN import_rows i USING (row_no) "
                "WHERE f.id IS NULL")
        finally:
            cur.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
    return steps


def report(steps: list[Step], rows: int) -> float:
    """Prints the steps; returns the floor's CPU-seconds."""
    cpu = sum(s.cpu for s in steps)
    cores = os.cpu_count() or 1
    print(f"floor of the same import (bare steps, one after the other; "
          f"scripts/import_floor.py): {cpu:.1f} CPU-s = {cpu / rows * 1e6:.1f} CPU-us per row")
    for s in steps:
        print(f"  {s.seconds:6.2f} s  {s.cpu:6.2f} CPU-s  {s.name}")
    print(f"  at most {rows / (cpu / cores):,.0f} rows/s on {cores} cores, were every core "
          "busy with nothing else")
    return cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--existing", type=int, default=200_000)
    args = parser.parse_args()
    report(measure(os.environ["DATABASE_URL"], args.rows, args.existing), args.rows)


if __name__ == "__main__":
    main()
