"""The one table from domain errors to MailUp return codes and SOAP faults."""
from __future__ import annotations

from spyne import Fault

from mailup_soap import errors

# Authentication codes are MailUp's (spec 1.3), shared by every service.
AUTH_CODES: dict[type[errors.MailUpError], int] = {
    cls: cls.mailup_code for cls in errors.AuthenticationError.__subclasses__()
    if cls.mailup_code is not None}

# Send / Manage / Report: MailUp documents no values besides "non-zero"; ours (README).
ACCESS_KEY_CODES: dict[type[errors.MailUpError], int] = AUTH_CODES | {
    errors.AccessKeyInvalid: -1100,
    errors.ListNotFound: -1101,
    errors.GroupNotFound: -1102,
    errors.UserNotFound: -1103,
    errors.InvalidOption: -1104,
    errors.InvalidArgument: -1105,
    errors.MessageNotFound: -1106,
    errors.DeliveryNotFound: -1107,
    errors.NotEnoughCredits: -1109,
    errors.SmsGatewayNotConfigured: -1108,
    errors.ListGuidMismatch: -101,
    errors.ListGuidInvalid: -102,
}

# Import: list checks are -10x for every operation (spec 2); other errors fall to the
# operation's own "unrecognized error" code (-300 CreateGroup, -400 NewImportProcess, ...).
IMPORT_CODES: dict[type[errors.MailUpError], int] = AUTH_CODES | {
    errors.ListNotFound: -101,
    errors.ListGuidMismatch: -101,
    errors.ListGuidInvalid: -102,
    errors.ImportDocumentEmpty: -401,
    errors.ImportDocumentInvalid: -402,
    errors.ConfirmationMessageNotFound: -410,
    errors.ListCountMismatch: -450,
    errors.ImportProcessNotFound: -501,
    errors.ImportAlreadyRunning: -601,
    errors.ImportAlreadyStarted: -602,
    errors.IpNotRegistered: -1011,
}
# Codes that are relative to the operation's base (-300 - 2 = -302 group name not specified).
IMPORT_RELATIVE: dict[type[errors.MailUpError], int] = {
    errors.GroupNameMissing: 2,
}
# "List not specified" has a code of its own only in CreateGroup (-301); for the others
# -401, -501, -601 mean "xmlDoc empty", "idProcess not found", "a process already running",
# so a missing list id gets the failed list verification an unknown one gets.
CREATE_GROUP_BASE = -300


def _lookup(table: dict[type[errors.MailUpError], int], error: errors.MailUpError) -> int | None:
    for cls in type(error).__mro__:
        if cls in table:
            return table[cls]
    return None


def access_key_code(error: errors.MailUpError) -> int | None:
    return _lookup(ACCESS_KEY_CODES, error)


def import_code(error: errors.MailUpError, base: int) -> int:
    if isinstance(error, errors.ListNotSpecified):
        return base - 1 if base == CREATE_GROUP_BASE else IMPORT_CODES[errors.ListNotFound]
    code = _lookup(IMPORT_CODES, error)
    if code is not None:
        return code
    relative = _lookup(IMPORT_RELATIVE, error)
    return base - relative if relative is not None else base


def internal_error() -> Fault:
    return Fault("Server", "Internal Error")
