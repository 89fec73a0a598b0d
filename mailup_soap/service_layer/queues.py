"""Queues and schedules of email deliveries (a schedule id is the delivery id): schedule,
list, move, requeue, cancel, and pause or resume an account's deliveries of a channel."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from mailup_soap import errors
from mailup_soap.domain import messages as msg
from mailup_soap.domain.model import within_years
from mailup_soap.service_layer.auth import authorize
from mailup_soap.service_layer.delivery_repos import DeliveryStates
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.service_layer.lists import checked_list
from mailup_soap.service_layer.sending import deliver, queue_delivery
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork


def _parse_when(date: str | None, time_: str | None) -> dt.datetime:
    text = f"{(date or '').strip()} {(time_ or '').strip() or '00:00'}"
    for pattern in ("%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S", "%d/%m/%Y %H:%M",
                    "%d/%m/%Y %H:%M:%S", "%Y%m%d %H%M%S"):
        try:
            when = dt.datetime.strptime(text, pattern).replace(tzinfo=dt.UTC)
        except ValueError:
            continue
        return within_years("deliveryDate", when)
    raise errors.InvalidArgument("deliveryDate", "use yyyy-MM-dd (or dd/MM/yyyy) and HH:mm")


def prepare_schedule(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                     date: str | None, time_: str | None) -> msg.Delivery:
    """PrepareNewsletterSchedule: a delivery to the whole list at that date and time (UTC)."""
    when = _parse_when(date, time_)
    opts = msg.SendOptions(msg.SendTo.ALL, delivery_at=when)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        delivery = deliver(uow, deps, caller.account_id, list_id, message_id, opts)
        uow.commit()
        return delivery


def queues(deps: Deps, cred: Credentials, list_id: int) -> list[msg.Delivery]:
    """GetNewsletterQueues: the list's deliveries not completed yet, by schedule."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        checked_list(uow, caller, list_id, None)
        return uow.sending.deliveries(caller.account_id, list_id=list_id, statuses=(
            msg.DeliveryStatus.SCHEDULED, msg.DeliveryStatus.SENDING,
            msg.DeliveryStatus.PAUSED))


def schedule_status(deps: Deps, cred: Credentials, message_id: int) -> list[msg.Delivery]:
    """GetNewsletterScheduleStatus: every delivery of the message."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        if uow.sending.message(caller.account_id, message_id) is None:
            raise errors.MessageNotFound(message_id)
        return uow.sending.deliveries(caller.account_id, message_id=message_id)


def _pending_delivery(uow: AbstractUnitOfWork, account_id: int, delivery_id: int,
                      list_id: int | None = None,
                      message_id: int | None = None) -> msg.Delivery:
    found = uow.sending.delivery(account_id, delivery_id, lock=True)
    if found is None or (list_id and found.list_id != list_id) or \
            (message_id and found.message_id != message_id):
        raise errors.DeliveryNotFound(delivery_id)
    if found.status is msg.DeliveryStatus.COMPLETED:
        raise errors.InvalidArgument("deliveryID", f"delivery {delivery_id} is completed")
    return found


def add_queue(deps: Deps, cred: Credentials, delivery_id: int, immediate: bool) -> msg.Delivery:
    """AddNewsletterQueue: queue the delivery again, now when `immediate`."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = _pending_delivery(uow, caller.account_id, delivery_id)
        now = deps.clock.now()
        when = now if immediate else max(found.scheduled_at, now)
        uow.sending.reschedule(delivery_id, when)
        if found.status is msg.DeliveryStatus.PAUSED:
            uow.sending.set_status(delivery_id, msg.DeliveryStatus.SCHEDULED, now)
        queue_delivery(uow, delivery_id, when, now)
        uow.commit()
    return delivery_status(deps, cred, delivery_id)


def schedule_queue(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                   schedule_id: int, deliverydt: str | None, timezone: int) -> msg.Delivery:
    """ScheduleNewsletterQueue: move a delivery not started yet to `deliverydt`
    (yyyyMMddHHmmss, local time `timezone` hours from UTC)."""
    if not -12 <= timezone <= 14:
        raise errors.InvalidArgument("timezone", "hours from UTC, -12..14")
    when = msg.send_options({"send_to": "ALL", "deliverydt": deliverydt or ""}).delivery_at
    if when is None:
        raise errors.InvalidArgument("deliverydt", "must be yyyyMMddHHmmss")
    when -= dt.timedelta(hours=timezone)
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = _pending_delivery(uow, caller.account_id, schedule_id, list_id, message_id)
        if found.status is msg.DeliveryStatus.SENDING:
            raise errors.InvalidArgument("scheduleID", "the delivery is sending already")
        now = deps.clock.now()
        uow.sending.reschedule(schedule_id, max(when, now))
        queue_delivery(uow, schedule_id, max(when, now), now)
        uow.commit()
    return delivery_status(deps, cred, schedule_id)


