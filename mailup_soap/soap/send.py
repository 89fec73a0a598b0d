"""MailupSend: lists, email messages, deliveries (SMS and queues still to come)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from lxml import etree
from lxml.builder import E

from mailup_soap.domain.messages import Delivery
from mailup_soap.errors import AuthenticationError, ImportAlreadyRunning, MailUpError
from mailup_soap.service_layer import lists, message_nl, queues, sending
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap import manage, payloads, sms
from mailup_soap.soap.faults import access_key_code
from mailup_soap.soap.operations import Op
from mailup_soap.soap.results import Result
from mailup_soap.soap.session_ops import SESSION_OPS
from mailup_soap.soap.types import (
    ArrayOfOption,
    Bool,
    Int,
    ResultInt,
    String,
    When,
    option_pairs,
)

KEY = ("accessKey", String)
LIST = ("listID", Int)
OPTS = ("options", ArrayOfOption)


def _create_list(deps: Deps, cred: Credentials, name: str | None, autoId: str | None) -> Result:
    created = lists.create_list(deps, cred, name, auto_id=autoId)
    return Result([payloads.identity_lists([created])])


def _delete_list(deps: Deps, cred: Credentials, listId: int, autoId: str | None) -> Result:
    deleted = lists.delete_lists_by_auto_id(deps, cred, listId, autoId)
    return Result([etree.fromstring("<Lists>" + "".join(f'<List Id="{i}"/>' for i in deleted)
                                    + "</Lists>")])


def _list_identity(deps: Deps, cred: Credentials, autoId: str | None) -> Result:
    return Result([payloads.identity_lists(lists.lists_by_auto_id(deps, cred, autoId))])


def _get_fields(deps: Deps, cred: Credentials) -> Result:
    return Result([payloads.fields_element(lists.get_fields(deps, cred))])


def _texts(options: object) -> list[tuple[str, str]]:
    """Options are anyType on the wire: their values as text (None as empty)."""
    return [(k.strip().lower(), "" if v is None else str(v)) for k, v in option_pairs(options)]


def _newsletter_id(message_id: int) -> Result:
    return Result([E.newsletterID(str(message_id))])


def _create_newsletter(deps: Deps, cred: Credentials, listID: int, subject: str | None,
                       type: str | None, content: str | None, options: object) -> Result:
    return _newsletter_id(sending.create_newsletter(deps, cred, listID, subject, type, content,
                                                    _texts(options)))


def _edit_newsletter(deps: Deps, cred: Credentials, listID: int, newsletterId: int,
                     subject: str | None, type: str | None, content: str | None,
                     options: object) -> Result:
    return _newsletter_id(sending.edit_newsletter(deps, cred, listID, newsletterId, subject,
                                                  type, content, _texts(options)).id)


def _newsletters(deps: Deps, cred: Credentials, listID: int,
                 include_clones: bool = True) -> Result:
    """GetNewsletters / GetMessages: <list><newsletters><newsletter>... (spec 3.1)."""
    found = sending.newsletters(deps, cred, listID, include_clones)
    return Result([E.list(E.listID(str(listID)), E.newsletters(*[
        E.newsletter(E.newsletterID(str(m.id)), E.subject(m.subject), E.note(m.note),
                     E.creationdate(payloads.english_date(m.created_at))) for m in found]))])


def _newsletter_code(deps: Deps, cred: Credentials, listID: int, newsletterID: int,
                     isTemplate: bool) -> Result:
    m = sending.newsletter(deps, cred, listID, newsletterID, template=bool(isTemplate))
    return Result([E.listID(str(listID)), E.newsletterID(str(m.id)), E.subject(m.subject),
                   E.header(""), E.body(m.html), E.code(m.html)])


def _delivery_element(d: Delivery, now: dt.datetime) -> etree._Element:
    """GetNewsletterDeliveryStatus (spec 3.1)."""
    return E.deliveryStatus(
        E.deliveryID(str(d.id)), E.listID(str(d.list_id)), E.newsletterID(str(d.message_id)),
        E.status(d.status.mailup_name), *payloads.delivery_figures(d, now))


def _send_newsletter(deps: Deps, cred: Credentials, listID: int, newsletterID: int,
                     options: object) -> Result:
    d = sending.send_newsletter(deps, cred, listID, newsletterID, _texts(options))
    return Result([E.deliveryID(str(d.id)), _delivery_element(d, deps.clock.now())])


def _delivery_status(deps: Deps, cred: Credentials, deliveryID: int) -> Result:
    return Result([_delivery_element(queues.delivery_status(deps, cred, deliveryID),
                                     deps.clock.now())])


def _deliveries(ids: list[int]) -> Result:
    return Result([E.deliveries(*[E.deliveryID(str(i)) for i in ids])])


def _stop_delivery(deps: Deps, cred: Credentials) -> Result:
    return _deliveries(queues.stop_delivery(deps, cred))


def _start_delivery(deps: Deps, cred: Credentials) -> Result:
    return _deliveries(queues.start_delivery(deps, cred))


def _templates(deps: Deps, cred: Credentials, listID: int) -> Result:
    """GetTemplates: <list><listID/><templates><template><templateID/><subject/><note/>
    <creationdate/></template>...</templates></list>."""
    found = sending.templates(deps, cred, listID)
    return Result([E.list(E.listID(str(listID)), E.templates(*[
        E.template(E.templateID(str(m.id)), E.subject(m.subject), E.note(m.note),
                   E.creationdate(payloads.english_date(m.created_at))) for m in found]))])


def _credit(value: int | None) -> str:
    return "-1" if value is None else str(value)  # -1: no limit


def _credits(deps: Deps, cred: Credentials) -> Result:
    left = sending.credits(deps, cred)
    return Result([E.credits(E.email(_credit(left["email"])), E.sms(_credit(left["sms"])))])


def _credits_lists(deps: Deps, cred: Credentials, idList: int) -> Result:
    left, used = sending.list_credits(deps, cred, idList)
    return Result([E.credits(E.email(_credit(left["email"])), E.sms(_credit(left["sms"]))),
                   E.list(E.listID(str(idList)), E.used(E.email(str(used["email"])),
                                                         E.sms(str(used["sms"]))))])


def _user_access(deps: Deps, cred: Credentials, userId: int) -> Result:
    """GetUserAccess: the user's hash (see CheckUserHash) and the lists the user works with
    (every list of the account: users are not restricted to lists here)."""
    user_hash, found = lists.user_access(deps, cred, userId)
    return Result([E.access(E.idUser(str(userId)), E.userHash(user_hash),
                            payloads.lists_element(item.mailing_list for item in found))])


def _check_user_hash(deps: Deps, cred: Credentials, userID: int,
                     userHash: str | None) -> Result:
    valid = lists.check_user_hash(deps, cred, userID, userHash)
    return Result([E.user(E.idUser(str(userID)), E.valid("true" if valid else "false"))])


def _queue_order(deps: Deps, cred: Credentials, scheduleID: int, Up: bool) -> Result:
    return Result([E.queues(*[_queue_element(d) for d in queues.move_in_queue(
        deps, cred, scheduleID, bool(Up))])])


def _messages(deps: Deps, cred: Credentials, listID: int) -> Result:
    return _newsletters(deps, cred, listID, include_clones=False)


def _send_fast(deps: Deps, cred: Credentials, listID: int, subject: str | None,
               type: str | None, content: str | None, options: object) -> Result:
    message_id, d = sending.send_newsletter_fast(deps, cred, listID, subject, type, content,
                                                 _texts(options))
    return Result([E.newsletterID(str(message_id)), E.deliveryID(str(d.id)),
                   _delivery_element(d, deps.clock.now())])


def _send_single(deps: Deps, cred: Credentials, listID: int, subject: str | None,
                 type: str | None, content: str | None, recipientEmail: str | None,
                 options: object) -> Result:
    message_id, d = sending.send_single(deps, cred, listID, subject, type, content,
                                        recipientEmail, _texts(options))
    return Result([E.newsletterID(str(message_id)), E.deliveryID(str(d.id)),
                   _delivery_element(d, deps.clock.now())])


def _clone(deps: Deps, cred: Credentials, listId: str | None, listGuid: str | None,
           messageToCloneId: int, subject: str | None) -> int:
    """Typed s:int: the copy's id, or the (negative) error code."""
    try:
        return sending.clone_message(deps, cred, listId, listGuid, messageToCloneId, subject)
    except MailUpError as exc:
        return access_key_code(exc) or -1


