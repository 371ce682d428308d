"""Password hashing with Argon2id (RFC 9106) through argon2-cffi.

``verify_password`` never raises on a wrong password or a malformed/foreign hash: it returns
``False``, so a login path cannot be crashed with a crafted value. ``needs_rehash`` tells the
login code when to upgrade a stored hash after the library's parameters change.
"""

from __future__ import annotations

import logging

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

logger = logging.getLogger(__name__)

# argon2-cffi's defaults follow RFC 9106's "second recommended option" (t=3, m=64 MiB, p=4).
_hasher = PasswordHasher()

MAX_PASSWORD_LENGTH = 1024  # bound the work an attacker can make us do per attempt


def hash_password(password: str) -> str:
    if not password:
        raise ValueError("password must not be empty")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"password longer than {MAX_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False otherwise, never an exception."""
    if not password or not password_hash or len(password) > MAX_PASSWORD_LENGTH:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except VerifyMismatchError:
        return False
    except (InvalidHashError, VerificationError):
        logger.warning("stored password hash is not a valid Argon2 hash")
        return False


def needs_rehash(password_hash: str) -> bool:
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True
