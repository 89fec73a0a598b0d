"""The daily sync end to end, and the unsubscriber export.

1. Import: a ROWS-row MailUp CSV (pipe separated, header of field ids) uploaded with ftplib to a
   real `mailup-soap ftp` site, the daily sync queued (`mailup-soap sync`) and run by a real
   `mailup-soap worker`, timed from the upload's first byte until the file is recorded as
   imported. In the same run, a raw COPY of the same rows into a bare table.
2. Export: EXPORT unsubscribers written by SQL (set-up, not measured), then
   `mailup-soap export-unsubscribers` with filters (the previous day, one list, excluding
   reason 2), timed, with that process's peak memory.

    DATABASE_URL=... .venv/bin/python scripts/bench_ftp.py [--rows 1000000] [--export 1000000]
"""
from __future__ import annotations

import argparse
import contextlib
import ftplib
import io
import os
import pathlib
import random
import socket
import subprocess
import tempfile
import time

import psycopg2
from bench_getlists import BIN, free_port
from bench_import import peak_mb, person, raw_copy


def csv_rows(rows: int) -> bytes:
    out = io.StringIO()
    out.write("111|1|2|3|4|5\n")
    for n in range(rows):
        email, fields = person(n)
        out.write("|".join([email, *fields]) + "\n")
    return out.getvalue().encode()


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the FTP site exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the FTP site did not listen on {port}")


def seed_unsubscribers(dsn: str, console_id: int, list_id: int, count: int) -> None:
    """COUNT unsubscribers of the list: 3 in 4 yesterday (reasons 2 and 4 alternating),
    the rest two days ago."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO lists (account_id, id, guid, name) VALUES "
                    "(%s, %s, gen_random_uuid(), 'unsubscribers')", (console_id, list_id))
        cur.execute(
            "INSERT INTO recipients (account_id, email, field1) "
            "SELECT %s, 'gone' || n || '@bench.example', 'Gone' || n "
            "FROM generate_series(1, %s) n", (console_id, count))
        cur.execute(
            "INSERT INTO subscriptions (account_id, list_id, recipient_id, status, subscribed_at,"
            " unsubscribed_at, unsubscribe_reason) "
            "SELECT account_id, %s, id, 'unsubscribed', now() - interval '30 days', "
            "date_trunc('day', now()) - CASE WHEN id %% 4 = 0 THEN interval '36 hours' "
            "ELSE interval '12 hours' END, CASE WHEN id %% 2 = 0 THEN 2 ELSE 4 END "
            "FROM recipients WHERE account_id = %s AND email LIKE 'gone%%'",
            (list_id, console_id))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--export", type=int, default=1_000_000)
    args = parser.parse_args()
    dsn = os.environ["DATABASE_URL"]
    console_id = 700000 + random.randrange(100000)
    password = f"bench-{random.getrandbits(64):x}"
    cli = str(BIN / "mailup-soap")
    subprocess.run([cli, "account", "create", "--console-id", str(console_id), "--host",
                    f"ftp{console_id}.example.com", "--password", password], check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run([cli, "ftp-user", "add", f"bench{console_id}", "--account", str(console_id),
                    "--password", password], check=True, stdout=subprocess.DEVNULL)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO lists (account_id, id, guid, name) VALUES "
                    "(%s, 1, gen_random_uuid(), 'bench')", (console_id,))
    port = free_port()
    root = pathlib.Path(tempfile.mkdtemp(prefix="bench-ftp-"))
    env = dict(os.environ, MAILUP_FTP_ROOT=str(root / "homes"), MAILUP_FTP_SETTLE_SECONDS="0",
               MAILUP_FTP_BIND=f"127.0.0.1:{port}", MAILUP_LOG_LEVEL="WARNING")
    content = csv_rows(args.rows)  # prepared before timing
    with open(root / "ftp.log", "wb") as log:
        site = subprocess.Popen([cli, "ftp"], env=env, stdout=log, stderr=log)
    with open(root / "worker.log", "wb") as log:
        worker = subprocess.Popen([cli, "worker", "--concurrency", "1"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=log)
    try:
        wait_port(port, site)
        started = time.perf_counter()
        with ftplib.FTP() as ftp:
            ftp.connect("127.0.0.1", port, timeout=60)
            ftp.login(f"bench{console_id}", password)
            ftp.storbinary("STOR import/1/crm.csv", io.BytesIO(content), blocksize=1 << 16)
        uploaded = time.perf_counter() - started
        subprocess.run([cli, "sync"], env=env, check=True, stdout=subprocess.DEVNULL)
        while True:
            time.sleep(0.2)
            with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
                cur.execute("SELECT f.status, p.status FROM sync_files f LEFT JOIN "
                            "import_processes p ON p.id = f.process_id "
                            "WHERE f.account_id = %s", (console_id,))
                found = cur.fetchone()
            if found and found[0] == "done":
                break
            if list((root / "homes" / str(console_id) / "import" / "1" / "failed").glob("*")):
                raise RuntimeError("the file failed: see its report under failed/")
            if worker.poll() is not None:
                raise RuntimeError("the worker died: see " + str(root / "worker.log"))
        elapsed = time.perf_counter() - started
        worker_memory = peak_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(30)
        site.terminate()
        site.wait(30)
    raw = raw_copy(dsn, args.rows)
    print(f"daily sync via FTP (upload {uploaded:.1f} s, then sync job on a worker): "
          f"{args.rows:,} rows in {elapsed:.1f} s = {args.rows / elapsed:,.0f} rows/s")
    print(f"raw COPY of the same rows into a bare table: {args.rows / raw:,.0f} rows/s")
    print(f"ratio mailup-soap / raw COPY: {raw / elapsed:.3f}")
    print(f"worker peak memory (VmHWM): {worker_memory:.0f} MB")

    seed_unsubscribers(dsn, console_id, 2, args.export)
    out = root / "export.csv"
    argv = [cli, "export-unsubscribers", "--account", str(console_id), "--list", "2",
            "--date", "previous-day", "--exclude-reason", "2", "-o", str(out)]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env)
    # VmHWM polled while it runs: the peak of this process after exec. (wait4's ru_maxrss
    # would also count the forked copy of this script, which holds the generated CSV.)
    memory = 0.0
    while proc.poll() is None:
        with contextlib.suppress(OSError, AttributeError):  # between exit and reaping
            memory = max(memory, peak_mb(proc.pid))
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"export-unsubscribers exited with {proc.returncode}")
    with out.open() as exported:
        written = sum(1 for _ in exported) - 1
    print(f"export of {args.export:,} unsubscribers filtered to the previous day, list 2, "
          f"reason 2 excluded: {written:,} rows written in {elapsed:.1f} s "
          f"({written / elapsed:,.0f} rows/s), peak memory (VmHWM) {memory:.0f} MB")


if __name__ == "__main__":
    main()
