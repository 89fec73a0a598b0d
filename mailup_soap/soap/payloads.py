"""XML payload fragments shared by the services' results (element names from spec 2-4)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from lxml import etree
from lxml.builder import E

from mailup_soap.domain.messages import Progress
from mailup_soap.domain.model import Field, Group, MailingList
from mailup_soap.service_layer.lists import ListWithGroups


def lists_element(lists: Iterable[MailingList]) -> etree._Element:
    """GetLists / GetListsUser: <lists><list><listID/><listName/><listGUID/></list></lists>."""
    return E.lists(*[E.list(E.listID(str(lst.id)), E.listName(lst.name),
                            E.listGUID(str(lst.guid))) for lst in lists])


def group_element(group: Group) -> etree._Element:
    return E.group(E.groupID(str(group.id)), E.groupName(group.name), E.groupNotes(group.notes))


def list_with_groups_element(item: ListWithGroups) -> etree._Element:
    """GetGroups / CreateGroup: <list><listID/><listName/><groups><group>...</groups></list>."""
    lst = item.mailing_list
    return E.list(E.listID(str(lst.id)), E.listName(lst.name), E.listGUID(str(lst.guid)),
                  E.groups(*[group_element(g) for g in item.groups]))


def list_element(lst: MailingList) -> etree._Element:
    """Manage CreateList / UpdateList: the list with its options."""
    options = E.options(*[E.option(E.key(k), E.value(v)) for k, v in sorted(lst.options.items())])
    return E.list(E.listID(str(lst.id)), E.listGUID(str(lst.guid)), E.listName(lst.name), options)


def identity_lists(lists: Iterable[MailingList], with_names: bool = True) -> etree._Element:
    """Send CreateList(_st) / GetListIdentity(_st) / DeleteList(_st): <Lists><List .../></Lists>."""
    items = []
    for lst in lists:
        attrs = {"Guid": str(lst.guid), "Id": str(lst.id), "Name": lst.name} if with_names \
            else {"Id": str(lst.id)}
        items.append(E.List(**attrs))
    return E.Lists(*items)


def fields_element(fields: Iterable[Field]) -> etree._Element:
    return E.Fields(*[E.Field(Name=f.name, Id=str(f.id)) for f in fields])


def nl_lists_element(items: Iterable[ListWithGroups]) -> etree._Element:
    """Import GetNlLists: <Lists><List idList listGUID listName><Groups><Group .../>..."""
    return E.Lists(*[
        E.List(E.Groups(*[E.Group(idGroup=str(g.id), groupName=g.name) for g in item.groups]),
               idList=str(item.mailing_list.id), listGUID=str(item.mailing_list.guid),
               listName=item.mailing_list.name)
        for item in items])


def _utc(when: dt.datetime) -> dt.datetime:
    # Whatever the database session's time zone, results say UTC.
    return when.astimezone(dt.UTC) if when.tzinfo is not None else when


def italian_date(when: dt.datetime | None) -> str:
    """MailUp's Italian-locale dates, in UTC: 30/10/2012 15.39.12."""
    return f"{_utc(when):%d/%m/%Y %H.%M.%S}" if when else ""


def english_date(when: dt.datetime | None) -> str:
    """The dates of Send / Report results, in UTC: 2012-10-30 15:39:12."""
    return f"{_utc(when):%Y-%m-%d %H:%M:%S}" if when else ""


def delivery_figures(d: Progress, now: dt.datetime) -> list[etree._Element]:
    """The counters of GetNewsletterDeliveryStatus / GetSMSDeliveryStatus (spec 3.1), after
    the ids and the status: details, toSend, toBeSent, progress, estimatedTime."""
    days, rest = divmod(d.seconds_left(now), 86400)
    return [E.details(f"sent {d.sent}, failed {d.failed}, skipped {d.skipped}"),
            E.toSend(str(d.total)), E.toBeSent(str(d.to_send)), E.progress(str(d.percent)),
            E.estimatedTime(f"{days}d {rest // 3600:02d}h {rest % 3600 // 60:02d}m "
                            f"{rest % 60:02d}s")]
