"""Typed settings, read once from the environment and passed down."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping

PREFIX = "MAILUP_"


class ConfigurationError(ValueError):
    """A setting is missing or malformed (config.py is a leaf: it imports nothing of ours)."""


@dataclasses.dataclass(frozen=True)
class Settings:
    database_url: str
    public_url: str = "http://127.0.0.1:8080"
    bind: str = "127.0.0.1:8080"
    # WCF's default maxReceivedMessageSize is 64 KiB; MailUp tested xmlDoc of 1.2 M characters,
    # so the SOAP body limit must sit above that (2 MiB covers a 1.2 M-character escaped document).
    max_body_bytes: int = 2 * 1024 * 1024
    access_key_minutes: int = 60
    web_workers: int = 2
    log_level: str = "INFO"
    # Signs confirmation links; every web and worker process must share it.
    secret_key: str = ""
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    mail_from: str = "noreply@localhost"
    # Pending (unconfirmed) subscriptions older than this are removed by a periodic job.
    pending_days: int = 7
    webhook_timeout_seconds: int = 10
    # A webhook failing this many attempts in a row, with no success between, is disabled.
    webhook_max_failures: int = 50
    # Behind a reverse proxy: take the frontend caller's IP from X-Forwarded-For.
    trust_forwarded_for: bool = False
    # The FTP site of the daily batch sync: one home per account, <ftp_root>/<account id>.
    ftp_root: str = "var/ftp"
    ftp_bind: str = "127.0.0.1:2121"
    ftp_passive_ports: tuple[int, int] | None = None  # e.g. MAILUP_FTP_PASSIVE_PORTS=60000-60099
    ftp_masquerade_address: str = ""  # the public IP announced for passive mode, behind NAT
    ftp_tls_cert: str = ""  # PEM files; when set the site offers explicit TLS (AUTH TLS)
    ftp_tls_key: str = ""
    ftp_tls_required: bool = False  # refuse logins and transfers that did not switch to TLS
    # A file not modified for this long counts as complete even if it did not come through our
    # FTP server (which hides uploads in progress on its own).
    ftp_settle_seconds: int = 60
    sync_time: str = "02:00"  # the daily import, UTC, HH:MM
    # Deliveries: SMTP connections per delivery, per-account rate limits (0: none), and the
    # domain of the VERP return path (default: the sender's domain).
    send_connections: int = 4
    # An import process of many rows merges in this many lanes at once, one connection (and,
    # in PostgreSQL, one core) each.
    import_lanes: int = 2
    send_per_second: int = 0
    send_per_hour: int = 0
    bounce_domain: str = ""
    soft_bounce_limit: int = 5
    # SMS: the HTTP gateway that takes {"from", "to", "text"} (none: SMS sends are refused),
    # its bearer token, the default sender id, and how long to wait for it.
    sms_gateway_url: str = ""
    sms_gateway_token: str = ""
    sms_sender: str = ""
    sms_gateway_timeout_seconds: int = 10
    # URL messages: the page is fetched with this timeout and size cap; addresses on private
    # or loopback networks are refused unless allowed (an intranet CMS, tests).
    fetch_timeout_seconds: int = 10
    fetch_max_bytes: int = 1 << 20
    fetch_allow_private: bool = False

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the psycopg2 driver named, as SQLAlchemy wants it."""
        url = self.database_url
        for scheme in ("postgresql://", "postgres://"):
            if url.startswith(scheme):
                return "postgresql+psycopg2://" + url[len(scheme):]
        return url


# The most lanes an import process merges in (db.import_repos keys a lane's lock on it).
IMPORT_LANES_MAX = 16


def _lanes(environ: Mapping[str, str]) -> int:
    lanes = _int(environ, "IMPORT_LANES", Settings.import_lanes)
    if lanes > IMPORT_LANES_MAX:
        raise ConfigurationError(
            f"{PREFIX}IMPORT_LANES must be at most {IMPORT_LANES_MAX}, got {lanes}")
    return lanes


