"""Signed confirmation-link tokens: what one secret and purpose made, only they can read."""
from __future__ import annotations

import hashlib
import hmac
import secrets

import pytest

from mailup_soap.domain import tokens
from mailup_soap.errors import InvalidToken

PURPOSE = "confirm"


def random_secret() -> str:
    return secrets.token_urlsafe(32)


def test_a_token_reads_back_its_payload() -> None:
    secret = random_secret()
    payload = {"account": 7, "list": 3, "recipient": 42, "email": "ann@example.test"}

    token = tokens.make(secret, PURPOSE, payload)

    assert tokens.read(secret, PURPOSE, token) == payload


def test_a_token_is_safe_in_a_url() -> None:
    token = tokens.make(random_secret(), PURPOSE, {"email": "a+b/c?d=e&f@example.test"})

    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_the_same_payload_makes_the_same_token_whatever_the_key_order() -> None:
    secret = random_secret()

    first = tokens.make(secret, PURPOSE, {"a": 1, "b": 2})
    second = tokens.make(secret, PURPOSE, {"b": 2, "a": 1})

    assert first == second


def test_a_token_with_a_tampered_payload_is_refused() -> None:
    secret = random_secret()
    token = tokens.make(secret, PURPOSE, {"recipient": 42})
    _, _, mac = token.partition(".")
    forged = tokens.make("attacker", PURPOSE, {"recipient": 43}).partition(".")[0] + "." + mac

    with pytest.raises(InvalidToken):
        tokens.read(secret, PURPOSE, forged)


def test_a_token_with_a_flipped_signature_character_is_refused() -> None:
    secret = random_secret()
    token = tokens.make(secret, PURPOSE, {"recipient": 42})
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]

    with pytest.raises(InvalidToken):
        tokens.read(secret, PURPOSE, flipped)


def test_a_token_made_for_another_purpose_is_refused() -> None:
    secret = random_secret()
    token = tokens.make(secret, "unsubscribe", {"recipient": 42})

    with pytest.raises(InvalidToken):
        tokens.read(secret, PURPOSE, token)


def test_a_token_made_with_another_secret_is_refused() -> None:
    token = tokens.make(random_secret(), PURPOSE, {"recipient": 42})

    with pytest.raises(InvalidToken):
        tokens.read(random_secret(), PURPOSE, token)


@pytest.mark.parametrize("garbage", ["", ".", "abc", "abc.def", "!!!.???", "é.é", "a.b.c",
                                     "x" * 1000])
def test_garbage_is_refused_as_an_invalid_token(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.read(random_secret(), PURPOSE, garbage)


def test_a_missing_token_is_refused_as_an_invalid_token() -> None:
    with pytest.raises(InvalidToken):
        tokens.read(random_secret(), PURPOSE, None)  # type: ignore[arg-type]


@pytest.mark.parametrize("body", [b"[1,2]", b"not json", b"\xff\xfe", b"42"])
def test_a_correctly_signed_body_that_is_not_a_json_object_is_refused(body: bytes) -> None:
    secret = random_secret()
    encoded = tokens._b64(body)
    mac = hmac.new(secret.encode(), f"{PURPOSE}.{encoded}".encode(), hashlib.sha256).digest()

    with pytest.raises(InvalidToken):
        tokens.read(secret, PURPOSE, f"{encoded}.{tokens._b64(mac)}")
