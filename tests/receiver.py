"""A real HTTP receiver on loopback for webhook tests: it records every request and answers
a scripted sequence of status codes, optionally holding requests open until released."""
from __future__ import annotations

import dataclasses
import http.server
import threading
import urllib.parse
from collections.abc import Iterable
from types import TracebackType

# How long a held request waits for `release()` before answering anyway: only a bound so
# that a forgotten release cannot leave a thread behind, never reached by a passing test.
HOLD_LIMIT_SECONDS = 30.0


@dataclasses.dataclass(frozen=True)
class ReceivedRequest:
    method: str
    path: str
    query: str  # raw, as sent (still URL-encoded)
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def form(self) -> dict[str, str]:
        """The parameters: the form body of a POST, else the query string."""
        raw = self.body.decode() if self.body else self.query
        return dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))

    @property
    def signed_payload(self) -> bytes:
        """What a webhook signature covers: the body, or the query string when there is none."""
        return self.body or self.query.encode()


class Receiver:
    """`with Receiver([500, 500, 200]) as hook:` answers 500, 500, 200, then 200 forever.
    `hold=1` keeps the first request open (recorded at once) until `release()`."""

    def __init__(self, statuses: Iterable[int] = (), *, then: int = 200, hold: int = 0) -> None:
        self._statuses = list(statuses)
        self._then = then
        self._hold = hold
        self._released = threading.Event()
        self._changed = threading.Condition()
        self.requests: list[ReceivedRequest] = []
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def release(self) -> None:
        """Let the held requests answer."""
        self._released.set()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[ReceivedRequest]:
        """The first `count` requests, waiting at most `timeout` seconds for them to arrive."""
        with self._changed:
            arrived = self._changed.wait_for(lambda: len(self.requests) >= count, timeout)
            if not arrived:
                raise AssertionError(f"expected {count} requests within {timeout} s, got "
                                     f"{len(self.requests)}: {self.requests}")
            return self.requests[:count]

    def _record(self, request: ReceivedRequest) -> tuple[int, bool]:
        with self._changed:
            self.requests.append(request)
            number = len(self.requests)
            self._changed.notify_all()
        status = self._statuses[number - 1] if number <= len(self._statuses) else self._then
        return status, number <= self._hold

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urllib.parse.urlsplit(self.path)
                status, held = receiver._record(ReceivedRequest(
                    self.command, url.path, url.query,
                    {k.lower(): v for k, v in self.headers.items()}, body))
                if held:
                    receiver._released.wait(HOLD_LIMIT_SECONDS)
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "1")
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"1" if status < 300 else b"0")
                except OSError:  # the sender is gone (the worker-kill test): nobody to answer
                    pass
                self.close_connection = True

            do_GET = do_POST = do_PUT = do_DELETE = _handle  # noqa: N815

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
