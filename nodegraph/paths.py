"""Where a node's file param points: a relative path means the file beside the workflow
when it is there, else the path relative to the current directory."""

from __future__ import annotations

from pathlib import Path


def resolve_input_path(value: str, base_dir: Path | None) -> str:
    """``value`` as the node will open it (see the module docstring)."""
    if base_dir is not None and value and not Path(value).is_absolute():
        candidate = base_dir / value
        if candidate.exists():
            return str(candidate)
    return value
