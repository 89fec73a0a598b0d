"""Shared fixtures: the real PostgreSQL the run starts itself, accounts, the served app."""
from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.message
import email.policy
import os
import pathlib
import secrets
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from typing import IO, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from mailup_soap import bootstrap
from mailup_soap.config import Settings
from mailup_soap.db.migrate import upgrade
from mailup_soap.service_layer import accounts
from mailup_soap.service_layer.deps import Deps

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEST_CLUSTER_PORT = "54329"


def _sync_time_far_from_now() -> str:
    """Every worker of the run defers the periodic tasks that fell due in the last 10 minutes
    (procrastinate's max_delay). At MAILUP_SYNC_TIME's default, 02:00, a run started at 02:05
    would find a daily sync queued by some earlier test's worker, and the tests that queue
    their own would meet its queueing lock. Twelve hours away, no run ever sees it fall due."""
    return f"{(dt.datetime.now(dt.UTC) + dt.timedelta(hours=12)):%H:%M}"


# The in-process workers get it from the Settings below, the CLIs and workers the tests start
# as processes from the environment.
SYNC_TIME = _sync_time_far_from_now()
os.environ["MAILUP_SYNC_TIME"] = SYNC_TIME


def _start_cluster() -> str:
    done = subprocess.run([str(ROOT / "scripts" / "pg"), "start", "test", TEST_CLUSTER_PORT],
                          check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    """A fresh database on the private test cluster (or MAILUP_TEST_DATABASE_URL's server),
    migrated once for the whole run and dropped at the end."""
    base = os.environ.get("MAILUP_TEST_DATABASE_URL") or _start_cluster()
    name = f"mailup_test_{os.getpid()}"
    admin = sa.create_engine(Settings(database_url=base).sqlalchemy_url,
                             isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    url = base.rsplit("/", 1)[0] + "/" + name
    upgrade(Settings(database_url=url).sqlalchemy_url)
    yield url
    with admin.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SmtpSink:
    """A real SMTP server on loopback (aiosmtpd) keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parsed["Return-Path"] = f"<{envelope.mail_from}>"  # as an MTA's final delivery adds
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="session")
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    sink.controller.stop()


@pytest.fixture(scope="session")
def ftp_root(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The FTP homes of the run (the daily sync reads them; settle time 0 in tests)."""
    return tmp_path_factory.mktemp("ftp-homes")


@pytest.fixture(scope="session")
def settings(database_url: str, smtp: SmtpSink, ftp_root: pathlib.Path) -> Settings:
    return Settings(database_url=database_url, secret_key="test-secret", smtp_port=smtp.port,
                    webhook_timeout_seconds=2, ftp_root=str(ftp_root), ftp_settle_seconds=0,
                    sync_time=SYNC_TIME)


def run_jobs(settings: Settings, *queues: str) -> None:
    """Run a real procrastinate worker until the queues are empty."""
    app = bootstrap.build_job_app(settings)
    with app.open():
        app.run_worker(queues=list(queues) or None, wait=False, install_signal_handlers=False)


class HeldRead:
    """A file read that stops after its first line until `release()`: a large file being
    read, as whoever waits meanwhile sees it. Set over a module's `utf8_lines`;
    `reading` is set once the read has stopped."""

    def __init__(self, real: Callable[[IO[bytes]], Iterator[str]]) -> None:
        self._real = real
        self.reading = threading.Event()
        self._released = threading.Event()

    def __call__(self, raw: IO[bytes]) -> Iterator[str]:
        for number, line in enumerate(self._real(raw)):
            if number == 1:
                self.reading.set()
                if not self._released.wait(60):
                    raise TimeoutError("the held read was never released")
            yield line

    def release(self) -> None:
        self._released.set()


@pytest.fixture(scope="session")
def deps(settings: Settings) -> Deps:
    return bootstrap.build_deps(settings)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> sa.Engine:
    return sa.create_engine(settings.sqlalchemy_url, poolclass=sa.pool.NullPool)


@dataclasses.dataclass(frozen=True)
class AccountInfo:
    console_id: int
    host: str
    password: str

    @property
    def console_user(self) -> str:
        return f"m{self.console_id}"

    @property
    def ws_user(self) -> str:
        return f"a{self.console_id}"


def new_account(deps: Deps, **kwargs: object) -> AccountInfo:
    """A new account with unique id, host and password, users m<id> and a<id>."""
    console_id = 100_000 + secrets.randbelow(2_000_000_000 - 100_000)
    host = f"t{console_id}.example.test"
    password = "pw-" + secrets.token_hex(8)
    accounts.create_account(deps, console_id, f"Test {console_id}", host, password, password,
                            **kwargs)  # type: ignore[arg-type]
    return AccountInfo(console_id, host, password)


@pytest.fixture
def account(deps: Deps) -> AccountInfo:
    return new_account(deps)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


@pytest.fixture(scope="session")
def _http_server(database_url: str, deps: Deps, smtp: SmtpSink,
                 ftp_root: pathlib.Path) -> Iterator[tuple[str, Settings]]:
    httpd = make_server("127.0.0.1", 0, lambda e, s: [], server_class=_ThreadingServer,
                        handler_class=_QuietHandler)
    base = f"http://127.0.0.1:{httpd.server_port}"
    settings = Settings(database_url=database_url, public_url=base, max_body_bytes=256 * 1024,
                        secret_key="test-secret", smtp_port=smtp.port, webhook_timeout_seconds=2,
                        ftp_root=str(ftp_root), ftp_settle_seconds=0, sync_time=SYNC_TIME)
    httpd.set_app(bootstrap.build_wsgi_app(settings, deps))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base, settings
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def server_url(_http_server: tuple[str, Settings]) -> str:
    """The real WSGI app on 127.0.0.1 on a free port, served by threads (tests may; production
    runs gunicorn)."""
    return _http_server[0]


@pytest.fixture(scope="session")
def server_settings(_http_server: tuple[str, Settings]) -> Settings:
    """The test server's settings: workers run with them so links point at the server."""
    return _http_server[1]
