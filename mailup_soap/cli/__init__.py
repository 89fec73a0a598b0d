"""`mailup-soap serve | worker | migrate | account create|list|credits | seed-demo |
dump-wsdl | import | export-unsubscribers | export-profile add|list|remove |
webhook add|list|disable|enable|deliveries|replay | inbound-mail | ftp |
ftp-user add|list|remove | sync`."""
from __future__ import annotations

import argparse
import sys

from sqlalchemy.exc import DBAPIError

from mailup_soap import errors
from mailup_soap.cli.admin import admin_parser
from mailup_soap.cli.data import export_parser, import_parser
from mailup_soap.cli.integration import ftp_parser, inbound_parser, webhook_parser
from mailup_soap.config import ConfigurationError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailup-soap", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    admin_parser(sub)
    webhook_parser(sub)
    import_parser(sub)
    export_parser(sub)
    ftp_parser(sub)
    inbound_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        sys.exit(args.func(args))
    except (ConfigurationError, errors.MailUpError, OSError) as exc:
        print(f"mailup-soap: {exc}", file=sys.stderr)
        sys.exit(2)
    except DBAPIError as exc:
        hint = " (run `mailup-soap migrate`?)" if "does not exist" in str(exc.orig) else ""
        print(f"mailup-soap: database error: {str(exc.orig).strip()}{hint}", file=sys.stderr)
        sys.exit(3)
