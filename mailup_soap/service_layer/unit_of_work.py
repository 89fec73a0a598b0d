"""The abstract unit of work: one transaction, and the repositories it carries (their
contracts: service_layer.repositories, lifecycle_repos, bulk_repos and delivery_repos)."""
from __future__ import annotations

import abc
from types import TracebackType

from mailup_soap.service_layer.bulk_repos import (
    ExportRepository,
    FtpUserRepository,
    ImportRepository,
    ReportRepository,
    SyncFileRepository,
)
from mailup_soap.service_layer.delivery_repos import SendingRepository, SmsRepository
from mailup_soap.service_layer.lifecycle_repos import (
    FrontendIpRepository,
    JobQueue,
    LifecycleRepository,
    RecipientRepository,
    WebhookRepository,
)
from mailup_soap.service_layer.repositories import (
    AccountRepository,
    FieldRepository,
    GroupRepository,
    ListRepository,
    SessionRepository,
    SubscriptionRepository,
    UserRepository,
)


class AbstractUnitOfWork(abc.ABC):
    accounts: AccountRepository
    users: UserRepository
    sessions: SessionRepository
    lists: ListRepository
    groups: GroupRepository
    fields: FieldRepository
    subscriptions: SubscriptionRepository
    recipients: RecipientRepository
    lifecycle: LifecycleRepository
    jobs: JobQueue
    frontend_ips: FrontendIpRepository
    webhooks: WebhookRepository
    imports: ImportRepository
    ftp_users: FtpUserRepository
    sending: SendingRepository
    sms: SmsRepository
    sync_files: SyncFileRepository
    exports: ExportRepository
    reports: ReportRepository

    def __enter__(self) -> AbstractUnitOfWork:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Leaving the block without commit() rolls back: nothing is ever half-written.
        self.rollback()

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...
