"""MailupReport: sessions, and GetUnsubscribers (ours, beyond MailUp's WSDL: the
unsubscriber export of spec 7.2, paged); statistics come with the Send issue."""
from __future__ import annotations

from collections.abc import Iterable

from lxml import etree
from lxml.builder import E

from mailup_soap.domain import unsubscribers as unsub
from mailup_soap.service_layer import exports
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap.operations import Op
from mailup_soap.soap.results import Result
from mailup_soap.soap.session_ops import SESSION_OPS
from mailup_soap.soap.types import Int, String

KEY = ("accessKey", String)


def unsubscribers_element(rows: Iterable[unsub.Unsubscriber]) -> etree._Element:
    """<Unsubscribers Count=""><Unsubscriber Email="" .../></Unsubscribers>; dates as the
    export's OptOut_Date (YYYYMMDDTHHMMSS, UTC), Reason the code, ReasonType its words."""
    items = [E.Unsubscriber(
        Email=row.email or "", Mobile=row.mobile or "", ListID=str(row.list_id),
        OptOutDate=unsub.format_date(row.unsubscribed_at),
        SubscriptionDate=unsub.format_date(row.subscribed_at),
        OptOutMessageID=str(row.message_id) if row.message_id is not None else "",
        Reason=str(row.reason) if row.reason is not None else "",
        ReasonType=row.reason_description) for row in rows]
    return E.Unsubscribers(*items, Count=str(len(items)))


def _get_unsubscribers(deps: Deps, cred: Credentials, listsIncluded: str | None,
                       listsExcluded: str | None, dateFilter: str | None, fromDate: str | None,
                       toDate: str | None, reasonsIncluded: str | None,
                       reasonsExcluded: str | None, pageSize: int | None,
                       continuationToken: str | None) -> Result:
    flt = unsub.parse_filter(listsIncluded, listsExcluded, dateFilter, fromDate, toDate,
                             reasonsIncluded, reasonsExcluded)
    page = exports.unsubscribers_page(deps, cred, flt, pageSize, continuationToken)
    return Result([unsubscribers_element(page.rows), E.ContinuationToken(page.token)])


OPERATIONS = [
    *SESSION_OPS,
    Op("ReportByUser", [KEY, ("email", String), ("listID", Int), ("messageID", Int)]),
    Op("ReportByUserEN", [KEY, ("email", String), ("listID", Int), ("messageID", Int)]),
    Op("ReportByMessage", [KEY, ("listID", Int), ("messageID", Int)]),
    Op("ReportByMessageEN", [KEY, ("listID", Int), ("messageID", Int)]),
    Op("GetUnsubscribers", [KEY, ("listsIncluded", String), ("listsExcluded", String),
                            ("dateFilter", String), ("fromDate", String), ("toDate", String),
                            ("reasonsIncluded", String), ("reasonsExcluded", String),
                            ("pageSize", Int), ("continuationToken", String)],
       _get_unsubscribers),
]
