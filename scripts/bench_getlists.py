"""Authenticated Manage GetLists calls per second through `mailup-soap serve` (gunicorn, sync
workers), beside a raw WSGI callable that answers the same response bytes under the same
gunicorn settings, measured in the same run by a separate load process on loopback.

    DATABASE_URL=... .venv/bin/python scripts/bench_getlists.py [--seconds 10] [--clients 4]

Needs a migrated database (scripts/bench does that). Creates its own account (console id
900000 + random) with a few lists; the account stays in the database afterwards.
Only the ratio means much: both servers and the load share this machine's CPUs.
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import multiprocessing
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
from typing import Any
from xml.sax.saxutils import escape

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent
NS = "http://services.mailupnet.it/WS"
MANAGE = "/MailupManage.asmx"
MARKER = b"&lt;errorCode&gt;0&lt;"  # errorCode 0 inside the escaped GetListsResult string
RAW_RESPONSE_ENV = "BENCH_RAW_RESPONSE"  # file with the captured reply, for raw_app
# The access log `mailup-soap serve` configures; the baseline writes the same line per request,
# so that the two runs differ only in the WSGI callable.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


# --- the raw baseline, loaded by gunicorn as bench_getlists:raw_app -------------------------

def _load_raw() -> tuple[list[tuple[str, str]], bytes]:
    path = os.environ.get(RAW_RESPONSE_ENV)
    if not path:
        return [], b""
    content_type, _, body = pathlib.Path(path).read_bytes().partition(b"\n")
    return [("Content-Type", content_type.decode()), ("Content-Length", str(len(body)))], body


_RAW_HEADERS, _RAW_BODY = _load_raw()


def raw_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """Minimal WSGI: read the request body, answer the captured GetLists response (to any
    method, so that the readiness probe's GET works too)."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length:
        environ["wsgi.input"].read(length)
    start_response("200 OK", list(_RAW_HEADERS))
    return [_RAW_BODY]


# --- SOAP over plain HTTP ---------------------------------------------------------------------

def envelope(operation: str, params: str) -> bytes:
    return (f'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
            f'<{operation} xmlns="{NS}">{params}</{operation}></soap:Body></soap:Envelope>'
            ).encode()


def soap_call(port: int, operation: str, params: str) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", MANAGE, envelope(operation, params), {
            "Content-Type": "text/xml; charset=utf-8", "SOAPAction": f'"{NS}/{operation}"'})
        resp = conn.getresponse()
        return resp.status, dict(resp.getheaders()), resp.read()
    finally:
        conn.close()


def raw_request(port: int, body: bytes) -> bytes:
    """The exact bytes every load connection sends."""
    head = (f"POST {MANAGE} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: text/xml; charset=utf-8\r\nSOAPAction: \"{NS}/GetLists\"\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode() + body


# --- the load process -------------------------------------------------------------------------

def _client(port: int, request: bytes, deadline: float, max_requests: int,
            out: list[Any]) -> None:
    ok = bad = errors = 0
    latencies: list[float] = []
    while time.monotonic() < deadline and ok + bad + errors < max_requests:
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
        if reply.startswith(b"HTTP/1.1 200 ") and MARKER in reply:
            ok += 1
            latencies.append(time.perf_counter() - t0)
        else:
            bad += 1
    out.append((ok, bad, errors, latencies))


def load(port: int, request: bytes, clients: int, seconds: float, max_requests: int,
         conn: Any) -> None:
    """Runs in its own process: `clients` threads, each one connection at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    results: list[Any] = []
    start = time.monotonic()
    threads = [threading.Thread(target=_client, args=(port, request, start + seconds,
                                                      max_requests // clients, results))
               for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    lat = sorted(x for r in results for x in r[3])
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0.0)
    conn.send({"ok": sum(r[0] for r in results), "bad": sum(r[1] for r in results),
               "errors": sum(r[2] for r in results), "elapsed": elapsed,
               "p50": pct(0.50), "p99": pct(0.99)})
    conn.close()


def in_process(target: Any, args: tuple[Any, ...], seconds: float) -> dict[str, Any]:
    """Run target(*args, pipe) in a separate (spawned) process, so the load does not share
    this one's GIL, and return what it sends back; the other benches use it too."""
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target, args=(*args, child))
    proc.start()
    try:
        child.close()
        if not parent.poll(seconds + 60):
            raise RuntimeError("the load process did not report in time")
        result: dict[str, Any] = parent.recv()
        proc.join(10)
        return result
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join()


def run_load(port: int, request: bytes, clients: int, seconds: float,
             max_requests: int) -> dict[str, float]:
    return in_process(load, (port, request, clients, seconds, max_requests), seconds)


# --- servers ----------------------------------------------------------------------------------

