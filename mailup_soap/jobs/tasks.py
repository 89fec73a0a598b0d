"""Task definitions. `make_blueprint` builds them around a dependency factory; bootstrap adds
the blueprint to a procrastinate App. Each task is a thin entrypoint to a service function.

A procrastinate Blueprint belongs to one App once added (it is renamed in place), hence a
factory rather than a module-level blueprint: every App gets its own."""
from __future__ import annotations

import logging
from collections.abc import Callable

from procrastinate import Blueprint, JobContext, RetryStrategy

from mailup_soap.service_layer import (
    auth,
    confirmations,
    daily_sync,
    delivery_engine,
    import_runner,
    imports,
    message_nl,
    sms,
    subscriptions,
    webhooks,
)
from mailup_soap.service_layer.deps import Deps

log = logging.getLogger("mailup_soap.jobs")

NAMESPACE = "mailup"
# A worker that died mid-job leaves it "doing"; after this long without a heartbeat from
# that worker the job is retried. A webhook delivery keeps its webhook-id across it.
STALLED_AFTER_SECONDS = 60


def make_blueprint(deps: Callable[[], Deps], sync_time: str = "02:00") -> Blueprint:
    """`sync_time` (HH:MM, UTC) is when the daily FTP sync runs."""
    bp = Blueprint()
    hour, minute = (int(part) for part in sync_time.split(":"))

    # The daily batch sync. The queueing lock keeps one run at a time across workers; files
    # are safe to re-run anyway (see service_layer/daily_sync.py).
    @bp.periodic(cron=f"{minute} {hour} * * *")
    @bp.task(name="daily_sync", queue="sync", queueing_lock="daily_sync", lock="daily_sync")
    def daily_sync_task(timestamp: int) -> int:
        summaries = daily_sync.sync_all(deps())
        return sum(len(s.files) for s in summaries)

    # The files of a list that had an import running when the sync reached them, tried again
    # a little later (daily_sync.RETRY_AFTER, a few times); one account's chain at a time.
    @bp.task(name="sync_waiting_files", queue=daily_sync.SYNC_QUEUE)
    def sync_waiting_files(account_id: int, list_ids: list[int], attempt: int) -> int:
        return len(daily_sync.sync_waiting(deps(), account_id, list_ids, attempt))

    # Every 10 minutes: expired keys are refused at lookup already; this keeps the table small.
    @bp.periodic(cron="*/10 * * * *")
    @bp.task(name="purge_expired_access_keys", queue="maintenance",
             queueing_lock="purge_expired_access_keys")
    def purge_expired_access_keys(timestamp: int) -> int:
        count = auth.purge_expired_sessions(deps())
        log.info("purged %d expired or revoked access keys", count)
        return count

    @bp.periodic(cron="17 * * * *")
    @bp.task(name="prune_pending", queue="maintenance", queueing_lock="prune_pending")
    def prune_pending(timestamp: int) -> int:
        count = subscriptions.prune_pending(deps())
        log.info("removed %d subscriptions left pending too long", count)
        return count

    # The webhook retry schedule is ours (domain/webhooks.py): each attempt is its own job,
    # so procrastinate does not retry it; the job only fails on an unexpected error.
    @bp.task(name="deliver_webhook", queue=webhooks.WEBHOOK_QUEUE)
    def deliver_webhook(delivery_id: int) -> str:
        return webhooks.attempt_delivery(deps(), delivery_id)

    # SMTP hiccups: a few retries, a minute apart and growing.
    @bp.task(name="send_confirmation", queue=subscriptions.MAIL_QUEUE,
             retry=RetryStrategy(max_attempts=6, wait=60, linear_wait=120))
    def send_confirmation(account_id: int, list_id: int, recipient_id: int,
                          sender_email: str = "", sender_name: str = "",
                          lists: list[int] | None = None,
                          message_id: int | None = None) -> bool:
        return confirmations.send_confirmation(deps(), account_id, list_id, recipient_id,
                                               sender_email, sender_name, lists, message_id)

    @bp.task(name="send_unsubscribed_notice", queue=subscriptions.MAIL_QUEUE,
             retry=RetryStrategy(max_attempts=6, wait=60, linear_wait=120))
    def send_unsubscribed_notice(account_id: int, list_id: int, recipient_id: int) -> bool:
        return confirmations.send_unsubscribed_notice(deps(), account_id, list_id,
                                                      recipient_id)

    # One job per delivery at a time (a lock per delivery). The SMTP server unreachable:
    # retried, a minute apart and growing; what was sent is recorded before the error.
    @bp.task(name="run_delivery", queue=delivery_engine.SEND_QUEUE,
             retry=RetryStrategy(max_attempts=20, wait=30, linear_wait=60))
    def run_delivery(delivery_id: int) -> str:
        return delivery_engine.run_delivery(deps(), delivery_id)

    # The same for SMS deliveries: the gateway unreachable or failing (5xx) is retried, half
    # a minute apart and growing; what went out is recorded before the error.
    @bp.task(name="run_sms_delivery", queue=sms.SMS_QUEUE,
             retry=RetryStrategy(max_attempts=20, wait=30, linear_wait=60))
    def run_sms_delivery(delivery_id: int) -> str:
        return sms.run_sms_delivery(deps(), delivery_id)

    # SendMessageNL at its sending time: starts the file's import under the list's lock (or,
    # the daily sync or `mailup-soap import` merging into the list, looks again a minute later).
    @bp.task(name="run_message_nl", queue=delivery_engine.SEND_QUEUE,
             retry=RetryStrategy(max_attempts=20, wait=30, linear_wait=60))
    def run_message_nl(delivery_id: int, process_id: int) -> str:
        return message_nl.run_message_nl(deps(), delivery_id, process_id)

    # Deferred with the list's import lock (imports.list_lock), as run_import below.
    @bp.task(name="import_message_nl", queue=imports.IMPORT_QUEUE)
    def import_message_nl(delivery_id: int, process_id: int) -> str:
        return message_nl.import_message_nl(deps(), delivery_id, process_id)

    # One list at a time: StartProcess defers it with a per-list procrastinate lock.
    @bp.task(name="run_import", queue=imports.IMPORT_QUEUE)
    def run_import(process_id: int) -> int:
        return int(import_runner.run_process(deps(), process_id))

    @bp.periodic(cron="* * * * *")
    @bp.task(name="retry_stalled_jobs", queue="maintenance", pass_context=True,
             queueing_lock="retry_stalled_jobs")
    async def retry_stalled_jobs(context: JobContext, timestamp: int) -> int:
        manager = context.app.job_manager
        stalled = list(await manager.get_stalled_jobs(
            seconds_since_heartbeat=STALLED_AFTER_SECONDS))
        for job in stalled:
            log.warning("retrying job %s, stalled on a worker that stopped", job.id)
            await manager.retry_job(job)
        return len(stalled)

    return bp