def move_in_queue(deps: Deps, cred: Credentials, schedule_id: int,
                  up: bool) -> list[msg.Delivery]:
    """SetNewsletterQueueOrder: swap the delivery's time with the list's scheduled delivery
    just before it (`up`) or just after; answers the list's queue in its new order."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = _pending_delivery(uow, caller.account_id, schedule_id)
        queue = uow.sending.deliveries(caller.account_id, list_id=found.list_id,
                                       statuses=(msg.DeliveryStatus.SCHEDULED,))
        ids = [d.id for d in queue]
        if found.id not in ids:
            raise errors.InvalidArgument("scheduleID", "only a scheduled delivery moves")
        where = ids.index(found.id) + (-1 if up else 1)
        if not 0 <= where < len(queue):
            raise errors.InvalidArgument("Up", "the delivery is first" if up
                                         else "the delivery is last")
        other = queue[where]
        now = deps.clock.now()
        for delivery, when in ((found, other.scheduled_at), (other, found.scheduled_at)):
            uow.sending.reschedule(delivery.id, when)
            queue_delivery(uow, delivery.id, when, now)
        uow.commit()
        return uow.sending.deliveries(caller.account_id, list_id=found.list_id,
                                      statuses=(msg.DeliveryStatus.SCHEDULED,))


def remove_queue(deps: Deps, cred: Credentials, list_id: int, message_id: int,
                 delivery_id: int) -> None:
    """RemoveNewsletterQueue: cancel a delivery that is scheduled or paused (one that is
    sending must be stopped first)."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = _pending_delivery(uow, caller.account_id, delivery_id, list_id, message_id)
        if found.status is msg.DeliveryStatus.SENDING:
            raise errors.InvalidArgument("deliveryID", "the delivery is sending: StopDelivery "
                                         "first")
        uow.sending.delete_delivery(delivery_id)
        uow.commit()


def delivery_status(deps: Deps, cred: Credentials, delivery_id: int) -> msg.Delivery:
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        found = uow.sending.delivery(caller.account_id, delivery_id)
    if found is None:
        raise errors.DeliveryNotFound(delivery_id)
    return found


def pause_all(states: DeliveryStates, account_id: int, now: dt.datetime) -> list[int]:
    """Pause the account's scheduled and sending deliveries of one channel (email, SMS)."""
    ids = states.of_account(account_id, (msg.DeliveryStatus.SCHEDULED,
                                         msg.DeliveryStatus.SENDING))
    for delivery_id in ids:
        states.set_status(delivery_id, msg.DeliveryStatus.PAUSED, now)
    return ids


def resume_all(states: DeliveryStates, account_id: int, now: dt.datetime,
               queue: Callable[[int, dt.datetime], None]) -> list[int]:
    """Resume the account's paused deliveries of one channel where they stopped (`queue`
    their jobs); one paused before it started goes back to its schedule."""
    paused = states.paused(account_id)
    for delivery in paused:
        status = (msg.DeliveryStatus.SCHEDULED if delivery.started_at is None
                  else msg.DeliveryStatus.SENDING)
        states.set_status(delivery.id, status, now)
        queue(delivery.id, max(delivery.scheduled_at, now))
    return [d.id for d in paused]


def stop_delivery(deps: Deps, cred: Credentials) -> list[int]:
    """StopDelivery: pause the account's deliveries; they resume where they stopped."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        ids = pause_all(uow.sending, caller.account_id, deps.clock.now())
        uow.commit()
        return ids


def start_delivery(deps: Deps, cred: Credentials) -> list[int]:
    """StartDelivery: resume the account's paused deliveries (see resume_all)."""
    with deps.uow() as uow:
        caller = authorize(uow, deps, cred)
        now = deps.clock.now()
        ids = resume_all(uow.sending, caller.account_id, now,
                         lambda delivery_id, when: queue_delivery(uow, delivery_id, when, now))
        uow.commit()
        return ids


