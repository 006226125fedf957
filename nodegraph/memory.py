"""How much memory a node may still take, and a check nodes call before allocating a
large output: a request that cannot fit is refused with a message naming the param to
change, instead of swapping the machine to a halt or being killed by the kernel."""

from __future__ import annotations

from pathlib import Path

from .context import NodeInputError


class NotEnoughMemory(NodeInputError, MemoryError):
    """A node's estimated need exceeds the memory available. Also a MemoryError, so the
    executor frees its cache and asks once more before reporting it."""


def is_out_of_memory(error: BaseException) -> bool:
    """A MemoryError, or a device's out-of-memory error (torch's OutOfMemoryError),
    recognised without importing torch."""
    return isinstance(error, MemoryError) or type(error).__name__ == "OutOfMemoryError"


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _cgroup_available() -> int | None:
    """What a container's memory limit (cgroup v2 or v1) still allows, if there is one."""
    for limit_file, usage_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        try:
            limit = Path(limit_file).read_text().strip()
            if limit == "max" or int(limit) >= 1 << 60:
                return None
            return max(0, int(limit) - int(Path(usage_file).read_text().strip()))
        except (OSError, ValueError):
            continue
    return None


def available_bytes() -> int | None:
    """Memory the process can still take without swapping (None where unknown)."""
    values = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    if not values:
        try:
            import psutil  # optional, for macOS and Windows

            values.append(int(psutil.virtual_memory().available))
        except ImportError:
            return None
    return min(values)


def human(nbytes: float) -> str:
    """A byte count for people: 3.0 GiB, 768 MiB."""
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if nbytes < 1024 or unit == "GiB":
            return f"{nbytes:.1f} {unit}" if unit != "bytes" else f"{int(nbytes)} bytes"
        nbytes /= 1024
    return f"{nbytes:.1f} TiB"


def require(nbytes: int, field: str, what: str) -> None:
    """Raise NotEnoughMemory (naming ``field``) if ``nbytes`` would not fit in the memory
    available now; ``what`` says what they are for ("a 16384x16384 image")."""
    available = available_bytes()
    if available is not None and nbytes > available:
        raise NotEnoughMemory(
            field,
            f"{what} needs about {human(nbytes)} of memory, but only {human(available)} is "
            "available: make it smaller",
        )
