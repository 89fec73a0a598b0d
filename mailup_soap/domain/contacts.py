"""Email addresses, mobile numbers and personal fields as the frontend and imports send them."""
from __future__ import annotations

import re

from mailup_soap.domain.model import PERSONAL_FIELD_COUNT
from mailup_soap.errors import InvalidArgument, InvalidContact

# Pragmatic check (RFC 5321 lengths, one @, a dotted domain); the SMTP server has the last word.
# The local part is printable ASCII without RFC 5322's specials: a message header carries the
# address as is (no SMTPUTF8), and a control character would make the XML of reports invalid.
EMAIL = re.compile(r"^[\x21\x23-\x27\x2a\x2b\x2d-\x39\x3d\x3f\x41-\x5a\x5e-\x7e]{1,64}@"
                   r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?"
                   r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,62}[A-Za-z0-9])?)+$")
EMAIL_MAX = 254
FIELD_MAX = 200
# What XML 1.0 cannot carry: a value holding one could never be given back in an answer.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
ID_MAX = 2**31 - 1
FIELD_NAME = re.compile(r"^(?:campo)?(\d{1,2})$", re.IGNORECASE)


def is_email(value: str) -> bool:
    """An address as we take it: stripped, at most EMAIL_MAX characters, EMAIL's shape."""
    return len(value) <= EMAIL_MAX and EMAIL.match(value) is not None


def normalize_email(raw: str | None) -> str | None:
    value = (raw or "").strip()
    if not value:
        return None
    if not is_email(value):
        raise InvalidContact("Email", f"{value!r} is not an email address")
    return value


# What may separate a number's digits: dropped before it is checked.
MOBILE_PUNCTUATION = re.compile(r"[\s\-./()]", re.ASCII)
_MOBILE = re.compile(r"\+?[0-9]{6,16}")


def lacks_international_prefix(raw: str | None) -> bool:
    """A number given, without `+` or `00` (a list's default prefix may complete it)."""
    value = MOBILE_PUNCTUATION.sub("", raw or "")
    return bool(value) and not value.startswith(("+", "00"))


def normalize_mobile(raw: str | None, default_prefix: str = "") -> tuple[str, str] | None:
    """A number with its international prefix (`+39 333 1234567`, `0039...`) -> ("", "+39...").
    The prefix is kept inside the number: it cannot be split without a numbering plan. A
    number without `+` or `00` gets `default_prefix` (a list's option) when one is given,
    else its digits are taken to begin with their prefix."""
    value = MOBILE_PUNCTUATION.sub("", raw or "")
    if not value:
        return None
    if value.startswith("00"):
        value = "+" + value[2:]
    elif not value.startswith("+") and default_prefix:
        value = "+" + default_prefix.lstrip("+").removeprefix("00") + value
    if not _MOBILE.fullmatch(value):
        raise InvalidContact("Sms", f"{raw!r} is not a mobile number")
    return ("", value if value.startswith("+") else "+" + value)


def parse_fields(names: str | None, values: str | None, *, strict: bool = False) -> dict[int, str]:
    """csvFldNames `campo1;campo2` (or `1;2`) with csvFldValues `Ann;Smith` -> {1: "Ann", ...}.

    `strict` (xmlUpdSubscriber) refuses values containing `--` as MailUp does."""
    if not (names or "").strip():
        return {}
    keys = (names or "").split(";")
    vals = (values or "").split(";")
    if len(keys) != len(vals):
        raise InvalidArgument("csvFldValues", "not as many values as csvFldNames")
    fields: dict[int, str] = {}
    for key, value in zip(keys, vals, strict=True):
        match = FIELD_NAME.match(key.strip())
        if not match or not 1 <= int(match.group(1)) <= PERSONAL_FIELD_COUNT:
            raise InvalidArgument("csvFldNames", f"unknown field {key!r}")
        if len(value) > FIELD_MAX:
            raise InvalidArgument("csvFldValues", f"longer than {FIELD_MAX} characters")
        if NOT_XML.search(value):
            raise InvalidArgument("csvFldValues", "a value holds a control character")
        if strict and "--" in value:
            raise InvalidArgument("csvFldValues", "values must not contain '--'")
        fields[int(match.group(1))] = value
    return fields


def parse_ids(raw: str | None, separators: str = ",;") -> list[int]:
    parts = re.split(f"[{re.escape(separators)}]", raw or "")
    ids = []
    for part in (p.strip() for p in parts):
        if not part:
            continue
        if not (part.isascii() and part.isdigit()):
            raise InvalidArgument("id", f"{part!r} is not a number")
        if int(part) > ID_MAX:  # ids are PostgreSQL integers
            raise InvalidArgument("id", f"{part} is not an id (at most {ID_MAX})")
        ids.append(int(part))
    return ids
