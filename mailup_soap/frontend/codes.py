"""The frontend's one table from outcomes and errors to MailUp's bare integer codes (spec 6)."""
from __future__ import annotations

from mailup_soap import errors
from mailup_soap.domain.lifecycle import Outcome
from mailup_soap.domain.model import SubscriptionStatus

IP_NOT_REGISTERED = -1011
GENERIC_ERROR = 1

SUBSCRIBE = {Outcome.CHANGED: 0, Outcome.ALREADY: 3, Outcome.REFUSED: 1, Outcome.UNKNOWN: 1}
UNSUBSCRIBE = {Outcome.CHANGED: 0, Outcome.ALREADY: 3, Outcome.UNKNOWN: 3, Outcome.REFUSED: 1}
UPDATE = {Outcome.CHANGED: 0, Outcome.ALREADY: 0, Outcome.UNKNOWN: 1, Outcome.REFUSED: 1}
CHECK = {SubscriptionStatus.SUBSCRIBED: 2, SubscriptionStatus.UNSUBSCRIBED: 3,
         SubscriptionStatus.PENDING: 4, None: 1}

# WSActivation.aspx (spec 1.4): missing parameters OR-combine.
MISSING_PARAMETER = {"ws_name": -2, "usr": -4, "pwd": -8, "nl_url": -16}
ALREADY_ACTIVE = -1008
ACTIVATION_ERROR = -1009  # the request itself is unusable (a control character, too large)
REGISTRATION_ERROR = -1010  # the address could not be registered


def for_error(error: errors.MailUpError, invalid_contact: int = GENERIC_ERROR) -> int:
    """xmlSubscribe answers 2 for a bad address or number; the others answer 1."""
    if isinstance(error, errors.IpNotRegistered):
        return IP_NOT_REGISTERED
    if isinstance(error, errors.InvalidContact):
        return invalid_contact
    return GENERIC_ERROR


def for_auth_error(error: errors.MailUpError) -> int:
    code = error.mailup_code if isinstance(error, errors.AuthenticationError) else None
    return code if code is not None else -1000