def _int(environ: Mapping[str, str], key: str, default: int) -> int:
    raw = environ.get(PREFIX + key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{PREFIX}{key} must be an integer, got {raw!r}") from None
    if value <= 0:
        raise ConfigurationError(f"{PREFIX}{key} must be positive, got {value}")
    return value


def _passive_ports(environ: Mapping[str, str]) -> tuple[int, int] | None:
    raw = environ.get(PREFIX + "FTP_PASSIVE_PORTS", "").strip()
    if not raw:
        return None
    low, sep, high = raw.partition("-")
    if not (sep and low.strip().isdigit() and high.strip().isdigit()
            and 1024 <= int(low) <= int(high) <= 65535):
        raise ConfigurationError(f"{PREFIX}FTP_PASSIVE_PORTS must be a range like "
                                 f"60000-60099, got {raw!r}")
    return int(low), int(high)


def _sync_time(environ: Mapping[str, str]) -> str:
    raw = environ.get(PREFIX + "SYNC_TIME", "").strip() or Settings.sync_time
    hour, sep, minute = raw.partition(":")
    if not (sep and hour.isdigit() and minute.isdigit() and int(hour) < 24
            and int(minute) < 60):
        raise ConfigurationError(f"{PREFIX}SYNC_TIME must be HH:MM (UTC), got {raw!r}")
    return f"{int(hour):02d}:{int(minute):02d}"


def _seconds(environ: Mapping[str, str], key: str, default: int) -> int:
    return _count(environ, key, default, "a number of seconds")


def _count(environ: Mapping[str, str], key: str, default: int,
           what: str = "a whole number (0 or more)") -> int:
    raw = environ.get(PREFIX + key, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigurationError(f"{PREFIX}{key} must be {what}, got {raw!r}")
    return int(raw)


def _flag(environ: Mapping[str, str], key: str) -> bool:
    return environ.get(PREFIX + key, "").strip().lower() in ("1", "true", "yes", "on")


def _sms_gateway_url(environ: Mapping[str, str]) -> str:
    raw = environ.get(PREFIX + "SMS_GATEWAY_URL", "").strip()
    if raw and not raw.startswith(("http://", "https://")):
        raise ConfigurationError(f"{PREFIX}SMS_GATEWAY_URL must start with http:// or "
                                 f"https://, got {raw!r}")
    return raw


def load_settings(environ: Mapping[str, str]) -> Settings:
    """Build `Settings` from an environment mapping; a missing or bad key raises
    ConfigurationError naming it."""
    database_url = (environ.get("DATABASE_URL")
                    or environ.get(PREFIX + "DATABASE_URL"))
    if not database_url:
        raise ConfigurationError(
            "DATABASE_URL is not set (e.g. postgresql://user@127.0.0.1:5432/mailup)"
        )
    bind = environ.get(PREFIX + "BIND") or Settings.bind
    public_url = (environ.get(PREFIX + "PUBLIC_URL") or f"http://{bind}").rstrip("/")
    if not public_url.startswith(("http://", "https://")):
        raise ConfigurationError(f"{PREFIX}PUBLIC_URL must start with http:// or https://")
    return Settings(
        database_url=database_url,
        public_url=public_url,
        bind=bind,
        max_body_bytes=_int(environ, "MAX_BODY_BYTES", Settings.max_body_bytes),
        access_key_minutes=_int(environ, "ACCESS_KEY_MINUTES", Settings.access_key_minutes),
        web_workers=_int(environ, "WEB_WORKERS", Settings.web_workers),
        log_level=environ.get(PREFIX + "LOG_LEVEL", Settings.log_level).upper(),
        secret_key=environ.get(PREFIX + "SECRET_KEY", ""),
        smtp_host=environ.get(PREFIX + "SMTP_HOST", Settings.smtp_host),
        smtp_port=_int(environ, "SMTP_PORT", Settings.smtp_port),
        smtp_user=environ.get(PREFIX + "SMTP_USER", ""),
        smtp_password=environ.get(PREFIX + "SMTP_PASSWORD", ""),
        smtp_starttls=_flag(environ, "SMTP_STARTTLS"),
        mail_from=environ.get(PREFIX + "MAIL_FROM", Settings.mail_from),
        pending_days=_int(environ, "PENDING_DAYS", Settings.pending_days),
        webhook_timeout_seconds=_int(environ, "WEBHOOK_TIMEOUT_SECONDS",
                                     Settings.webhook_timeout_seconds),
        webhook_max_failures=_int(environ, "WEBHOOK_MAX_FAILURES", Settings.webhook_max_failures),
        trust_forwarded_for=_flag(environ, "TRUST_FORWARDED_FOR"),
        ftp_root=environ.get(PREFIX + "FTP_ROOT") or Settings.ftp_root,
        ftp_bind=environ.get(PREFIX + "FTP_BIND") or Settings.ftp_bind,
        ftp_passive_ports=_passive_ports(environ),
        ftp_masquerade_address=environ.get(PREFIX + "FTP_MASQUERADE_ADDRESS", ""),
        ftp_tls_cert=environ.get(PREFIX + "FTP_TLS_CERT", ""),
        ftp_tls_key=environ.get(PREFIX + "FTP_TLS_KEY", ""),
        ftp_tls_required=_flag(environ, "FTP_TLS_REQUIRED"),
        ftp_settle_seconds=_seconds(environ, "FTP_SETTLE_SECONDS", Settings.ftp_settle_seconds),
        sync_time=_sync_time(environ),
        send_connections=_int(environ, "SEND_CONNECTIONS", Settings.send_connections),
        import_lanes=_lanes(environ),
        send_per_second=_seconds(environ, "SEND_PER_SECOND", 0),
        send_per_hour=_seconds(environ, "SEND_PER_HOUR", 0),
        bounce_domain=environ.get(PREFIX + "BOUNCE_DOMAIN", ""),
        soft_bounce_limit=_count(environ, "SOFT_BOUNCE_LIMIT", Settings.soft_bounce_limit),
        sms_gateway_url=_sms_gateway_url(environ),
        sms_gateway_token=environ.get(PREFIX + "SMS_GATEWAY_TOKEN", ""),
        sms_sender=environ.get(PREFIX + "SMS_SENDER", "").strip(),
        sms_gateway_timeout_seconds=_int(environ, "SMS_GATEWAY_TIMEOUT_SECONDS",
                                         Settings.sms_gateway_timeout_seconds),
        fetch_timeout_seconds=_int(environ, "FETCH_TIMEOUT_SECONDS",
                                   Settings.fetch_timeout_seconds),
        fetch_max_bytes=_int(environ, "FETCH_MAX_BYTES", Settings.fetch_max_bytes),
        fetch_allow_private=_flag(environ, "FETCH_ALLOW_PRIVATE"),
    )
