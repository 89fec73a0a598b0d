"""The daily sync's settings: the FTP knobs read from the environment, and the periodic task
scheduled at MAILUP_SYNC_TIME, UTC."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from procrastinate import Blueprint

from mailup_soap.config import ConfigurationError, load_settings
from mailup_soap.jobs import tasks

BASE = {"DATABASE_URL": "postgresql://u@h/db"}


def test_ftp_settings_have_working_defaults() -> None:
    settings = load_settings(BASE)

    assert (settings.ftp_root, settings.ftp_bind, settings.ftp_passive_ports,
            settings.ftp_settle_seconds, settings.sync_time, settings.ftp_tls_cert) == (
        "var/ftp", "127.0.0.1:2121", None, 60, "02:00", "")


def test_ftp_settings_are_read_from_the_environment() -> None:
    settings = load_settings(BASE | {
        "MAILUP_FTP_ROOT": "/srv/ftp", "MAILUP_FTP_BIND": "0.0.0.0:21",
        "MAILUP_FTP_PASSIVE_PORTS": "60000-60099", "MAILUP_FTP_MASQUERADE_ADDRESS": "203.0.113.7",
        "MAILUP_FTP_TLS_CERT": "/etc/c.pem", "MAILUP_FTP_TLS_KEY": "/etc/k.pem",
        "MAILUP_FTP_TLS_REQUIRED": "yes", "MAILUP_FTP_SETTLE_SECONDS": "0",
        "MAILUP_SYNC_TIME": "3:05"})

    assert (settings.ftp_root, settings.ftp_bind, settings.ftp_passive_ports,
            settings.ftp_masquerade_address, settings.ftp_tls_cert, settings.ftp_tls_key,
            settings.ftp_tls_required, settings.ftp_settle_seconds, settings.sync_time) == (
        "/srv/ftp", "0.0.0.0:21", (60000, 60099), "203.0.113.7", "/etc/c.pem", "/etc/k.pem",
        True, 0, "03:05")


@pytest.mark.parametrize(("key", "value"), [
    ("MAILUP_FTP_PASSIVE_PORTS", "60000"), ("MAILUP_FTP_PASSIVE_PORTS", "61000-60000"),
    ("MAILUP_FTP_PASSIVE_PORTS", "80-90"), ("MAILUP_SYNC_TIME", "25:00"),
    ("MAILUP_SYNC_TIME", "2am"), ("MAILUP_FTP_SETTLE_SECONDS", "-1"),
])
def test_a_malformed_ftp_setting_is_refused_by_name(key: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=key):
        load_settings(BASE | {key: value})


def _periodic(bp: Blueprint) -> dict[str, Any]:
    return {task.task.name: task for task in bp.periodic_registry.periodic_tasks.values()}


def test_the_daily_sync_runs_every_day_at_the_configured_utc_time() -> None:
    bp = tasks.make_blueprint(lambda: None, "03:15")  # type: ignore[arg-type,return-value]
    daily = _periodic(bp)["daily_sync"]
    just_before = dt.datetime(2026, 11, 26, 3, 14, tzinfo=dt.UTC).timestamp()

    next_run = daily.croniter.get_next(ret_type=float, start_time=just_before)

    assert daily.cron == "15 3 * * *"
    assert dt.datetime.fromtimestamp(next_run, dt.UTC) == dt.datetime(
        2026, 11, 26, 3, 15, tzinfo=dt.UTC)
