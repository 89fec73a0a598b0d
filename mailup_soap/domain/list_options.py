"""The list option keys of Manage.CreateList / UpdateList, and their validation."""
from __future__ import annotations

import re
from collections.abc import Iterable

from mailup_soap.domain.contacts import NOT_XML, is_email
from mailup_soap.errors import InvalidOption

# Documented keys (spec section 4); value kind: "text", "email", "bool" (0/1), "int",
# "prefix" (an international dialling prefix: 39, +39, 0039), or a tuple of allowed values.
OPTION_KINDS: dict[str, object] = {
    "owneremail": "email",
    "bouncedemail": "email",
    "description": "text",
    "format": ("html", "text"),
    "charset": "text",
    "public": "bool",
    "tracking": "bool",
    "nl_sendername": "text",
    "sms_sendername": "text",
    "optout_type": ("0", "1", "2", "3"),
    "sendemailoptout": "bool",
    "notifyemail": "email",
    "frontendform": "bool",
    "disclaimer": "text",
    "headerxabuse": "text",
    "kbmax": "int",
    "replyto": "email",
    "displayas": "text",
    "headerlistunsubscriber": "text",
    "multipart_text": "bool",
    "conversionlab_trackcode": "text",
    "default_prefix": "prefix",
    "multi_optout_list": "text",
}

DEFAULTS: dict[str, str] = {"format": "html", "charset": "UTF-8", "public": "0", "tracking": "1",
                            "optout_type": "0"}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
MAX_OPTION_LENGTH = 2000
_INT = re.compile(r"-?[0-9]{1,9}")
_PREFIX = re.compile(r"(?:\+|00)?[1-9][0-9]{0,3}")


def _check(key: str, raw: object) -> str:
    kind = OPTION_KINDS.get(key)
    if kind is None:
        raise InvalidOption(key, "unknown option")
    value = "" if raw is None else str(raw).strip()
    if len(value) > MAX_OPTION_LENGTH:
        raise InvalidOption(key, f"longer than {MAX_OPTION_LENGTH} characters")
    if NOT_XML.search(value):
        raise InvalidOption(key, "holds a control character")
    if kind == "bool":
        low = value.lower()
        if low not in _TRUE | _FALSE:
            raise InvalidOption(key, "must be 0/1 or true/false")
        return "1" if low in _TRUE else "0"
    if kind == "int":
        if not _INT.fullmatch(value):
            raise InvalidOption(key, "must be an integer")
        return str(int(value))
    if kind == "prefix":
        if value and not _PREFIX.fullmatch(value):
            raise InvalidOption(key, "must be an international prefix such as +39")
        return value
    if kind == "email":
        if value and not is_email(value):
            raise InvalidOption(key, "must be an email address")
        return value
    if isinstance(kind, tuple):
        if value.lower() not in kind:
            raise InvalidOption(key, "must be one of " + ", ".join(kind))
        return value.lower()
    return value


def validate_options(pairs: Iterable[tuple[str, object]]) -> dict[str, str]:
    """Normalise (key, value) pairs; the first invalid one raises InvalidOption."""
    result: dict[str, str] = {}
    for key, raw in pairs:
        norm = (key or "").strip().lower()
        result[norm] = _check(norm, raw)
    return result
