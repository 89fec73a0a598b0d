"""Webhook configuration and delivery. Deliveries are created in the transaction of their
event (see db/events.py); a worker runs `attempt_delivery` for each, on the retry schedule."""
from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from mailup_soap import errors
from mailup_soap.domain import webhooks as wh
from mailup_soap.domain.model import ChangeSource, EventType
from mailup_soap.service_layer.deps import Deps
from mailup_soap.service_layer.lifecycle_repos import Delivery
from mailup_soap.service_layer.ports import PosterError
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

log = logging.getLogger("mailup_soap.webhooks")

DELIVER_TASK = "mailup:deliver_webhook"
WEBHOOK_QUEUE = "webhooks"


def add_webhook(deps: Deps, account_id: int, list_id: int, url: str, *, method: str = "POST",
                events: list[str] | None = None, sources: list[str] | None = None,
                params: Mapping[str, str] | None = None, rc4_key: str = "",
                secret: str | None = None) -> wh.Webhook:
    if not url.startswith(("http://", "https://")):
        raise errors.InvalidArgument("url", "must start with http:// or https://")
    if method.upper() not in ("GET", "POST"):
        raise errors.InvalidArgument("method", "must be GET or POST")
    try:
        chosen_events = wh.parse_events(events or [e.value for e in EventType])
        chosen_sources = wh.parse_sources(sources or [s.value for s in ChangeSource])
    except ValueError as exc:
        raise errors.InvalidArgument("webhook", str(exc)) from None
    hook = wh.Webhook(0, account_id, list_id, url, method.upper(), chosen_events, chosen_sources,
                      dict(params or {}), True, secret or wh.new_secret(), rc4_key)
    with deps.uow() as uow:
        if uow.lists.get(account_id, list_id) is None:
            raise errors.ListNotFound(list_id)
        saved = uow.webhooks.add(hook)
        uow.commit()
        return saved


def list_webhooks(deps: Deps, account_id: int | None = None) -> list[wh.Webhook]:
    with deps.uow() as uow:
        return uow.webhooks.all(account_id)


def set_webhook_active(deps: Deps, webhook_id: int, active: bool) -> None:
    with deps.uow() as uow:
        if uow.webhooks.get(webhook_id) is None:
            raise errors.InvalidArgument("webhook", f"no webhook {webhook_id}")
        uow.webhooks.set_active(webhook_id, active, None if active else "disabled by hand")
        uow.commit()


def list_deliveries(deps: Deps, webhook_id: int | None = None,
                    limit: int = 50) -> list[tuple[Delivery, list[tuple[object, ...]]]]:
    with deps.uow() as uow:
        return [(d, [tuple(a) for a in uow.webhooks.attempts(d.id)])
                for d in uow.webhooks.deliveries(webhook_id, limit)]


def replay_delivery(deps: Deps, delivery_id: int) -> None:
    """Deliver again (same webhook-id), e.g. after fixing a receiver."""
    with deps.uow() as uow:
        found = uow.webhooks.delivery(delivery_id, lock=True)
        if found is None:
            raise errors.InvalidArgument("delivery", f"no delivery {delivery_id}")
        uow.webhooks.update_delivery(delivery_id, "pending", found.attempts, deps.clock.now())
        uow.jobs.defer(DELIVER_TASK, WEBHOOK_QUEUE, {"delivery_id": delivery_id})
        uow.commit()


def attempt_delivery(deps: Deps, delivery_id: int) -> str:
    """One attempt; records it and decides what comes next. Returns the delivery's status.

    The delivery row stays locked during the HTTP call, so a replay and a retry of the same
    delivery never post at the same time; a crashed worker's lock ends with its connection.
    """
    if deps.poster is None:
        raise RuntimeError("no WebhookPoster configured")
    with deps.uow() as uow:
        found = uow.webhooks.delivery(delivery_id, lock=True)
        if found is None or found.status != "pending":
            return found.status if found else "missing"
        hook = uow.webhooks.get(found.webhook_id)
        event = uow.webhooks.event(found.event_id)
        if hook is None or event is None or not hook.active:
            uow.webhooks.update_delivery(delivery_id, "failed", found.attempts, None)
            uow.commit()
            return "failed"
        now = deps.clock.now()
        request = wh.build_request(hook, event, found.msg_id, now)
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            code = deps.poster.send(request, deps.webhook_timeout)
        except PosterError as exc:
            error = str(exc)[:500]
        uow.webhooks.record_attempt(delivery_id, now, code, error,
                                    int((time.monotonic() - started) * 1000))
        status = _after_attempt(deps, uow, hook, found, code)
        uow.commit()
        return status


def _after_attempt(deps: Deps, uow: AbstractUnitOfWork, hook: wh.Webhook, found: Delivery,
                   code: int | None) -> str:
    attempts = found.attempts + 1
    if code is not None and 200 <= code < 300:
        uow.webhooks.update_delivery(found.id, "succeeded", attempts, None)
        uow.webhooks.reset_failures(hook.id)
        return "succeeded"
    if code == 410:  # Gone: the receiver asks us to stop
        uow.webhooks.set_active(hook.id, False, "receiver answered 410 Gone")
        uow.webhooks.update_delivery(found.id, "failed", attempts, None)
        log.warning("webhook %d disabled: its receiver answered 410 Gone", hook.id)
        return "failed"
    failures = uow.webhooks.count_failure(hook.id)
    if failures >= deps.webhook_max_failures:
        uow.webhooks.set_active(hook.id, False, f"{failures} failed attempts without a success")
        log.warning("webhook %d disabled after %d failed attempts without a success",
                    hook.id, failures)
        uow.webhooks.update_delivery(found.id, "failed", attempts, None)
        return "failed"
    delay = wh.next_attempt_delay(attempts)
    if delay is None:
        uow.webhooks.update_delivery(found.id, "failed", attempts, None)
        return "failed"
    at = deps.clock.now() + delay
    uow.webhooks.update_delivery(found.id, "pending", attempts, at)
    uow.jobs.defer(DELIVER_TASK, WEBHOOK_QUEUE, {"delivery_id": found.id}, at)
    return "pending"
