"""SMS messages and their deliveries through the SMS gateway: create and list messages, send
them to a list (all subscribers with a mobile, some numbers, some groups) or to one number,
and the engine a worker runs.

Like the email engine, a delivery's recipients are fixed when it is created; the worker
claims a batch in one transaction, posts each SMS to the gateway, and records the batch in
another. A worker killed mid-batch leaves that batch pending: only the SMS in flight at the
kill may go twice, nobody recorded as sent is sent again. The gateway unreachable stops the
batch where it is: what went out is recorded, the rest stays pending, and the job is retried.
Recipients no longer subscribed when their turn comes are skipped."""
from __future__ import annotations

import datetime as dt
import logging

from mailup_soap import errors
from mailup_soap.domain import messages as msg
from mailup_soap.domain import sms as model
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.deps import Caller, Credentials, Deps
from mailup_soap.service_layer.lists import checked_list
from mailup_soap.service_layer.ports import SmsGateway, SmsGatewayError, SmsRefused
from mailup_soap.service_layer.queues import pause_all, resume_all
from mailup_soap.service_layer.sending import charge_credits
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger("mailup_soap.sms")

SMS_TASK = "mailup:run_sms_delivery"
SMS_QUEUE = "sms"
# Numbers claimed and recorded per transaction. Each SMS is an HTTP round trip to the gateway
# (milliseconds), so 100 keeps what a crash re-sends small while the two transactions per
# batch stay negligible beside the requests.
BATCH = 100
Options = list[tuple[str, str]]


def _gateway(deps: Deps) -> SmsGateway:
    if deps.sms_gateway is None:
        raise errors.SmsGatewayNotConfigured()
    return deps.sms_gateway


def _sender(deps: Deps, chosen: str) -> str:
    if chosen:
        return chosen
    if not deps.sms_sender:
        raise errors.InvalidArgument("sender", "no sender: pass the sender option (or set "
                                               "MAILUP_SMS_SENDER on the server)")
    return model.sender_id(deps.sms_sender)


def _subject(raw: str | None) -> str:
    subject = (raw or "").strip()
    if not subject:
        raise errors.InvalidArgument("subject", "empty")
    return subject[:500]


def _lock(delivery_id: int) -> str:
    """The procrastinate lock of an SMS delivery's jobs: one at a time, in order."""
    return f"sms-delivery-{delivery_id}"


def _defer(uow: AbstractUnitOfWork, delivery: model.SmsDelivery, deps: Deps) -> None:
    now = deps.clock.now()
    uow.jobs.defer(SMS_TASK, SMS_QUEUE, {"delivery_id": delivery.id},
                   at=delivery.scheduled_at if delivery.scheduled_at > now else None,
                   lock=_lock(delivery.id))


def _queue(uow: AbstractUnitOfWork, delivery_id: int, when: dt.datetime,
           now: dt.datetime) -> None:
    """Queue the delivery's job for `when`, moving its waiting job if it has one: procrastinate
    runs a lock's jobs in creation order, so a new one would wait behind the old one."""
    uow.jobs.defer_or_move(SMS_TASK, SMS_QUEUE, {"delivery_id": delivery_id},
                           at=when if when > now else None, lock=_lock(delivery_id))


def _own_sms(uow: AbstractUnitOfWork, caller: Caller, list_id: int, sms_id: int) -> model.Sms:
    found = uow.sms.sms(caller.account_id, sms_id)
    if found is None or found.list_id != list_id:
        raise errors.MessageNotFound(sms_id)
    return found


# -- messages --------------------------------------------------------------------------


def create_sms(deps: Deps, cred: Credentials, list_id: int, subject: str | None,
               text: str | None, options: Options) -> int:
    subject_, text_ = _subject(subject), model.checked_text("text", text)
    note = model.note_option(dict(options))
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        sms_id = uow.sms.add_sms(caller.account_id, list_id, subject_, text_, note,
                                 deps.clock.now())
        uow.commit()
        return sms_id


def sms_messages(deps: Deps, cred: Credentials, list_id: int) -> list[model.Sms]:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return uow.sms.smses(caller.account_id, list_id)


# -- deliveries ------------------------------------------------------------------------


def _send_to_list(uow: AbstractUnitOfWork, deps: Deps, caller: Caller, list_id: int,
                  sms_id: int, opts: model.SmsSendOptions) -> model.SmsDelivery:
    for group_id in (*opts.groups, *opts.exclude_groups):
        group = uow.groups.get(caller.account_id, group_id)
        if group is None or group.list_id != list_id:
            raise errors.GroupNotFound(group_id)
    now = deps.clock.now()
    delivery = uow.sms.create_delivery(caller.account_id, list_id, sms_id, opts,
                                       _sender(deps, opts.sender),
                                       max(opts.delivery_at or now, now), now)
    charge_credits(uow, caller.account_id, "sms", delivery.total)
    _defer(uow, delivery, deps)
    return delivery


