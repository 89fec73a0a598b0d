"""Webhooks as pure functions: placeholders, RC4+Base64, Standard Webhooks signatures,
the request of one attempt, event filters and the retry schedule."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Mapping

import pytest

from mailup_soap.domain import webhooks
from mailup_soap.domain.model import ChangeSource, EventType
from mailup_soap.domain.webhooks import EventData, Webhook

WHEN = dt.datetime(2012, 9, 12, 11, 18, 37, 664000, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def random_email() -> str:
    return f"user.{secrets.token_hex(4)}@example.test"


def an_event(**changes: object) -> EventData:
    values: dict[str, object] = dict(
        id=1, account_id=17, list_id=3, type=EventType.UNSUBSCRIBED,
        source=ChangeSource.RECIPIENT, occurred_at=WHEN, email=random_email(), reason=2,
        message_id=99, groups=(4, 8), fields={1: "Ann", 12: "C-42"})
    values.update(changes)
    return EventData(**values)  # type: ignore[arg-type]


def a_hook(method: str = "GET", params: Mapping[str, str] | None = None, rc4_key: str = "",
           url: str = "https://crm.example.test/hook") -> Webhook:
    return Webhook(id=5, account_id=17, list_id=3, url=url, method=method,
                   events=frozenset(EventType), sources=frozenset(ChangeSource),
                   params=params if params is not None else {"mail": "[Email]"},
                   active=True, secret=webhooks.new_secret(), rc4_key=rc4_key)


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int,
                                payload: bytes) -> str:
    key = base64.b64decode(secret.split("_", 1)[1])
    content = msg_id.encode() + b"." + str(timestamp).encode() + b"." + payload
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


# -- placeholders ----------------------------------------------------------------------------


def test_placeholders_carry_the_event_as_mailup_names_it() -> None:
    event = an_event()

    values = webhooks.placeholder_values(event)

    assert values["Email"] == event.email
    assert values["EventDate"] == "2012-09-12T11:18:37.664+02:00"
    assert values["IdConsole"] == "17"
    assert values["IdList"] == "3"
    assert values["IdNL"] == "99"
    assert values["EventType"] == "UNSUBSCRIBE"
    assert values["EventSource"] == "Recipient"
    assert values["Reason"] == "2"
    assert values["Groups"] == "4,8"
    assert values["Channel"] == "0"


def test_personal_fields_are_numbered_on_two_digits_and_empty_when_unset() -> None:
    values = webhooks.placeholder_values(an_event())

    assert values["Field01"] == "Ann"
    assert values["Field12"] == "C-42"
    assert values["Field02"] == ""
    assert values["Field39"] == ""
    assert "Field40" not in values


def test_an_sms_only_event_has_the_sms_channel_and_empty_optional_values() -> None:
    event = an_event(email="", prefix="", number="+393331234567", reason=None,
                     message_id=None, groups=())

    values = webhooks.placeholder_values(event)

    assert values["Channel"] == "1"
    assert values["Number"] == "+393331234567"
    assert values["Reason"] == values["IdNL"] == values["Groups"] == ""


def test_render_params_fills_the_placeholders_of_each_chosen_name() -> None:
    event = an_event()
    params = {"customerEmail": "[Email]", "customerList": "[IdList]",
              "who": "[Field01] on list [IdList]", "fixed": "crm"}

    rendered = webhooks.render_params(params, event)

    assert rendered == [("customerEmail", event.email), ("customerList", "3"),
                        ("who", "Ann on list 3"), ("fixed", "crm")]


def test_an_unknown_placeholder_is_left_as_written() -> None:
    rendered = webhooks.render_params({"x": "[Nope] [Field40]"}, an_event())

    assert rendered == [("x", "[Nope] [Field40]")]


def test_without_a_mapping_the_default_parameters_are_sent() -> None:
    event = an_event()

    rendered = dict(webhooks.render_params({}, event))

    assert set(rendered) == set(webhooks.DEFAULT_PARAMS)
    assert rendered["email"] == event.email
    assert rendered["event"] == "UNSUBSCRIBE"
    assert rendered["list"] == "3"
    assert rendered["groups"] == "4,8"


# -- RC4 and Base64 --------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "plaintext", "ciphertext"), [
    (b"Key", b"Plaintext", "BBF316E8D940AF0AD3"),
    (b"Wiki", b"pedia", "1021BF0420"),
    (b"Secret", b"Attack at dawn", "45A01F645FC35B383552544B9BF5"),
])
def test_rc4_matches_the_published_test_vectors(key: bytes, plaintext: bytes,
                                                ciphertext: str) -> None:
    assert webhooks.rc4(key, plaintext).hex().upper() == ciphertext


def test_rc4_decrypts_what_it_encrypted() -> None:
    data = secrets.token_bytes(300)

    assert webhooks.rc4(b"k3y", webhooks.rc4(b"k3y", data)) == data


def test_an_encrypted_query_is_what_a_mailup_receiver_can_decrypt() -> None:
    query = f"email={urllib.parse.quote(random_email())}&list=3&name=Zoë"

    blob = webhooks.encrypt_query(query, "s3cret kèy")

    assert "=" not in blob and "&" not in blob and "+" not in blob and "/" not in blob
    raw = base64.b64decode(urllib.parse.unquote(blob))
    assert webhooks.rc4("s3cret kèy".encode(), raw).decode() == query


# -- signatures ------------------------------------------------------------------------------


def test_sign_matches_the_standard_webhooks_reference_vector() -> None:
    signature = webhooks.sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                              "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330,
                              b'{"test": 2432232314}')

    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_sign_matches_an_independent_computation_with_a_new_secret() -> None:
    secret = webhooks.new_secret()
    payload = b"email=a%40example.test&list=3"

    signature = webhooks.sign(secret, "msg_1", 1700000000, payload)

    assert signature == standard_webhooks_signature(secret, "msg_1", 1700000000, payload)


def test_new_secrets_are_whsec_base64_and_distinct() -> None:
    first, second = webhooks.new_secret(), webhooks.new_secret()

    assert first.startswith("whsec_") and first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 24


# -- the request of one attempt --------------------------------------------------------------


def test_a_get_request_carries_the_parameters_in_the_query_string() -> None:
    hook = a_hook("GET", {"customerEmail": "[Email]", "customerList": "[IdList]"})
    event = an_event()

    request = webhooks.build_request(hook, event, "msg_1", WHEN)

    assert request.method == "GET" and request.body == b""
    url = urllib.parse.urlsplit(request.url)
    assert url.path == "/hook"
    assert urllib.parse.parse_qsl(url.query) == [("customerEmail", event.email),
                                                 ("customerList", "3")]
    assert "Content-Type" not in request.headers


def test_a_get_request_appends_to_a_url_that_already_has_a_query() -> None:
    hook = a_hook("GET", {"l": "[IdList]"}, url="https://crm.example.test/hook?token=abc")

    request = webhooks.build_request(hook, an_event(), "msg_1", WHEN)

    assert request.url == "https://crm.example.test/hook?token=abc&l=3"


def test_a_post_request_carries_the_parameters_as_a_form_body() -> None:
    hook, event = a_hook("POST", {"customerEmail": "[Email]"}), an_event()

    request = webhooks.build_request(hook, event, "msg_1", WHEN)

    assert request.method == "POST"
    assert request.url == hook.url
    assert urllib.parse.parse_qsl(request.body.decode()) == [("customerEmail", event.email)]
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_encrypted_hook_sends_the_blob_as_the_whole_query_string(method: str) -> None:
    hook, event = a_hook(method, {"customerEmail": "[Email]"}, rc4_key="Key"), an_event()

    request = webhooks.build_request(hook, event, "msg_1", WHEN)

    base, _, blob = request.url.partition("?")
    assert base == hook.url and request.body == b""
    plain = webhooks.rc4(b"Key", base64.b64decode(urllib.parse.unquote(blob))).decode()
    assert urllib.parse.parse_qsl(plain) == [("customerEmail", event.email)]


@pytest.mark.parametrize(("method", "rc4_key"), [("GET", ""), ("POST", ""), ("GET", "Key")])
def test_every_request_carries_standard_webhooks_headers_over_what_is_sent(
        method: str, rc4_key: str) -> None:
    hook = a_hook(method, {"customerEmail": "[Email]"}, rc4_key=rc4_key)

    request = webhooks.build_request(hook, an_event(), "msg_42", WHEN)

    signed = request.body or request.url.partition("?")[2].encode()
    timestamp = int(WHEN.timestamp())
    assert request.headers["webhook-id"] == "msg_42"
    assert request.headers["webhook-timestamp"] == str(timestamp)
    assert request.headers["webhook-signature"] == standard_webhooks_signature(
        hook.secret, "msg_42", timestamp, signed)


# -- event filters ---------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "event"), [
    ("SUBSCRIBE", EventType.SUBSCRIPTION_CONFIRMED),
    ("Subscribe", EventType.SUBSCRIPTION_CONFIRMED),
    ("UNSUBSCRIBE", EventType.UNSUBSCRIBED), ("Delete", EventType.REMOVED),
    ("changeprofile", EventType.PROFILE_CHANGED),
])
def test_mailup_event_names_are_aliases_of_lifecycle_events(name: str, event: EventType) -> None:
    assert webhooks.parse_events([name]) == {event}


def test_lifecycle_event_names_are_accepted_in_any_case_and_with_spaces() -> None:
    names = [" subscription_requested ", "SUBSCRIPTION_CONFIRMED", "Removed"]

    assert webhooks.parse_events(names) == {EventType.SUBSCRIPTION_REQUESTED,
                                            EventType.SUBSCRIPTION_CONFIRMED, EventType.REMOVED}


def test_an_event_named_twice_counts_once() -> None:
    assert webhooks.parse_events(["SUBSCRIBE", "subscription_confirmed"]) == {
        EventType.SUBSCRIPTION_CONFIRMED}


@pytest.mark.parametrize("name", ["OPEN", "", "subscribed"])
def test_an_unknown_event_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match="unknown webhook event"):
        webhooks.parse_events(["SUBSCRIBE", name])


def test_sources_are_matched_without_case() -> None:
    assert webhooks.parse_sources(["api", " CONSOLE ", "Recipient"]) == set(ChangeSource)


def test_an_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown webhook source"):
        webhooks.parse_sources(["API", "Robot"])


# -- retries ---------------------------------------------------------------------------------


def test_retries_follow_the_schedule_then_stop() -> None:
    expected = [dt.timedelta(seconds=5), dt.timedelta(minutes=5), dt.timedelta(minutes=30),
                dt.timedelta(hours=2), dt.timedelta(hours=5), dt.timedelta(hours=10),
                dt.timedelta(hours=14), dt.timedelta(hours=20), dt.timedelta(hours=24)]

    delays = [webhooks.next_attempt_delay(made) for made in range(1, 11)]

    assert delays == [*expected, None]
    assert webhooks.MAX_ATTEMPTS == 10


def test_no_retry_is_scheduled_past_the_last_attempt() -> None:
    assert webhooks.next_attempt_delay(webhooks.MAX_ATTEMPTS + 5) is None
