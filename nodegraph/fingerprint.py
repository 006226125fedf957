"""Fingerprints of external files, so a node that reads a file re-runs when it changes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from .files import regular_file


def file_stat(path: str | os.PathLike[str]) -> list[object]:
    """Path, size and modification time: cheap, for big files such as model weights."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return [str(resolved), stat.st_size, stat.st_mtime_ns]


def file_content(path: str | os.PathLike[str]) -> str:
    """SHA-256 of the file's bytes: exact, for small files such as images and masks.
    Only regular files: a FIFO or a device raises NotARegularFile instead of hanging."""
    regular_file(path)
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
