"""SendMessageNL: a message sent to the addresses of a CSV file on the account's FTP site,
once the file is imported into the list."""
from __future__ import annotations

import datetime as dt

from mailup_soap import errors
from mailup_soap.domain import messages as msg
from mailup_soap.domain.import_readers import read_csv, utf8_lines
from mailup_soap.domain.imports import ImportOptions, ProcessStatus
from mailup_soap.domain.model import MailingList, within_years
from mailup_soap.service_layer import import_runner, imports
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.delivery_engine import SEND_QUEUE, SEND_TASK, delivery_lock
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.service_layer.sending import copy_message, list_message
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

MESSAGE_NL_TASK = "mailup:run_message_nl"
MESSAGE_NL_IMPORT_TASK = "mailup:import_message_nl"
# At its sending time, while the daily sync or `mailup-soap import` merges into the list: the
# send job looks again this much later, for as long as that lasts.
LIST_BUSY_RETRY = dt.timedelta(minutes=1)


def send_message_nl(deps: Deps, cred: Credentials, file_name: str | None,
                    separator: str | None, list_id: str | None, list_guid: str | None,
                    message_id: str | None, sender_name: str | None, sender: str | None,
                    subject: str | None, when: dt.datetime | None) -> int:
    """SendMessageNL: import the CSV file `file_name` of the account's FTP site into the
    list (new addresses subscribed, existing ones updated, as the daily sync does), then send
    the message to the file's addresses that are subscribed; at `when`, or now when it is
    past. Returns the delivery id at once; a worker does the import and the sending.

    The file's rows are stored now, as an import process held for the delivery: it stays
    queued (status 1), and only the sending starts it, so a send scheduled days ahead does
    not hold the list's other imports back. An immediate send answers -3 (-601 here) while
    an import of the list runs, as MailUp's does."""
    delimiter, wanted, from_email = _checked(deps, separator, message_id, sender, when)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        lst, message = list_message(uow, caller, list_id, list_guid, wanted)
        now = deps.clock.now()
        start = max(when.astimezone(dt.UTC) if when else now, now)
        # A look without the list's lock: nothing is marked running here, and the lock
        # would be held while the file is read below (StartProcess calls would wait).
        if start <= now and uow.imports.running_for_list(caller.account_id, lst.id,
                                                         lock=False):
            raise errors.ImportAlreadyRunning(lst.id)
        message = _with_subject(uow, message, subject, now)
        send = msg.SendOptions(msg.SendTo.RECIPIENTS)  # nobody until the import is merged
        delivery = uow.sending.create_delivery(
            caller.account_id, message, send,
            from_email or lst.options.get("owneremail") or deps.mail_from,
            (sender_name or "").strip() or lst.options.get("nl_sendername") or lst.name,
            start, now)
        process_id = _stage_file(uow, deps, lst, file_name, delimiter, delivery.id)
        uow.jobs.defer(MESSAGE_NL_TASK, SEND_QUEUE,
                       {"delivery_id": delivery.id, "process_id": process_id},
                       at=start if start > now else None, lock=delivery_lock(delivery.id))
        uow.commit()
        return delivery.id


def _checked(deps: Deps, separator: str | None, message_id: str | None, sender: str | None,
             when: dt.datetime | None) -> tuple[str, int, str]:
    """SendMessageNL's arguments checked before anything is read: the CSV delimiter, the
    message id and the sender's address (empty for the list's)."""
    delimiter = separator or ";"
    if len(delimiter) != 1 or delimiter in "\r\n\"":
        raise errors.InvalidArgument("separator", "one character")
    raw_message = (message_id or "").strip()
    if not (raw_message.isascii() and raw_message.isdigit()):
        raise errors.InvalidArgument("messageId", "not a message id")
    if when is not None:
        within_years("timeDateSending", when)
    from_email = (sender or "").strip()
    if from_email:
        from_email = msg.send_options({"send_to": "ALL", "from_email": from_email}).from_email
    if deps.file_drop is None:
        raise errors.InvalidArgument("fileName", "no FTP site configured")
    return delimiter, int(raw_message), from_email


