"""Import throughput end to end: N subscribers with personal fields sent as MailUp XML through
the Import service (`NewImportProcess` in chunks), merged by a real `mailup-soap worker` (in
MAILUP_IMPORT_LANES lanes) into a list that already holds EXISTING of them, polling
`GetProcessDetails` until every process is completed. Two clients, each run in a fresh
database: one starting each process as soon as it has created it (`StartImportProcesses`
after every chunk, so the worker merges while the client sends), one sending every chunk
first and then starting them all (`StartImportProcesses` with no xmlDoc).
In the same run, a raw COPY of the same rows into a bare table. Prints rows/s of both, the
ratio, the worker's peak memory (VmHWM of its process), and the CPU time the whole machine
was busy meanwhile (server, worker, PostgreSQL and this client alike), which bounds what
more cores or more overlap could gain. Then the floor of the same import
(scripts/import_floor.py: the steps any implementation must take, bare) and how many times
its CPU time the real import took.

    DATABASE_URL=... .venv/bin/python scripts/bench_import.py [--rows 1000000] [--existing 200000]
        [--clients both|each|after] [--senders 2]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import http.client
import io
import os
import pathlib
import random
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from xml.sax.saxutils import escape, quoteattr

import psycopg2
from bench_getlists import BIN, Server, create_database, drop_database, free_port

from mailup_soap.config import load_settings

IMPORT = "/Services/WSMailupImport.asmx"
NS = "http://ws.mailupnet.it/"
FIELDS = 5
FLAGS = ("<importType>3</importType><mobileInputType>1</mobileInputType>"
         "<asPending>false</asPending><ConfirmEmail>false</ConfirmEmail>"
         "<asOptOut>false</asOptOut><forceOptIn>false</forceOptIn>"
         "<replaceGroups>false</replaceGroups>")


def person(n: int) -> tuple[str, list[str]]:
    return f"user{n}@bench.example", [f"Name{n}", f"Surname{n}", f"Company {n % 977}",
                                      f"City {n % 101}", f"{n % 90 + 10}"]


def xml_rows(first: int, last: int) -> str:
    out = ["<subscribers>"]
    for n in range(first, last):
        email, fields = person(n)
        campi = "".join(f"<campo{i}>{v}</campo{i}>" for i, v in enumerate(fields, 1))
        out.append(f'<subscriber email={quoteattr(email)} Prefix="" Number="" Name="">'
                   f"{campi}</subscriber>")
    out.append("</subscribers>")
    return "".join(out)


def call(port: int, user: str, password: str, operation: str, params: str) -> str:
    body = (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">'
            f'<soap:Header><Authentication xmlns="{NS}"><User>{user}</User>'
            f"<Password>{password}</Password></Authentication></soap:Header><soap:Body>"
            f'<{operation} xmlns="{NS}">{params}</{operation}></soap:Body></soap:Envelope>'
            ).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        conn.request("POST", IMPORT, body, {"Content-Type": "text/xml; charset=utf-8",
                                            "SOAPAction": f'"{NS}{operation}"'})
        reply = conn.getresponse().read().decode()
    finally:
        conn.close()
    found = re.search(r"&lt;ReturnCode&gt;(-?\d+)&lt;/ReturnCode&gt;", reply)
    if not found:
        raise RuntimeError(f"{operation}: {reply[:400]}")
    return reply.replace("&lt;", "<").replace("&gt;", ">")


def code(reply: str) -> int:
    return int(re.search(r"<ReturnCode>(-?\d+)</ReturnCode>", reply).group(1))  # type: ignore[union-attr]


def seed(dsn: str, console_id: int, list_id: int, existing: int) -> None:
    """The list's existing subscribers (EXISTING of the imported ones), written by SQL:
    this is set-up, not measured."""
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO recipients (account_id, email, field1) "
            "SELECT %s, 'user' || n || '@bench.example', 'Old' || n "
            "FROM generate_series(0, %s - 1) n", (console_id, existing))
        cur.execute(
            "INSERT INTO subscriptions (account_id, list_id, recipient_id, status, subscribed_at)"
            " SELECT account_id, %s, id, 'subscribed', now() FROM recipients "
            "WHERE account_id = %s", (list_id, console_id))


def raw_copy(dsn: str, rows: int) -> float:
    """The baseline: the same rows COPYed into a bare table (no indexes, no merge)."""
    buf = io.StringIO()
    for n in range(rows):
        email, fields = person(n)
        buf.write("\t".join([email, *fields]) + "\n")
    buf.seek(0)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_raw_copy")
        cur.execute("CREATE TABLE bench_raw_copy (email text, f1 text, f2 text, f3 text, "
                    "f4 text, f5 text)")
        started = time.perf_counter()
        cur.copy_expert("COPY bench_raw_copy FROM STDIN", buf)
        conn.commit()
        elapsed = time.perf_counter() - started
        cur.execute("DROP TABLE bench_raw_copy")
    return elapsed


def cpu_busy() -> float:
    """CPU-seconds the whole machine has spent busy since boot, every core summed (Linux
    /proc/stat: user, nice, system, irq, softirq, steal; not idle or iowait)."""
    fields = pathlib.Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def peak_mb(pid: int) -> float:
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024  # type: ignore[union-attr]


@dataclasses.dataclass
class Run:
    elapsed: float  # until every process is completed
    staged: float  # until the last NewImportProcess answered
    busy: float  # CPU-seconds the whole machine was busy meanwhile
    busy_staging: float
    memory: float  # the worker's peak (VmHWM), MB
    lanes: int


@contextlib.contextmanager
def fresh_database(dsn: str) -> Iterator[str]:
    """A new database on the cluster of `dsn`, migrated, dropped afterwards: every run starts
    from the same state (the list's EXISTING subscribers and nothing else), not from the
    1,200,000 recipients, subscriptions and events each earlier run left behind."""
    fresh = create_database(dsn, f"bench_import_{os.getpid()}")
    try:
        yield fresh
    finally:
        drop_database(dsn, fresh)


def import_once(dsn: str, args: argparse.Namespace, start_each: bool) -> Run:
    """One import of the bench's rows through SOAP and a worker, timed until every process
    is completed; with `start_each`, each process is started as soon as it is created."""
    console_id = 800000 + random.randrange(100000)
    password = f"bench-{random.getrandbits(64):x}"
    env = dict(os.environ, DATABASE_URL=dsn, MAILUP_MAX_BODY_BYTES=str(64 << 20),
               MAILUP_LOG_LEVEL="WARNING")
    subprocess.run([str(BIN / "mailup-soap"), "account", "create", "--console-id",
                    str(console_id), "--host", f"imp{console_id}.example.com", "--password",
                    password], check=True, stdout=subprocess.DEVNULL, env=env)
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO lists (account_id, id, guid, name) VALUES "
                    "(%s, 1, gen_random_uuid(), 'bench') RETURNING guid", (console_id,))
        guid = str(cur.fetchone()[0])  # type: ignore[index]
    seed(dsn, console_id, 1, args.existing)
    port = free_port()
    logdir = pathlib.Path(tempfile.mkdtemp(prefix="bench-import-"))
    server = Server("mailup-soap", [str(BIN / "mailup-soap"), "serve", "--workers", "2",
                                    "--bind", f"127.0.0.1:{port}"], port, logdir, env)
    with open(logdir / "worker.log", "wb") as worker_log:
        worker = subprocess.Popen([str(BIN / "mailup-soap"), "worker", "--concurrency", "1"],
                                  env=env, stdout=subprocess.DEVNULL, stderr=worker_log)
    try:
        server.wait_ready()
        user = f"a{console_id}"
        chunks = [(lo, min(lo + args.chunk, args.rows)) for lo in range(0, args.rows, args.chunk)]
        documents = [escape(xml_rows(lo, hi)) for lo, hi in chunks]  # prepared before timing
        started, busy_at_start = time.perf_counter(), cpu_busy()

        def start_queued() -> None:
            reply = call(port, user, password, "StartImportProcesses",
                         "<listsIDs></listsIDs><listsGUIDs></listsGUIDs><xmlDoc></xmlDoc>"
                         f"<groupsIDs></groupsIDs>{FLAGS}")
            if code(reply) != 0:
                raise RuntimeError(reply)

        def new_process(document: str) -> int:
            process_id = code(call(
                port, user, password, "NewImportProcess",
                f"<idList>1</idList><listGUID>{guid}</listGUID><xmlDoc>{document}"
                f"</xmlDoc><idGroups></idGroups>{FLAGS}<idConfirmNL>0</idConfirmNL>"))
            if start_each and process_id > 0:
                start_queued()
            return process_id

        with ThreadPoolExecutor(args.senders) as pool:
            ids = list(pool.map(new_process, documents))
        if any(i <= 0 for i in ids):
            raise RuntimeError(f"NewImportProcess codes: {ids}")
        staged, busy_staging = time.perf_counter() - started, cpu_busy() - busy_at_start
        if not start_each:
            start_queued()
        # A list's processes run one after the other in the order they were created: poll
        # the first one not known complete (one call per 0.2 s, not one per process, which
        # would take CPU from the worker being measured on this 2-core machine).
        pending = list(ids)
        while pending:
            reply = call(port, user, password, "GetProcessDetails",
                         f"<idList>1</idList><listGUID>{guid}</listGUID>"
                         f"<idProcess>{pending[0]}</idProcess>")
            status = re.search(r"<StatusCode>(\d)</StatusCode>", reply).group(1)  # type: ignore[union-attr]
            if status == "4":
                raise RuntimeError(f"process {pending[0]} failed: {reply}")
            if status == "3":
                pending.pop(0)
            else:
                time.sleep(0.2)
        elapsed, busy = time.perf_counter() - started, cpu_busy() - busy_at_start
        memory = peak_mb(worker.pid)
    finally:
        worker.terminate()
        worker.wait(30)
        server.stop()
    return Run(elapsed, staged, busy, busy_staging, memory, load_settings(env).import_lanes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--existing", type=int, default=200_000)
    # libxml2 refuses text nodes over 10 MB without XML_PARSE_HUGE (which we never set):
    # 25,000 rows make about 6.7 MB of escaped xmlDoc.
    parser.add_argument("--chunk", type=int, default=25_000, help="rows per NewImportProcess")
    parser.add_argument("--senders", type=int, default=2,
                        help="NewImportProcess calls in flight (gunicorn has 2 workers)")
    parser.add_argument("--clients", choices=("both", "each", "after"), default="both",
                        help="each: a client starting each process as soon as it has created it"
                             " (NewImportProcess, then StartImportProcesses: the worker merges "
                             "while the client sends); after: one sending every process first, "
                             "then starting them all; both (the default): one run of each")
    args = parser.parse_args()
    dsn = os.environ["DATABASE_URL"]
    modes = {"both": (True, False), "each": (True,), "after": (False,)}[args.clients]
    runs = []
    for start_each in modes:
        with fresh_database(dsn) as fresh:
            runs.append((start_each, import_once(fresh, args, start_each)))
    raw = raw_copy(dsn, args.rows)
    import import_floor  # here: it imports this module's helpers
    floor_steps = import_floor.measure(dsn, args.rows, args.existing, args.chunk)
    cores = os.cpu_count() or 1
    for start_each, run in runs:
        client = ("each process started as soon as it is created (NewImportProcess, then "
                  "StartImportProcesses)" if start_each else
                  "every process sent first (NewImportProcess), then all started")
        print(f"import via mailup-soap, {client}; SOAP + worker merging in {run.lanes} "
              f"lane(s), {args.existing:,} already in the list: {args.rows:,} rows in "
              f"{run.elapsed:.1f} s = {args.rows / run.elapsed:,.0f} rows/s")
        sending = ("sending (parse + COPY, the worker merging meanwhile)" if start_each
                   else "sending (parse + COPY)")
        print(f"  {sending}: {run.staged:.1f} s; then the rest of the merge: "
              f"{run.elapsed - run.staged:.1f} s")
        print(f"  CPU busy, whole machine ({cores} cores): {run.busy:.1f} CPU-s = "
              f"{run.busy / run.elapsed:.2f} cores on average ({run.busy_staging:.1f} CPU-s "
              f"while sending, {run.busy - run.busy_staging:.1f} after)")
        print(f"  ratio to the raw COPY below: {raw / run.elapsed:.3f}; worker peak memory "
              f"(VmHWM): {run.memory:.0f} MB")
    print(f"raw COPY of the same rows into a bare table: {args.rows / raw:,.0f} rows/s")
    floor = import_floor.report(floor_steps, args.rows)
    for start_each, run in runs:
        client = "each started as created" if start_each else "all sent first"
        print(f"mailup-soap's CPU time / the floor's ({client}): {run.busy / floor:.2f}")


if __name__ == "__main__":
    main()
