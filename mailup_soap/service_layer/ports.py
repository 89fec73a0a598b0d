"""Outside collaborators the use cases need, as small Protocols (fakes in tests/fakes.py)."""
from __future__ import annotations

import datetime as dt
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""
        ...


class PasswordHasher(Protocol):
    def hash(self, password: str) -> str:
        """A self-describing hash (algorithm and salt inside) of `password`."""
        ...

    def verify(self, password_hash: str, password: str) -> bool:
        """True when `password` matches; never raises for a wrong password."""
        ...
