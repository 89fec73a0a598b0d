"""The links inside delivered messages: signed click, open and unsubscribe URLs, what
happens when they are followed, List-Unsubscribe mails, and bounces."""
from __future__ import annotations

import dataclasses
import re
import urllib.parse

from mailup_soap import errors
from mailup_soap.domain import bounces, lifecycle, tokens
from mailup_soap.domain.model import ChangeSource, UnsubscribeReason
from mailup_soap.service_layer.deps import Deps
from mailup_soap.service_layer.subscriptions import apply_step, current_of
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork

TRACK_PATH = "/frontend/t"


@dataclasses.dataclass(frozen=True)
class TrackLink:
    account_id: int
    list_id: int
    message_id: int
    delivery_id: int
    recipient_id: int
    url: str | None = None


def track_url(deps: Deps, kind: str, link: TrackLink) -> str:
    payload = {"a": link.account_id, "l": link.list_id, "m": link.message_id,
               "d": link.delivery_id, "r": link.recipient_id}
    if link.url is not None:
        payload["u"] = link.url  # type: ignore[assignment]
    token = tokens.make(deps.secret_key, f"track-{kind}", payload)
    return f"{deps.public_url.rstrip('/')}{TRACK_PATH}/{kind}?t={urllib.parse.quote(token)}"


# -- tracking and unsubscription ---------------------------------------------------------


def read_link(deps: Deps, kind: str, token: str) -> TrackLink:
    payload = tokens.read(deps.secret_key, f"track-{kind}", token)
    try:
        return TrackLink(int(payload["a"]), int(payload["l"]), int(payload["m"]),
                         int(payload["d"]), int(payload["r"]), payload.get("u"))
    except (KeyError, TypeError, ValueError):
        raise errors.InvalidToken("malformed token") from None


def _redirectable(url: str | None) -> bool:
    """An absolute http(s) URL with no control characters (they would split the Location
    header): anything else in a message's href is not followed."""
    if not url or not url.startswith(("http://", "https://")):
        return False
    return not any(ord(c) < 32 or ord(c) == 127 for c in url)


def track(deps: Deps, kind: str, token: str, ip: str) -> TrackLink:
    """An open (`o`) or a click (`c`): recorded; a click's URL is the one signed into the
    link, so the redirect goes nowhere else."""
    link = read_link(deps, kind, token)
    if kind == "c" and not _redirectable(link.url):
        raise errors.InvalidToken("the link's address cannot be redirected to")
    with deps.uow() as uow:
        uow.sending.track(link.account_id, link.delivery_id, link.recipient_id,
                          "open" if kind == "o" else "click", link.url, ip, deps.clock.now())
        uow.commit()
    return link


def unsubscribe_from_message(deps: Deps, kind: str, token: str) -> bool:
    """The unsubscribe link's button (`u`, reason 2) or a List-Unsubscribe one-click POST
    (`oneclick`, reason 32). True when the recipient was subscribed or pending."""
    link = read_link(deps, kind, token)
    reason = (UnsubscribeReason.UNSUBSCRIBE_LINK if kind == "u"
              else UnsubscribeReason.LIST_UNSUBSCRIBE_LINK)
    return _unsubscribe(deps, link, reason)


_MAILTO_TOKEN = re.compile(r"[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{20,}")


def unsubscribe_by_mail(deps: Deps, subject: str) -> bool:
    """A List-Unsubscribe mail (reason 64): its subject carries the signed token of the
    mailto link (a reply may have added "Re:" and the like around it). True when someone was
    unsubscribed; a subject without a valid token raises InvalidToken."""
    found = _MAILTO_TOKEN.search(subject or "")
    payload = tokens.read(deps.secret_key, "track-mailto", found.group(0) if found else "")
    with deps.uow() as uow:
        delivery = uow.sending.delivery(None, int(payload.get("d", 0)))
    if delivery is None:
        return False
    link = TrackLink(delivery.account_id, delivery.list_id, delivery.message_id, delivery.id,
                     int(payload.get("r", 0)))
    return _unsubscribe(deps, link, UnsubscribeReason.LIST_UNSUBSCRIBE_MAIL)


@dataclasses.dataclass(frozen=True)
class BounceOutcome:
    delivery_found: bool = True  # False: the delivery was deleted since (nothing recorded)
    unsubscribed: bool = False
    soft_bounces: int = 0  # a soft bounce: the recipient's count, this one included


def record_bounce(deps: Deps, return_path: str, verdict: bounces.Verdict) -> BounceOutcome:
    """A bounce sent back to a message's return path (`bounces.verp_address`), recorded with
    its delivery. A hard one unsubscribes the recipient from the message's list with reason
    8; a soft one does when it makes `deps.soft_bounce_limit` (`SendingRepository.
    soft_bounces`), with reason 512. Source Console: the recipient did not ask. A verdict of
    NONE records nothing. InvalidToken when the address is no return path of ours."""
    found = bounces.read_verp(deps.secret_key, return_path)
    if found is None:
        raise errors.InvalidToken("not a return path of this server")
    if verdict.kind is bounces.Bounce.NONE:
        return BounceOutcome()
    with deps.uow() as uow:
        delivery = uow.sending.delivery(None, found[0])
        if delivery is None:
            return BounceOutcome(delivery_found=False)
        link = TrackLink(delivery.account_id, delivery.list_id, delivery.message_id,
                         delivery.id, found[1])
        uow.sending.add_bounce(link.account_id, link.delivery_id, link.recipient_id,
                               verdict.kind.value, verdict.status, deps.clock.now())
        count, reason = 0, UnsubscribeReason.HARD_BOUNCE
        if verdict.kind is bounces.Bounce.SOFT:
            count = uow.sending.soft_bounces(link.account_id, link.list_id, link.recipient_id)
            reason = UnsubscribeReason.SOFT_BOUNCES
        done = False
        if verdict.kind is bounces.Bounce.HARD or 0 < deps.soft_bounce_limit <= count:
            done = _unsubscribe_in(uow, deps, link, reason, ChangeSource.CONSOLE)
        uow.commit()
    return BounceOutcome(unsubscribed=done, soft_bounces=count)


def _unsubscribe(deps: Deps, link: TrackLink, reason: UnsubscribeReason) -> bool:
    with deps.uow() as uow:
        done = _unsubscribe_in(uow, deps, link, reason, ChangeSource.RECIPIENT)
        uow.commit()
        return done


def _unsubscribe_in(uow: AbstractUnitOfWork, deps: Deps, link: TrackLink,
                    reason: UnsubscribeReason, source: ChangeSource) -> bool:
    """Unsubscribe inside the caller's unit of work; True when the subscription changed."""
    lst = uow.lists.get(link.account_id, link.list_id)
    recipient = uow.recipients.get(link.account_id, link.recipient_id)
    if lst is None or recipient is None:
        return False
    step = lifecycle.unsubscribe(current_of(uow, lst, recipient))
    apply_step(uow, deps, lst, recipient, step, source, reason=int(reason),
               by_recipient=source is ChangeSource.RECIPIENT)
    if step.outcome is lifecycle.Outcome.CHANGED:
        uow.sending.set_optout_message(link.account_id, link.list_id, link.recipient_id,
                                       link.message_id)
    return step.outcome is lifecycle.Outcome.CHANGED
