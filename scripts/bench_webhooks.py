"""Webhook deliveries per second by `mailup-soap worker` to a local receiver, beside a bare
http.client loop posting the same request bytes and headers to the same receiver (one
connection per request, as the app's poster does, with as many threads as the worker's
concurrency), measured in the same run on loopback.

    DATABASE_URL=... MAILUP_SECRET_KEY=... .venv/bin/python scripts/bench_webhooks.py \
        [--events 5000] [--concurrency 4]

Works in a database of its own, created beside DATABASE_URL's (same server, same user) and
migrated, then dropped at the end: a worker runs every queue of its database, so sharing one
with another worker (a dev server, another bench) would mix the two workers' jobs both ways.
--shared-database uses DATABASE_URL's database itself (also the fallback when the user may
not create databases). There it creates an account (console id 900000 + random) with two
lists, a POST webhook on each to the receiver, and subscribed recipients; then records one
subscription_confirmed event per subscriber with mailup_soap.db.events.record, the statement
the app runs, which writes the events, their deliveries and the procrastinate jobs. The small
list warms the worker up; the big one is timed from the commit until every delivery is
`succeeded`. In a shared database both webhooks are disabled at the end (so that a job left
by an interrupted run fails at once) and the rows stay.
Only the ratio means much: the worker, the receiver, PostgreSQL and the client share the CPUs.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import http.server
import multiprocessing
import os
import pathlib
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Any

from bench_getlists import create_database, drop_database, in_process

BIN = pathlib.Path(sys.executable).parent


# --- the receiver, in its own process ---------------------------------------------------------

class _Handler(http.server.BaseHTTPRequestHandler):
    """Reads the request, answers 200 with an empty body, closes (HTTP/1.0)."""

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        with self.server.lock:  # type: ignore[attr-defined]
            self.server.count.value += 1  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self._answer()

    do_GET = do_POST  # noqa: N815

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
    daemon_threads = True


def receiver(count: Any, conn: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    server = _Server(("127.0.0.1", 0), _Handler)
    server.count = count  # type: ignore[attr-defined]
    server.lock = threading.Lock()  # type: ignore[attr-defined]
    conn.send(server.server_address[1])
    conn.close()
    server.serve_forever(poll_interval=0.5)


# --- the baseline client, in its own process --------------------------------------------------

def _post_loop(port: int, method: str, target: str, body: bytes, headers: dict[str, str],
               count: int, deadline: float, out: list[Any]) -> None:
    ok = failed = 0
    for _ in range(count):
        if time.monotonic() >= deadline:
            break
        # As mailup_soap/adapters/webhook_http.py: a new connection per request.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request(method, target, body=body or None, headers=headers)
            response = conn.getresponse()
            response.read(64 * 1024)
            if 200 <= response.status < 300:
                ok += 1
            else:
                failed += 1
        except (OSError, http.client.HTTPException):
            failed += 1
        finally:
            conn.close()
    out.append((ok, failed))


def client(port: int, request: dict[str, Any], total: int, threads: int, seconds: float,
           conn: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    results: list[Any] = []
    start = time.monotonic()
    workers = [threading.Thread(target=_post_loop, args=(
        port, request["method"], request["target"], request["body"], request["headers"],
        total // threads + (1 if i < total % threads else 0), start + seconds, results))
        for i in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    conn.send({"ok": sum(r[0] for r in results), "failed": sum(r[1] for r in results),
               "elapsed": time.monotonic() - start})
    conn.close()


def run_client(port: int, request: dict[str, Any], total: int, threads: int,
               seconds: float) -> dict[str, Any]:
    return in_process(client, (port, request, total, threads, seconds), seconds)


# --- processes --------------------------------------------------------------------------------

class Worker:
    """`mailup-soap worker` in its own process group; stop() ends it (TERM, then KILL)."""

    def __init__(self, argv: list[str], log: pathlib.Path) -> None:
        self.log = log
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                         start_new_session=True)

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # procrastinate: finish jobs, then exit
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()


class Receiver:
    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.count = ctx.Value("q", 0, lock=False)
        parent, child = ctx.Pipe(duplex=False)
        self.proc = ctx.Process(target=receiver, args=(self.count, child), daemon=True)
        self.proc.start()
        child.close()
        if not parent.poll(30):
            self.stop()
            raise RuntimeError("the receiver did not start")
        self.port: int = parent.recv()

    def stop(self) -> None:
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()


# --- the benchmark ----------------------------------------------------------------------------

def cli(*args: str) -> str:
    done = subprocess.run([str(BIN / "mailup-soap"), *args], check=True, capture_output=True,
                          text=True)
    return done.stdout


def wait_for(engine: Any, hook_id: int, expected: int, timeout: float, worker: Worker,
             poll: float = 0.05) -> tuple[int, float]:
    """Poll until `expected` deliveries of the webhook succeeded (or the time is up);
    returns (succeeded, seconds waited)."""
    import sqlalchemy as sa

    query = sa.text("SELECT count(*) FROM webhook_deliveries "
                    "WHERE webhook_id = :h AND status = 'succeeded'")
    start = time.monotonic()
    done = 0
    with engine.connect() as conn:
        while True:
            done = int(conn.execute(query, {"h": hook_id}).scalar_one())
            conn.rollback()  # a fresh snapshot each time
            elapsed = time.monotonic() - start
            if done >= expected or elapsed > timeout:
                return done, elapsed
            if not worker.alive():
                raise RuntimeError(f"the worker exited with {worker.proc.returncode}:\n"
                                   f"{worker.tail()}")
            time.sleep(poll)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="deliveries timed (5000)")
    parser.add_argument("--warmup-events", type=int, default=100,
                        help="deliveries before the timed ones (100)")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="worker --concurrency, and baseline client threads (4)")
    parser.add_argument("--timeout", type=float, default=300,
                        help="give up on the worker (or the baseline) after this long (300 s)")
    parser.add_argument("--shared-database", action="store_true",
                        help="work in DATABASE_URL's database, not in a private one")
    # bench_getlists' and bench_frontend's options, accepted so that scripts/bench can pass
    # the same arguments to every bench; they do not apply here.
    for name in ("--seconds", "--clients", "--workers", "--lists", "--warmup", "--max-requests"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") or os.environ.get("MAILUP_DATABASE_URL")):
        parser.error("DATABASE_URL is not set (scripts/bench sets it)")
    if not os.environ.get("MAILUP_SECRET_KEY"):
        parser.error("MAILUP_SECRET_KEY is not set (scripts/bench sets it)")
    if args.events < 1 or args.concurrency < 1 or args.warmup_events < 1:
        parser.error("--events, --warmup-events and --concurrency must be positive")

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    base_url = os.environ.get("DATABASE_URL") or os.environ["MAILUP_DATABASE_URL"]
    private: str | None = None
    try:
        if not args.shared_database:
            private = _private_database(base_url)
        if private:
            os.environ["DATABASE_URL"] = private  # for this process and the CLI it runs
        return run(args, shared=not private)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if private:
            drop_database(base_url, private)


def _private_database(base_url: str) -> str | None:
    """A new migrated database beside base_url's, or None if we may not create one."""
    import sqlalchemy as sa

    try:
        return create_database(base_url, "bench_webhooks")
    except sa.exc.DBAPIError as exc:
        print(f"bench_webhooks: cannot create a database ({str(exc.orig).strip()}); working in "
              "the shared one, where another worker may take some of the jobs", file=sys.stderr)
        return None


