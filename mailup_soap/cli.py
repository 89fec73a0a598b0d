"""`mailup-soap serve | worker | migrate | account create|list | seed-demo | dump-wsdl |
webhook add|list|disable|enable|deliveries|replay | import | export-unsubscribers |
export-profile add|list|remove`."""
from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import pathlib
import sys
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import DBAPIError

from mailup_soap import bootstrap, errors
from mailup_soap.config import ConfigurationError, Settings, load_settings
from mailup_soap.domain import bounces
from mailup_soap.domain.model import AccountStatus
from mailup_soap.service_layer import accounts, tracking, webhooks

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mailup_soap.domain.imports import ImportProcess

DEMO_CONSOLE_ID = 1234
DEMO_HOST = "demo.mailup.local"


def _settings() -> Settings:
    return load_settings(os.environ)


def cmd_migrate(args: argparse.Namespace) -> int:
    from mailup_soap.db.migrate import upgrade

    upgrade(_settings().sqlalchemy_url)
    print("database is at the newest migration")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication

    settings = _settings()

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
    settings = _settings()
    bootstrap.configure_logging(settings)
    app = bootstrap.build_job_app(settings, args.concurrency)

    async def run() -> None:
        async with app.open_async():
            await app.run_worker_async(concurrency=args.concurrency, queues=args.queue,
                                       install_signal_handlers=True)

    asyncio.run(run())
    return 0


def _deps() -> Any:
    return bootstrap.build_deps(_settings(), pool_size=1)


def cmd_account_create(args: argparse.Namespace) -> int:
    console_pw = args.password or getpass.getpass("console user password: ")
    ws_pw = args.ws_password or console_pw
    created = accounts.create_account(_deps(), args.console_id, args.name, args.host, console_pw,
                                      ws_pw, AccountStatus(args.status))
    print(f"account {created.account.id} ({created.account.console_host}): console user "
          f"{created.console_user}, web-service user {created.ws_user}")
    return 0


def cmd_account_list(args: argparse.Namespace) -> int:
    for acc in accounts.list_accounts(_deps()):
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

    deps = _deps()
    for channel in ("email", "sms"):
        raw = getattr(args, channel)
        if raw is not None:
            sending.set_credits(deps, args.account, channel, _credit_value(raw))
    for channel, left in sending.account_credits(deps, args.account).items():
        print(f"{channel}\t{'unlimited' if left is None else left}")
    return 0


def cmd_seed_demo(args: argparse.Namespace) -> int:
    deps = _deps()
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


def cmd_webhook_add(args: argparse.Namespace) -> int:
    params = {}
    for item in args.param or []:
        name, sep, template = item.partition("=")
        if not sep or not name.strip():
            raise errors.InvalidArgument("--param", f"{item!r} is not NAME=TEMPLATE")
        params[name.strip()] = template
    hook = webhooks.add_webhook(
        _deps(), args.account, args.list, args.url, method=args.method,
        events=_split(args.events), sources=_split(args.sources), params=params,
        rc4_key=args.rc4_key or "", secret=args.secret)
    print(f"webhook {hook.id}: {hook.method} {hook.url}\n  signing secret: {hook.secret}")
    return 0


def _split(raw: str | None) -> list[str] | None:
    return [p for p in (raw or "").split(",") if p.strip()] or None


def cmd_webhook_list(args: argparse.Namespace) -> int:
    for hook in webhooks.list_webhooks(_deps(), args.account):
        state = "active" if hook.active else "disabled"
        events = ",".join(sorted(e.value for e in hook.events))
        sources = ",".join(sorted(s.value for s in hook.sources))
        print(f"{hook.id}\t{state}\taccount {hook.account_id} list {hook.list_id}\t"
              f"{hook.method} {hook.url}\tevents={events}\tsources={sources}"
              + ("\tRC4" if hook.rc4_key else ""))
    return 0


def cmd_webhook_enable(args: argparse.Namespace) -> int:
    webhooks.set_webhook_active(_deps(), args.id, args.enable)
    print(f"webhook {args.id} {'enabled' if args.enable else 'disabled'}")
    return 0


def cmd_webhook_deliveries(args: argparse.Namespace) -> int:
    for delivery, attempts in webhooks.list_deliveries(_deps(), args.webhook, args.limit):
        print(f"{delivery.id}\twebhook {delivery.webhook_id}\tevent {delivery.event_id}\t"
              f"{delivery.msg_id}\t{delivery.status}\tattempts={delivery.attempts}\t"
              f"next={delivery.next_attempt_at or '-'}")
        for at, code, error in attempts:
            print(f"\t{at}\t{code if code is not None else '-'}\t{error or ''}")
    return 0


