"""Passwords: argon2id hashes (argon2-cffi), checked in constant time.

The parameters are argon2-cffi's defaults, RFC 9106's second recommended profile (t=3,
m=64 MiB, p=4): about a fifth of a second per hash here, which is what makes a stolen database
slow to guess from and why logins are also rate-limited (``throttle``).
"""

from __future__ import annotations

import secrets
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cetate.errors import BadRequestData

HASHER = PasswordHasher()
MIN_LENGTH = 8
MAX_LENGTH = 1024  # argon2 takes any length; a bound keeps one request's work bounded


def check_password_rules(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise BadRequestData(f"a password needs at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise BadRequestData(f"a password has at most {MAX_LENGTH} characters")


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string: algorithm, parameters, salt and hash)."""
    check_password_rules(password)
    return HASHER.hash(password)


@cache
def _stand_in() -> str:
    # The hash of a password nobody knows, made once per process.
    return HASHER.hash(secrets.token_urlsafe(32))


def verify_password(stored: str | None, password: str) -> bool:
    """Whether ``password`` matches ``stored``. With no stored hash (no such user) a stand-in
    hash is checked all the same, so the answer takes as long whether the user exists or not;
    argon2 compares the hashes in constant time."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return HASHER.verify(stored or _stand_in(), password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a hash was made with other parameters than today's (then it is remade at the
    next successful login, when the password is at hand)."""
    return HASHER.check_needs_rehash(stored)