def _send_message_nl(deps: Deps, cred: Credentials, fileName: str | None,
                     separator: str | None, listId: str | None, listGuid: str | None,
                     messageId: str | None, senderName: str | None, sender: str | None,
                     subject: str | None, timeDateSending: Any, sendDelayTest: int) -> int:
    """Typed s:int (spec 3.1): the delivery id, -1 bad parameters, -3 the import could not
    start (another import of the list is running)."""
    try:
        return message_nl.send_message_nl(deps, cred, fileName, separator, listId, listGuid,
                                          messageId, senderName, sender, subject,
                                          timeDateSending)
    except ImportAlreadyRunning:
        return -3
    except AuthenticationError as exc:
        return access_key_code(exc) or -1
    except MailUpError:
        return -1


def _queue_element(d: Delivery) -> etree._Element:
    return E.queue(E.deliveryID(str(d.id)), E.scheduleID(str(d.id)), E.listID(str(d.list_id)),
                   E.newsletterID(str(d.message_id)), E.status(d.status.mailup_name),
                   E.deliverydt(f"{d.scheduled_at:%Y%m%d%H%M%S}"), E.toSend(str(d.total)),
                   E.toBeSent(str(d.to_send)))


def _queues(deps: Deps, cred: Credentials, listID: int) -> Result:
    return Result([E.queues(*[_queue_element(d) for d in queues.queues(deps, cred, listID)])])