def send_sms(deps: Deps, cred: Credentials, list_id: int, sms_id: int,
             options: Options) -> model.SmsDelivery:
    """SendSMS: the delivery with its recipients fixed now, queued for a worker at
    `deliverydt` (or now)."""
    opts = model.send_options(dict(options))
    _gateway(deps)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        _own_sms(uow, caller, list_id, sms_id)
        delivery = _send_to_list(uow, deps, caller, list_id, sms_id, opts)
        uow.commit()
        return delivery


def send_sms_fast(deps: Deps, cred: Credentials, list_id: int, subject: str | None,
                  text: str | None, options: Options) -> model.SmsDelivery:
    """SendSMSFast: CreateSMS and SendSMS in one transaction (options: SendSMS's and `note`)."""
    pairs = dict(options)
    subject_, text_ = _subject(subject), model.checked_text("text", text)
    opts = model.send_options(pairs, extra=frozenset({"note"}))
    _gateway(deps)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        sms_id = uow.sms.add_sms(caller.account_id, list_id, subject_, text_,
                                 pairs.get("note", "").strip()[:500], deps.clock.now())
        delivery = _send_to_list(uow, deps, caller, list_id, sms_id, opts)
        uow.commit()
        return delivery


def _send_one(deps: Deps, cred: Credentials, list_id: int, number: str, sender: str,
              sms: tuple[str, str] | int | None, text: str | None) -> model.SmsDelivery:
    """One number: of an existing SMS (`sms` an id), a new one (`sms` = (subject, text)), or
    of `text` stored on the delivery only. A number that unsubscribed is refused."""
    _gateway(deps)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        if uow.sms.unsubscribed(caller.account_id, list_id, number):
            raise errors.InvalidArgument("numero", f"{number} unsubscribed from the list")
        now = deps.clock.now()
        if isinstance(sms, tuple):
            sms = uow.sms.add_sms(caller.account_id, list_id, sms[0], sms[1], "", now)
        elif sms is not None:
            _own_sms(uow, caller, list_id, sms)
        delivery = uow.sms.create_single(caller.account_id, list_id, sms, text, number,
                                         _sender(deps, sender), now)
        charge_credits(uow, caller.account_id, "sms", delivery.total)
        _defer(uow, delivery, deps)
        uow.commit()
        return delivery


def send_single_sms(deps: Deps, cred: Credentials, list_id: int, subject: str | None,
                    kind: str | None, content: str | None, numero: str | None,
                    options: Options) -> model.SmsDelivery:
    """SendSingleSMS: `type` TEXT (content is the text, stored as a new SMS) or ID (content
    is an existing SMS id of the list)."""
    number = model.number(numero)
    sender = model.single_options(dict(options))
    kind_ = (kind or "").strip().upper()
    if kind_ == "ID":
        raw = (content or "").strip()
        if not (raw.isascii() and raw.isdigit()):
            raise errors.InvalidArgument("content", "type ID needs an SMS id")
        return _send_one(deps, cred, list_id, number, sender, int(raw), None)
    if kind_ != "TEXT":
        raise errors.InvalidArgument("type", "must be TEXT or ID")
    sms = (_subject(subject), model.checked_text("content", content))
    return _send_one(deps, cred, list_id, number, sender, sms, None)


def send_direct_sms(deps: Deps, cred: Credentials, list_id: int, content: str | None,
                    numero: str | None, options: Options) -> model.SmsDelivery:
    """SendDirectSMS: one number, the text kept on the delivery, no SMS message stored."""
    number = model.number(numero)
    sender = model.single_options(dict(options))
    text = model.checked_text("content", content)
    return _send_one(deps, cred, list_id, number, sender, None, text)


def delivery_status(deps: Deps, cred: Credentials, delivery_id: int) -> model.SmsDelivery:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = uow.sms.delivery(caller.account_id, delivery_id)
    if found is None:
        raise errors.DeliveryNotFound(delivery_id)
    return found


def stop_deliveries(deps: Deps, cred: Credentials) -> list[int]:
    """StopDeliverySMS: pause the account's SMS deliveries; they resume where they stopped."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        ids = pause_all(uow.sms, caller.account_id, deps.clock.now())
        uow.commit()
        return ids


def start_deliveries(deps: Deps, cred: Credentials) -> list[int]:
    """StartDeliverySMS: resume the account's paused SMS deliveries (see resume_all)."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        now = deps.clock.now()
        ids = resume_all(uow.sms, caller.account_id, now,
                         lambda delivery_id, when: _queue(uow, delivery_id, when, now))
        uow.commit()
        return ids


# -- queues and schedules (a schedule id is the delivery id) ------------------------------


