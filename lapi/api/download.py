"""The ``Content-Disposition`` of a file the API hands out for download.

A file name built from user input (a watchlist's name) must not reach a response header as it is:
a control character there makes aiohttp drop the connection without an answer, and a header carries
no UTF-8 as such.  RFC 6266: an ASCII ``filename`` every client understands, plus ``filename*`` with
the name in UTF-8, percent-encoded, for those that read it.
"""

from __future__ import annotations

import re
from urllib.parse import quote

_UNSAFE_ASCII = re.compile(r"[^A-Za-z0-9._-]+")


def attachment(filename: str) -> str:
    """``attachment; filename="..."`` with an ASCII fallback, and ``filename*`` when the name is not plain ASCII."""
    printable = "".join(c for c in filename if c.isprintable())
    fallback = _UNSAFE_ASCII.sub("_", printable).strip("_.") or "download"
    if fallback == printable or not printable:
        return f'attachment; filename="{fallback}"'
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(printable, safe='')}"
