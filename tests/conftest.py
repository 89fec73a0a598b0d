"""Shared fixtures: the real PostgreSQL the run starts itself, accounts, the served app."""
from __future__ import annotations

import dataclasses
import os
import pathlib
import secrets
import subprocess
import threading
from collections.abc import Iterator
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import sqlalchemy as sa

from mailup_soap import bootstrap
from mailup_soap.config import Settings
from mailup_soap.db.migrate import upgrade
from mailup_soap.service_layer import accounts
from mailup_soap.service_layer.deps import Deps

ROOT = pathlib.Path(__file__).resolve().parents[1]
TEST_CLUSTER_PORT = "54329"


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


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url)


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
def server_url(database_url: str, deps: Deps) -> Iterator[str]:
    """The real WSGI app on 127.0.0.1 on a free port, served by threads (tests may; production
    runs gunicorn)."""
    httpd = make_server("127.0.0.1", 0, lambda e, s: [], server_class=_ThreadingServer,
                        handler_class=_QuietHandler)
    base = f"http://127.0.0.1:{httpd.server_port}"
    settings = Settings(database_url=database_url, public_url=base, max_body_bytes=256 * 1024)
    httpd.set_app(bootstrap.build_wsgi_app(settings, deps))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield base
    httpd.shutdown()
    httpd.server_close()
