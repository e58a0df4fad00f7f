"""`Content-MD5` of a request body, for the S3-compatible stores Bascule writes to (backups, the status page).

Why one place: both writers must send the digest in a header, never as a checksum trailer (see
bascule/backup/store.py's docstring for the provider facts), and a file must be read a block at a time, never whole.
"""

from __future__ import annotations

import base64
import hashlib
from typing import BinaryIO

BLOCK = 8 * 1024 * 1024
"""How much of a file is read at once while its MD5 is computed."""


def content_md5(body: bytes | BinaryIO) -> str:
    """`Content-MD5` of `body` (RFC 1864: base64 of the digest). A file is read from its start a block at a time and
    left at its start for the request to send it."""
    digest = hashlib.md5(usedforsecurity=False)
    if isinstance(body, bytes):
        digest.update(body)
    else:
        body.seek(0)
        for block in iter(lambda: body.read(BLOCK), b""):
            digest.update(block)
        body.seek(0)
    return base64.b64encode(digest.digest()).decode("ascii")