def cmd_webhook_replay(args: argparse.Namespace) -> int:
    webhooks.replay_delivery(_deps(), args.delivery)
    print(f"delivery {args.delivery} queued again (same webhook-id)")
    return 0


def _progress(label: str) -> Any:
    """A one-line progress bar on stderr (only when it is a terminal)."""
    def show(done: int, total: int) -> None:
        if sys.stderr.isatty():
            width = 30
            filled = width * done // max(total, 1)
            print(f"\r{label} [{'#' * filled}{'.' * (width - filled)}] {done:,}/{total:,}",
                  end="" if done < total else "\n", file=sys.stderr, flush=True)
    return show


def _counting(rows: Any, every: int = 50_000) -> Any:
    if not sys.stderr.isatty():
        yield from rows
        return
    for row in rows:
        number = row[0] if isinstance(row, tuple) else row.row_no  # a PlainRow, a StagedRow
        if number % every == 0:
            print(f"\rread {number:,} rows", end="", file=sys.stderr, flush=True)
        yield row


def cmd_import(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import import_runner

    if (args.file is not None) + (args.resume is not None) + (args.cancel is not None) != 1:
        raise errors.InvalidArgument("import", "give a FILE, --resume PROCESS or --cancel PROCESS")
    try:
        if args.cancel is not None:
            done = import_runner.cancel_now(_deps(), args.account, args.cancel)
        elif args.resume is not None:
            done = import_runner.resume_now(_deps(), args.account, args.resume,
                                            progress=_progress("merged"))
        else:
            done = _import_file(args)
    except errors.ImportInterrupted as exc:
        print(f"\nmailup-soap: {exc}: the batches merged so far stay, the rest is staged. Go on "
              f"with `mailup-soap import --resume {exc.process_id} --account {args.account}`, "
              f"or end it with `--cancel {exc.process_id}`", file=sys.stderr)
        return 130
    c = done.counts
    print(f"process {done.id}: status {int(done.status)} ({done.status.name.lower()}), "
          f"{c.total} rows: {c.new_email} new, {c.existing_email} existing, "
          f"{c.opt_out_email} opted out, {c.rejected_email + c.rejected_mobile + c.rejected_other}"
          " rejected" + (f"; {done.error}" if done.error else ""))
    return 0 if done.status.name == "COMPLETED" else 1


def _import_file(args: argparse.Namespace) -> ImportProcess:
    from mailup_soap.domain import import_readers
    from mailup_soap.domain.imports import ImportOptions
    from mailup_soap.service_layer import import_runner

    if args.list is None:
        raise errors.InvalidArgument("--list", "required with a FILE")
    opts = ImportOptions(args.import_type, args.mobile_input_type, args.as_pending,
                         args.confirm_email, args.as_opt_out, args.force_opt_in,
                         args.replace_groups, tuple(int(g) for g in _split(args.groups) or []),
                         args.confirm_message)
    path = pathlib.Path(args.file)
    as_csv = args.format == "csv" or (args.format is None and path.suffix.lower() != ".xml")
    with path.open("rb") as raw:
        rows: Iterator[import_readers.ReaderRow]
        if as_csv:
            rows = import_readers.read_csv(import_readers.utf8_lines(raw), opts)
        else:
            rows = import_readers.read_xml(raw, opts)
        return import_runner.import_now(_deps(), args.account, args.list, _counting(rows), opts,
                                        progress=_progress("merged"))


def _import_parser(sub: Any) -> None:
    imp = sub.add_parser("import", help="import a file (MailUp XML or pipe CSV) into a list, "
                         "with the bulk engine of the Import service; or go on with, or end, "
                         "an import that was interrupted")
    imp.add_argument("file", nargs="?")
    imp.add_argument("--account", type=int, required=True, help="console id")
    imp.add_argument("--list", type=int, help="list id (with a FILE)")
    imp.add_argument("--resume", type=int, metavar="PROCESS",
                     help="merge the rest of an import interrupted in the middle")
    imp.add_argument("--cancel", type=int, metavar="PROCESS",
                     help="end an interrupted import as failed (what it merged stays)")
    imp.add_argument("--format", choices=["xml", "csv"], help="default: by file extension")
    imp.add_argument("--import-type", type=int, default=3, choices=range(1, 7),
                     help="1 email, 2 SMS, 3 both; 4..6 the same with empty fields clearing")
    imp.add_argument("--mobile-input-type", type=int, default=1, choices=(1, 2))
    for flag in ("as-pending", "confirm-email", "as-opt-out", "force-opt-in",
                 "replace-groups"):
        imp.add_argument(f"--{flag}", action="store_true")
    imp.add_argument("--groups", help="group ids, comma-separated")
    imp.add_argument("--confirm-message", type=int, default=0, metavar="ID",
                     help="with --confirm-email: the email of the list sent as the "
                          "confirmation request (NewImportProcess's idConfirmNL)")
    imp.set_defaults(func=cmd_import)


def _export_filter(args: argparse.Namespace) -> Any:
    from mailup_soap.domain import unsubscribers as unsub

    mode, start, end = unsub.parse_date_option(args.date)
    return unsub.parse_filter(",".join(args.list or []), ",".join(args.exclude_list or []),
                              mode, start, end, ",".join(args.reason or []),
                              ",".join(args.exclude_reason or []))


def _write_atomically(path: pathlib.Path, fill: Any) -> Any:
    """`fill(write)` into a temporary file beside `path`, renamed over it when complete.
    The file keeps mkstemp's mode 0600: it holds personal data."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            done = fill(out.write)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return done


def cmd_export_unsubscribers(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import exports

    flt, deps = _export_filter(args), _deps()

    def fill(write: Any) -> int:
        return exports.export_unsubscribers(deps, args.account, flt, write)

    if args.output:
        count = _write_atomically(pathlib.Path(args.output), fill)
        print(f"{count} unsubscribers written to {args.output}", file=sys.stderr)
    else:
        fill(sys.stdout.write)
        sys.stdout.flush()
    return 0


def cmd_export_profile_add(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import exports

    profile = exports.add_profile(_deps(), args.account, args.name, _export_filter(args))
    print(f"export profile {profile.name}: export/{profile.name}-YYYYMMDD.csv after each "
          "daily sync")
    return 0


def cmd_export_profile_list(args: argparse.Namespace) -> int:
    import json

    from mailup_soap.service_layer import exports

    for profile in exports.list_profiles(_deps(), args.account):
        print(f"{profile.name}\t{json.dumps(profile.filter.to_json(), sort_keys=True)}")
    return 0


def cmd_export_profile_remove(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import exports

    exports.remove_profile(_deps(), args.account, args.name)
    print(f"export profile {args.name} removed")
    return 0


def _export_filter_options(parser: Any) -> None:
    parser.add_argument("--account", type=int, required=True, help="console id")
    parser.add_argument("--list", action="append", metavar="N",
                        help="only these lists (repeatable, or 1,2)")
    parser.add_argument("--exclude-list", action="append", metavar="N",
                        help="leave these lists out (repeatable, or 1,2)")
    parser.add_argument("--date", default="all", help="all (default), previous-day (the "
                        "previous UTC day), YYYY-MM-DD..YYYY-MM-DD or one day YYYY-MM-DD")
    parser.add_argument("--reason", action="append", metavar="C",
                        help="only these reason codes, e.g. 8 bounce (repeatable, or 8,16)")
    parser.add_argument("--exclude-reason", action="append", metavar="C",
                        help="leave these reason codes out, e.g. 2 unsubscribe link")


def _export_parser(sub: Any) -> None:
    exp = sub.add_parser("export-unsubscribers", help="the unsubscriber CSV (email first; "
                         "mobile, list, dates, message, reason) to stdout or a file")
    _export_filter_options(exp)
    exp.add_argument("-o", "--output", metavar="FILE", help="write FILE atomically")
    exp.set_defaults(func=cmd_export_unsubscribers)
    prof = sub.add_parser("export-profile", help="saved exports written to the FTP site's "
                          "export/ after each daily sync")
    psub = prof.add_subparsers(dest="profile_command", required=True)
    add = psub.add_parser("add", help="save a profile with the export-unsubscribers filters")
    add.add_argument("name", help="1-50 of A-Z a-z 0-9 _ - (it names the file)")
    _export_filter_options(add)
    add.set_defaults(func=cmd_export_profile_add)
    lst = psub.add_parser("list", help="the account's profiles and their filters")
    lst.add_argument("--account", type=int, required=True, help="console id")
    lst.set_defaults(func=cmd_export_profile_list)
    rm = psub.add_parser("remove", help="delete a profile")
    rm.add_argument("name")
    rm.add_argument("--account", type=int, required=True, help="console id")
    rm.set_defaults(func=cmd_export_profile_remove)


def _webhook_parser(sub: Any) -> None:
    hook = sub.add_parser("webhook", help="outbound webhooks per account and list")
    hsub = hook.add_subparsers(dest="webhook_command", required=True)
    add = hsub.add_parser("add", help="add a webhook (prints its signing secret)")
    add.add_argument("--account", type=int, required=True, help="console id")
    add.add_argument("--list", type=int, required=True, help="list id")
    add.add_argument("--url", required=True)
    add.add_argument("--method", default="POST", choices=["GET", "POST"])
    add.add_argument("--events", help="comma list: subscription_requested, "
                     "subscription_confirmed, unsubscribed, removed, profile_changed, or MailUp's "
                     "SUBSCRIBE, UNSUBSCRIBE, DELETE, CHANGEPROFILE (default: all)")
    add.add_argument("--sources", help="comma list of API, Console, Recipient (default: all)")
    add.add_argument("--param", action="append", metavar="NAME=TEMPLATE",
                     help="a parameter and its value with placeholders, e.g. "
                     "customerEmail=[Email] (repeatable; default: a standard set)")
    add.add_argument("--rc4-key", help="MailUp's legacy encryption: RC4+Base64 query string")
    add.add_argument("--secret", help="signing secret whsec_... (default: generated)")
    add.set_defaults(func=cmd_webhook_add)
    lst = hsub.add_parser("list", help="list webhooks")
    lst.add_argument("--account", type=int)
    lst.set_defaults(func=cmd_webhook_list)
    for name, enable in (("disable", False), ("enable", True)):
        toggle = hsub.add_parser(name, help=f"{name} a webhook")
        toggle.add_argument("id", type=int)
        toggle.set_defaults(func=cmd_webhook_enable, enable=enable)
    deliveries = hsub.add_parser("deliveries", help="recent deliveries and their attempts")
    deliveries.add_argument("--webhook", type=int)
    deliveries.add_argument("--limit", type=int, default=20)
    deliveries.set_defaults(func=cmd_webhook_deliveries)
    replay = hsub.add_parser("replay", help="deliver a delivery again, same webhook-id")
    replay.add_argument("delivery", type=int)
    replay.set_defaults(func=cmd_webhook_replay)


def cmd_inbound_mail(args: argparse.Namespace) -> int:
    """For the MTA (e.g. a Postfix pipe transport for unsubscribe@<domain> and
    bounces+*@<domain>): one message on stdin, a bounce when it came to a return path, else
    a List-Unsubscribe mail. Exit 0 whatever the message holds, so the MTA never bounces it
    back."""
    import email
    import email.policy

    raw = sys.stdin.buffer.read(MAX_INBOUND_BYTES + 1)
    if len(raw) > MAX_INBOUND_BYTES:
        print("ignored: message too large")
        return 0
    message = email.message_from_bytes(raw, policy=email.policy.default)
    to = str(args.recipient or message.get("X-Original-To") or message.get("Delivered-To")
             or "").strip()
    if to.lower().startswith("bounces+"):
        verdict = bounces.classify(message)
        try:
            outcome = tracking.record_bounce(_deps(), to, verdict)
        except errors.InvalidToken:
            print("ignored: not a return path of this server")
            return 0
        print(_bounce_line(verdict.kind, outcome))
        return 0
    try:
        done = tracking.unsubscribe_by_mail(_deps(), str(message.get("Subject", "")))
    except errors.InvalidToken:
        print("ignored: no unsubscribe token in the subject")
        return 0
    print("unsubscribed" if done else "nothing to do (already unsubscribed)")
    return 0


MAX_INBOUND_BYTES = 1 << 20


def _bounce_line(kind: bounces.Bounce, outcome: tracking.BounceOutcome) -> str:
    if kind is bounces.Bounce.NONE:
        return "ignored: no delivery status in the bounce"
    if not outcome.delivery_found:
        return "ignored: the delivery no longer exists"
    done = "unsubscribed" if outcome.unsubscribed else "nothing to do (not subscribed)"
    if kind is bounces.Bounce.HARD:
        return f"hard bounce: {done}"
    if outcome.unsubscribed:
        return f"soft bounce {outcome.soft_bounces}: unsubscribed (repeated soft bounces)"
    return f"soft bounce {outcome.soft_bounces}: recorded"


def cmd_ftp(args: argparse.Namespace) -> int:
    settings = _settings()
    bootstrap.configure_logging(settings)
    server = bootstrap.build_ftp_server(settings)
    host, port = server.address[:2]
    tls = "explicit TLS offered" if settings.ftp_tls_cert else "no TLS"
    print(f"FTP site on ftp://{host}:{port}/ ({tls}), homes under "
          f"{pathlib.Path(settings.ftp_root).resolve()}", flush=True)
    server.serve_forever()
    return 0


def cmd_ftp_user_add(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import ftp_accounts

    password = args.password or getpass.getpass(f"FTP password for {args.username}: ")
    ftp_accounts.add_user(_deps(), args.account, args.username, password)
    print(f"FTP user {args.username} added for account {args.account}")
    return 0


def cmd_ftp_user_list(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import ftp_accounts

    for user in ftp_accounts.list_users(_deps(), args.account):
        print(f"{user.username}\t{user.account_id}\t{user.created_at:%Y-%m-%d %H:%M}")
    return 0


def cmd_ftp_user_remove(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import ftp_accounts

    ftp_accounts.remove_user(_deps(), args.account, args.username)
    print(f"FTP user {args.username} removed")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import daily_sync

    if not args.now:
        from procrastinate.exceptions import AlreadyEnqueued

        from mailup_soap.jobs.tasks import NAMESPACE

        app = bootstrap.build_job_app(_settings())
        try:
            with app.open():
                job_id = app.configure_task(f"{NAMESPACE}:daily_sync",
                                            queue="sync").defer(timestamp=0)
        except AlreadyEnqueued:
            print("a daily sync is already queued; the workers will run it")
            return 0
        print(f"daily sync queued for the workers (job {job_id})")
        return 0
    deps = _deps()
    summaries = ([daily_sync.sync_account(deps, args.account)] if args.account
                 else daily_sync.sync_all(deps))
    failed = 0
    for summary in summaries:
        for result in summary.files:
            failed += result.outcome == "failed"
            print(f"account {summary.account_id} list {result.file.list_id}: "
                  f"{result.file.name}: {result.outcome}"
                  + (f" (report {result.report})" if result.report else ""))
        for path in summary.exports:
            print(f"account {summary.account_id}: wrote {path}")
    return 1 if failed else 0


def _inbound_parser(sub: Any) -> None:
    inbound = sub.add_parser("inbound-mail", help="one mail on stdin, for your MTA: a "
                             "List-Unsubscribe mail (reason 64) or a bounce (a hard one: "
                             "reason 8)")
    inbound.add_argument("--recipient", default="",
                         help="the envelope recipient (Postfix: ${original_recipient}); "
                              "default: the X-Original-To or Delivered-To header")
    inbound.set_defaults(func=cmd_inbound_mail)


def _ftp_parser(sub: Any) -> None:
    ftp = sub.add_parser("ftp", help="serve the FTP site of the daily batch sync")
    ftp.set_defaults(func=cmd_ftp)
    user = sub.add_parser("ftp-user", help="FTP logins, one or more per account")
    usub = user.add_subparsers(dest="ftp_user_command", required=True)
    add = usub.add_parser("add", help="add a login confined to the account's FTP home")
    add.add_argument("username")
    add.add_argument("--account", type=int, required=True, help="console id")
    add.add_argument("--password", help="prompted when omitted")
    add.set_defaults(func=cmd_ftp_user_add)
    lst = usub.add_parser("list", help="the account's FTP logins")
    lst.add_argument("--account", type=int, required=True)
    lst.set_defaults(func=cmd_ftp_user_list)
    rm = usub.add_parser("remove", help="remove a login")
    rm.add_argument("username")
    rm.add_argument("--account", type=int, required=True)
    rm.set_defaults(func=cmd_ftp_user_remove)
    sync = sub.add_parser("sync", help="the daily sync: import the files posted on the FTP "
                          "site, then write the export profiles")
    sync.add_argument("--now", action="store_true",
                      help="run here and now (default: queue it for the workers)")
    sync.add_argument("--account", type=int, help="only this account (with --now)")
    sync.set_defaults(func=cmd_sync)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailup-soap", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
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
    _webhook_parser(sub)
    _import_parser(sub)
    _export_parser(sub)
    _ftp_parser(sub)
    _inbound_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (ConfigurationError, errors.MailUpError) as exc:
        print(f"mailup-soap: {exc}", file=sys.stderr)
        sys.exit(2)
    except OSError as exc:
        print(f"mailup-soap: {exc}", file=sys.stderr)
        sys.exit(2)
    except DBAPIError as exc:
        hint = " (run `mailup-soap migrate`?)" if "does not exist" in str(exc.orig) else ""
        print(f"mailup-soap: database error: {str(exc.orig).strip()}{hint}", file=sys.stderr)
        sys.exit(3)
