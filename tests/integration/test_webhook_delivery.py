"""Webhook deliveries on the real PostgreSQL, posted over real HTTP to a loopback receiver:
which changes create deliveries, what the receiver gets, and the retry schedule."""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from mailup_soap.adapters.webhook_http import HttpPoster
from mailup_soap.domain.lifecycle import Outcome
from mailup_soap.domain.model import UnsubscribeReason
from mailup_soap.domain.webhooks import RETRY_SCHEDULE
from mailup_soap.service_layer import lists, webhooks
from mailup_soap.service_layer import subscriptions as subs
from mailup_soap.service_layer.deps import Deps, WsLogin
from mailup_soap.service_layer.lifecycle_repos import Delivery
from tests.conftest import AccountInfo
from tests.receiver import ReceivedRequest, Receiver

pytestmark = pytest.mark.integration

CALLER_IP = "127.0.0.1"
# Nothing listens there: for webhooks that must never be called.
NOWHERE = "http://127.0.0.1:9/never"
# Far ahead of the wall clock, so retries deferred on this clock stay out of other tests'
# workers; milliseconds included to see how [EventDate] renders them.
START = dt.datetime(2031, 3, 4, 5, 6, 7, 891000, tzinfo=dt.UTC)


class SettableClock:
    def __init__(self, now: dt.datetime = START) -> None:
        self.current = now

    def now(self) -> dt.datetime:
        return self.current

    def advance(self, by: dt.timedelta) -> None:
        self.current += by


@dataclasses.dataclass(frozen=True)
class Place:
    """An account with a registered caller and a list: where the events of a test happen."""

    account: AccountInfo
    list_id: int

    @property
    def account_id(self) -> int:
        return self.account.console_id

    @property
    def cred(self) -> WsLogin:
        return WsLogin(self.account.ws_user, self.account.password)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock()


@pytest.fixture
def timed(deps: Deps, clock: SettableClock) -> Deps:
    return dataclasses.replace(deps, clock=clock, poster=HttpPoster())


@pytest.fixture
def place(deps: Deps, account: AccountInfo) -> Iterator[Place]:
    subs.register_caller(deps, account.ws_user, account.password, "FrontEnd", CALLER_IP)
    cred = WsLogin(account.ws_user, account.password)
    yield Place(account, lists.create_list(deps, cred, "News").id)
    # The deliveries' jobs stay queued; a later worker then finds the hooks disabled and
    # marks them failed instead of calling receivers that are gone.
    for hook in webhooks.list_webhooks(deps, account.console_id):
        webhooks.set_webhook_active(deps, hook.id, False)


def _address() -> str:
    return f"ann.{secrets.token_hex(5)}@example.test"


def _subscribe(deps: Deps, place: Place, address: str | None = None, *, confirm: bool = False,
               list_ids: list[int] | None = None, **kwargs: object) -> str:
    address = address or _address()
    subs.subscribe(deps, place.account_id, CALLER_IP, list_ids or [place.list_id],
                   subs.Contact(address, None), confirm=confirm, **kwargs)  # type: ignore[arg-type]
    return address


def _hook(deps: Deps, place: Place, url: str = NOWHERE, **kwargs: object) -> int:
    return webhooks.add_webhook(deps, place.account_id, place.list_id, url, **kwargs).id  # type: ignore[arg-type]


def _deliveries(deps: Deps, hook_id: int) -> list[Delivery]:
    return [d for d, _ in webhooks.list_deliveries(deps, hook_id)]


def _the_delivery(deps: Deps, hook_id: int) -> Delivery:
    [delivery] = _deliveries(deps, hook_id)
    return delivery


def _attempts(deps: Deps, hook_id: int) -> list[tuple[dt.datetime, int | None]]:
    """The attempts of the hook's only delivery: (when, status code)."""
    [(_, attempts)] = webhooks.list_deliveries(deps, hook_id)
    return [(at, code) for at, code, _ in attempts]  # type: ignore[misc]


