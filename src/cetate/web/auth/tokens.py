"""API keys and session cookies: random secrets, and what is kept of them.

An API key is ``ck_<name>.<secret>``: the name says which key it is (one lookup, no scan of
every key) and the secret is 32 random bytes. Only the SHA-256 of the secret is stored. A slow
KDF would add nothing: it protects low-entropy passwords from guessing, and 256 random bits
cannot be guessed however fast the hash is; while every request made with a key would pay its
cost. The same holds for session ids, which are stored by their SHA-256 too.

A session cookie is ``<session id>.<HMAC-SHA256 of it>``: the signature lets a forged or
mangled cookie be turned away without a store lookup, and changing the signing key ends every
session at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

KEY_PREFIX = "ck_"
SECRET_BYTES = 32


def digest(secret: str) -> str:
    """What is stored of a key or session secret: its SHA-256, hex."""
    return hashlib.sha256(secret.encode()).hexdigest()


def same(a: str, b: str) -> bool:
    """Constant-time comparison, so response times tell nothing about how much matched."""
    return hmac.compare_digest(a.encode(), b.encode())


def new_api_key(name: str) -> tuple[str, str]:
    """A new key for the account ``name``: the token (shown once) and its stored digest."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return f"{KEY_PREFIX}{name}.{secret}", digest(secret)


def parse_api_key(token: str) -> tuple[str, str] | None:
    """(name, secret) of a key token, or None when it is not shaped like one. The secret is
    URL-safe base64 (no ``.``), so the last ``.`` ends the name."""
    if not token.startswith(KEY_PREFIX) or "." not in token:
        return None
    name, secret = token[len(KEY_PREFIX) :].rsplit(".", 1)
    if not name or len(secret) < SECRET_BYTES:
        return None
    return name, secret


def new_session_id() -> str:
    return secrets.token_urlsafe(SECRET_BYTES)


def _signature(key: bytes, session_id: str) -> str:
    mac = hmac.new(key, session_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign(key: bytes, session_id: str) -> str:
    """The cookie value for a session id."""
    return f"{session_id}.{_signature(key, session_id)}"


def unsign(key: bytes, cookie: str) -> str | None:
    """The session id in a cookie whose signature is right, else None."""
    session_id, dot, signature = cookie.rpartition(".")
    if not dot or not session_id or not same(signature, _signature(key, session_id)):
        return None
    return session_id
