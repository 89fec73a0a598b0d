"""Read-side queries of the Report service's statistics. See
`service_layer.bulk_repos.ReportRepository`."""
from __future__ import annotations

import collections
import itertools
from typing import Any

import sqlalchemy as sa

from mailup_soap.db.lifecycle_repos import personal_fields
from mailup_soap.db.repositories import _Repo
from mailup_soap.domain import reports
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT, SubscriptionStatus
from mailup_soap.service_layer import bulk_repos as contracts

# The tracking events of the list's email deliveries (of one message, or of all when :m is
# NULL). Deliveries are few where events are many: the events are found through
# tracking_events_delivery_idx, one index range per delivery.
_LIST_EVENTS = """
    FROM deliveries d
    JOIN tracking_events te ON te.account_id = d.account_id AND te.delivery_id = d.id
    WHERE d.account_id = :a AND d.list_id = :l AND d.channel = 'email'
      AND (CAST(:m AS bigint) IS NULL OR d.message_id = :m)"""

# Counts of opens and clicks (by link) per address, in one read of the list's events, by
# link: the rows of one link come together. The address is looked up per group by primary
# key (a LATERAL the planner keeps): a removed recipient's events still count in the
# totals, with no address.
_BY_EMAIL = f"""
    SELECT counted.kind, counted.url, r.email, counted.n
    FROM (SELECT te.kind, te.url, te.recipient_id, count(*) AS n {_LIST_EVENTS}
          GROUP BY te.kind, te.url, te.recipient_id) AS counted
    LEFT JOIN LATERAL (SELECT email FROM recipients
                       WHERE account_id = :a AND id = counted.recipient_id OFFSET 0) AS r
           ON true
    ORDER BY counted.kind, counted.url"""

_SUBSCRIBER = f"""
    SELECT r.id, r.mobile_number IS NOT NULL AS has_mobile,
           s.status, s.unsubscribe_reason, s.unsubscribed_at,
           (SELECT max(b.occurred_at) FROM bounces b
            JOIN deliveries d ON d.account_id = b.account_id AND d.id = b.delivery_id
            WHERE b.account_id = :a AND b.recipient_id = r.id AND d.list_id = :l) AS bounced_at,
           {', '.join(f'r.field{i}' for i in range(1, PERSONAL_FIELD_COUNT + 1))}
    FROM recipients r
    JOIN subscriptions s ON s.account_id = r.account_id AND s.list_id = :l
                        AND s.recipient_id = r.id
    WHERE r.account_id = :a AND lower(r.email) = lower(:e) AND r.email IS NOT NULL"""

# One recipient's events, through tracking_events_recipient_idx (migration 0016).
_HITS = """
    SELECT te.kind, te.occurred_at, te.ip, te.url, d.message_id, m.subject
    FROM tracking_events te
    JOIN deliveries d ON d.account_id = te.account_id AND d.id = te.delivery_id
    JOIN messages m ON m.account_id = d.account_id AND m.id = d.message_id
    WHERE te.account_id = :a AND te.recipient_id = :r AND d.list_id = :l
      AND d.channel = 'email' AND (CAST(:m AS bigint) IS NULL OR d.message_id = :m)
    ORDER BY te.occurred_at, te.id"""


def _per_email(rows: list[Any]) -> tuple[int, tuple[tuple[str, int], ...]]:
    """The total of the rows' counts, and the counts of those with an address, the most
    first (then by address)."""
    total = sum(row.n for row in rows)
    known = sorted(((row.email, row.n) for row in rows if row.email is not None),
                   key=lambda pair: (-pair[1], pair[0]))
    return total, tuple(known)


class ReportRepository(_Repo, contracts.ReportRepository):
    def by_message(self, account_id: int, list_id: int,
                   message_id: int | None) -> reports.MessageReport:
        rows: dict[str, list[Any]] = collections.defaultdict(list)
        for row in self.conn.execute(sa.text(_BY_EMAIL),
                                     {"a": account_id, "l": list_id, "m": message_id}):
            rows[row.kind].append(row)
        clicks = []
        for url, group in itertools.groupby(rows["click"], key=lambda row: row.url or ""):
            total, by_email = _per_email(list(group))
            clicks.append(reports.UrlClicks(url, total, by_email))
        clicks.sort(key=lambda c: (-c.total, c.url))
        opens_total, opens = _per_email(rows["open"])
        return reports.MessageReport(tuple(clicks), opens_total, opens)

    def subscriber(self, account_id: int, list_id: int,
                   email: str) -> reports.Subscriber | None:
        row = self.conn.execute(sa.text(_SUBSCRIBER),
                                {"a": account_id, "l": list_id, "e": email}).mappings().first()
        if row is None:
            return None
        return reports.Subscriber(row["id"], row["has_mobile"],
                                  SubscriptionStatus(row["status"]), row["unsubscribe_reason"],
                                  row["unsubscribed_at"], row["bounced_at"],
                                  personal_fields(row))

    def hits(self, account_id: int, list_id: int, recipient_id: int,
             message_id: int | None) -> list[reports.Hit]:
        rows = self.conn.execute(sa.text(_HITS), {"a": account_id, "l": list_id,
                                                  "r": recipient_id, "m": message_id})
        return [reports.Hit(row.occurred_at, row.ip or "", row.message_id, row.subject,
                            row.url if row.kind == "click" else None) for row in rows]