def _with_subject(uow: AbstractUnitOfWork, message: msg.Message, subject: str | None,
                  now: dt.datetime) -> msg.Message:
    """The message to send: a copy of it with `subject` when that is given and differs."""
    wanted = (subject or "").strip()
    if not wanted or wanted == message.subject:
        return message
    copy = uow.sending.message(message.account_id, copy_message(uow, message, wanted, now))
    assert copy is not None
    return copy


def _stage_file(uow: AbstractUnitOfWork, deps: Deps, lst: MailingList, file_name: str | None,
                delimiter: str, delivery_id: int) -> int:
    """The file's rows stored as an import process held for the delivery; refused when it
    cannot be read or gives an address twice."""
    opts = ImportOptions()
    assert deps.file_drop is not None  # _checked
    try:
        with deps.file_drop.open_file(lst.account_id, file_name or "") as raw:
            process_id = imports.create_process(
                uow, lst.account_id, lst.id,
                read_csv(utf8_lines(raw), opts, delimiter=delimiter), opts,
                delivery_id=delivery_id)
    except (OSError, ValueError) as exc:  # missing, a folder, a name too long, unreadable
        raise errors.InvalidArgument("fileName", f"{file_name!r}: {exc}") from None
    duplicate = uow.imports.first_duplicate(process_id)
    if duplicate is not None:  # MailUp's SendMessageNL fails on them too
        raise errors.InvalidArgument("fileName", f"{duplicate!r} is in the file twice")
    return process_id


def run_message_nl(deps: Deps, delivery_id: int, process_id: int) -> str:
    """The send job, at the sending time: start the file's import as a job under the list's
    import lock (`import_message_nl`), in turn with the list's other imports; that job picks
    the recipients and queues the sending. While the daily sync or `mailup-soap import`
    merges into the list, nothing lines up behind them: the send job looks again a minute
    later."""
    args: dict[str, object] = {"delivery_id": delivery_id, "process_id": process_id}
    with deps.uow() as uow:
        process = uow.imports.get(process_id, lock=True)
        if process is None:
            return "gone"  # its list was deleted
        if process.status is ProcessStatus.QUEUED:
            try:
                imports.start_held(uow, deps, process, MESSAGE_NL_IMPORT_TASK, args)
                outcome = "import started"
            except errors.ImportAlreadyRunning:
                uow.jobs.defer(MESSAGE_NL_TASK, SEND_QUEUE, args,
                               at=deps.clock.now() + LIST_BUSY_RETRY,
                               lock=delivery_lock(delivery_id))
                outcome = "list busy: looking again in a minute"
            uow.commit()
            return outcome
    if process.status is ProcessStatus.RUNNING and not process.by_list_job:
        # Marked running at its call by a version before migration 0014, and its job was
        # running then: nothing else will merge it.
        return import_message_nl(deps, delivery_id, process_id)
    return "import started already"


def import_message_nl(deps: Deps, delivery_id: int, process_id: int) -> str:
    """The import job of a SendMessageNL (under the list's lock): merge the file's rows, add
    its subscribed addresses to the delivery and queue the sending. Safe to re-run."""
    status = import_runner.run_process(deps, process_id, keep_rows=True)
    with deps.uow() as uow:
        delivery = uow.sending.delivery(None, delivery_id, lock=True)
        if delivery is not None and status is ProcessStatus.COMPLETED:
            uow.sending.add_from_import(delivery, process_id)
            uow.jobs.defer(SEND_TASK, SEND_QUEUE, {"delivery_id": delivery_id},
                           lock=delivery_lock(delivery_id))
        elif delivery is not None:
            uow.sending.set_status(delivery_id, msg.DeliveryStatus.COMPLETED, deps.clock.now())
        uow.imports.clear_rows(process_id)
        uow.commit()
    if delivery is None:
        return "gone"
    return "sending queued" if status is ProcessStatus.COMPLETED else "import failed"