def _active(deps: Deps, hook_id: int) -> bool:
    [hook] = [h for h in webhooks.list_webhooks(deps) if h.id == hook_id]
    return hook.active


def _jobs(engine: sa.Engine, delivery_id: int) -> list[tuple[str, dt.datetime | None]]:
    """The procrastinate jobs deferred for a delivery: (status, scheduled_at)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT status::text, scheduled_at FROM procrastinate_jobs "
            "WHERE task_name = 'mailup:deliver_webhook' "
            "AND (args->>'delivery_id')::bigint = :id ORDER BY id"), {"id": delivery_id})
        return [(r[0], r[1]) for r in rows]


def _signature(secret: str, request: ReceivedRequest) -> str:
    """Standard Webhooks, computed here from the spec rather than with the code under test."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = (f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}."
              .encode() + request.signed_payload)
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def _rc4(key: bytes, data: bytes) -> bytes:
    """RC4 written again for the receiver's side (checked against the published vector)."""
    box = list(range(256))
    j = 0
    for i in range(256):
        j = (j + box[i] + key[i % len(key)]) & 0xFF
        box[i], box[j] = box[j], box[i]
    i = j = 0
    out = bytearray()
    for byte in data:
        i = (i + 1) & 0xFF
        j = (j + box[i]) & 0xFF
        box[i], box[j] = box[j], box[i]
        out.append(byte ^ box[(box[i] + box[j]) & 0xFF])
    return bytes(out)


MAPPING = {"customerEmail": "[Email]", "customerList": "[IdList]", "evt": "[EventType]",
           "src": "[EventSource]", "name": "[Field01]", "gru": "[Groups]",
           "when": "[EventDate]", "note": "list [IdList] for [Email]"}


def _expected_params(place: Place, address: str, groups: str) -> dict[str, str]:
    return {"customerEmail": address, "customerList": str(place.list_id),
            "evt": "CHANGEPROFILE", "src": "API", "name": "Ann", "gru": groups,
            "when": "2031-03-04T05:06:07.891+00:00",
            "note": f"list {place.list_id} for {address}"}


def _change_profile(deps: Deps, place: Place, address: str, group_ids: list[int]) -> None:
    subs.update(deps, place.account_id, CALLER_IP, place.list_id, None,
                subs.Contact(address, None), group_ids=group_ids, replace=False,
                fields={1: "Ann"})


def _groups(deps: Deps, place: Place, *names: str) -> list[int]:
    return [lists.create_group(deps, place.cred, place.list_id, n).group.id for n in names]


# --- which changes create deliveries ------------------------------------------------------

def test_a_subscription_creates_one_delivery_and_job_per_matching_webhook_and_none_otherwise(
        timed: Deps, deps: Deps, engine: sa.Engine, place: Place) -> None:
    other_list = lists.create_list(deps, place.cred, "Other").id
    matching = {
        "every event": _hook(deps, place),
        "MailUp alias SUBSCRIBE": _hook(deps, place, events=["SUBSCRIBE"]),
        "lifecycle name": _hook(deps, place, events=["subscription_confirmed"]),
        "source API": _hook(deps, place, sources=["API"]),
    }
    not_matching = {
        "other event": _hook(deps, place, events=["UNSUBSCRIBE", "subscription_requested"]),
        "other source": _hook(deps, place, sources=["Recipient", "Console"]),
        "other list": webhooks.add_webhook(deps, place.account_id, other_list, NOWHERE).id,
    }

    _subscribe(timed, place)

    for name, hook_id in matching.items():
        [delivery] = _deliveries(deps, hook_id)
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
            "pending", 0, START), name
        assert _jobs(engine, delivery.id) == [("todo", None)], name
    for name, hook_id in not_matching.items():
        assert _deliveries(deps, hook_id) == [], name