def _schedule_status(deps: Deps, cred: Credentials, newsletterID: int) -> Result:
    return Result([E.queues(*[_queue_element(d)
                              for d in queues.schedule_status(deps, cred, newsletterID)])])


def _prepare_schedule(deps: Deps, cred: Credentials, listID: int, newsletterID: int,
                      deliveryDate: str | None, deliveryTime: str | None,
                      adminEmail: str | None, idUser: int, note: str | None) -> Result:
    d = queues.prepare_schedule(deps, cred, listID, newsletterID, deliveryDate, deliveryTime)
    return Result([E.deliveryID(str(d.id)), _queue_element(d)])


def _add_queue(deps: Deps, cred: Credentials, deliveryID: int, immediate: bool) -> Result:
    return Result([_queue_element(queues.add_queue(deps, cred, deliveryID, bool(immediate)))])


def _schedule_queue(deps: Deps, cred: Credentials, listID: int, newsletterID: int,
                    scheduleID: int, deliverydt: str | None, timezone: int) -> Result:
    return Result([_queue_element(queues.schedule_queue(deps, cred, listID, newsletterID,
                                                        scheduleID, deliverydt, timezone))])


def _remove_queue(deps: Deps, cred: Credentials, listID: int, newsletterID: int,
                  deliveryID: int, scheduleID: int, deleteQueue: bool) -> Result:
    queues.remove_queue(deps, cred, listID, newsletterID, deliveryID or scheduleID)
    return Result()


def _pair(name: str, params: list[tuple[str, object]], handler: Callable[..., Result],
          ) -> list[Op]:
    """The plain variant (errorCode only on error, <Error>) and its `_st` twin."""
    return [Op(name, params, handler, root=name, plain_errors=True),
            Op(f"{name}_st", params, handler, root=f"{name}_st")]


