"""Task definitions, on a blueprint that bootstrap registers on the procrastinate App.
Each task is a thin entrypoint to a service-layer function."""
from __future__ import annotations

import logging
from collections.abc import Callable

from procrastinate import Blueprint, JobContext, RetryStrategy

from mailup_soap.service_layer import auth, confirmations, subscriptions, webhooks
from mailup_soap.service_layer.deps import Deps

log = logging.getLogger("mailup_soap.jobs")
blueprint = Blueprint()

_deps_factory: Callable[[], Deps] | None = None

# A worker that died mid-job leaves it "doing"; after this long without a heartbeat from
# that worker the job is retried. The webhook delivery row keeps its webhook-id across it.
STALLED_AFTER_SECONDS = 60


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


@blueprint.periodic(cron="17 * * * *")
@blueprint.task(name="prune_pending", queue="maintenance", queueing_lock="prune_pending")
def prune_pending(timestamp: int) -> int:
    count = subscriptions.prune_pending(_deps())
    log.info("removed %d subscriptions left pending too long", count)
    return count


# The webhook retry schedule is ours (domain/webhooks.py): each attempt is its own job, so
# procrastinate does not retry it; the job only fails on an unexpected error.
@blueprint.task(name="deliver_webhook", queue=webhooks.WEBHOOK_QUEUE)
def deliver_webhook(delivery_id: int) -> str:
    return webhooks.attempt_delivery(_deps(), delivery_id)


# SMTP hiccups: retry a few times, a minute apart and growing.
@blueprint.task(name="send_confirmation", queue=subscriptions.MAIL_QUEUE,
                retry=RetryStrategy(max_attempts=6, wait=60, linear_wait=120))
def send_confirmation(account_id: int, list_id: int, recipient_id: int, sender_email: str = "",
                      sender_name: str = "") -> bool:
    return confirmations.send_confirmation(_deps(), account_id, list_id, recipient_id,
                                           sender_email, sender_name)


@blueprint.periodic(cron="* * * * *")
@blueprint.task(name="retry_stalled_jobs", queue="maintenance", pass_context=True,
                queueing_lock="retry_stalled_jobs")
async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
    manager = context.app.job_manager
    stalled = list(await manager.get_stalled_jobs(
        seconds_since_heartbeat=STALLED_AFTER_SECONDS))
    for job in stalled:
        log.warning("retrying job %s, stalled on a worker that stopped", job.id)
        await manager.retry_job(job)
    return len(stalled)