def test_a_change_that_is_rolled_back_leaves_no_delivery_behind(
        timed: Deps, deps: Deps, place: Place) -> None:
    bounced_list = lists.create_list(deps, place.cred, "Bounced").id
    address = _subscribe(timed, place, list_ids=[bounced_list])
    subs.unsubscribe(timed, place.account_id, CALLER_IP, bounced_list, None,
                     subs.Contact(address, None), UnsubscribeReason.HARD_BOUNCE)
    hook_id = _hook(deps, place)

    # The first list changes (its event is written), then the hard bounce refuses it all.
    outcome = subs.subscribe(timed, place.account_id, CALLER_IP, [place.list_id, bounced_list],
                             subs.Contact(address, None), confirm=False)

    assert outcome is Outcome.REFUSED
    assert _deliveries(deps, hook_id) == []


def test_a_disabled_webhook_gets_no_new_deliveries_until_enabled_again(
        timed: Deps, deps: Deps, place: Place) -> None:
    hook_id = _hook(deps, place)
    webhooks.set_webhook_active(deps, hook_id, False)

    _subscribe(timed, place)
    while_disabled = _deliveries(deps, hook_id)
    webhooks.set_webhook_active(deps, hook_id, True)
    _subscribe(timed, place)

    assert while_disabled == []
    assert len(_deliveries(deps, hook_id)) == 1


# --- what the receiver gets ---------------------------------------------------------------

def test_a_post_webhook_sends_the_mapped_parameters_as_a_form_with_a_valid_signature(
        timed: Deps, deps: Deps, place: Place) -> None:
    groups = _groups(deps, place, "Gold", "Silver")
    address = _subscribe(timed, place)
    with Receiver() as receiver:
        hook = webhooks.add_webhook(deps, place.account_id, place.list_id, receiver.url + "/crm",
                                    method="POST", events=["CHANGEPROFILE"], params=MAPPING)
        _change_profile(timed, place, address, groups)
        delivery = _the_delivery(deps, hook.id)

        status = webhooks.attempt_delivery(timed, delivery.id)

        [request] = receiver.wait_for(1)
    assert status == "succeeded"
    assert (request.method, request.path, request.query) == ("POST", "/crm", "")
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.form == _expected_params(place, address, f"{groups[0]},{groups[1]}")
    assert request.headers["webhook-id"] == delivery.msg_id
    assert request.headers["webhook-timestamp"] == str(int(START.timestamp()))
    assert request.headers["webhook-signature"] == _signature(hook.secret, request)


def test_a_get_webhook_sends_the_parameters_in_a_signed_query_string(
        timed: Deps, deps: Deps, place: Place) -> None:
    address = _subscribe(timed, place)
    secret = "whsec_" + base64.b64encode(b"a fixed secret, 24 bytes").decode()
    with Receiver() as receiver:
        hook_id = _hook(deps, place, receiver.url + "/hook", method="GET",
                        events=["CHANGEPROFILE"], params=MAPPING, secret=secret)
        _change_profile(timed, place, address, [])

        webhooks.attempt_delivery(timed, _the_delivery(deps, hook_id).id)

        [request] = receiver.wait_for(1)
    assert (request.method, request.path, request.body) == ("GET", "/hook", b"")
    assert request.form == _expected_params(place, address, "")
    assert request.headers["webhook-signature"] == _signature(secret, request)


def test_without_a_mapping_the_receiver_gets_the_standard_parameter_set(
        timed: Deps, deps: Deps, place: Place) -> None:
    with Receiver() as receiver:
        hook_id = _hook(deps, place, receiver.url, events=["SUBSCRIBE"])
        address = _subscribe(timed, place)

        webhooks.attempt_delivery(timed, _the_delivery(deps, hook_id).id)

        [request] = receiver.wait_for(1)
    assert request.form == {
        "event": "SUBSCRIBE", "source": "API", "date": "2031-03-04T05:06:07.891+00:00",
        "console": str(place.account_id), "list": str(place.list_id), "email": address,
        "prefix": "", "number": "", "reason": "", "groups": ""}


