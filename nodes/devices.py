"""Device and dtype policy: CUDA, then MPS, then CPU; fp16 (or bf16) on a GPU, fp32 on
the CPU. Models live on the CPU until a node needs them and are moved lazily.

A run chooses its dtype in its RunOptions (``--dtype`` on the command line); with
"auto", NODEGRAPH_DTYPE=fp32|fp16|bf16 overrides the GPU default for the whole process.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

_MOVE_LOCK = threading.RLock()
_DTYPES = {"fp32": "float32", "float32": "float32", "fp16": "float16", "float16": "float16",
           "bf16": "bfloat16", "bfloat16": "bfloat16"}


def torch_device(preference: str = "auto") -> torch.device:
    """The device a run asked for ('auto' picks CUDA, then MPS, then CPU)."""
    import torch

    if preference not in ("auto", "", None):
        if preference == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("CUDA was asked for, but no CUDA device is available")
        if preference == "mps" and not _mps_available():
            raise RuntimeError("MPS was asked for, but it is not available")
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if _mps_available():
        return torch.device("mps")
    return torch.device("cpu")


def _mps_available() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def compute_dtype(device: torch.device, requested: str = "auto") -> torch.dtype:
    """The run's ``requested`` dtype; for "auto", fp32 on the CPU and fp16 on a GPU
    unless NODEGRAPH_DTYPE says otherwise."""
    import torch

    wanted = requested.strip().lower()
    if wanted not in ("auto", ""):
        if wanted not in _DTYPES:
            raise ValueError(f"dtype {requested!r}: use auto, fp32, fp16 or bf16")
        return getattr(torch, _DTYPES[wanted])
    if device.type == "cpu":
        return torch.float32
    wanted = os.environ.get("NODEGRAPH_DTYPE", "").strip().lower()
    if wanted:
        if wanted not in _DTYPES:
            raise ValueError(f"NODEGRAPH_DTYPE={wanted!r}: use fp32, fp16 or bf16")
        return getattr(torch, _DTYPES[wanted])
    return torch.float16


def place(module: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Move a model to ``device``/``dtype`` if it is not there yet (in place: models are
    shared, and moving them is not a change any node can observe beyond float error)."""
    with _MOVE_LOCK:
        current = getattr(module, "_nodegraph_placement", None)
        if current != (str(device), str(dtype)):
            first = next(module.parameters(), None)
            if first is not None and first.dtype == dtype:
                module.to(device=device)  # diffusers warns about every dtype cast
            else:
                module.to(device=device, dtype=dtype)
            module._nodegraph_placement = (str(device), str(dtype))
    return module


def free_memory() -> None:
    """Return cached GPU blocks to the driver (after the executor drops cached models)."""
    import gc

    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if _mps_available() and hasattr(torch, "mps"):
        torch.mps.empty_cache()
