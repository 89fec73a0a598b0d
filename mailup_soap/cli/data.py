"""The data subcommands: import (a file, or going on with an interrupted import) and the
unsubscriber exports (export-unsubscribers, export-profile add|list|remove)."""
from __future__ import annotations

import argparse
import os
import pathlib
import sys
from typing import TYPE_CHECKING, Any

from mailup_soap import errors
from mailup_soap.cli.common import comma_list, new_deps

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mailup_soap.domain.imports import ImportProcess


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
            done = import_runner.cancel_now(new_deps(), args.account, args.cancel)
        elif args.resume is not None:
            done = import_runner.resume_now(new_deps(), args.account, args.resume,
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
                         args.replace_groups, tuple(int(g) for g in comma_list(args.groups) or []),
                         args.confirm_message)
    path = pathlib.Path(args.file)
    as_csv = args.format == "csv" or (args.format is None and path.suffix.lower() != ".xml")
    with path.open("rb") as raw:
        rows: Iterator[import_readers.ReaderRow]
        if as_csv:
            rows = import_readers.read_csv(import_readers.utf8_lines(raw), opts)
        else:
            rows = import_readers.read_xml(raw, opts)
        return import_runner.import_now(new_deps(), args.account, args.list, _counting(rows), opts,
                                        progress=_progress("merged"))


def import_parser(sub: Any) -> None:
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

    flt, deps = _export_filter(args), new_deps()

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

    profile = exports.add_profile(new_deps(), args.account, args.name, _export_filter(args))
    print(f"export profile {profile.name}: export/{profile.name}-YYYYMMDD.csv after each "
          "daily sync")
    return 0


def cmd_export_profile_list(args: argparse.Namespace) -> int:
    import json

    from mailup_soap.service_layer import exports

    for profile in exports.list_profiles(new_deps(), args.account):
        print(f"{profile.name}\t{json.dumps(profile.filter.to_json(), sort_keys=True)}")
    return 0


def cmd_export_profile_remove(args: argparse.Namespace) -> int:
    from mailup_soap.service_layer import exports

    exports.remove_profile(new_deps(), args.account, args.name)
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


def export_parser(sub: Any) -> None:
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