def test_a_subscription_made_with_groups_reports_them_in_the_groups_placeholder(
        timed: Deps, deps: Deps, place: Place) -> None:
    groups = _groups(deps, place, "Gold")
    with Receiver() as receiver:
        hook_id = _hook(deps, place, receiver.url, events=["SUBSCRIBE"],
                        params={"gru": "[Groups]"})
        _subscribe(timed, place, group_ids=groups)

        webhooks.attempt_delivery(timed, _the_delivery(deps, hook_id).id)

        [request] = receiver.wait_for(1)
    assert request.form == {"gru": str(groups[0])}


def test_the_rc4_used_by_these_tests_matches_the_published_test_vector() -> None:
    assert _rc4(b"Key", b"Plaintext").hex().upper() == "BBF316E8D940AF0AD3"


def test_an_rc4_webhook_sends_the_whole_query_string_encrypted_and_base64_encoded(
        timed: Deps, deps: Deps, place: Place) -> None:
    address = _subscribe(timed, place)
    with Receiver() as receiver:
        hook = webhooks.add_webhook(deps, place.account_id, place.list_id, receiver.url + "/j",
                                    method="GET", events=["CHANGEPROFILE"], params=MAPPING,
                                    rc4_key="joomla-key")
        _change_profile(timed, place, address, [])

        webhooks.attempt_delivery(timed, _the_delivery(deps, hook.id).id)

        [request] = receiver.wait_for(1)
    assert "=" not in request.query and "&" not in request.query
    plain = _rc4(b"joomla-key", base64.b64decode(urllib.parse.unquote(request.query)))
    assert dict(urllib.parse.parse_qsl(plain.decode(), keep_blank_values=True)) == (
        _expected_params(place, address, ""))
    assert request.headers["webhook-signature"] == _signature(hook.secret, request)


# --- retries, giving up, disabling, replay ------------------------------------------------

def test_a_receiver_failing_twice_gets_the_event_on_the_third_attempt(
        timed: Deps, deps: Deps, engine: sa.Engine, clock: SettableClock, place: Place) -> None:
    with Receiver([500, 500, 200]) as receiver:
        hook_id = _hook(deps, place, receiver.url)
        _subscribe(timed, place)
        delivery_id = _the_delivery(deps, hook_id).id

        first = webhooks.attempt_delivery(timed, delivery_id)
        after_first = _the_delivery(deps, hook_id)
        clock.advance(dt.timedelta(seconds=5))
        second = webhooks.attempt_delivery(timed, delivery_id)
        after_second = _the_delivery(deps, hook_id)
        clock.advance(dt.timedelta(minutes=5))
        third = webhooks.attempt_delivery(timed, delivery_id)
        after_third = _the_delivery(deps, hook_id)

        requests = receiver.wait_for(3)
    five_s, five_m = START + dt.timedelta(seconds=5), START + dt.timedelta(minutes=5, seconds=5)
    assert (first, second, third) == ("pending", "pending", "succeeded")
    assert (after_first.attempts, after_first.next_attempt_at) == (1, five_s)
    assert (after_second.attempts, after_second.next_attempt_at) == (2, five_m)
    assert (after_third.attempts, after_third.next_attempt_at) == (3, None)
    assert _attempts(deps, hook_id) == [(START, 500), (five_s, 500), (five_m, 200)]
    assert [r.headers["webhook-id"] for r in requests] == [after_third.msg_id] * 3
    assert [s for _, s in _jobs(engine, delivery_id)[1:]] == [five_s, five_m]
    assert _active(deps, hook_id)


