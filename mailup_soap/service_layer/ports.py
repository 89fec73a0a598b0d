"""Outside collaborators the use cases need, as small Protocols (fakes in tests/fakes.py)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable
from email.message import EmailMessage
from typing import IO, Protocol

from mailup_soap.domain.webhooks import OutgoingRequest


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str:
        """A self-describing hash (algorithm and salt inside) of `password`."""
        ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True when `password` matches; never raises for a wrong password."""
        ...


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None:
        """Hand the message to the SMTP server; raise MailerError when it is not accepted."""
        ...


class MailSession(Protocol):
    """One SMTP connection kept open across messages (the delivery engine's)."""

    def send(self, message: bytes, envelope_from: str, to: str) -> None:
        """Send the message as it is (CRLF lines). Raise RecipientRefused when the server
        refuses this recipient for good, MailerError when it cannot be reached or fails."""
        ...

    def close(self) -> None: ...


class BulkMailer(Protocol):
    def open_session(self) -> MailSession: ...


class PageFetcher(Protocol):
    def fetch(self, url: str) -> str:
        """The page at `url` as text; FetchError when it cannot or may not be fetched
        (timeout, too large, not http(s), an address on a private network)."""
        ...


class FetchError(Exception):
    """A URL message's page could not be fetched, or is not allowed."""


class WebhookPoster(Protocol):
    def send(self, request: OutgoingRequest, timeout: float) -> int:
        """Perform the request; return the HTTP status, raise PosterError on no answer."""
        ...


@dataclasses.dataclass(frozen=True)
class DroppedFile:
    """A complete file an account posted on its FTP site, under `import/<list_id>/`."""

    account_id: int
    list_id: int
    name: str
    size: int


class FileDrop(Protocol):
    """The accounts' FTP homes: files posted for import, reports, and exports."""

    def prepare_home(self, account_id: int, list_ids: Iterable[int]) -> None:
        """Create the home with `import/<list id>/` for each list and `export/`."""
        ...

    def ready_files(self, account_id: int) -> list[DroppedFile]:
        """Files complete under `import/<list id>/` (not being uploaded), oldest first."""
        ...

    def open(self, file: DroppedFile) -> IO[bytes]:
        """The file's content, for reading (the caller closes it)."""
        ...

    def finish(self, file: DroppedFile, outcome: str, report: str) -> str:
        """Move the file into `import/<list id>/<outcome>/` (`done` or `failed`) with
        `report` beside it; returns the report's path relative to the home."""
        ...

    def open_file(self, account_id: int, path: str) -> IO[bytes]:
        """A file of the account's home by its path there (SendMessageNL's `fileName`);
        FileNotFoundError when there is no such file, ValueError for a path leaving home."""
        ...

    def write_export(self, account_id: int, name: str, lines: Iterable[str]) -> str:
        """Write `export/<name>` from `lines`, atomically (readers never see half a file);
        returns its path relative to the home."""
        ...


class SmsGateway(Protocol):
    def send(self, sender: str, number: str, text: str) -> str:
        """Hand one SMS to the gateway; return the gateway's message id. Raise SmsRefused
        when the gateway refuses this number for good, SmsGatewayError when it cannot be
        reached or fails (retrying later may help)."""
        ...


class MailerError(Exception):
    """The SMTP server could not be reached or refused the message."""


class RecipientRefused(MailerError):  # noqa: N818 (a MailerError; the name says which)
    """The SMTP server refused this one recipient (5xx): retrying will not help."""


class PosterError(Exception):
    """The webhook receiver could not be reached, or did not answer in time."""


class SmsGatewayError(Exception):
    """The SMS gateway could not be reached, timed out, or failed (5xx)."""


class SmsRefused(SmsGatewayError):  # noqa: N818 (a SmsGatewayError; the name says which)
    """The SMS gateway refused this one number or text (4xx): retrying will not help."""
