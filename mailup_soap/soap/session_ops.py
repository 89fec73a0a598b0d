"""Login, LoginFromId and Logout: identical in Send, Manage and Report."""
from __future__ import annotations

from lxml.builder import E

from mailup_soap.service_layer import auth
from mailup_soap.service_layer.deps import Credentials, Deps
from mailup_soap.soap.operations import Op
from mailup_soap.soap.results import Result
from mailup_soap.soap.types import Int, String


def _login(deps: Deps, cred: Credentials, user: str | None, pwd: str | None,
           url: str | None) -> Result:
    return Result([E.accessKey(auth.login(deps, user, pwd, console_host=url or ""))])


def _login_from_id(deps: Deps, cred: Credentials, user: str | None, pwd: str | None,
                   consoleId: int) -> Result:
    return Result([E.accessKey(auth.login(deps, user, pwd, console_id=consoleId))])


def _logout(deps: Deps, cred: Credentials) -> Result:
    auth.logout(deps, getattr(cred, "key", None))
    return Result()


SESSION_OPS = [
    # MailUp answers both logins with a <LoginResult> document (spec 3.1).
    Op("Login", [("user", String), ("pwd", String), ("url", String)], _login, root="LoginResult"),
    Op("LoginFromId", [("user", String), ("pwd", String), ("consoleId", Int)], _login_from_id,
       root="LoginResult"),
    Op("Logout", [("accessKey", String)], _logout),
]
