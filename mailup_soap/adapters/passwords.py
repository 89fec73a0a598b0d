"""argon2id password hashing. See `service_layer.ports.PasswordHasher`."""
from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict

from argon2 import PasswordHasher as _Argon2
from argon2.exceptions import InvalidHashError, VerificationError


class Argon2Hasher:
    """argon2id with the library's defaults (RFC 9106 low-memory profile).

    The Import service authenticates every call with the password itself, and a full argon2
    verification costs tens of milliseconds. Successful verifications are therefore remembered
    for a short while, keyed by an HMAC (with a per-process random key) of the stored hash and
    the password, so that neither plaintext nor a fast offline-attackable digest is kept; a
    changed password changes the stored hash and misses the cache.
    """

    CACHE_SIZE = 1024

    def __init__(self) -> None:
        self._argon = _Argon2()
        self._secret = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def hash(self, password: str) -> str:
        return self._argon.hash(password)

    def _key(self, password_hash: str, password: str) -> bytes:
        message = password_hash.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._secret, message, hashlib.sha256).digest()

    def verify(self, password_hash: str, password: str) -> bool:
        key = self._key(password_hash, password)
        with self._lock:
            if key in self._verified:
                self._verified.move_to_end(key)
                return True
        try:
            self._argon.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        with self._lock:
            self._verified[key] = None
            if len(self._verified) > self.CACHE_SIZE:
                self._verified.popitem(last=False)
        return True
