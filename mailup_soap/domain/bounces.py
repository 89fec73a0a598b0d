"""Bounces: the signed VERP return path of each delivered message, and what a delivery
status notification (RFC 3464) sent back to it says."""
from __future__ import annotations

import dataclasses
import enum
import hashlib
import hmac
import re
from email.message import Message

# bounces+<delivery>-<recipient>-<tag>@<domain>: the tag is an HMAC of the two ids, so a
# forged bounce cannot unsubscribe anybody. 12 hex digits (48 bits): short enough for any
# MTA's local part, lower case because some MTAs fold it.
_VERP = re.compile(r"bounces\+(\d{1,18})-(\d{1,18})-([0-9a-f]{12})@", re.IGNORECASE)


def _tag(secret: str, delivery_id: int, recipient_id: int) -> str:
    mac = hmac.new(secret.encode(), f"bounce.{delivery_id}.{recipient_id}".encode(),
                   hashlib.sha256)
    return mac.hexdigest()[:12]


def verp_address(secret: str, delivery_id: int, recipient_id: int, domain: str) -> str:
    tag = _tag(secret, delivery_id, recipient_id)
    return f"bounces+{delivery_id}-{recipient_id}-{tag}@{domain}"


def read_verp(secret: str, address: str) -> tuple[int, int] | None:
    """(delivery id, recipient id) of a return path made by `verp_address` with this
    secret; None for any other address."""
    found = _VERP.search(address or "")
    if found is None:
        return None
    delivery_id, recipient_id = int(found.group(1)), int(found.group(2))
    if not hmac.compare_digest(found.group(3).lower(), _tag(secret, delivery_id, recipient_id)):
        return None
    return delivery_id, recipient_id


class Bounce(enum.Enum):
    HARD = "hard"  # a permanent failure (status 5.x.x): the address is unsubscribed
    SOFT = "soft"  # a transient one (4.x.x, or delayed): counted
    NONE = "none"  # not a delivery status notification, or one saying it was delivered


@dataclasses.dataclass(frozen=True)
class Verdict:
    kind: Bounce
    status: str = ""  # the Status field it was read from, e.g. "5.1.1"


_STATUS = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})")


def classify(message: Message) -> Verdict:
    """What a bounce says, read from its message/delivery-status part (RFC 3464): HARD when
    a recipient's Action is `failed` with a 5.x.x Status, SOFT for `delayed` or a 4.x.x one.
    A bounce without that part (free text, which every MTA words its own way) is NONE."""
    found = Verdict(Bounce.NONE)
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        for block in _status_blocks(part):
            action = block.get("action", "").strip().lower()
            status = _STATUS.match(block.get("status", ""))
            code = status.group(1) if status else ""
            if action == "failed" and code.startswith("5"):
                return Verdict(Bounce.HARD, code)
            if action in ("failed", "delayed") or code.startswith("4"):
                found = Verdict(Bounce.SOFT, code)
    return found


def _status_blocks(part: Message) -> list[dict[str, str]]:
    """The delivery-status part's field groups (the message's, then one per recipient),
    each as lower-cased field name -> value; Python's parser gives them as sub-messages."""
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [{k.lower(): str(v) for k, v in block.items()} for block in payload
            if isinstance(block, Message)]
