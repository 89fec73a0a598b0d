"""Logins, accessKeys and the Import service's per-call credentials (spec 1.3)."""
from __future__ import annotations

import datetime as dt

import pytest

from mailup_soap import errors
from mailup_soap.domain.model import AccountStatus
from mailup_soap.service_layer import auth, lists
from mailup_soap.service_layer.deps import AccessKey, Caller, WsLogin
from mailup_soap.soap import faults
from tests.fakes import FakeClock, FakeStore, fake_deps, make_account


def test_login_from_id_issues_a_key_that_authorizes_calls() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    key = auth.login(deps, acct.console_user, acct.console_password, console_id=acct.id)

    assert lists.get_lists(deps, AccessKey(key)) == []


def test_login_by_console_host_issues_a_key() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    key = auth.login(deps, acct.console_user, acct.console_password,
                     console_host=f"  {acct.host.upper()} ")

    assert lists.get_lists(deps, AccessKey(key)) == []


def test_the_web_service_user_may_also_log_in_for_an_access_key() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    key = auth.login(deps, acct.ws_user, acct.ws_password, console_id=acct.id)

    assert lists.get_lists(deps, AccessKey(key)) == []


def test_user_names_are_matched_without_case_or_surrounding_spaces() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    key = auth.login(deps, f" {acct.console_user.upper()} ", acct.console_password)

    assert lists.get_lists(deps, AccessKey(key)) == []


def test_every_login_issues_a_new_key() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    first = auth.login(deps, acct.console_user, acct.console_password)
    second = auth.login(deps, acct.console_user, acct.console_password)

    assert first != second
    assert len(first) >= 40  # 32 random bytes, url-safe base64


def test_only_the_hash_of_an_access_key_is_stored() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)

    key = auth.login(deps, acct.console_user, acct.console_password)

    assert list(store.state.sessions) == [auth.hash_key(key)]
    assert key not in repr(store.state)


def test_an_access_key_is_valid_for_sixty_minutes_after_login() -> None:
    clock = FakeClock()
    deps = fake_deps(clock=clock)
    acct = make_account(deps)
    cred = acct.login(deps)

    clock.advance(minutes=59, seconds=59)
    assert lists.get_lists(deps, cred) == []
    clock.advance(seconds=1)

    with pytest.raises(errors.AccessKeyInvalid):
        lists.get_lists(deps, cred)


def test_using_an_access_key_does_not_extend_its_life() -> None:
    clock = FakeClock()
    deps = fake_deps(clock=clock)
    acct = make_account(deps)
    cred = acct.login(deps)
    for _ in range(5):
        clock.advance(minutes=11)
        lists.get_lists(deps, cred)

    clock.advance(minutes=5)

    with pytest.raises(errors.AccessKeyInvalid):
        lists.get_lists(deps, cred)


def test_the_key_lifetime_comes_from_deps() -> None:
    clock = FakeClock()
    deps = fake_deps(clock=clock)
    acct = make_account(deps)

    assert deps.access_key_ttl == dt.timedelta(minutes=60)
    cred = acct.login(deps)
    clock.advance(hours=1)

    with pytest.raises(errors.AccessKeyInvalid):
        lists.get_lists(deps, cred)


def test_a_logged_out_key_is_rejected() -> None:
    deps = fake_deps()
    acct = make_account(deps)
    cred = acct.login(deps)

    auth.logout(deps, cred.key)

    with pytest.raises(errors.AccessKeyInvalid):
        lists.get_lists(deps, cred)


def test_logout_leaves_other_keys_of_the_same_user_valid() -> None:
    deps = fake_deps()
    acct = make_account(deps)
    kept, dropped = acct.login(deps), acct.login(deps)

    auth.logout(deps, dropped.key)

    assert lists.get_lists(deps, kept) == []


def test_logging_out_twice_is_refused() -> None:
    deps = fake_deps()
    acct = make_account(deps)
    cred = acct.login(deps)
    auth.logout(deps, cred.key)

    with pytest.raises(errors.AccessKeyInvalid):
        auth.logout(deps, cred.key)


@pytest.mark.parametrize("key", [None, "", "   ", "not-a-key-we-issued"])
def test_a_missing_or_unknown_key_is_rejected(key: str | None) -> None:
    deps = fake_deps()
    make_account(deps)

    with pytest.raises(errors.AccessKeyInvalid):
        lists.get_lists(deps, AccessKey(key))


def test_surrounding_spaces_around_a_key_are_ignored() -> None:
    deps = fake_deps()
    acct = make_account(deps)
    cred = acct.login(deps)

    assert lists.get_lists(deps, AccessKey(f" {cred.key}\n")) == []


def test_a_key_dies_when_its_account_is_suspended() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)
    cred = acct.login(deps)

    store.replace_account(acct.id, status=AccountStatus.SUSPENDED)

    with pytest.raises(errors.AccessKeyInvalid):
        lists.get_lists(deps, cred)


def test_an_unknown_user_is_account_not_valid_minus_1001() -> None:
    deps = fake_deps()
    make_account(deps)

    with pytest.raises(errors.AccountNotValid) as caught:
        auth.login(deps, "m999999", "whatever-pw")

    assert faults.access_key_code(caught.value) == -1001


