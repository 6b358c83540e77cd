"""How both faces read what a client sends, before any view sees it (DESIGN I11): the query string,
multipart bodies and ids in paths. Each rule here is one a fuzzer found broken by the defaults."""

from __future__ import annotations

import re
from typing import IO, Any

from flask import Flask
from flask import Request as FlaskRequest
from werkzeug.formparser import FormDataParser
from werkzeug.routing import IntegerConverter, Map, ValidationError

from impersonator.services.validation import BIG_ID_MAX, ID_MAX

_RAW_BYTE = re.compile(rb"[\x80-\xff]")


class FormParser(FormDataParser):
    """Werkzeug's form parser, but a multipart part without a name makes the body unreadable.

    RFC 7578 §4.2 requires a name on every part; Werkzeug files a nameless one under the key None,
    which Flask-WTF's CSRF check then calls `.endswith` on. Such a body is treated as Werkzeug treats
    any body it cannot read (one that is not UTF-8, say): no form at all, so the CSRF check refuses
    it with its own 400 page, and a CSRF-exempt view finds its fields missing."""

    def parse(
        self, stream: IO[bytes], mimetype: str, content_length: int | None, options: dict | None = None
    ) -> tuple[IO[bytes], Any, Any]:
        stream, form, files = super().parse(stream, mimetype, content_length, options)
        if None in form or None in files:
            if not self.silent:
                raise ValueError("a multipart part has no name")
            return stream, self.cls(), self.cls()
        return stream, form, files


def _percent_encode_raw_bytes(query: bytes) -> bytes:
    """`q=\\xff` -> `q=%FF`: what a browser sends for the same address (the WHATWG URL standard
    percent-encodes such bytes in a query)."""
    return _RAW_BYTE.sub(lambda match: b"%%%02X" % match.group()[0], query)


class Request(FlaskRequest):
    """The request class of both faces.

    Query strings: one decoding policy. A query string carrying raw bytes outside ASCII (curl will
    send them, a browser never does) is read exactly as its percent-encoded form, so `request.args`
    and `request.full_path` never raise, and bytes that are not UTF-8 meet the same rules as `%FF`
    does (kept percent-encoded, then refused where they matter: `next=`, form text)."""

    form_data_parser_class = FormParser

    def __init__(self, environ: dict, populate_request: bool = True, shallow: bool = False) -> None:
        super().__init__(environ, populate_request, shallow)
        self.query_string = _percent_encode_raw_bytes(self.query_string)


class IdConverter(IntegerConverter):
    """`<int:…>`: the id of a row with an INTEGER key. A number no such key can hold is a plain 404,
    not an error from the database driver binding it (SQLite's OverflowError past 2**63,
    PostgreSQL's "integer out of range" past 2**31, which would read as the database being down)."""

    id_max = ID_MAX

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", self.id_max)
        super().__init__(map, *args, **kwargs)

    def to_python(self, value: str) -> Any:
        # A longer string of digits is not converted at all (int() of 5,000 digits is work).
        if len(value.lstrip("0")) > len(str(self.id_max)):
            raise ValidationError()
        return super().to_python(value)


class BigIdConverter(IdConverter):
    """`<bigint:…>`: the id of a row with a BIGINT key."""

    id_max = BIG_ID_MAX


def register_request_rules(app: Flask) -> None:
    """Set these rules on a face; called before any route is added (converters bind at add time)."""
    app.request_class = Request
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["bigint"] = BigIdConverter
