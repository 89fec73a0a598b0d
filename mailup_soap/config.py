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

    @property
    def sqlalchemy_url(self) -> str:
        """The URL with the psycopg2 driver named, as SQLAlchemy wants it."""
        url = self.database_url
        for scheme in ("postgresql://", "postgres://"):
            if url.startswith(scheme):
                return "postgresql+psycopg2://" + url[len(scheme):]
        return url


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
    )