@pytest.mark.parametrize("password", ["wrong-password", "", None])
def test_a_wrong_password_is_password_not_valid_minus_1002(password: str | None) -> None:
    deps = fake_deps()
    acct = make_account(deps)

    with pytest.raises(errors.PasswordNotValid) as caught:
        auth.login(deps, acct.console_user, password)

    assert faults.access_key_code(caught.value) == -1002


def test_the_password_of_the_other_user_of_the_account_is_refused() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    with pytest.raises(errors.PasswordNotValid):
        auth.login(deps, acct.console_user, acct.ws_password)


def test_login_from_id_with_another_accounts_console_id_is_refused() -> None:
    deps = fake_deps()
    acct, other = make_account(deps), make_account(deps)

    with pytest.raises(errors.AccountNotValid):
        auth.login(deps, acct.console_user, acct.console_password, console_id=other.id)


def test_login_with_another_accounts_host_is_refused() -> None:
    deps = fake_deps()
    acct, other = make_account(deps), make_account(deps)

    with pytest.raises(errors.AccountNotValid):
        auth.login(deps, acct.console_user, acct.console_password, console_host=other.host)


def test_a_refused_login_stores_no_key() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)

    with pytest.raises(errors.PasswordNotValid):
        auth.login(deps, acct.console_user, "wrong-password")

    assert store.state.sessions == {}


STATUS_CASES = [
    (AccountStatus.SUSPENDED, errors.AccountSuspended, -1003),
    (AccountStatus.INACTIVE, errors.AccountInactive, -1004),
    (AccountStatus.EXPIRED, errors.AccountExpired, -1005),
]


@pytest.mark.parametrize(("status", "error", "code"), STATUS_CASES)
def test_login_to_an_account_that_is_not_active_fails_with_its_code(
        status: AccountStatus, error: type[errors.AuthenticationError], code: int) -> None:
    deps = fake_deps()
    acct = make_account(deps, status=status)

    with pytest.raises(error) as caught:
        auth.login(deps, acct.console_user, acct.console_password, console_id=acct.id)

    assert faults.access_key_code(caught.value) == code


@pytest.mark.parametrize(("status", "error", "code"), STATUS_CASES)
def test_import_credentials_of_an_account_that_is_not_active_fail_with_its_code(
        status: AccountStatus, error: type[errors.AuthenticationError], code: int) -> None:
    deps = fake_deps()
    acct = make_account(deps, status=status)

    with pytest.raises(error) as caught:
        lists.get_lists(deps, acct.ws_login)

    assert faults.import_code(caught.value, -200) == code


def test_import_credentials_name_the_account_and_the_web_service_user() -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)
    ws_user = next(u for u in store.state.users.values() if u.username == acct.ws_user)

    with deps.uow() as uow:
        caller = auth.authorize(uow, deps, acct.ws_login)

    assert caller == Caller(acct.id, ws_user.id)
    assert acct.ws_user == f"a{acct.id}"


def test_import_credentials_refuse_the_console_user() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    with pytest.raises(errors.AccountNotValid) as caught:
        lists.get_lists(deps, WsLogin(acct.console_user, acct.console_password))

    assert faults.import_code(caught.value, -200) == -1001


def test_import_credentials_with_a_wrong_password_return_minus_1002() -> None:
    deps = fake_deps()
    acct = make_account(deps)

    with pytest.raises(errors.PasswordNotValid) as caught:
        lists.get_lists(deps, WsLogin(acct.ws_user, "wrong-password"))

    assert faults.import_code(caught.value, -300) == -1002


def test_import_credentials_of_an_unknown_user_return_minus_1001() -> None:
    deps = fake_deps()

    with pytest.raises(errors.AccountNotValid):
        lists.get_lists(deps, WsLogin("a424242", "whatever-pw"))


@pytest.mark.parametrize(("flag", "error", "code"), [
    ("ws_enabled", errors.WebServiceNotEnabled, -1006),
    ("ws_active", errors.WebServiceNotActive, -1007),
])
def test_import_credentials_need_the_web_service_enabled_and_active(
        flag: str, error: type[errors.AuthenticationError], code: int) -> None:
    store = FakeStore()
    deps = fake_deps(store)
    acct = make_account(deps)
    store.replace_account(acct.id, **{flag: False})

    with pytest.raises(error) as caught:
        lists.get_lists(deps, acct.ws_login)

    assert faults.import_code(caught.value, -200) == code


def test_purging_sessions_drops_expired_and_logged_out_keys_only() -> None:
    store, clock = FakeStore(), FakeClock()
    deps = fake_deps(store, clock)
    acct = make_account(deps)
    acct.login(deps)  # will expire
    clock.advance(minutes=30)
    live, revoked = acct.login(deps), acct.login(deps)
    auth.logout(deps, revoked.key)
    clock.advance(minutes=31)

    purged = auth.purge_expired_sessions(deps)

    assert purged == 2
    assert list(store.state.sessions) == [auth.hash_key(live.key or "")]
    assert lists.get_lists(deps, live) == []
