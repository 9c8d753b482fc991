"""Password hashing: scrypt in production; a seam (:class:`PasswordHasher`) so tests may choose a cheaper one."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Protocol

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


class PasswordHasher(Protocol):
    """Turns a password into a stored hash and checks a password against one."""

    def hash(self, password: str) -> str: ...

    def check(self, stored: str, password: str) -> bool: ...


class Scrypt:
    """Salted scrypt, stored as ``scrypt$n$r$p$salt$hash`` (the parameters travel with the hash)."""

    def __init__(self, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> None:
        self.n, self.r, self.p = n, r, p

    def hash(self, password: str) -> str:
        """A salted scrypt hash."""
        salt = secrets.token_hex(16)
        digest = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=self.n, r=self.r, p=self.p)
        return f"scrypt${self.n}${self.r}${self.p}${salt}${digest.hex()}"

    def check(self, stored: str, password: str) -> bool:
        """Whether the password matches the stored hash (constant time); any stored parameters are honoured."""
        try:
            scheme, n, r, p, salt, digest = stored.split("$")
        except ValueError:
            return False
        if scheme != "scrypt":
            return False
        candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
        return hmac.compare_digest(candidate.hex(), digest)


def hash_password(password: str) -> str:
    """A production (scrypt) hash of a password."""
    return Scrypt().hash(password)


def check_password(stored: str, password: str) -> bool:
    """Whether a password matches a scrypt hash."""
    return Scrypt().check(stored, password)
