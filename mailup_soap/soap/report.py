"""MailupReport: sessions, the statistics of spec 5 (ReportByMessage, ReportByUser, each in
MailUp's Italian and English wording), and GetUnsubscribers (ours, beyond MailUp's WSDL: the
unsubscriber export of spec 7.2, paged)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Callable, Iterable

from lxml import etree
from lxml.builder import E

from mailup_soap.domain import reports as rep
from mailup_soap.domain import unsubscribers as unsub
from mailup_soap.domain.model import PERSONAL_FIELD_COUNT, SubscriptionStatus
from mailup_soap.service_layer import exports, reports
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap import payloads
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


@dataclasses.dataclass(frozen=True)
class _Wording:
    """The element and attribute names of one language's ReportByUser / ReportByMessage."""

    total: str
    statuses: dict[SubscriptionStatus | None, str]  # None: not registered
    channels: tuple[str, ...]  # the root, then email, SMS, regular mail, voice, fax
    hit: tuple[str, str, str, str]  # date and time, IP, message id, subject
    fields: tuple[str, str, str, str]  # the root, one field, its id, its value
    date: Callable[[dt.datetime | None], str]


ENGLISH = _Wording(
    "Total",
    {SubscriptionStatus.SUBSCRIBED: "Subscribed", SubscriptionStatus.UNSUBSCRIBED: "Unsubscribed",
     SubscriptionStatus.PENDING: "Pending", None: "Not Registered"},
    ("Channels", "Email", "SMS", "RegularMail", "Voice", "Fax"),
    ("DateTime", "IP", "MessageID", "Subject"),
    ("PersonalDataFields", "Field", "Id", "Value"),
    payloads.english_date)
# "In attesa" with a space, not the wiki's "InAttesa": Magento compares the lower-cased
# status with "in attesa" (spec 10).
ITALIAN = _Wording(
    "Totale",
    {SubscriptionStatus.SUBSCRIBED: "Iscritto", SubscriptionStatus.UNSUBSCRIBED: "Disiscritto",
     SubscriptionStatus.PENDING: "In attesa", None: "Non Registrato"},
    ("Canali", "Email", "SMS", "Posta", "Voce", "Fax"),
    ("DataOra", "IP", "IDMessaggio", "Oggetto"),
    ("CampiAnagrafici", "campo", "id", "Valore"),
    payloads.italian_date)


def message_report(report: rep.MessageReport, words: _Wording) -> list[etree._Element]:
    """<Clicks Url Total><Click Email Total/>..</Clicks>.. <Opens Total><Open Email Total/>.."""
    clicks = [E.Clicks(*[E.Click(Email=email, **{words.total: str(n)})
                         for email, n in link.by_email],
                       Url=link.url, **{words.total: str(link.total)})
              for link in report.clicks]
    opens = E.Opens(*[E.Open(Email=email, **{words.total: str(n)})
                      for email, n in report.opens_by_email],
                    **{words.total: str(report.opens_total)})
    return [*clicks, opens]


def _hit(tag: str, hit: rep.Hit, words: _Wording) -> etree._Element:
    when, ip, message, subject = words.hit
    return etree.Element(tag, {when: words.date(hit.at), ip: hit.ip,
                               message: str(hit.message_id), subject: hit.subject})


def _url(hit: rep.Hit) -> str:
    return hit.url or ""


def user_report(report: rep.UserReport, words: _Wording) -> list[etree._Element]:
    """Channels, Bounce, Clicks by link, Opens, personal fields (spec 5); a subscriber with
    no statistics (unsubscribed, not registered) gets no Clicks or Opens."""
    who = report.subscriber
    root, *names = words.channels
    statuses = [words.statuses[who.status if who else None],
                words.statuses[who.sms_status if who else None], "", "", ""]
    found = [E(root, *[E(name, text) for name, text in zip(names, statuses, strict=True)]),
             E.Bounce(words.date(who.last_bounce) if who else "")]
    if who is not None and who.has_stats:
        by_url = [(url, [_hit("Click", h, words) for h in hits]) for url, hits in
                  itertools.groupby(sorted(report.clicks, key=_url), key=_url)]
        by_url.sort(key=lambda pair: (-len(pair[1]), pair[0]))  # the most clicked first
        found.extend(E.Clicks(*group, Url=url, **{words.total: str(len(group))})
                     for url, group in by_url)
        found.append(E.Opens(*[_hit("Open", h, words) for h in report.opens],
                             **{words.total: str(len(report.opens))}))
    fields_root, field, field_id, value = words.fields
    fields = [etree.Element(field, {field_id: str(i), value: who.fields.get(i, "")})
              for i in range(1, PERSONAL_FIELD_COUNT + 1)] if who else []
    found.append(E(fields_root, *fields))
    return found


def _by_message(words: _Wording) -> Callable[..., Result]:
    def handler(deps: Deps, cred: Credentials, listID: int, messageID: int) -> Result:
        return Result(message_report(reports.by_message(deps, cred, listID, messageID), words))
    return handler


def _by_user(words: _Wording) -> Callable[..., Result]:
    def handler(deps: Deps, cred: Credentials, email: str | None, listID: int,
                messageID: int) -> Result:
        return Result(user_report(reports.by_user(deps, cred, email, listID, messageID), words))
    return handler


OPERATIONS = [
    *SESSION_OPS,
    Op("ReportByUser", [KEY, ("email", String), ("listID", Int), ("messageID", Int)],
       _by_user(ITALIAN)),
    Op("ReportByUserEN", [KEY, ("email", String), ("listID", Int), ("messageID", Int)],
       _by_user(ENGLISH)),
    Op("ReportByMessage", [KEY, ("listID", Int), ("messageID", Int)], _by_message(ITALIAN)),
    Op("ReportByMessageEN", [KEY, ("listID", Int), ("messageID", Int)],
       _by_message(ENGLISH)),
    Op("GetUnsubscribers", [KEY, ("listsIncluded", String), ("listsExcluded", String),
                            ("dateFilter", String), ("fromDate", String), ("toDate", String),
                            ("reasonsIncluded", String), ("reasonsExcluded", String),
                            ("pageSize", Int), ("continuationToken", String)],
       _get_unsubscribers),
]
