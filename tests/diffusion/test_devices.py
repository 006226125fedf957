"""Device and dtype policy."""

from __future__ import annotations

import pytest
import torch

from nodes.devices import compute_dtype, place, torch_device


def test_cpu_runs_in_fp32_and_gpus_in_half(monkeypatch):
    assert compute_dtype(torch.device("cpu")) == torch.float32
    monkeypatch.delenv("NODEGRAPH_DTYPE", raising=False)
    assert compute_dtype(torch.device("cuda")) == torch.float16
    monkeypatch.setenv("NODEGRAPH_DTYPE", "bf16")
    assert compute_dtype(torch.device("cuda")) == torch.bfloat16
    monkeypatch.setenv("NODEGRAPH_DTYPE", "fp8")
    with pytest.raises(ValueError, match="NODEGRAPH_DTYPE"):
        compute_dtype(torch.device("cuda"))


def test_auto_picks_an_available_device():
    device = torch_device("auto")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        expected = "mps"
    assert device.type == expected
    assert torch_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch_device("cuda")


def test_models_are_moved_once():
    module = torch.nn.Linear(2, 2)
    calls = []
    original = module.to
    module.to = lambda *a, **k: calls.append(k) or original(*a, **k)
    place(module, torch.device("cpu"), torch.float32)
    place(module, torch.device("cpu"), torch.float32)
    assert len(calls) == 1


def test_a_run_asking_for_a_dtype_gets_it_on_any_device(monkeypatch):
    monkeypatch.setenv("NODEGRAPH_DTYPE", "fp16")  # the run's own choice wins
    assert compute_dtype(torch.device("cpu"), "bf16") == torch.bfloat16
    assert compute_dtype(torch.device("cuda"), "fp32") == torch.float32
    with pytest.raises(ValueError, match="dtype 'fp8'"):
        compute_dtype(torch.device("cpu"), "fp8")
