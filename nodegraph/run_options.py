"""How one run runs: device, dtype, output and input folders, previews.

A frozen, JSON-serialisable value handed to each run (the editor's worker thread, the
CLI, a remote worker), never shared mutable state on the executor. Device and dtype are
part of every node's cache key, so switching either never serves a stale result.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_OUTPUT_DIR = "output"


@dataclass(frozen=True)
class RunOptions:
    """``device``: auto, cpu, cuda[:N] or mps; ``dtype``: auto, float32, float16 or
    bfloat16; ``output_dir``: where Save nodes write; ``base_dir``: the workflow's folder,
    against which relative input paths resolve; ``previews``: build step previews (off
    when nobody watches)."""

    device: str = "auto"
    dtype: str = "auto"
    output_dir: str = DEFAULT_OUTPUT_DIR
    base_dir: str | None = None
    previews: bool = True

    def __post_init__(self) -> None:  # paths arrive as Path or str; keep plain strings
        object.__setattr__(self, "output_dir", str(self.output_dir))
        if self.base_dir is not None:
            object.__setattr__(self, "base_dir", str(self.base_dir))

    @property
    def output_path(self) -> Path:
        return Path(self.output_dir)

    @property
    def base_path(self) -> Path | None:
        return None if self.base_dir is None else Path(self.base_dir)

    def replace(self, **changes: Any) -> RunOptions:
        """A copy with ``changes`` applied."""
        return dataclasses.replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunOptions:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def cache_key_part(self) -> list[str]:
        """What of these options changes a node's result: where it computes, in what."""
        return [self.device, self.dtype]
