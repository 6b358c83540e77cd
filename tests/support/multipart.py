"""Request bodies built by hand, for the tests that send what no browser would (issue 19)."""

from __future__ import annotations

from urllib.parse import quote

BOUNDARY = "fuzzboundary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(parts) -> bytes:
    """A multipart/form-data body: (name, value, filename) per part; a name of None leaves the name
    out of Content-Disposition, as no browser would."""
    body = b""
    for name, val, fname in parts:
        disposition = "form-data"
        if name is not None:
            disposition += f'; name="{quote(name, safe="")}"'
        if fname is not None:
            disposition += f'; filename="{quote(fname, safe="./")}"'
        content = val if isinstance(val, bytes) else val.encode("utf-8", "surrogatepass")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content + b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()