def run(args: argparse.Namespace, shared: bool) -> int:
    import sqlalchemy as sa

    from mailup_soap import bootstrap
    from mailup_soap.config import load_settings
    from mailup_soap.db import events
    from mailup_soap.db.unit_of_work import make_engine
    from mailup_soap.domain import webhooks as wh
    from mailup_soap.domain.model import ChangeSource, EventType
    from mailup_soap.service_layer import lists, webhooks
    from mailup_soap.service_layer.deps import WsLogin

    settings = load_settings(os.environ)
    engine = make_engine(settings.sqlalchemy_url, pool_size=2)
    deps = bootstrap.build_deps(settings, pool_size=1)
    receiver_proc: Receiver | None = None
    worker: Worker | None = None
    hook_ids: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        try:
            receiver_proc = Receiver()
            port = receiver_proc.port
            url = f"http://127.0.0.1:{port}/hook"

            console_id = 900000 + random.randrange(100000)
            password = f"bench-{random.getrandbits(64):x}"
            cli("account", "create", "--console-id", str(console_id), "--host",
                f"bench{console_id}.example.com", "--name", "bench webhooks",
                "--password", password)
            login = WsLogin(f"a{console_id}", password)
            warm_list = lists.create_list(deps, login, "bench webhooks warm-up").id
            main_list = lists.create_list(deps, login, "bench webhooks").id
            for list_id in (warm_list, main_list):
                out = cli("webhook", "add", "--account", str(console_id), "--list",
                          str(list_id), "--url", url, "--method", "POST")
                found = re.search(r"webhook (\d+):", out)
                if not found:
                    raise RuntimeError(f"webhook add printed {out!r}")
                hook_ids.append(int(found.group(1)))
            warm_hook, main_hook = hook_ids

            # Subscribed recipients, written directly (the frontend bench measures that path).
            now = dt.datetime.now(dt.UTC)
            tag = f"{random.getrandbits(40):x}"
            with engine.begin() as conn:
                for list_id, n in ((warm_list, args.warmup_events), (main_list, args.events)):
                    conn.execute(sa.text(
                        "WITH r AS (INSERT INTO recipients (account_id, email) "
                        "SELECT :a, 'hook-' || :tag || '-' || :l || '-' || g "
                        "|| '@bench.example.com' FROM generate_series(1, :n) g RETURNING id) "
                        "INSERT INTO subscriptions (account_id, list_id, recipient_id, status, "
                        "subscribed_at, updated_at) "
                        "SELECT :a, :l, id, 'subscribed', :now, :now FROM r"),
                        {"a": console_id, "l": list_id, "n": n, "tag": tag, "now": now})

            def record(list_id: int) -> int:
                with engine.begin() as conn:
                    return events.record(conn, console_id, list_id,
                                         EventType.SUBSCRIPTION_CONFIRMED, ChangeSource.API,
                                         dt.datetime.now(dt.UTC),
                                         recipients=events.LIST_SUBSCRIBERS)

            worker = Worker([str(BIN / "mailup-soap"), "worker", "--concurrency",
                             str(args.concurrency)], pathlib.Path(tmp) / "worker.log")
            warm_started = time.monotonic()
            record(warm_list)
            done, _ = wait_for(engine, warm_hook, args.warmup_events, 60, worker)
            if done < args.warmup_events:
                raise RuntimeError(f"warm-up: {done} of {args.warmup_events} deliveries "
                                   f"succeeded in 60 s:\n{worker.tail()}")
            print(f"account {console_id} in the {'shared' if shared else 'private'} database "
                  f"{engine.url.database}; POST webhook to {url}; worker --concurrency "
                  f"{args.concurrency} up and {args.warmup_events} warm-up deliveries done in "
                  f"{time.monotonic() - warm_started:.1f} s; timing {args.events} deliveries",
                  flush=True)

            received_before = receiver_proc.count.value
            t0 = time.perf_counter()
            recorded = record(main_list)
            record_seconds = time.perf_counter() - t0
            done, elapsed = wait_for(engine, main_hook, recorded, args.timeout, worker)
            received = receiver_proc.count.value - received_before
            worker.stop()
            app_rate = done / elapsed if elapsed > 0 else 0.0
            with engine.connect() as conn:
                statuses: dict[str, int] = dict(conn.execute(sa.text(
                    "SELECT status, count(*) FROM webhook_deliveries WHERE webhook_id = :h "
                    "GROUP BY status"), {"h": main_hook}).all())
                mean_ms = conn.execute(sa.text(
                    "SELECT avg(a.duration_ms) FROM webhook_attempts a JOIN webhook_deliveries "
                    "d ON d.id = a.delivery_id WHERE d.webhook_id = :h"), {"h": main_hook}
                ).scalar_one()
                first = conn.execute(sa.text(
                    "SELECT id FROM webhook_deliveries WHERE webhook_id = :h ORDER BY id "
                    "LIMIT 1"), {"h": main_hook}).scalar_one()
            unfinished = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())
                                   if s != "succeeded")
            print(f"webhook deliveries via mailup-soap worker (--concurrency {args.concurrency}):"
                  f" {app_rate:.0f} deliveries/s  ({done} of {recorded} in {elapsed:.1f} s; "
                  f"record statement {record_seconds:.2f} s, not timed; mean attempt "
                  f"{float(mean_ms or 0):.1f} ms; receiver got {received}"
                  + (f"; not succeeded: {unfinished}" if unfinished else "") + ")", flush=True)

            # The baseline posts the request the worker built for the first timed delivery.
            with deps.uow() as uow:
                delivery = uow.webhooks.delivery(first)
                hook = uow.webhooks.get(main_hook)
                event = uow.webhooks.event(delivery.event_id) if delivery else None
            if delivery is None or hook is None or event is None:
                raise RuntimeError("the first timed delivery has vanished")
            built = wh.build_request(hook, event, delivery.msg_id,
                                     dt.datetime.now(dt.UTC))
            split = urllib.parse.urlsplit(built.url)
            request = {"method": built.method, "headers": built.headers, "body": built.body,
                       "target": (split.path or "/") + ("?" + split.query if split.query else "")}
            run_client(port, request, args.warmup_events, args.concurrency, 60)
            r = run_client(port, request, recorded, args.concurrency, args.timeout)
            raw_rate = r["ok"] / r["elapsed"] if r["elapsed"] > 0 else 0.0
            print(f"bare http.client baseline ({args.concurrency} threads, same request, "
                  f"{len(built.body)}-byte body): {raw_rate:.0f} deliveries/s  ({r['ok']} of "
                  f"{recorded} in {r['elapsed']:.1f} s"
                  + (f", {r['failed']} failed" if r["failed"] else "") + ")", flush=True)
            print(f"ratio mailup-soap / raw: {app_rate / raw_rate:.2f}" if raw_rate else
                  "ratio mailup-soap / raw: n/a (the baseline delivered nothing)", flush=True)
            return 0
        finally:
            # A second Ctrl-C or TERM must not cut the cleanup short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            if worker is not None:
                worker.stop()
            for hook_id in hook_ids if shared else []:
                try:
                    webhooks.set_webhook_active(deps, hook_id, False)
                except Exception as exc:
                    print(f"could not disable webhook {hook_id}: {exc}", file=sys.stderr)
            if receiver_proc is not None:
                receiver_proc.stop()
            engine.dispose()  # the deps' connections end with DROP DATABASE ... WITH (FORCE)


if __name__ == "__main__":
    sys.exit(main())
