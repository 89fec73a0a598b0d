"""The one error hierarchy; protocol edges map these to MailUp codes or SOAP faults."""
from __future__ import annotations


class MailUpError(Exception):
    """Base of every error the application raises on purpose."""


# -- authentication -------------------------------------------------------------------------


class AuthenticationError(MailUpError):
    """Credentials, account state or access key rejected."""

    message = "authentication failed"
    # MailUp's own code for it (spec 1.3), the same in SOAP results and WSActivation.aspx.
    mailup_code: int | None = None

    def __str__(self) -> str:
        return self.message


class AccountNotValid(AuthenticationError):
    message = "account not valid"
    mailup_code = -1001


class PasswordNotValid(AuthenticationError):
    message = "password not valid"
    mailup_code = -1002


class AccountSuspended(AuthenticationError):
    message = "account suspended"
    mailup_code = -1003


class AccountInactive(AuthenticationError):
    message = "account inactive"
    mailup_code = -1004


class AccountExpired(AuthenticationError):
    message = "account expired"
    mailup_code = -1005


class WebServiceNotEnabled(AuthenticationError):
    message = "web service not enabled"
    mailup_code = -1006


class WebServiceNotActive(AuthenticationError):
    message = "web service not active"
    mailup_code = -1007


class AccessKeyInvalid(AuthenticationError):
    message = "accessKey missing, not valid, expired or logged out"


# -- lookups and arguments ------------------------------------------------------------------


class NotFound(MailUpError):
    """An id that does not exist in the caller's account (other accounts' ids included)."""


class ListNotFound(NotFound):
    def __init__(self, list_id: int) -> None:
        super().__init__(f"list {list_id} not found")
        self.list_id = list_id


class GroupNotFound(NotFound):
    def __init__(self, group_id: int) -> None:
        super().__init__(f"group {group_id} not found")
        self.group_id = group_id


class UserNotFound(NotFound):
    def __init__(self, user: object) -> None:
        super().__init__(f"user {user} not found")
        self.user = user


class ListGuidMismatch(MailUpError):
    def __init__(self, list_id: int) -> None:
        super().__init__(f"listGUID does not match list {list_id}")
        self.list_id = list_id


class ListGuidInvalid(MailUpError):
    def __init__(self, guid: str) -> None:
        super().__init__(f"listGUID {guid!r} is not a GUID")
        self.guid = guid


class InvalidArgument(MailUpError):
    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name = name
        self.reason = reason


class ListNotSpecified(InvalidArgument):
    def __init__(self) -> None:
        super().__init__("idList", "list not specified")


class GroupNameMissing(InvalidArgument):
    def __init__(self) -> None:
        super().__init__("groupName", "group name not specified")


class InvalidOption(InvalidArgument):
    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"option {key!r}", reason)
        self.key = key


class IpNotRegistered(MailUpError):
    """The frontend endpoints answer only registered addresses (WSActivation.aspx)."""

    def __init__(self, ip: str) -> None:
        super().__init__(f"IP address {ip} is not registered for the frontend")
        self.ip = ip


class InvalidContact(InvalidArgument):
    """An email address or mobile number that cannot be used."""


class InvalidToken(MailUpError):
    """A confirmation link that was altered, is for another request, or expired."""


class ImportDocumentEmpty(InvalidArgument):
    def __init__(self) -> None:
        super().__init__("xmlDoc", "empty")


class ImportDocumentInvalid(InvalidArgument):
    """Not XML, hostile XML, or not a <subscribers> document (MailUp's -402)."""

    def __init__(self, reason: str) -> None:
        super().__init__("document", reason)


class ConfirmationMessageNotFound(InvalidArgument):
    """NewImportProcess's `idConfirmNL` names no email of the list (MailUp's -410: the
    confirmation email cannot be made)."""

    def __init__(self, message_id: int, list_id: int) -> None:
        super().__init__("idConfirmNL", f"message {message_id} is not an email of list {list_id}")


class ImportProcessNotFound(NotFound):
    def __init__(self, process_id: int) -> None:
        super().__init__(f"import process {process_id} not found")
        self.process_id = process_id


class ImportAlreadyRunning(MailUpError):
    """Another process of the same list is running (-601)."""

    def __init__(self, list_id: int) -> None:
        super().__init__(f"an import process is already running for list {list_id}")


class ImportAlreadyStarted(MailUpError):
    """The process was started already (-602)."""

    def __init__(self, process_id: int) -> None:
        super().__init__(f"import process {process_id} was started already")


class ImportInterrupted(MailUpError):
    """`mailup-soap import` stopped (Ctrl-C) while merging: the batches merged so far stay,
    the process stays running with the rest of its rows staged."""

    def __init__(self, process_id: int) -> None:
        super().__init__(f"import process {process_id} interrupted")
        self.process_id = process_id


class ImportNotInterrupted(MailUpError):
    """`mailup-soap import --resume/--cancel` of a process that no command line import left
    running (a worker's job and the daily sync resume their own)."""

    def __init__(self, process_id: int, status: str) -> None:
        super().__init__(f"import process {process_id} is {status}, not an import the command "
                         "line left running")


class ContactCreatedMeanwhile(MailUpError):
    """Another transaction created a recipient an import batch was about to create (same
    email, same account): the batch is rolled back and merged again, and then finds it."""

    def __init__(self) -> None:
        super().__init__("a recipient of the batch was created by another transaction")


class ListCountMismatch(InvalidArgument):
    """StartImportProcesses: listsIDs and listsGUIDs differ in length (-450)."""

    def __init__(self) -> None:
        super().__init__("listsIDs", "listsIDs and listsGUIDs must have as many elements")


class MessageNotFound(NotFound):
    def __init__(self, message_id: int) -> None:
        super().__init__(f"message {message_id} not found")
        self.message_id = message_id


class DeliveryNotFound(NotFound):
    def __init__(self, delivery_id: int) -> None:
        super().__init__(f"delivery {delivery_id} not found")
        self.delivery_id = delivery_id


class SmsGatewayNotConfigured(MailUpError):
    """SMS operations need MAILUP_SMS_GATEWAY_URL; the server has none."""

    def __init__(self) -> None:
        super().__init__("no SMS gateway is configured on this server (MAILUP_SMS_GATEWAY_URL)")


class NotEnoughCredits(MailUpError):
    def __init__(self, channel: str, needed: int, left: int) -> None:
        super().__init__(f"not enough {channel} credits: {needed} needed, {left} left")
        self.channel, self.needed, self.left = channel, needed, left
