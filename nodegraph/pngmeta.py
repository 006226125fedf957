"""Read the text chunks of a PNG (where Save image puts the workflow), with the
standard library only: the engine can open a workflow from an image without Pillow.

Only the chunk headers and the text chunks are read (image data is skipped), and no
text may exceed MAX_TEXT_BYTES, compressed or inflated: a zTXt "bomb" is refused."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path
from typing import BinaryIO

from .files import regular_file

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_TEXT_BYTES = 32 * 1024**2
_TEXT_KINDS = (b"tEXt", b"zTXt", b"iTXt")


class TextChunkTooLarge(ValueError):
    """A text chunk larger than MAX_TEXT_BYTES (stored or once inflated)."""


def is_png(data: bytes) -> bool:
    """True if ``data`` starts like a PNG file."""
    return data.startswith(PNG_SIGNATURE)


def text_chunks(data: bytes) -> dict[str, str]:
    """The tEXt, zTXt and iTXt entries of PNG bytes, by keyword (see read_chunks)."""
    return read_chunks(io.BytesIO(data))


def read_chunks(file: BinaryIO) -> dict[str, str]:
    """The text entries of a PNG file object positioned at its start. Malformed or
    truncated chunks end the scan or are skipped; what was read so far is returned.
    Raises TextChunkTooLarge for a text over MAX_TEXT_BYTES."""
    texts: dict[str, str] = {}
    if file.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
        return texts
    while True:
        header = file.read(8)
        if len(header) < 8:
            break
        length, kind = struct.unpack(">I4s", header)
        if kind == b"IEND":
            break
        if kind not in _TEXT_KINDS:
            file.seek(length + 4, io.SEEK_CUR)  # data and CRC
            continue
        if length > MAX_TEXT_BYTES:
            raise TextChunkTooLarge(
                f"a {kind.decode()} chunk of {length} bytes is larger "
                f"than {MAX_TEXT_BYTES // 1024**2} MiB"
            )
        body = file.read(length)
        file.read(4)
        if len(body) != length:
            break
        try:
            key, value = _decode(kind, body)
        except TextChunkTooLarge:
            raise
        except (ValueError, zlib.error, UnicodeDecodeError):
            continue
        texts[key] = value
    return texts


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise TextChunkTooLarge(
            f"a compressed text chunk inflates to more than {MAX_TEXT_BYTES // 1024**2} MiB"
        )
    return out


def _decode(kind: bytes, body: bytes) -> tuple[str, str]:
    if kind == b"tEXt":
        key, _, value = body.partition(b"\0")
        return key.decode("latin-1"), value.decode("latin-1")
    if kind == b"zTXt":
        key, _, rest = body.partition(b"\0")
        return key.decode("latin-1"), _inflate(rest[1:]).decode("latin-1")
    key, _, rest = body.partition(b"\0")  # iTXt
    if len(rest) < 2:
        raise ValueError("truncated iTXt chunk")
    compressed, rest = rest[0], rest[2:]
    _language, _, rest = rest.partition(b"\0")
    _translated, _, text = rest.partition(b"\0")
    if compressed:
        text = _inflate(text)
    return key.decode("latin-1"), text.decode("utf-8")


def read_text_chunks(path: str | Path) -> dict[str, str]:
    """The text entries of a PNG file (a regular file; image data is not read)."""
    regular_file(path)
    with open(path, "rb") as file:
        return read_chunks(file)
