"""Outside collaborators the use cases need, as small Protocols (fakes in tests/fakes.py)."""
from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from typing import Protocol

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


class WebhookPoster(Protocol):
    def send(self, request: OutgoingRequest, timeout: float) -> int:
        """Perform the request; return the HTTP status, raise PosterError on no answer."""
        ...


class MailerError(Exception):
    """The SMTP server could not be reached or refused the message."""


class PosterError(Exception):
    """The webhook receiver could not be reached, or did not answer in time."""
