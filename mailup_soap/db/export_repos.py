"""Unsubscriber reads and export profiles. See `service_layer.bulk_repos.ExportRepository`."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert

from mailup_soap.db import tables as t
from mailup_soap.db.repositories import _Repo
from mailup_soap.domain.model import SubscriptionStatus
from mailup_soap.domain.unsubscribers import (
    ExportProfile,
    Unsubscriber,
    UnsubscriberFilter,
    Window,
    full_mobile,
)
from mailup_soap.service_layer import bulk_repos as contracts

# Rows fetched per round trip of the server-side cursor: a row is a few hundred bytes, so
# 5,000 keep a batch around 1 MB while a million rows take 200 round trips.
STREAM_BATCH = 5_000

_s = t.subscriptions.c
_r = t.recipients.c
_p = t.export_profiles.c
_INT_ARRAY = sa.ARRAY(sa.Integer)


def _select(account_id: int, flt: UnsubscriberFilter, window: Window | None) -> sa.Select[Any]:
    # account_id first and status = 'unsubscribed': the primary key and the partial index
    # subscriptions_unsubscribed_idx (account, list, unsubscribed_at) both apply.
    # The recipient is looked up per row by primary key through a LATERAL that the planner
    # may not flatten (OFFSET 0): right after a bulk change, before autovacuum has analysed,
    # a plain join was planned as a per-row scan of the account's recipients (minutes for
    # 50,000 rows; `make bench-ftp`).
    r = (sa.select(_r.email, _r.mobile_prefix, _r.mobile_number)
         .where(_r.account_id == _s.account_id, _r.id == _s.recipient_id)
         .offset(0).lateral("r"))
    q = (sa.select(_s.list_id, _s.recipient_id, r.c.email, r.c.mobile_prefix, r.c.mobile_number,
                   _s.unsubscribed_at, _s.subscribed_at, _s.optout_message_id,
                   _s.unsubscribe_reason)
         .select_from(t.subscriptions).join(r, sa.true())
         .where(_s.account_id == account_id, _s.status == SubscriptionStatus.UNSUBSCRIBED.value)
         .order_by(_s.list_id, _s.recipient_id))
    if flt.lists:
        q = q.where(_s.list_id == sa.any_(sa.literal(list(flt.lists), _INT_ARRAY)))
    if flt.exclude_lists:
        q = q.where(_s.list_id != sa.all_(sa.literal(list(flt.exclude_lists), _INT_ARRAY)))
    if window is not None:
        q = q.where(_s.unsubscribed_at >= window.start, _s.unsubscribed_at < window.end)
    if flt.reasons:
        q = q.where(_s.unsubscribe_reason == sa.any_(sa.literal(list(flt.reasons), _INT_ARRAY)))
    if flt.exclude_reasons:
        # An unsubscription with no recorded reason is not one of the excluded reasons.
        q = q.where(sa.or_(_s.unsubscribe_reason.is_(None), _s.unsubscribe_reason != sa.all_(
            sa.literal(list(flt.exclude_reasons), _INT_ARRAY))))
    return q


def _unsubscriber(row: Any) -> Unsubscriber:
    return Unsubscriber(row.list_id, row.recipient_id, row.email,
                        full_mobile(row.mobile_prefix, row.mobile_number), row.unsubscribed_at,
                        row.subscribed_at, row.optout_message_id, row.unsubscribe_reason)


class ExportRepository(_Repo, contracts.ExportRepository):
    def page(self, account_id: int, flt: UnsubscriberFilter, window: Window | None,
             after: tuple[int, int] | None, limit: int) -> list[Unsubscriber]:
        q = _select(account_id, flt, window).limit(limit)
        if after is not None:
            # Keyset paging on the primary key order: each page is an index range scan.
            q = q.where(sa.tuple_(_s.list_id, _s.recipient_id) > sa.tuple_(*after))
        return [_unsubscriber(r) for r in self.conn.execute(q)]

    def stream(self, account_id: int, flt: UnsubscriberFilter,
               window: Window | None) -> Iterator[Unsubscriber]:
        # Per statement, not conn.execution_options(): that would switch the whole unit of
        # work's connection to server-side cursors.
        q = _select(account_id, flt, window).execution_options(stream_results=True,
                                                                yield_per=STREAM_BATCH)
        with self.conn.execute(q) as result:
            for row in result:
                yield _unsubscriber(row)

    def add_profile(self, account_id: int, profile: ExportProfile) -> bool:
        done = self.conn.execute(insert(t.export_profiles).values(
            account_id=account_id, name=profile.name, filters=profile.filter.to_json())
            .on_conflict_do_nothing().returning(_p.name))
        return done.first() is not None

    def profiles(self, account_id: int) -> list[ExportProfile]:
        rows = self.conn.execute(sa.select(_p.name, _p.filters, _p.created_at)
                                 .where(_p.account_id == account_id).order_by(_p.name))
        return [ExportProfile(r.name, UnsubscriberFilter.from_json(r.filters), r.created_at)
                for r in rows]

    def remove_profile(self, account_id: int, name: str) -> bool:
        done = self.conn.execute(t.export_profiles.delete().where(
            _p.account_id == account_id, _p.name == name))
        return done.rowcount > 0
