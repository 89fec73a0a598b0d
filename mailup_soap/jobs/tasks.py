"""Task definitions, on a blueprint that bootstrap registers on the procrastinate App."""
from __future__ import annotations

import logging
from collections.abc import Callable

from procrastinate import Blueprint

from mailup_soap.service_layer import auth
from mailup_soap.service_layer.deps import Deps

log = logging.getLogger("mailup_soap.jobs")
blueprint = Blueprint()

_deps_factory: Callable[[], Deps] | None = None


def configure(deps_factory: Callable[[], Deps]) -> None:
    """Give the tasks their dependencies (called once by bootstrap in the worker process)."""
    global _deps_factory
    _deps_factory = deps_factory


def _deps() -> Deps:
    if _deps_factory is None:
        raise RuntimeError("jobs.tasks.configure() was not called")
    return _deps_factory()


# Every 10 minutes: expired keys are already refused at lookup, this only keeps the table small.
@blueprint.periodic(cron="*/10 * * * *")
@blueprint.task(name="purge_expired_access_keys", queue="maintenance",
                queueing_lock="purge_expired_access_keys")
def purge_expired_access_keys(timestamp: int) -> int:
    count = auth.purge_expired_sessions(_deps())
    log.info("purged %d expired or revoked access keys", count)
    return count
