"""Frontend xmlSubscribe.aspx calls per second through `mailup-soap serve` (gunicorn, sync
workers), every call a new address (a real insert of recipient, subscription and event),
beside a bare WSGI callable that answers the same `0` with the same headers under the same
gunicorn settings, measured in the same run by a separate load process on loopback.

    DATABASE_URL=... .venv/bin/python scripts/bench_frontend.py [--seconds 10] [--clients 4]

Needs a migrated database and MAILUP_SECRET_KEY (scripts/bench sets both). Creates its own
account (console id 900000 + random, host bench<id>.example.com) with one list, and registers
127.0.0.1 for it with WSActivation.aspx; the account and its recipients stay afterwards.
Only the ratio means much: both servers and the load share this machine's CPUs.
"""
from __future__ import annotations

import argparse
import http.client
import os
import pathlib
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Any
from xml.sax.saxutils import escape

from bench_getlists import (
    BIN,
    MARKER,
    Server,
    free_port,
    gunicorn_argv,
    in_process,
    soap_call,
)

SUBSCRIBE = "/frontend/xmlSubscribe.aspx"
ACTIVATION = "/frontend/WSActivation.aspx"
# The headers the frontend answers with (mailup_soap/frontend/app.py `_reply`).
REPLY_HEADERS = [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "1"),
                 ("Cache-Control", "no-store")]


# --- the raw baseline, loaded by gunicorn as bench_frontend:raw_app ---------------------------

