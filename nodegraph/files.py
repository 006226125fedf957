"""Reading and writing files safely: regular files only, and one atomic
write (temp file + fsync + rename + folder fsync) that keeps symlinks and file modes."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
from pathlib import Path


class NotARegularFile(OSError):
    """A path that names a device, FIFO, socket or folder where a file was expected."""


class FileTooLarge(OSError):
    """A file bigger than the reader accepts."""


def regular_file(path: str | os.PathLike[str]) -> os.stat_result:
    """The stat of ``path`` (symlinks followed); NotARegularFile unless it is a plain
    file, FileNotFoundError if it does not exist. Never opens the path, so a FIFO or a
    device cannot block or stream forever."""
    info = os.stat(path)
    if not stat.S_ISREG(info.st_mode):
        kind = (
            "a folder"
            if stat.S_ISDIR(info.st_mode)
            else "a FIFO (named pipe)"
            if stat.S_ISFIFO(info.st_mode)
            else "a device"
            if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "not a regular file"
        )
        raise NotARegularFile(f"{os.fspath(path)} is {kind}, not a regular file")
    return info


def _umask() -> int:
    """The process umask, read without changing it where Linux tells it (setting it to read
    it back would race with other threads creating files)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_TEMP_RE = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp")


def _remove_stale_temps(folder: Path, name: str) -> None:
    """Delete temp files that an earlier, killed save of ``name`` left behind (their
    writing process no longer exists)."""
    with contextlib.suppress(OSError):
        for entry in folder.iterdir():
            match = _TEMP_RE.fullmatch(entry.name)
            if not match or match["name"] != name:
                continue
            pid = int(match["pid"])
            if pid != os.getpid() and not _alive(pid):
                entry.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def write_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace the file at ``path`` with ``data`` all at once or not at all.

    A symlink is written through (its target is replaced, the link stays); an existing
    file keeps its permission bits, a new one gets 0666 minus the umask. The folder is
    fsynced after the rename so the new name survives a power cut. A temp file left by a
    save that was killed is removed by the next save of the same file."""
    target = Path(os.path.realpath(path))
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(regular_file(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~_umask()
    _remove_stale_temps(target.parent, target.name)
    temp = target.parent / f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.chmod(temp, mode)
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries to disk (a no-op where folders cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
