"""The only module that names concrete classes and wires them together."""
from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any

from procrastinate import App, PsycopgConnector

from mailup_soap.adapters.clock import SystemClock
from mailup_soap.adapters.file_drop import LocalFileDrop
from mailup_soap.adapters.page_fetch import HttpPageFetcher
from mailup_soap.adapters.passwords import Argon2Hasher
from mailup_soap.adapters.sms_http import HttpSmsGateway
from mailup_soap.adapters.smtp import SmtpMailer
from mailup_soap.adapters.webhook_http import HttpPoster
from mailup_soap.config import ConfigurationError, Settings
from mailup_soap.db.unit_of_work import SqlAlchemyUnitOfWork, make_engine
from mailup_soap.frontend.app import frontend_routes
from mailup_soap.frontend.tracking import tracking_routes
from mailup_soap.jobs import tasks
from mailup_soap.service_layer.deps import Deps
from mailup_soap.soap.wsgi import configure_spyne, soap_routes
from mailup_soap.web import Router, WsgiApp


def build_deps(settings: Settings, pool_size: int = 5) -> Deps:
    """Dependencies for one process (build it after fork: the engine owns connections).
    `pool_size`: the connections its threads use at once; one of them merging an import
    uses one per lane (the others wait for a connection up to 30 s, then fail)."""
    engine = make_engine(settings.sqlalchemy_url, pool_size=pool_size,
                         max_overflow=5 + pool_size * (settings.import_lanes - 1))
    mailer = SmtpMailer(settings.smtp_host, settings.smtp_port, user=settings.smtp_user,
                        password=settings.smtp_password, starttls=settings.smtp_starttls)
    return Deps(uow=functools.partial(SqlAlchemyUnitOfWork, engine), hasher=Argon2Hasher(),
                clock=SystemClock(),
                access_key_ttl=dt.timedelta(minutes=settings.access_key_minutes),
                mailer=mailer, poster=HttpPoster(), secret_key=settings.secret_key,
                public_url=settings.public_url, mail_from=settings.mail_from,
                pending_days=settings.pending_days,
                webhook_timeout=float(settings.webhook_timeout_seconds),
                webhook_max_failures=settings.webhook_max_failures,
                file_drop=LocalFileDrop(settings.ftp_root, settings.ftp_settle_seconds),
                bulk_mailer=mailer, send_connections=settings.send_connections,
                import_lanes=settings.import_lanes,
                send_per_second=settings.send_per_second, send_per_hour=settings.send_per_hour,
                bounce_domain=settings.bounce_domain,
                soft_bounce_limit=settings.soft_bounce_limit,
                sms_gateway=_sms_gateway(settings), sms_sender=settings.sms_sender,
                page_fetcher=HttpPageFetcher(float(settings.fetch_timeout_seconds),
                                             settings.fetch_max_bytes,
                                             settings.fetch_allow_private))


def _sms_gateway(settings: Settings) -> HttpSmsGateway | None:
    if not settings.sms_gateway_url:
        return None
    return HttpSmsGateway(settings.sms_gateway_url, settings.sms_gateway_token,
                          float(settings.sms_gateway_timeout_seconds))


def build_wsgi_app(settings: Settings, deps: Deps | None = None) -> Router:
    configure_spyne()
    if not settings.secret_key:
        raise ConfigurationError("MAILUP_SECRET_KEY is not set: it signs confirmation links "
                                 "(any long random string, the same for every process)")
    deps = deps or build_deps(settings)
    routes: dict[str, WsgiApp] = soap_routes(deps, settings.public_url,
                                             settings.max_body_bytes,
                                             settings.trust_forwarded_for)
    routes.update(frontend_routes(deps, settings.trust_forwarded_for))
    routes.update(tracking_routes(deps, settings.trust_forwarded_for))
    return Router(routes)


def build_job_app(settings: Settings, concurrency: int = 2) -> App:
    """The procrastinate app of a worker running `concurrency` jobs at a time."""
    # procrastinate speaks psycopg 3; libpq takes the plain postgresql:// URL.
    app = App(connector=PsycopgConnector(conninfo=settings.database_url))
    deps = functools.cache(lambda: build_deps(settings, pool_size=concurrency))
    app.add_tasks_from(tasks.make_blueprint(deps, settings.sync_time),
                       namespace=tasks.NAMESPACE)
    return app


def build_ftp_server(settings: Settings, bind: tuple[str, int] | None = None) -> Any:
    from mailup_soap.adapters.ftp_site import build_server

    deps = build_deps(settings, pool_size=2)
    drop = LocalFileDrop(settings.ftp_root, settings.ftp_settle_seconds)
    return build_server(settings, deps, drop, bind)


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    configure_spyne()


def wsgi_factory(settings: Settings) -> Any:
    """For gunicorn: build the app inside each worker (post-fork), not in the master."""
    return build_wsgi_app(settings)
