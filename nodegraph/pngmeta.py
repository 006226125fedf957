"""Read the text chunks of a PNG (where Save image puts the workflow), with the
standard library only: the engine can open a workflow from an image without Pillow."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def is_png(data: bytes) -> bool:
    """True if ``data`` starts like a PNG file."""
    return data.startswith(PNG_SIGNATURE)


def text_chunks(data: bytes) -> dict[str, str]:
    """The tEXt, zTXt and iTXt entries of PNG bytes, by keyword. Malformed or truncated
    chunks end the scan; what was read so far is returned."""
    texts: dict[str, str] = {}
    position = len(PNG_SIGNATURE)
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        position += 12 + length
        if len(body) != length or kind == b"IEND":
            break
        try:
            key, value = _decode(kind, body)
        except (ValueError, zlib.error, UnicodeDecodeError):
            continue
        if key is not None:
            texts[key] = value
    return texts


def _decode(kind: bytes, body: bytes) -> tuple[str | None, str]:
    if kind == b"tEXt":
        key, _, value = body.partition(b"\0")
        return key.decode("latin-1"), value.decode("latin-1")
    if kind == b"zTXt":
        key, _, rest = body.partition(b"\0")
        return key.decode("latin-1"), zlib.decompress(rest[1:]).decode("latin-1")
    if kind == b"iTXt":
        key, _, rest = body.partition(b"\0")
        compressed, rest = rest[0], rest[2:]
        _language, _, rest = rest.partition(b"\0")
        _translated, _, text = rest.partition(b"\0")
        if compressed:
            text = zlib.decompress(text)
        return key.decode("latin-1"), text.decode("utf-8")
    return None, ""


def read_text_chunks(path: str | Path) -> dict[str, str]:
    """The text entries of a PNG file."""
    return text_chunks(Path(path).read_bytes())
