"""Checks on text from people: characters we refuse, lengths, email shape (DESIGN I11)."""

from __future__ import annotations

import re
import unicodedata

from impersonator.services.errors import InvalidInput

# Bidirectional overrides and isolates can make text display differently from what it is.
_BIDI_CONTROLS = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")


# The largest id a table can hold: INTEGER on PostgreSQL for most tables, BIGINT for the few that
# grow fast (audit events, outbox messages; models/types.py BigIntId). SQLite's are 64-bit either way.
ID_MAX = 2**31 - 1
BIG_ID_MAX = 2**63 - 1


def row_id(value: object) -> int | None:
    """`value` if it can be the id of a row (a session cookie's contents are input too), else None.
    Not a bool (True is an int in Python), not 0 or less, nothing an INTEGER key cannot hold."""
    return value if type(value) is int and 0 < value <= ID_MAX else None


def page_number(value: str | None) -> int:
    """A list's page from the query string: a number from 1 (none given: 1). Past the end is the
    list's business; anything else is refused."""
    value = (value or "1").strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 9 and int(value) > 0):
        raise InvalidInput("bad_page", "“page” must be a page number such as 2.")
    return int(value)


def loggable_path(path: str, *, max_length: int = 500) -> str:
    """A request path as stored in a log row: PostgreSQL text refuses NUL, so it is shown as \\x00."""
    return path.replace("\x00", "\\x00")[:max_length]


def unreadable_character(text: str, allow_newlines: bool = False) -> str | None:
    """Describe the first character we refuse in `text`, or None when every character is fine."""
    for char in text:
        if char in "\r\n\t" and allow_newlines:
            continue
        category = unicodedata.category(char)
        if char == "\x00":
            return "a NUL byte"
        if category == "Cc":
            return "a control character"
        if category in {"Cs", "Co", "Cn"} or char == "\ufffd":
            return "a character that is not valid text"
        if char in _BIDI_CONTROLS:
            return "a text-direction control character"
    return None


def clean_text(
    value: str | None,
    label: str,
    *,
    max_length: int,
    required: bool = True,
    allow_newlines: bool = False,
) -> str:
    """Trim `value` and refuse it, with a sentence naming `label`, when it is not acceptable."""
    text = unicodedata.normalize("NFC", (value or "").strip())
    if required and not text:
        raise InvalidInput("required", f"{label} is required.")
    if len(text) > max_length:
        raise InvalidInput("too_long", f"{label} must be at most {max_length} characters.")
    problem = unreadable_character(text, allow_newlines=allow_newlines)
    if problem:
        raise InvalidInput("bad_characters", f"{label} contains {problem}; please remove it.")
    return text


def normalise_email(value: str | None) -> str:
    """Lower-case, trimmed; refuses what does not look like an address."""
    email = clean_text(value, "Email", max_length=254).lower()
    if not _EMAIL.fullmatch(email):
        raise InvalidInput("bad_email", "Enter an email address such as name@example.com.")
    return email
