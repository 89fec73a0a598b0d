"""MailupSend's SMS operations: translate, call service_layer.sms, pack the result.

Result payloads (inside the usual errorCode/errorDescription document):
CreateSMS `<smsID>`; GetSMS `<list><listID/><smsMessages><sms><smsID/><subject/><text/>
<note/><creationdate/></sms>...</smsMessages></list>`; the sends `<deliveryID/>` and a
`<deliveryStatus>` (GetNewsletterDeliveryStatus's, `<smsID>` for `<newsletterID>`, empty for
SendDirectSMS), SendSMSFast also `<smsID>`; Stop/StartDeliverySMS
`<deliveries><deliveryID/>...</deliveries>`; GetSMSQueues `<queues><queue><deliveryID/>
<scheduleID/><listID/><smsID/><status/><deliverydt/><toSend/><toBeSent/></queue>...</queues>`
(GetNewsletterQueues's, `<smsID>` for `<newsletterID>`, deliverydt yyyyMMddHHmmss UTC),
ScheduleSMSQueue the moved delivery's `<queue>`, RemoveSMSQueue nothing."""
from __future__ import annotations

import datetime as dt

from lxml import etree
from lxml.builder import E

from mailup_soap.domain.sms import Sms, SmsDelivery
from mailup_soap.service_layer import sms
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap import payloads
from mailup_soap.soap.results import Result
from mailup_soap.soap.types import option_pairs


def _texts(options: object) -> list[tuple[str, str]]:
    """Options are anyType on the wire: their values as text (None as empty)."""
    return [(k.strip().lower(), "" if v is None else str(v)) for k, v in option_pairs(options)]


def _message(m: Sms) -> etree._Element:
    return E.sms(E.smsID(str(m.id)), E.subject(m.subject), E.text(m.text), E.note(m.note),
                 E.creationdate(payloads.english_date(m.created_at)))


def status_element(d: SmsDelivery, now: dt.datetime) -> etree._Element:
    return E.deliveryStatus(
        E.deliveryID(str(d.id)), E.listID(str(d.list_id)),
        E.smsID("" if d.sms_id is None else str(d.sms_id)), E.status(d.status.mailup_name),
        *payloads.delivery_figures(d, now))


def _sent(d: SmsDelivery, now: dt.datetime) -> Result:
    return Result([E.deliveryID(str(d.id)), status_element(d, now)])


def create_sms(deps: Deps, cred: Credentials, listID: int, subject: str | None,
               text: str | None, options: object) -> Result:
    return Result([E.smsID(str(sms.create_sms(deps, cred, listID, subject, text,
                                              _texts(options))))])


def get_sms(deps: Deps, cred: Credentials, listID: int) -> Result:
    found = sms.sms_messages(deps, cred, listID)
    return Result([E.list(E.listID(str(listID)), E.smsMessages(*map(_message, found)))])


def send_sms(deps: Deps, cred: Credentials, listID: int, smsID: int, options: object) -> Result:
    return _sent(sms.send_sms(deps, cred, listID, smsID, _texts(options)), deps.clock.now())


def send_sms_fast(deps: Deps, cred: Credentials, listID: int, subject: str | None,
                  text: str | None, options: object) -> Result:
    d = sms.send_sms_fast(deps, cred, listID, subject, text, _texts(options))
    return Result([E.smsID(str(d.sms_id)), E.deliveryID(str(d.id)),
                   status_element(d, deps.clock.now())])


def send_single_sms(deps: Deps, cred: Credentials, listID: int, subject: str | None,
                    type: str | None, content: str | None, numero: str | None,
                    options: object) -> Result:
    return _sent(sms.send_single_sms(deps, cred, listID, subject, type, content, numero,
                                     _texts(options)), deps.clock.now())


def send_direct_sms(deps: Deps, cred: Credentials, listID: int, content: str | None,
                    numero: str | None, options: object) -> Result:
    return _sent(sms.send_direct_sms(deps, cred, listID, content, numero, _texts(options)),
                 deps.clock.now())


def delivery_status(deps: Deps, cred: Credentials, deliveryID: int) -> Result:
    return Result([status_element(sms.delivery_status(deps, cred, deliveryID),
                                  deps.clock.now())])


def _deliveries(ids: list[int]) -> Result:
    return Result([E.deliveries(*[E.deliveryID(str(i)) for i in ids])])


def stop_delivery(deps: Deps, cred: Credentials) -> Result:
    return _deliveries(sms.stop_deliveries(deps, cred))


def start_delivery(deps: Deps, cred: Credentials) -> Result:
    return _deliveries(sms.start_deliveries(deps, cred))


def _queue_element(d: SmsDelivery) -> etree._Element:
    return E.queue(E.deliveryID(str(d.id)), E.scheduleID(str(d.id)), E.listID(str(d.list_id)),
                   E.smsID("" if d.sms_id is None else str(d.sms_id)),
                   E.status(d.status.mailup_name),
                   E.deliverydt(f"{d.scheduled_at:%Y%m%d%H%M%S}"), E.toSend(str(d.total)),
                   E.toBeSent(str(d.to_send)))


def queues(deps: Deps, cred: Credentials, listID: int) -> Result:
    return Result([E.queues(*map(_queue_element, sms.queues(deps, cred, listID)))])


def schedule_queue(deps: Deps, cred: Credentials, listID: int, smsID: int, scheduleID: int,
                   deliverydt: str | None, timezone: int) -> Result:
    return Result([_queue_element(sms.schedule_queue(deps, cred, listID, smsID, scheduleID,
                                                     deliverydt, timezone))])


def remove_queue(deps: Deps, cred: Credentials, deliveryID: int, scheduleID: int,
                 deleteQueue: bool) -> Result:
    sms.remove_queue(deps, cred, deliveryID or scheduleID)
    return Result()