OPERATIONS = [
    *SESSION_OPS,
    Op("GetIdUser", [KEY], manage.get_id_user),
    Op("GetListsUser", [KEY, ("idUser", Int)], manage.get_lists_user),
    Op("GetLists", [KEY], manage.get_lists),
    Op("GetGroups", [KEY, LIST], manage.get_groups),
    *_pair("GetFields", [KEY], _get_fields),
    *_pair("CreateList", [KEY, ("name", String), ("autoId", String)], _create_list),
    *_pair("GetListIdentity", [KEY, ("autoId", String)], _list_identity),
    Op("DeleteList", [KEY, ("listId", Int), ("autoId", String)], _delete_list, root="DeleteList"),
    Op("DeleteList_st", [KEY, ("listId", Int), ("autoId", String)], _delete_list,
       root="DeleteList_st"),
    Op("GetCredits", [KEY], _credits),
    Op("GetCreditsLists", [KEY, ("idList", Int)], _credits_lists),
    Op("GetUserAccess", [("userId", Int), KEY], _user_access),
    Op("CheckUserHash", [("userID", Int), ("userHash", String), KEY], _check_user_hash),
    Op("GetTemplates", [KEY, LIST], _templates),
    Op("GetNewsletters", [KEY, LIST], _newsletters),
    Op("GetMessages", [KEY, LIST], _messages),
    Op("CreateNewsletter", [KEY, LIST, ("subject", String), ("type", String),
                            ("content", String), OPTS], _create_newsletter),
    Op("EditNewsletter", [KEY, LIST, ("newsletterId", Int), ("subject", String),
                          ("type", String), ("content", String), OPTS], _edit_newsletter),
    Op("GetNewsletterCode", [KEY, LIST, ("newsletterID", Int), ("isTemplate", Bool)],
       _newsletter_code),
    Op("SendNewsletter", [KEY, LIST, ("newsletterID", Int), OPTS], _send_newsletter),
    Op("GetNewsletterDeliveryStatus", [KEY, ("deliveryID", Int)], _delivery_status),
    Op("StartDelivery", [KEY], _start_delivery),
    Op("StopDelivery", [KEY], _stop_delivery),
    Op("SendNewsletterFast", [KEY, LIST, ("subject", String), ("type", String),
                              ("content", String), OPTS], _send_fast),
    Op("SendSingleNewsletter", [KEY, LIST, ("subject", String), ("type", String),
                                ("content", String), ("recipientEmail", String), OPTS],
       _send_single),
    Op("GetNewsletterQueues", [KEY, LIST], _queues),
    Op("GetNewsletterScheduleStatus", [KEY, ("newsletterID", Int)], _schedule_status),
    Op("SetNewsletterQueueOrder", [KEY, ("scheduleID", Int), ("Up", Bool)], _queue_order),
    Op("AddNewsletterQueue", [KEY, ("deliveryID", Int), ("immediate", Bool)], _add_queue),
    Op("RemoveNewsletterQueue", [KEY, LIST, ("newsletterID", Int), ("deliveryID", Int),
                                 ("scheduleID", Int), ("deleteQueue", Bool)], _remove_queue),
    Op("ScheduleNewsletterQueue", [KEY, LIST, ("newsletterID", Int), ("scheduleID", Int),
                                   ("deliverydt", String), ("timezone", Int)],
       _schedule_queue),
    Op("PrepareNewsletterSchedule", [KEY, LIST, ("newsletterID", Int), ("deliveryDate", String),
                                     ("deliveryTime", String), ("adminEmail", String),
                                     ("idUser", Int), ("note", String)], _prepare_schedule),
    Op("SendMessageNL", [KEY, ("fileName", String), ("separator", String), ("listId", String),
                         ("listGuid", String), ("messageId", String), ("senderName", String),
                         ("sender", String), ("subject", String), ("timeDateSending", When),
                         ("sendDelayTest", Int)], _send_message_nl, returns=ResultInt),
    Op("CloneMessage", [KEY, ("listId", String), ("listGuid", String),
                        ("messageToCloneId", Int), ("subject", String)], _clone,
       returns=ResultInt),
    Op("GetSMS", [KEY, LIST], sms.get_sms),
    Op("CreateSMS", [KEY, LIST, ("subject", String), ("text", String), OPTS], sms.create_sms),
    Op("SendSMS", [KEY, LIST, ("smsID", Int), OPTS], sms.send_sms),
    Op("SendSMSFast", [KEY, LIST, ("subject", String), ("text", String), OPTS],
       sms.send_sms_fast),
    Op("SendSingleSMS", [KEY, LIST, ("subject", String), ("type", String), ("content", String),
                         ("numero", String), OPTS], sms.send_single_sms),
    Op("SendDirectSMS", [KEY, LIST, ("content", String), ("numero", String), OPTS],
       sms.send_direct_sms),
    Op("GetSMSDeliveryStatus", [KEY, ("deliveryID", Int)], sms.delivery_status),
    Op("StartDeliverySMS", [KEY], sms.start_delivery),
    Op("StopDeliverySMS", [KEY], sms.stop_delivery),
    Op("GetSMSQueues", [KEY, LIST], sms.queues),
    Op("RemoveSMSQueue", [KEY, ("deliveryID", Int), ("scheduleID", Int), ("deleteQueue", Bool)],
       sms.remove_queue),
    Op("ScheduleSMSQueue", [KEY, LIST, ("smsID", Int), ("scheduleID", Int),
                            ("deliverydt", String), ("timezone", Int)], sms.schedule_queue),
]
