"""The only module that names concrete classes and wires them together."""
from __future__ import annotations

import datetime as dt
import functools
import logging
from typing import Any

from procrastinate import App, PsycopgConnector

from mailup_soap.adapters.clock import SystemClock
from mailup_soap.adapters.passwords import Argon2Hasher
from mailup_soap.config import Settings
from mailup_soap.db.unit_of_work import SqlAlchemyUnitOfWork, make_engine
from mailup_soap.jobs import tasks
from mailup_soap.service_layer.deps import Deps
from mailup_soap.soap.wsgi import Router, quiet_spyne_loggers, soap_routes


def build_deps(settings: Settings, pool_size: int = 5) -> Deps:
    """Dependencies for one process (build it after fork: the engine owns connections)."""
    engine = make_engine(settings.sqlalchemy_url, pool_size=pool_size)
    return Deps(uow=functools.partial(SqlAlchemyUnitOfWork, engine), hasher=Argon2Hasher(),
                clock=SystemClock(),
                access_key_ttl=dt.timedelta(minutes=settings.access_key_minutes))


def build_wsgi_app(settings: Settings, deps: Deps | None = None) -> Router:
    quiet_spyne_loggers()
    deps = deps or build_deps(settings)
    return Router(dict(soap_routes(deps, settings.public_url, settings.max_body_bytes)))


def build_job_app(settings: Settings) -> App:
    # procrastinate speaks psycopg 3; libpq takes the plain postgresql:// URL.
    app = App(connector=PsycopgConnector(conninfo=settings.database_url))
    app.add_tasks_from(tasks.blueprint, namespace="mailup")
    tasks.configure(functools.cache(lambda: build_deps(settings, pool_size=2)))
    return app


def configure_logging(settings: Settings) -> None:
    logging.basicConfig(level=settings.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_spyne_loggers()


def wsgi_factory(settings: Settings) -> Any:
    """For gunicorn: build the app inside each worker (post-fork), not in the master."""
    return build_wsgi_app(settings)
