"""MailupSend: the list-side operations now; messages, sending and SMS in the Send issue."""
from __future__ import annotations

from collections.abc import Callable

from lxml import etree

from mailup_soap.service_layer import lists
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap import manage, payloads
from mailup_soap.soap.operations import Op
from mailup_soap.soap.results import Result
from mailup_soap.soap.session_ops import SESSION_OPS
from mailup_soap.soap.types import ArrayOfOption, Bool, Int, ResultInt, String, When

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
    # Implemented by the Send issue; until then they answer Server.NotImplemented.
    Op("GetCredits", [KEY]),
    Op("GetCreditsLists", [KEY, ("idList", Int)]),
    Op("GetUserAccess", [("userId", Int), KEY]),
    Op("CheckUserHash", [("userID", Int), ("userHash", String), KEY]),
    Op("GetTemplates", [KEY, LIST]),
    Op("GetNewsletters", [KEY, LIST]),
    Op("GetMessages", [KEY, LIST]),
    Op("CreateNewsletter", [KEY, LIST, ("subject", String), ("type", String),
                            ("content", String), OPTS]),
    Op("EditNewsletter", [KEY, LIST, ("newsletterId", Int), ("subject", String),
                          ("type", String), ("content", String), OPTS]),
    Op("GetNewsletterCode", [KEY, LIST, ("newsletterID", Int), ("isTemplate", Bool)]),
    Op("SendNewsletter", [KEY, LIST, ("newsletterID", Int), OPTS]),
    Op("GetNewsletterDeliveryStatus", [KEY, ("deliveryID", Int)]),
    Op("StartDelivery", [KEY]),
    Op("StopDelivery", [KEY]),
    Op("SendNewsletterFast", [KEY, LIST, ("subject", String), ("type", String),
                              ("content", String), OPTS]),
    Op("SendSingleNewsletter", [KEY, LIST, ("subject", String), ("type", String),
                                ("content", String), ("recipientEmail", String), OPTS]),
    Op("GetNewsletterQueues", [KEY, LIST]),
    Op("GetNewsletterScheduleStatus", [KEY, ("newsletterID", Int)]),
    Op("SetNewsletterQueueOrder", [KEY, ("scheduleID", Int), ("Up", Bool)]),
    Op("AddNewsletterQueue", [KEY, ("deliveryID", Int), ("immediate", Bool)]),
    Op("RemoveNewsletterQueue", [KEY, LIST, ("newsletterID", Int), ("deliveryID", Int),
                                 ("scheduleID", Int), ("deleteQueue", Bool)]),
    Op("ScheduleNewsletterQueue", [KEY, LIST, ("newsletterID", Int), ("scheduleID", Int),
                                   ("deliverydt", String), ("timezone", Int)]),
    Op("PrepareNewsletterSchedule", [KEY, LIST, ("newsletterID", Int), ("deliveryDate", String),
                                     ("deliveryTime", String), ("adminEmail", String),
                                     ("idUser", Int), ("note", String)]),
    Op("SendMessageNL", [KEY, ("fileName", String), ("separator", String), ("listId", String),
                         ("listGuid", String), ("messageId", String), ("senderName", String),
                         ("sender", String), ("subject", String), ("timeDateSending", When),
                         ("sendDelayTest", Int)], returns=ResultInt),
    Op("CloneMessage", [KEY, ("listId", String), ("listGuid", String),
                        ("messageToCloneId", Int), ("subject", String)], returns=ResultInt),
    Op("GetSMS", [KEY, LIST]),
    Op("CreateSMS", [KEY, LIST, ("subject", String), ("text", String), OPTS]),
    Op("SendSMS", [KEY, LIST, ("smsID", Int), OPTS]),
    Op("SendSMSFast", [KEY, LIST, ("subject", String), ("text", String), OPTS]),
    Op("SendSingleSMS", [KEY, LIST, ("subject", String), ("type", String), ("content", String),
                         ("numero", String), OPTS]),
    Op("SendDirectSMS", [KEY, LIST, ("content", String), ("numero", String), OPTS]),
    Op("GetSMSDeliveryStatus", [KEY, ("deliveryID", Int)]),
    Op("StartDeliverySMS", [KEY]),
    Op("StopDeliverySMS", [KEY]),
    Op("GetSMSQueues", [KEY, LIST]),
    Op("RemoveSMSQueue", [KEY, ("deliveryID", Int), ("scheduleID", Int), ("deleteQueue", Bool)]),
    Op("ScheduleSMSQueue", [KEY, LIST, ("smsID", Int), ("scheduleID", Int),
                            ("deliverydt", String), ("timezone", Int)]),
]
