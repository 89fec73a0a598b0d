"""The FTP site of the daily batch sync (pyftpdlib): logins checked against `ftp_users`,
each confined to its account's home, uploads hidden until complete, optional explicit TLS."""
from __future__ import annotations

import logging
import os
from typing import Any

from pyftpdlib.authorizers import AuthenticationFailed
from pyftpdlib.handlers import FTPHandler
from pyftpdlib.servers import ThreadedFTPServer

from mailup_soap.adapters.file_drop import UPLOADING_PREFIX, LocalFileDrop
from mailup_soap.config import Settings
from mailup_soap.service_layer import ftp_accounts
from mailup_soap.service_layer.deps import Deps

log = logging.getLogger("mailup_soap.ftp")

# e list, l list, r read, d delete, f rename, m mkdir, w write. No "a": an upload is sent
# whole (appending to a file the sync may be reading is refused).
PERMISSIONS = "elrdfmw"


class DatabaseAuthorizer:
    """pyftpdlib's authorizer interface over the service layer."""

    def __init__(self, deps: Deps, drop: LocalFileDrop) -> None:
        self.deps = deps
        self.drop = drop
        self._accounts: dict[str, int] = {}

    def validate_authentication(self, username: str, password: str, handler: Any) -> None:
        account_id = ftp_accounts.authenticate(self.deps, username, password)
        if account_id is None:
            raise AuthenticationFailed("Authentication failed.")
        self._accounts[username] = account_id

    def get_home_dir(self, username: str) -> str:
        account_id = self._accounts.get(username)
        if account_id is None:
            raise AuthenticationFailed("Authentication failed.")
        ftp_accounts.prepare_home(self.deps, account_id)
        return str(self.drop.home(account_id))

    def has_user(self, username: str) -> bool:
        return username in self._accounts

    def has_perm(self, username: str, perm: str, path: str | None = None) -> bool:
        return perm in PERMISSIONS

    def get_perms(self, username: str) -> str:
        return PERMISSIONS

    def get_msg_login(self, username: str) -> str:
        return "Welcome: post files under import/<list id>/, collect exports from export/."

    def get_msg_quit(self, username: str) -> str:
        return "Goodbye."

    def impersonate_user(self, username: str, password: str) -> None:
        pass

    def terminate_impersonation(self, username: str) -> None:
        pass


class HiddenUploadsMixin:
    """Store an upload as `.uploading.<name>` and rename it when the transfer completes;
    an interrupted upload is deleted. The sync ignores dot files, so it never takes a file
    still being uploaded."""

    _restart_position: int

    def ftp_STOR(self, file: str, mode: str = "w") -> Any:  # noqa: N802 (pyftpdlib's name)
        if "a" in mode or self._restart_position:
            self.respond("550 Resuming or appending uploads is not supported; send the whole "  # type: ignore[attr-defined]
                         "file again.")
            self._restart_position = 0
            return None
        folder, name = os.path.split(file)
        return super().ftp_STOR(os.path.join(folder, UPLOADING_PREFIX + name), mode)  # type: ignore[misc]

    def ftp_STOU(self, line: str) -> Any:  # noqa: N802
        # STOU writes straight under its final, server-chosen name: the sync could take it
        # half-written.
        self.respond("502 STOU is not supported; use STOR with a name of yours.")  # type: ignore[attr-defined]
        return None

    def on_file_received(self, file: str) -> None:
        folder, name = os.path.split(file)
        if name.startswith(UPLOADING_PREFIX):
            os.replace(file, os.path.join(folder, name[len(UPLOADING_PREFIX):]))

    def on_incomplete_file_received(self, file: str) -> None:
        if os.path.basename(file).startswith(UPLOADING_PREFIX):
            try:
                os.remove(file)
            except OSError:
                log.warning("could not remove the interrupted upload %s", file)


def build_server(settings: Settings, deps: Deps, drop: LocalFileDrop,
                 bind: tuple[str, int] | None = None) -> ThreadedFTPServer:
    """The FTP server, listening (call serve_forever). One thread per connection: a login
    checks a password hash and reads the database."""
    base: type
    if settings.ftp_tls_cert:
        from pyftpdlib.handlers import TLS_FTPHandler

        base = TLS_FTPHandler
    else:
        base = FTPHandler
    attrs: dict[str, Any] = {
        "authorizer": DatabaseAuthorizer(deps, drop),
        "banner": "mailup-soap FTP site ready.",
        "permit_foreign_addresses": False,
        "passive_ports": (list(range(settings.ftp_passive_ports[0],
                                     settings.ftp_passive_ports[1] + 1))
                          if settings.ftp_passive_ports else None),
        "masquerade_address": settings.ftp_masquerade_address or None,
    }
    if settings.ftp_tls_cert:
        attrs |= {"certfile": settings.ftp_tls_cert, "keyfile": settings.ftp_tls_key or None,
                  "tls_control_required": settings.ftp_tls_required,
                  "tls_data_required": settings.ftp_tls_required}
    handler = type("MailUpFtpHandler", (HiddenUploadsMixin, base), attrs)
    if bind is None:
        host, _, port = settings.ftp_bind.rpartition(":")
        bind = (host or "127.0.0.1", int(port))
    server = ThreadedFTPServer(bind, handler)
    server.max_cons = 256
    server.max_cons_per_ip = 32
    return server
