"""What the fuzzer sends: Hypothesis strategies for text, form parts, query strings, path segments,
header values and session payloads, and the encoders that turn them into request bodies."""

from __future__ import annotations

import functools
import json
from urllib.parse import urlencode

from hypothesis import strategies as st

from tests.support.multipart import CONTENT_TYPE, multipart

ODD = [
    "\x00",
    "a\x00b",
    "\u202e\u2066",  # bidi overrides
    "\ufeff",
    "e\u0301\u0301\u0301",  # stacked combining marks
    "\U0001f600",
    "\uffff",
    "\U0010ffff",
    "𝔞𝔡𝔪𝔦𝔫",
    "\uff21\uff24\uff2d\uff29\uff2e",  # fullwidth ADMIN
    "İı",
    "<script>alert(1)</script>",
    "=cmd|' /C calc'!A0",
    "' OR 1=1 --",
    "../../etc/passwd",
    "%00",
    "%ff",
    "http://[",
    "http://[::1",
    "javascript:alert(1)",
    "http://127.0.0.1/",
    "https://exa mple.com/",
    "\r\nSet-Cookie: x=1",
    "0",
    "-1",
    "1e309",
    "NaN",
    str(2**63),
    str(2**64),
    str(10**30),
    "-" + str(2**63 + 1),
    "٣",  # an Arabic-Indic digit: str.isdigit() says yes
    "full",
    "read_only",
    "admin",
    "support",
    "security",
    "on",
    "true",
    "60",
    "alice@acme.example",
    "x@x",
    " ",
]

# Text of any shape: ordinary Unicode (NUL included), the odd values above, and huge values.
text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(ODD),
    st.builds(
        lambda s, n: s * n, st.sampled_from(["a", "\x00", "é", "\U0001f600", "1"]), st.integers(1, 70_000)
    ),
)
raw_bytes = st.binary(max_size=40)
value = st.one_of(text, text, text, raw_bytes)

# A part of a form body: (name or None, value, filename or None). A filename makes it a file part.
filename = st.one_of(st.none(), st.sampled_from(["", "a.txt", "x\x00.exe", "../../a"]))


@functools.cache
def parts_for(names: tuple[str, ...]) -> st.SearchStrategy[list[tuple[str | None, str | bytes, str | None]]]:
    """Each known field missing, once or several times, as text or as a file; plus stray parts.
    Made once per set of names: a strategy made anew is validated anew on its first draw, which
    cost a tenth of the forms target's time when it was made per input."""
    field = st.sampled_from(names) if names else st.nothing()
    known = st.tuples(field, value, st.one_of(st.none(), st.none(), st.none(), filename))
    stray = st.tuples(st.one_of(st.none(), st.text(max_size=10)), value, filename)
    return st.lists(st.one_of(known, known, known, stray), max_size=8)


def urlencoded(parts) -> bytes:
    return urlencode([(name, val) for name, val, _ in parts]).encode("ascii")


def encode(parts, as_multipart: bool) -> tuple[bytes, str]:
    """(body, content type); a file part or a nameless part needs multipart."""
    if as_multipart or any(name is None or fname is not None for name, _, fname in parts):
        return multipart(parts), CONTENT_TYPE
    return urlencoded(parts), "application/x-www-form-urlencoded"


# Query strings: pairs of text, or raw bytes as a server would hand them over (WSGI: latin-1).
query_pairs = st.lists(
    st.tuples(st.one_of(text, st.sampled_from(["q", "page", "next", "kind"])), value), max_size=5
)
raw_query = st.binary(max_size=60).map(lambda b: b.decode("latin-1"))

# Path segments where an id or a token belongs.
path_arg = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        [str(2**63), str(2**63 - 1), str(2**64), "0", "00", "-0", "1.5", "1e3", "٣", "0x10", "+1"]
    ),
    st.text(max_size=20),
    st.builds(lambda n: "9" * n, st.integers(1, 5000)),
)

# Host header values of odd shape.
label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=80)
host = st.one_of(
    st.sampled_from(
        [
            "",
            "console.localhost",
            "CONSOLE.LOCALHOST.",
            "acme.localhost:5000",
            "acme.localhost:99999999999999999999",
            "acme.localhost:",
            "acme.localhost:abc",
            "[::1]",
            "[::1",
            "[",
            "]",
            ":",
            "..",
            ".acme.localhost",
            "acme..localhost",
            "127.0.0.1",
            "localhost",
            "xn--",
            "xn--zz.localhost",
            "a" * 64 + ".localhost",
            "a" * 64,
            "a" * 300,
            "ACME.localhost",
            "bücher.localhost",
        ]
    ),
    st.lists(label, min_size=1, max_size=4).map(".".join),
    st.builds(
        lambda a, b: f"{a}.{b}", label, st.sampled_from(["localhost", "acme.localhost", "console.localhost"])
    ),
    st.text(max_size=30),
)
header_value = st.one_of(text, raw_bytes.map(lambda b: b.decode("latin-1")))
header_name = st.sampled_from(
    [
        "Accept-Language",
        "Referer",
        "Origin",
        "X-Forwarded-For",
        "X-Forwarded-Host",
        "X-Forwarded-Proto",
        "X-Forwarded-Port",
        "X-Real-Ip",
        "User-Agent",
        "Accept",
        "If-Modified-Since",
        "If-None-Match",
        "Range",
        "Content-Type",
        "Cookie",
        "Authorization",
        "X-Request-Id",
    ]
)


def environ_value(val: str) -> str:
    """A header value as a WSGI server hands it over: the raw bytes, decoded as latin-1."""
    return val.encode("utf-8", "surrogatepass").decode("latin-1")


# Session payloads of the wrong types: what a forged-but-signed cookie (a leaked key, an old
# release's cookie) could carry.
scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just(10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(ODD),
    st.sampled_from(["\ud800", "a\udfffb"]),  # lone surrogates: JSON carries them, `.encode()` refuses them
    st.binary(max_size=10),
)
odd_value = st.recursive(
    scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(st.text(max_size=12), children, max_size=3),
        st.tuples(children, children),
    ),
    max_leaves=6,
)


class AnyJSON:
    """A serializer for itsdangerous that writes any of the values above, as a forger with the
    key could: bytes as latin-1 text, lone surrogates as JSON escapes."""

    @staticmethod
    def dumps(obj) -> str:
        return json.dumps(obj, default=lambda b: b.decode("latin-1"))

    @staticmethod
    def loads(text):
        return json.loads(text)
