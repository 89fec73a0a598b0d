"""The server's own subcommands: serve, worker, migrate, account create|list|credits,
seed-demo and dump-wsdl."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import pathlib
from typing import Any

from mailup_soap import bootstrap, errors
from mailup_soap.cli.common import env_settings, new_deps
from mailup_soap.config import Settings
from mailup_soap.domain.model import AccountStatus
from mailup_soap.service_layer import accounts

DEMO_CONSOLE_ID = 1234
DEMO_HOST = "demo.mailup.local"


def cmd_migrate(args: argparse.Namespace) -> int:
    from mailup_soap.db.migrate import upgrade

    upgrade(env_settings().sqlalchemy_url)
    print("database is at the newest migration")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    settings = env_settings()

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", [args.bind or settings.bind])
            self.cfg.set("workers", args.workers or settings.web_workers)
            self.cfg.set("worker_class", "sync")
            self.cfg.set("accesslog", "-")
            # Access log without the query string: Login-style GETs must not leak secrets.
            self.cfg.set("access_log_format", '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms')

        def load(self) -> Any:
            return bootstrap.wsgi_factory(settings)

    bootstrap.configure_logging(settings)
    Server().run()
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = env_settings()
    bootstrap.configure_logging(settings)
    app = bootstrap.build_job_app(settings, args.concurrency)

    async def run() -> None:
        async with app.open_async():
            await app.run_worker_async(concurrency=args.concurrency, queues=args.queue,
                                       install_signal_handlers=True)

    asyncio.run(run())
    return 0


def cmd_account_create(args: argparse.Namespace) -> int:
    console_pw = args.password or getpass.getpass("console user password: ")
    ws_pw = args.ws_password or console_pw
    created = accounts.create_account(new_deps(), args.console_id, args.name, args.host, console_pw,
                                      ws_pw, AccountStatus(args.status))
    print(f"account {created.account.id} ({created.account.console_host}): console user "
          f"{created.console_user}, web-service user {created.ws_user}")
    return 0


def cmd_account_list(args: argparse.Namespace) -> int:
    for acc in accounts.list_accounts(new_deps()):
        print(f"{acc.id}\t{acc.status.value}\t{acc.console_host}\t{acc.name}")
    return 0


def _credit_value(raw: str) -> int | None:
    if raw.strip().lower() in ("unlimited", "none", "-1"):
        return None
    if not raw.strip().isdigit():
        raise errors.InvalidArgument("credits", f"a number or 'unlimited', got {raw!r}")
    return int(raw)


def cmd_account_credits(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import sending

    deps = new_deps()
    for channel in ("email", "sms"):
        raw = getattr(args, channel)
        if raw is not None:
            sending.set_credits(deps, args.account, channel, _credit_value(raw))
    for channel, left in sending.account_credits(deps, args.account).items():
        print(f"{channel}\t{'unlimited' if left is None else left}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    deps = new_deps()
    password = os.environ.get("MAILUP_DEMO_PASSWORD", "demo-password")
    from mailup_soap.service_layer import ftp_accounts

    if not accounts.account_exists(deps, DEMO_CONSOLE_ID):
        accounts.create_account(deps, DEMO_CONSOLE_ID, "Demo", DEMO_HOST, password, password)
    ftp_user = f"ftp{DEMO_CONSOLE_ID}"
    if not any(u.username == ftp_user for u in ftp_accounts.list_users(deps, DEMO_CONSOLE_ID)):
        ftp_accounts.add_user(deps, DEMO_CONSOLE_ID, ftp_user, password)
    print(f"demo account {DEMO_CONSOLE_ID} (console host {DEMO_HOST}):\n"
          f"  Send/Manage/Report: LoginFromId(user='m{DEMO_CONSOLE_ID}', pwd='{password}', "
          f"consoleId={DEMO_CONSOLE_ID})\n"
          f"  Import header:      User='a{DEMO_CONSOLE_ID}', Password='{password}'\n"
          f"  FTP site:           user '{ftp_user}', password '{password}'")
    return 0


def cmd_dump_wsdl(args: argparse.Namespace) -> int:
    from mailup_soap.soap.wsgi import SERVICES, SoapEndpoint

    deps = bootstrap.build_deps(Settings(database_url="postgresql://unused/unused"))
    out = pathlib.Path(args.directory)
    out.mkdir(parents=True, exist_ok=True)
    for spec in SERVICES:
        endpoint = SoapEndpoint(spec, deps, args.public_url, Settings.max_body_bytes)
        (out / f"{spec.name}.wsdl").write_bytes(endpoint.wsdl)
        print(out / f"{spec.name}.wsdl")
    return 0


def admin_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="serve the SOAP services with gunicorn")
    serve.add_argument("--bind", help="host:port (default MAILUP_BIND or 127.0.0.1:8080)")
    serve.add_argument("--workers", type=int, help="gunicorn sync workers (MAILUP_WEB_WORKERS)")
    serve.set_defaults(func=cmd_serve)
    worker = sub.add_parser("worker", help="run a procrastinate worker")
    worker.add_argument("--concurrency", type=int, default=2)
    worker.add_argument("--queue", action="append", help="only this queue (repeat for more): "
                        "imports, send, sms, mail, webhooks, sync, maintenance; default all")
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="apply the database migrations").set_defaults(func=cmd_migrate)
    sub.add_parser("seed-demo", help="create the demo account if missing and print its "
                   "credentials").set_defaults(func=cmd_seed_demo)
    dump = sub.add_parser("dump-wsdl", help="write the four generated WSDLs")
    dump.add_argument("directory", nargs="?", default="wsdl")
    dump.add_argument("--public-url", default=Settings.public_url)
    dump.set_defaults(func=cmd_dump_wsdl)
    account = sub.add_parser("account", help="manage accounts")
    acc_sub = account.add_subparsers(dest="account_command", required=True)
    create = acc_sub.add_parser("create", help="create an account with users m<id> and a<id>")
    create.add_argument("--console-id", type=int, required=True)
    create.add_argument("--host", required=True, help="console host name, e.g. abcd.example.com")
    create.add_argument("--name", default="")
    create.add_argument("--password", help="console user password (prompted when omitted)")
    create.add_argument("--ws-password", help="web-service user password (default: same)")
    create.add_argument("--status", default="active", choices=[s.value for s in AccountStatus])
    create.set_defaults(func=cmd_account_create)
    acc_sub.add_parser("list", help="list accounts").set_defaults(func=cmd_account_list)
    credits = acc_sub.add_parser("credits", help="show or set the messages an account may "
                                 "still send (GetCredits); a delivery takes one per recipient")
    credits.add_argument("--account", type=int, required=True, help="console id")
    credits.add_argument("--email", help="email credits left: a number or 'unlimited'")
    credits.add_argument("--sms", help="SMS credits left: a number or 'unlimited'")
    credits.set_defaults(func=cmd_account_credits)

