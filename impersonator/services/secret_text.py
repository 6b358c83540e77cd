"""Secrets that arrive as text: a cookie's, a token's, a header's (DESIGN I11: a cookie's contents
are input too). Whoever holds the signing key can put any text in a cookie or token, lone
surrogates included (JSON carries `"\\ud800"`), so these never assume ASCII or valid UTF-8."""

from __future__ import annotations

import hashlib
import hmac


def text_bytes(text: str) -> bytes:
    """`text` as UTF-8, lone surrogates included: a plain `.encode()` raises on them."""
    return text.encode("utf-8", "surrogatepass")


def same_secret(given: str, expected: str) -> bool:
    """Whether `given` equals `expected`, in constant time. `hmac.compare_digest` raises on text
    with non-ASCII characters, so both are compared as bytes."""
    return hmac.compare_digest(text_bytes(given), text_bytes(expected))


def token_digest(token: str) -> str:
    """What the database keeps of a random token: its SHA-256, hex (a value of 256 random bits
    needs no slow hash)."""
    return hashlib.sha256(text_bytes(token)).hexdigest()
