"""Fetching the page of a `URL` message (CreateNewsletter type URL), defensively: http(s)
only, a timeout, a size cap, at most 3 redirects, and no address on a loopback, private,
link-local or otherwise reserved network unless configuration allows it. The connection goes
to the address that was checked (no second DNS lookup a rebinding attacker could answer)."""
from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import urllib.parse

from mailup_soap.service_layer.ports import FetchError

MAX_REDIRECTS = 3


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, address: str, host: str, port: int, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class HttpPageFetcher:
    def __init__(self, timeout: float = 10.0, max_bytes: int = 1 << 20,
                 allow_private: bool = False) -> None:
        self.timeout, self.max_bytes, self.allow_private = timeout, max_bytes, allow_private

    def _address(self, host: str, port: int) -> str:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise FetchError(f"{host}: {exc}") from None
        addresses = [str(info[4][0]) for info in infos]
        for address in addresses:
            ip = ipaddress.ip_address(address.split("%")[0])
            if not self.allow_private and not ip.is_global:
                raise FetchError(f"{host} is on a private or reserved network ({ip})")
        return addresses[0]

    def fetch(self, url: str) -> str:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise FetchError("only http and https URLs")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = self._address(parts.hostname, port)
            connection_class = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
            conn = connection_class(address, parts.hostname, port, self.timeout)
            try:
                path = parts.path or "/"
                conn.request("GET", f"{path}?{parts.query}" if parts.query else path,
                             headers={"User-Agent": "mailup-soap", "Accept": "text/html"})
                response = conn.getresponse()
                if response.status in (301, 302, 303, 307, 308) and \
                        response.getheader("Location"):
                    url = urllib.parse.urljoin(url, response.getheader("Location", ""))
                    continue
                if response.status != 200:
                    raise FetchError(f"{url}: HTTP {response.status}")
                body = response.read(self.max_bytes + 1)
            except (OSError, http.client.HTTPException) as exc:
                raise FetchError(f"{url}: {exc}") from None
            finally:
                conn.close()
            if len(body) > self.max_bytes:
                raise FetchError(f"{url}: larger than {self.max_bytes} bytes")
            charset = response.headers.get_content_charset() or "utf-8"
            try:
                return body.decode(charset, errors="replace")
            except LookupError:
                return body.decode("utf-8", errors="replace")
        raise FetchError(f"more than {MAX_REDIRECTS} redirects")
