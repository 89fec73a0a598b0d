"""What a use case needs from outside, bundled once by bootstrap, and who is calling."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from mailup_soap.service_layer.ports import (
    BulkMailer,
    Clock,
    FileDrop,
    Mailer,
    PageFetcher,
    PasswordHasher,
    SmsGateway,
    WebhookPoster,
)
from mailup_soap.service_layer.unit_of_work import AbstractUnitOfWork


@dataclasses.dataclass(frozen=True)
class Deps:
    uow: Callable[[], AbstractUnitOfWork]
    hasher: PasswordHasher
    clock: Clock
    access_key_ttl: dt.timedelta = dt.timedelta(minutes=60)
    mailer: Mailer | None = None
    poster: WebhookPoster | None = None
    secret_key: str = ""  # signs confirmation links
    public_url: str = "http://127.0.0.1:8080"  # base of the links in emails
    mail_from: str = "noreply@localhost"
    pending_days: int = 7
    webhook_timeout: float = 10.0
    webhook_max_failures: int = 50
    file_drop: FileDrop | None = None  # the accounts' FTP homes (daily sync, exports)
    bulk_mailer: BulkMailer | None = None  # the delivery engine's SMTP connections
    send_connections: int = 4  # SMTP connections a delivery uses in parallel
    import_lanes: int = 2  # lanes a large import process merges in, at once
    send_per_second: int = 0  # per account; 0: no limit
    send_per_hour: int = 0  # per account, sliding hour; 0: no limit
    bounce_domain: str = ""  # VERP return paths, see domain.bounces.verp_address
    soft_bounce_limit: int = 5  # soft bounces of a list's deliveries that unsubscribe (0: never)
    sms_gateway: SmsGateway | None = None  # None: SMS sends are refused
    sms_sender: str = ""  # the default SMS sender id
    page_fetcher: PageFetcher | None = None  # URL messages


@dataclasses.dataclass(frozen=True)
class AccessKey:
    """Send / Manage / Report credentials: the key returned by Login or LoginFromId."""

    key: str | None


@dataclasses.dataclass(frozen=True)
class WsLogin:
    """Import credentials: the web-service user and password of the Authentication header."""

    user: str | None
    password: str | None


@dataclasses.dataclass(frozen=True)
class RegisteredCaller:
    """The Import service's HttpGet/HttpPost bindings carry no credentials: like MailUp, they
    answer callers whose IP address was registered (WSActivation) for the account of `host`."""

    host: str
    ip: str


Credentials = AccessKey | WsLogin | RegisteredCaller


@dataclasses.dataclass(frozen=True)
class Caller:
    """The authenticated account (and user) a use case acts for."""

    account_id: int
    user_id: int