def queues(deps: Deps, cred: Credentials, list_id: int) -> list[model.SmsDelivery]:
    """GetSMSQueues: the list's SMS deliveries not completed yet, by schedule."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return uow.sms.deliveries(caller.account_id, list_id, (
            msg.DeliveryStatus.SCHEDULED, msg.DeliveryStatus.SENDING,
            msg.DeliveryStatus.PAUSED))


def _pending_delivery(uow: AbstractUnitOfWork, account_id: int, delivery_id: int,
                      name: str, list_id: int | None = None,
                      sms_id: int | None = None) -> model.SmsDelivery:
    """The delivery, locked, neither completed nor sending (`list_id` / `sms_id`: when given,
    it must be theirs); `name`: the parameter that named it, for errors."""
    found = uow.sms.delivery(account_id, delivery_id, lock=True)
    if found is None or (list_id and found.list_id != list_id) or \
            (sms_id and found.sms_id != sms_id):
        raise errors.DeliveryNotFound(delivery_id)
    if found.status is msg.DeliveryStatus.COMPLETED:
        raise errors.InvalidArgument(name, f"delivery {delivery_id} is completed")
    if found.status is msg.DeliveryStatus.SENDING:
        raise errors.InvalidArgument(name, "the delivery is sending: StopDeliverySMS first")
    return found


def schedule_queue(deps: Deps, cred: Credentials, list_id: int, sms_id: int,
                   schedule_id: int, deliverydt: str | None,
                   timezone: int) -> model.SmsDelivery:
    """ScheduleSMSQueue: move an SMS delivery not started yet to `deliverydt`
    (yyyyMMddHHmmss, local time `timezone` hours from UTC; a time past means now)."""
    if not -12 <= timezone <= 14:
        raise errors.InvalidArgument("timezone", "hours from UTC, -12..14")
    when = model.send_options({"send_to": "ALL", "deliverydt": deliverydt or ""}).delivery_at
    if when is None:
        raise errors.InvalidArgument("deliverydt", "must be yyyyMMddHHmmss")
    when -= dt.timedelta(hours=timezone)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        _pending_delivery(uow, caller.account_id, schedule_id, "scheduleID", list_id, sms_id)
        now = deps.clock.now()
        uow.sms.reschedule(schedule_id, max(when, now))
        _queue(uow, schedule_id, max(when, now), now)
        uow.commit()
    return delivery_status(deps, cred, schedule_id)


def remove_queue(deps: Deps, cred: Credentials, delivery_id: int) -> None:
    """RemoveSMSQueue: cancel an SMS delivery that is scheduled or paused (one that is sending
    must be stopped first). Its waiting job, if any, then finds nothing to do."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        _pending_delivery(uow, caller.account_id, delivery_id, "deliveryID")
        uow.sms.delete_delivery(delivery_id)
        uow.commit()


# -- the engine --------------------------------------------------------------------------


def run_sms_delivery(deps: Deps, delivery_id: int) -> str:
    """The worker's part; returns what became of the delivery. A SmsGatewayError (the gateway
    unreachable or failing) propagates after recording what was sent, so the job is retried."""
    gateway = _gateway(deps)
    with deps.uow() as uow:
        delivery = uow.sms.delivery(None, delivery_id, lock=True)
        if delivery is None:
            return "gone"
        if left := delivery.why_not_run(deps.clock.now()):
            return left
        uow.sms.set_status(delivery_id, msg.DeliveryStatus.SENDING, deps.clock.now())
        text = delivery.text
        if delivery.sms_id is not None:
            found = uow.sms.sms(delivery.account_id, delivery.sms_id)
            text = found.text if found else None
        uow.commit()
    if text is None:
        return "gone"  # its message was removed with its list
    while True:
        with deps.uow() as uow:
            current = uow.sms.delivery(None, delivery_id, lock=True)
            if current is None or current.status is msg.DeliveryStatus.PAUSED:
                return current.status.value if current else "gone"
            batch = uow.sms.claim(current, BATCH)
            if not batch:
                uow.sms.set_status(delivery_id, msg.DeliveryStatus.COMPLETED, deps.clock.now())
                uow.commit()
                return "completed"
            uow.commit()
        sent, failed, broken = _send_batch(gateway, current.sender, text, batch)
        with deps.uow() as uow:
            uow.sms.mark(delivery_id, sent, failed, deps.clock.now())
            uow.commit()
        if broken is not None:
            raise broken


def _send_batch(gateway: SmsGateway, sender: str, text: str,
                batch: list[model.SmsAddressee],
                ) -> tuple[list[tuple[int, str]], list[tuple[int, str]], SmsGatewayError | None]:
    sent: list[tuple[int, str]] = []
    failed: list[tuple[int, str]] = []
    for addressee in batch:
        try:
            body = model.render(text, addressee)
            sent.append((addressee.recipient_id, gateway.send(sender, addressee.number, body)))
        except errors.InvalidArgument as exc:  # the merged fields made it too long
            failed.append((addressee.recipient_id, str(exc)))
        except SmsRefused as exc:
            failed.append((addressee.recipient_id, str(exc)))
        except SmsGatewayError as exc:
            log.warning("SMS gateway failing, the rest of the batch stays pending: %s", exc)
            return sent, failed, exc
    return sent, failed, None