def test_a_delivery_still_failing_after_the_last_retry_is_marked_failed(
        timed: Deps, deps: Deps, clock: SettableClock, place: Place) -> None:
    with Receiver(then=503) as receiver:
        hook_id = _hook(deps, place, receiver.url)
        _subscribe(timed, place)
        delivery_id = _the_delivery(deps, hook_id).id
        statuses, due = [], []

        for wait in (*RETRY_SCHEDULE, None):
            statuses.append(webhooks.attempt_delivery(timed, delivery_id))
            due.append(_the_delivery(deps, hook_id).next_attempt_at)
            if wait is not None:
                clock.advance(wait)

        receiver.wait_for(len(RETRY_SCHEDULE) + 1)
    expected_due, at = [], START
    for wait in RETRY_SCHEDULE:
        at += wait
        expected_due.append(at)
    assert statuses == ["pending"] * len(RETRY_SCHEDULE) + ["failed"]
    assert due == [*expected_due, None]
    final = _the_delivery(deps, hook_id)
    assert (final.status, final.attempts) == ("failed", 10)
    assert [at for at, _ in _attempts(deps, hook_id)] == [START, *expected_due]


def test_a_410_gone_answer_disables_the_webhook_and_fails_the_delivery(
        timed: Deps, deps: Deps, place: Place) -> None:
    with Receiver([410]) as receiver:
        hook_id = _hook(deps, place, receiver.url)
        _subscribe(timed, place)
        delivery_id = _the_delivery(deps, hook_id).id

        status = webhooks.attempt_delivery(timed, delivery_id)
        _subscribe(timed, place)

        receiver.wait_for(1)
    assert status == "failed"
    assert not _active(deps, hook_id)
    assert [d.id for d in _deliveries(deps, hook_id)] == [delivery_id]


def test_a_webhook_failing_max_failures_attempts_in_a_row_is_disabled(
        timed: Deps, deps: Deps, place: Place) -> None:
    strict = dataclasses.replace(timed, webhook_max_failures=3)
    with Receiver(then=500) as receiver:
        hook_id = _hook(deps, place, receiver.url)
        for _ in range(3):
            _subscribe(strict, place)
        oldest_first = sorted(d.id for d in _deliveries(deps, hook_id))

        statuses = [webhooks.attempt_delivery(strict, d) for d in oldest_first]
        receiver.wait_for(3)
    assert statuses == ["pending", "pending", "failed"]
    assert not _active(deps, hook_id)


def test_a_success_between_failures_restarts_the_count_of_failures_in_a_row(
        timed: Deps, deps: Deps, place: Place) -> None:
    strict = dataclasses.replace(timed, webhook_max_failures=3)
    with Receiver([500, 500, 200, 500, 500]) as receiver:
        hook_id = _hook(deps, place, receiver.url)
        for _ in range(5):
            _subscribe(strict, place)
        oldest_first = sorted(d.id for d in _deliveries(deps, hook_id))

        statuses = [webhooks.attempt_delivery(strict, d) for d in oldest_first]
        receiver.wait_for(5)
    assert statuses == ["pending", "pending", "succeeded", "pending", "pending"]
    assert _active(deps, hook_id)


def test_replay_sends_a_delivered_event_again_with_the_same_webhook_id(
        timed: Deps, deps: Deps, engine: sa.Engine, place: Place) -> None:
    with Receiver() as receiver:
        hook_id = _hook(deps, place, receiver.url)
        _subscribe(timed, place)
        delivery = _the_delivery(deps, hook_id)
        webhooks.attempt_delivery(timed, delivery.id)

        webhooks.replay_delivery(timed, delivery.id)
        queued = _the_delivery(deps, hook_id)
        status = webhooks.attempt_delivery(timed, delivery.id)

        first, again = receiver.wait_for(2)
    assert queued.status == "pending" and len(_jobs(engine, delivery.id)) == 2
    assert status == "succeeded"
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == delivery.msg_id
    assert first.form == again.form
    assert [code for _, code in _attempts(deps, hook_id)] == [200, 200]
