"""Which account a frontend request is for: the console host, or the only account there is."""
from __future__ import annotations

from mailup_soap.service_layer.subscriptions import account_for_host
from tests.fakes import fake_deps, make_account


def test_the_only_account_is_served_on_any_host() -> None:
    deps = fake_deps()
    only = make_account(deps)

    assert account_for_host(deps, "whatever.example:8080") == only.id


def test_with_several_accounts_the_host_must_be_a_console_host() -> None:
    deps = fake_deps()
    first, second = make_account(deps), make_account(deps)

    assert account_for_host(deps, second.host.upper()) == second.id
    assert account_for_host(deps, first.host + ":443") == first.id
    assert account_for_host(deps, "unknown.example") is None
