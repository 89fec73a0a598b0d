"""The subcommands around the integrations: webhook add|list|disable|enable|deliveries|
replay, inbound-mail (for the MTA), ftp, ftp-user add|list|remove and sync."""
from __future__ import annotations

import argparse
import getpass
import pathlib
import sys
from typing import Any

from mailup_soap import bootstrap, errors
from mailup_soap.cli.common import comma_list, env_settings, new_deps
from mailup_soap.domain import bounces
from mailup_soap.service_layer import tracking, webhooks


def cmd_webhook_add(args: argparse.Namespace) -> int:
    params = {}
    for item in args.param or []:
        name, sep, template = item.partition("=")
        if not sep or not name.strip():
            raise errors.InvalidArgument("--param", f"{item!r} is not NAME=TEMPLATE")
        params[name.strip()] = template
    hook = webhooks.add_webhook(
        new_deps(), args.account, args.list, args.url, method=args.method,
        events=comma_list(args.events), sources=comma_list(args.sources), params=params,
        rc4_key=args.rc4_key or "", secret=args.secret)
    print(f"webhook {hook.id}: {hook.method} {hook.url}\n  signing secret: {hook.secret}")
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:
    for hook in webhooks.list_webhooks(new_deps(), args.account):
        state = "active" if hook.active else "disabled"
        events = ",".join(sorted(e.value for e in hook.events))
        sources = ",".join(sorted(s.value for s in hook.sources))
        print(f"{hook.id}\t{state}\taccount {hook.account_id} list {hook.list_id}\t"
              f"{hook.method} {hook.url}\tevents={events}\tsources={sources}"
              + ("\tRC4" if hook.rc4_key else ""))
    return 0


def cmd_webhook_enable(args: argparse.Namespace) -> int:
    webhooks.set_webhook_active(new_deps(), args.id, args.enable)
    print(f"webhook {args.id} {'enabled' if args.enable else 'disabled'}")
    return 0


def cmd_webhook_deliveries(args: argparse.Namespace) -> int:
    for delivery, attempts in webhooks.list_deliveries(new_deps(), args.webhook, args.limit):
        print(f"{delivery.id}\twebhook {delivery.webhook_id}\tevent {delivery.event_id}\t"
              f"{delivery.msg_id}\t{delivery.status}\tattempts={delivery.attempts}\t"
              f"next={delivery.next_attempt_at or '-'}")
        for at, code, error in attempts:
            print(f"\t{at}\t{code if code is not None else '-'}\t{error or ''}")
    return 0


def cmd_webhook_replay(args: argparse.Namespace) -> int:
    webhooks.replay_delivery(new_deps(), args.delivery)
    print(f"delivery {args.delivery} queued again (same webhook-id)")
    return 0


def webhook_parser(sub: Any) -> None:
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
            outcome = tracking.record_bounce(new_deps(), to, verdict)
        except errors.InvalidToken:
            print("ignored: not a return path of this server")
            return 0
        print(_bounce_line(verdict.kind, outcome))
        return 0
    try:
        done = tracking.unsubscribe_by_mail(new_deps(), str(message.get("Subject", "")))
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
    settings = env_settings()
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
    ftp_accounts.add_user(new_deps(), args.account, args.username, password)
    print(f"FTP user {args.username} added for account {args.account}")
    return 0


def cmd_ftp_user_list(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import ftp_accounts

    for user in ftp_accounts.list_users(new_deps(), args.account):
        print(f"{user.username}\t{user.account_id}\t{user.created_at:%Y-%m-%d %H:%M}")
    return 0


def cmd_ftp_user_remove(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import ftp_accounts

    ftp_accounts.remove_user(new_deps(), args.account, args.username)
    print(f"FTP user {args.username} removed")
    return 0


def cmd_sync(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import daily_sync

    if not args.now:
        from procrastinate.exceptions import AlreadyEnqueued

        from mailup_soap.jobs.tasks import NAMESPACE

        app = bootstrap.build_job_app(env_settings())
        try:
            with app.open():
                job_id = app.configure_task(f"{NAMESPACE}:daily_sync",
                                            queue="sync").defer(timestamp=0)
        except AlreadyEnqueued:
            print("a daily sync is already queued; the workers will run it")
            return 0
        print(f"daily sync queued for the workers (job {job_id})")
        return 0
    deps = new_deps()
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


def inbound_parser(sub: Any) -> None:
    inbound = sub.add_parser("inbound-mail", help="one mail on stdin, for your MTA: a "
                             "List-Unsubscribe mail (reason 64) or a bounce (a hard one: "
                             "reason 8)")
    inbound.add_argument("--recipient", default="",
                         help="the envelope recipient (Postfix: ${original_recipient}); "
                              "default: the X-Original-To or Delivered-To header")
    inbound.set_defaults(func=cmd_inbound_mail)


def ftp_parser(sub: Any) -> None:
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