def _admin_engine(url: str) -> Any:
    import sqlalchemy as sa

    from mailup_soap.config import Settings

    return sa.create_engine(Settings(database_url=url).sqlalchemy_url,
                            isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def create_database(base_url: str, prefix: str) -> str:
    """A new empty database beside base_url's, migrated; its URL. Raises sqlalchemy's
    DBAPIError when we may not create one; a database whose migration fails is dropped."""
    import sqlalchemy as sa

    name = f"{prefix}_{random.getrandbits(32):08x}"
    engine = _admin_engine(base_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    url = str(sa.engine.make_url(base_url).set(database=name)
              .render_as_string(hide_password=False))
    try:
        subprocess.run([str(BIN / "mailup-soap"), "migrate"], check=True,
                       env=dict(os.environ, DATABASE_URL=url), stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    except BaseException:  # not left behind half made
        drop_database(base_url, url)
        raise
    return url


def drop_database(base_url: str, url: str) -> None:
    import sqlalchemy as sa

    name = sa.engine.make_url(url).database
    engine = _admin_engine(base_url)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    except sa.exc.DBAPIError as exc:
        print(f"could not drop database {name}: {str(exc.orig).strip()}", file=sys.stderr)
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A gunicorn master in its own process group; stop() ends it and its workers."""

    def __init__(self, name: str, argv: list[str], port: int, logdir: pathlib.Path,
                 env: dict[str, str] | None = None) -> None:
        self.name, self.port = name, port
        self.log = logdir / f"{name}.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         env=env, start_new_session=True)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", MANAGE + "?WSDL")
                if conn.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name}: no 200 from ?WSDL after {timeout} s:\n{self.tail()}")

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-20:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # gunicorn: graceful stop of the workers
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(35)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # any worker left behind
        self.proc.wait()


def gunicorn_argv(app: str, port: int, workers: int) -> list[str]:
    return [str(BIN / "python"), "-m", "gunicorn", "--chdir", str(ROOT / "scripts"),
            "--workers", str(workers), "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
            "--access-logfile", "-", "--access-logformat", ACCESS_LOG_FORMAT, app]


# --- the benchmark ----------------------------------------------------------------------------

def seed(port: int, lists: int) -> tuple[int, str]:
    """A fresh account with `lists` lists; returns (console id, accessKey)."""
    console_id = 900000 + random.randrange(100000)
    password = f"bench-{random.getrandbits(64):x}"
    subprocess.run([str(BIN / "mailup-soap"), "account", "create", "--console-id",
                    str(console_id), "--host", f"bench{console_id}.example.com",
                    "--name", "bench", "--password", password], check=True,
                   stdout=subprocess.DEVNULL)
    status, _, body = soap_call(port, "LoginFromId", f"<user>m{console_id}</user>"
                                f"<pwd>{password}</pwd><consoleId>{console_id}</consoleId>")
    found = re.search(rb"&lt;accessKey&gt;([^&<]+)&lt;/accessKey&gt;", body)
    if status != 200 or MARKER not in body or not found:
        raise RuntimeError(f"LoginFromId failed ({status}): {body[:500]!r}")
    key = found.group(1).decode()
    for n in range(1, lists + 1):
        status, _, body = soap_call(
            port, "CreateList", f"<accessKey>{escape(key)}</accessKey>"
            f"<name>bench list {n}</name><copyTemplate>false</copyTemplate>")
        if status != 200 or b"listID&gt;" not in body:
            raise RuntimeError(f"CreateList failed ({status}): {body[:500]!r}")
    return console_id, key


def report(label: str, r: dict[str, float]) -> float:
    rate = r["ok"] / r["elapsed"]
    extra = f", {int(r['bad'])} bad, {int(r['errors'])} errors" if r["bad"] or r["errors"] else ""
    print(f"{label}: {rate:.0f} req/s  (p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms, "
          f"{int(r['ok'])} in {r['elapsed']:.1f} s{extra})", flush=True)
    return rate


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="load per server (10)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections (4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (2)")
    parser.add_argument("--lists", type=int, default=5, help="lists GetLists returns (5)")
    parser.add_argument("--warmup", type=float, default=1, help="unmeasured load first (1 s)")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="cap per run")
    args = parser.parse_args()
    if not (os.environ.get("DATABASE_URL") or os.environ.get("MAILUP_DATABASE_URL")):
        parser.error("DATABASE_URL is not set (scripts/bench sets it)")

    servers: list[Server] = []
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    with tempfile.TemporaryDirectory(prefix="bench-getlists-") as tmp:
        logdir = pathlib.Path(tmp)
        try:
            def measure(label: str, server: Server, request: bytes) -> float:
                if args.warmup > 0:
                    run_load(server.port, request, args.clients, args.warmup, args.max_requests)
                return report(label, run_load(server.port, request, args.clients, args.seconds,
                                              args.max_requests))

            port = free_port()
            app = Server("mailup-soap", [str(BIN / "mailup-soap"), "serve", "--workers",
                                         str(args.workers), "--bind", f"127.0.0.1:{port}"],
                         port, logdir)
            servers.append(app)
            app.wait_ready()
            console_id, key = seed(port, args.lists)
            body = envelope("GetLists", f"<accessKey>{escape(key)}</accessKey>")
            status, headers, reply = soap_call(port, "GetLists",
                                               f"<accessKey>{escape(key)}</accessKey>")
            if status != 200 or MARKER not in reply or reply.count(b"&lt;listID&gt;") != args.lists:
                raise RuntimeError(f"GetLists answered {status}: {reply[:500]!r}")
            print(f"account {console_id}, {args.lists} lists; GetLists answers {len(reply)} bytes; "
                  f"{args.clients} client connections, {args.seconds:g} s per server",
                  flush=True)
            soap_rate = measure(f"GetLists via mailup-soap (gunicorn -w {args.workers})", app,
                                raw_request(port, body))
            app.stop()

            captured = logdir / "response"
            captured.write_bytes(headers.get("Content-Type", "text/xml; charset=utf-8").encode()
                                 + b"\n" + reply)
            port = free_port()
            raw = Server("raw", gunicorn_argv("bench_getlists:raw_app", port, args.workers), port,
                         logdir, env={**os.environ, RAW_RESPONSE_ENV: str(captured)})
            servers.append(raw)
            raw.wait_ready()
            raw_rate = measure(f"raw WSGI baseline (gunicorn -w {args.workers}, same bytes)",
                               raw, raw_request(port, body))
            print(f"ratio mailup-soap / raw: {soap_rate / raw_rate:.2f}" if raw_rate else
                  "ratio mailup-soap / raw: n/a (raw baseline answered nothing)")
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