def raw_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Minimal WSGI: read the form body, answer `0` as the frontend does (to any method, so
    that the readiness probe's GET works too)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", list(REPLY_HEADERS))
    return [b"0"]


# --- the load process -------------------------------------------------------------------------

def subscribe_request(host: str, list_id: int, email: str) -> bytes:
    """The exact bytes of one xmlSubscribe call (Confirm=0: subscribed at once)."""
    body = urllib.parse.urlencode({"Email": email, "List": list_id, "Confirm": 0}).encode()
    head = (f"POST {SUBSCRIBE} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


def _client(port: int, host: str, list_id: int, tag: str, deadline: float, max_requests: int,
            out: list[Any]) -> None:
    ok = bad = errors = 0
    latencies: list[float] = []
    first_bad = b""
    n = 0
    while time.monotonic() < deadline and ok + bad + errors < max_requests:
        n += 1
        request = subscribe_request(host, list_id, f"{tag}-{n}@bench.example.com")
        t0 = time.perf_counter()
        try:
            # Sync gunicorn workers close every connection, so one connection per request.
            with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                sock.sendall(request)
                chunks = []
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
        except OSError:
            errors += 1
            continue
        reply = b"".join(chunks)
        if reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n\r\n0"):
            ok += 1
            latencies.append(time.perf_counter() - t0)
        else:
            bad += 1
            first_bad = first_bad or reply[-300:]
    out.append((ok, bad, errors, latencies, first_bad))


def load(port: int, host: str, list_id: int, clients: int, seconds: float, max_requests: int,
         conn: Any) -> None:
    """Runs in its own process: `clients` threads, each one connection at a time, each
    request a new address (run tag + thread + counter)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    results: list[Any] = []
    run = f"b{random.getrandbits(40):x}"
    start = time.monotonic()
    threads = [threading.Thread(target=_client, args=(port, host, list_id, f"{run}-{i}",
                                                      start + seconds, max_requests // clients,
                                                      results))
               for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    lat = sorted(x for r in results for x in r[3])
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
    conn.send({"ok": sum(r[0] for r in results), "bad": sum(r[1] for r in results),
               "errors": sum(r[2] for r in results), "elapsed": elapsed,
               "p50": pct(0.50), "p99": pct(0.99),
               "first_bad": next((r[4] for r in results if r[4]), b"")})
    conn.close()


def run_load(port: int, host: str, list_id: int, clients: int, seconds: float,
             max_requests: int) -> dict[str, Any]:
    return in_process(load, (port, host, list_id, clients, seconds, max_requests), seconds)


# --- the benchmark ----------------------------------------------------------------------------

def seed(port: int) -> tuple[int, str, int]:
    """A fresh account with one list, 127.0.0.1 registered for the frontend; returns
    (console id, console host, list id)."""
    console_id = 900000 + random.randrange(100000)
    host = f"bench{console_id}.example.com"
    password = f"bench-{random.getrandbits(64):x}"
    subprocess.run([str(BIN / "mailup-soap"), "account", "create", "--console-id",
                    str(console_id), "--host", host, "--name", "bench frontend",
                    "--password", password], check=True, stdout=subprocess.DEVNULL)
    status, _, body = soap_call(port, "LoginFromId", f"<user>m{console_id}</user>"
                                f"<pwd>{password}</pwd><consoleId>{console_id}</consoleId>")
    found = re.search(rb"&lt;accessKey&gt;([^&<]+)&lt;/accessKey&gt;", body)
    if status != 200 or MARKER not in body or not found:
        raise RuntimeError(f"LoginFromId failed ({status}): {body[:500]!r}")
    key = found.group(1).decode()
    status, _, body = soap_call(port, "CreateList", f"<accessKey>{escape(key)}</accessKey>"
                                "<name>bench frontend</name><copyTemplate>false</copyTemplate>")
    list_found = re.search(rb"listID&gt;(\d+)&lt;", body)
    if status != 200 or not list_found:
        raise RuntimeError(f"CreateList failed ({status}): {body[:500]!r}")
    query = urllib.parse.urlencode({"usr": f"a{console_id}", "pwd": password, "nl_url": host,
                                    "ws_name": "FrontEnd"})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", f"{ACTIVATION}?{query}", headers={"Host": host})
        resp = conn.getresponse()
        reply = resp.read()
    finally:
        conn.close()
    if resp.status != 200 or b"<ReturnCode>0</ReturnCode>" not in reply:
        raise RuntimeError(f"WSActivation failed ({resp.status}): {reply[:500]!r}")
    return console_id, host, int(list_found.group(1))


def subscribe_once(port: int, host: str, list_id: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(subscribe_request(host, list_id,
                                       f"probe-{random.getrandbits(40):x}@bench.example.com"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def count_subscribed(console_id: int, list_id: int) -> int | None:
    """Subscribed recipients of the list, to show every answered call was a real insert."""
    try:
        import sqlalchemy as sa

        from mailup_soap.config import load_settings
        engine = sa.create_engine(load_settings(os.environ).sqlalchemy_url)
        try:
            with engine.connect() as conn:
                return int(conn.execute(sa.text(
                    "SELECT count(*) FROM subscriptions WHERE account_id = :a AND list_id = :l "
                    "AND status = 'subscribed'"), {"a": console_id, "l": list_id}).scalar_one())
        finally:
            engine.dispose()
    except Exception as exc:  # only a cross-check: report, do not fail the bench
        print(f"(could not count subscriptions: {exc})", file=sys.stderr)
        return None


def report(label: str, r: dict[str, Any]) -> float:
    rate = float(r["ok"] / r["elapsed"])
    extra = f", {int(r['bad'])} bad, {int(r['errors'])} errors" if r["bad"] or r["errors"] else ""
    print(f"{label}: {rate:.0f} req/s  (p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
          f"{int(r['ok'])} in {r['elapsed']:.1f} s{extra})", flush=True)
    if r["bad"]:
        print(f"  first unexpected answer ends: {r['first_bad']!r}", flush=True)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="load per server (10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections (4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured load first (1 s)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="cap per run")
    parser.add_argument("--lists", type=int, help=argparse.SUPPRESS)  # bench_getlists' own
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") or os.environ.get("MAILUP_DATABASE_URL")):
        parser.error("DATABASE_URL is not set (scripts/bench sets it)")
    if not os.environ.get("MAILUP_SECRET_KEY"):
        parser.error("MAILUP_SECRET_KEY is not set (scripts/bench sets it)")

    servers: list[Server] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-frontend-") as tmp:
        logdir = pathlib.Path(tmp)
        try:
            def measure(label: str, server: Server, host: str, list_id: int) -> float:
                if args.warmup > 0:
                    run_load(server.port, host, list_id, args.clients, args.warmup,
                             args.max_requests)
                return report(label, run_load(server.port, host, list_id, args.clients,
                                              args.seconds, args.max_requests))

            port = free_port()
            app = Server("mailup-soap", [str(BIN / "mailup-soap"), "serve", "--workers",
                                         str(args.workers), "--bind", f"127.0.0.1:{port}"],
                         port, logdir)
            servers.append(app)
            app.wait_ready()
            console_id, host, list_id = seed(port)
            reply = subscribe_once(port, host, list_id)
            if not (reply.startswith(b"HTTP/1.1 200 ") and reply.endswith(b"\r\n\r\n0")):
                raise RuntimeError(f"xmlSubscribe answered {reply[-300:]!r}:\n{app.tail()}")
            print(f"account {console_id} ({host}), list {list_id}; xmlSubscribe Confirm=0, a new "
                  f"address per call; {args.clients} client connections, {args.seconds:g} s "
                  f"per server", flush=True)
            before = count_subscribed(console_id, list_id)
            app_rate = measure(f"xmlSubscribe via mailup-soap (gunicorn -w {args.workers})", app,
                               host, list_id)
            app.stop()
            after = count_subscribed(console_id, list_id)
            if before is not None and after is not None:
                print(f"  list {list_id} gained {after - before} subscribed recipients "
                      f"(warm-up included)", flush=True)

            port = free_port()
            raw = Server("raw", gunicorn_argv("bench_frontend:raw_app", port, args.workers), port,
                         logdir)
            servers.append(raw)
            raw.wait_ready()
            raw_rate = measure(f"raw WSGI baseline (gunicorn -w {args.workers}, same answer)",
                               raw, host, list_id)
            print(f"ratio mailup-soap / raw: {app_rate / raw_rate:.2f}" if raw_rate else
                  "ratio mailup-soap / raw: n/a (raw baseline answered nothing)", flush=True)
            return 0
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130
        finally:
            # A second Ctrl-C or TERM must not cut the cleanup short.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            for server in reversed(servers):
                server.stop()


if __name__ == "__main__":
    sys.exit(main())
