"""Tiny random-weight models, built once per session into a temporary model folder that
NODEGRAPH_MODELS points at, and helpers to build the standard graphs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

from nodegraph.graph import Graph

from .tiny import save_diffusers_folder, save_single_file

MODEL = "tiny-sd"
SINGLE = "tiny-sd-single.safetensors"


def _make_loras(root: Path) -> None:
    """A diffusers-layout LoRA (UNet + text encoder), a kohya-layout one, and a LoRA for
    another architecture (wrong widths)."""
    import torch
    from diffusers import UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
    from safetensors.torch import save_file
    from transformers import CLIPTextModel

    loras = root / "loras"
    loras.mkdir(parents=True, exist_ok=True)
    unet = UNet2DConditionModel.from_pretrained(root / MODEL / "unet")
    text = CLIPTextModel.from_pretrained(root / MODEL / "text_encoder")
    torch.manual_seed(123)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    inject_adapter_in_model(LoraConfig(r=4, lora_alpha=4, init_lora_weights=False,
                                       target_modules=["q_proj", "k_proj", "v_proj", "out_proj"]),
                            text)
    unet_sd = get_peft_model_state_dict(unet)
    text_sd = get_peft_model_state_dict(text)
    state = {f"unet.{k}": v * 3 for k, v in unet_sd.items()}
    state.update({f"text_encoder.{k}": v * 3 for k, v in text_sd.items()})
    save_file({k: v.contiguous() for k, v in state.items()}, str(loras / "tiny_lora.safetensors"))
    # kohya layout: lora_unet_<path with _>.lora_down/.lora_up/.alpha
    kohya = {}
    for key, value in unet_sd.items():
        module, _, kind = key.rpartition(".lora_")
        name = "lora_unet_" + module.replace(".", "_")
        part = "lora_down.weight" if kind.startswith("A") else "lora_up.weight"
        kohya[f"{name}.{part}"] = value.contiguous() * 3
        kohya[f"{name}.alpha"] = torch.tensor(4.0)
    save_file(kohya, str(loras / "tiny_lora_kohya.safetensors"))
    # another architecture: same module names, different widths
    wrong = {k: torch.randn(v.shape[0] * 2, v.shape[1] * 2) if v.ndim == 2 else v
             for k, v in state.items()}
    save_file({k: v.contiguous() for k, v in wrong.items()},
              str(loras / "other_arch_lora.safetensors"))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    save_diffusers_folder(root / MODEL)
    save_single_file(root / MODEL, root / SINGLE)
    _make_loras(root)
    (root / "broken.safetensors").write_bytes(b"this is not a safetensors file")
    return root


@pytest.fixture(scope="session")
def _resident(models_dir):
    """Keep the tiny models loaded for the whole session (a loaded checkpoint stays
    resident while something refers to it)."""
    from nodes.loaders import load_checkpoint

    return [load_checkpoint(models_dir / MODEL), load_checkpoint(models_dir / SINGLE)]


@pytest.fixture(autouse=True)
def _model_env(models_dir, monkeypatch, _resident):
    """Point the model folders at the tiny models, and flush denormal floats to zero
    during each test: random tiny weights produce many, and they make CPU convolutions
    an order slower. (Reset after each test: it is process-wide CPU state that other
    tests, e.g. hypothesis' float strategies, must not inherit.)"""
    import torch

    monkeypatch.setenv("NODEGRAPH_MODELS", str(models_dir))
    torch.set_flush_denormal(True)
    yield
    torch.set_flush_denormal(False)


@pytest.fixture(scope="session")
def registry():
    from nodegraph_app import default_registry

    return default_registry(plugins=False)


@pytest.fixture
def executor(registry, tmp_path):
    from nodegraph.executor import Executor

    return Executor(registry, output_dir=tmp_path / "out", device="cpu")


def txt2img_graph(checkpoint: str = MODEL, prompt: str = "a photo of an astronaut",
                  negative: str = "blurry", sampler: str = "euler", steps: int = 4,
                  scale: float = 7.5, seed: int = 0, width: int = 64, height: int = 64,
                  batch: int = 1, save: bool = False, lora: str | None = None,
                  lora_strength: float = 1.0) -> tuple[Graph, dict[str, str]]:
    """Checkpoint -> (LoRA) -> encode x2 -> empty latent -> noise -> scheduler -> guider ->
    sampler -> decode (-> save). Returns the graph and the node ids by role."""
    g = Graph()
    ids: dict[str, str] = {}

    def add(role: str, type_id: str, params: dict, title: str = "") -> str:
        ids[role] = g.add_node(type_id, params, title=title or role).id
        return ids[role]

    add("ckpt", "loaders.Checkpoint", {"checkpoint": checkpoint})
    model_src, clip_src = (ids["ckpt"], "model"), (ids["ckpt"], "clip")
    if lora:
        add("lora", "loaders.LoRA", {"lora": lora, "unet_strength": lora_strength,
                                     "clip_strength": lora_strength})
        g.connect(ids["ckpt"], "model", ids["lora"], "model")
        g.connect(ids["ckpt"], "clip", ids["lora"], "clip")
        model_src, clip_src = (ids["lora"], "model"), (ids["lora"], "clip")
    add("pos", "conditioning.TextEncode", {"text": prompt})
    add("neg", "conditioning.TextEncode", {"text": negative})
    g.connect(*clip_src, ids["pos"], "clip")
    g.connect(*clip_src, ids["neg"], "clip")
    add("latent", "latent.Empty", {"width": width, "height": height, "batch": batch})
    g.connect(*model_src, ids["latent"], "model")
    add("noise", "sampling.Noise", {"seed": seed})
    add("sched", "sampling.Scheduler", {"sampler": sampler, "steps": steps})
    g.connect(*model_src, ids["sched"], "model")
    add("guider", "sampling.CFGGuider", {"scale": scale})
    g.connect(*model_src, ids["guider"], "model")
    g.connect(ids["pos"], "conditioning", ids["guider"], "positive")
    g.connect(ids["neg"], "conditioning", ids["guider"], "negative")
    add("sampler", "sampling.Sampler", {})
    for src, dst in (("guider", "guider"), ("sched", "scheduler"), ("noise", "noise"),
                     ("latent", "latent")):
        g.connect(ids[src], src if src != "sched" else "scheduler", ids["sampler"], dst)
    add("decode", "latent.VAEDecode", {})
    g.connect(ids["ckpt"], "vae", ids["decode"], "vae")
    g.connect(ids["sampler"], "latent", ids["decode"], "latent")
    if save:
        add("save", "image.Save", {"filename_prefix": "tiny"})
        g.connect(ids["decode"], "image", ids["save"], "images")
    return g, ids


def run_image(executor, graph: Graph, ids: dict[str, str]):
    result = executor.run(graph, outputs=[ids["decode"]], keep_values=True)
    assert not result.failures, {k: str(v) for k, v in result.failures.items()}
    return result.values[ids["decode"]][0], result


# -- test-only source nodes: hand tensors into a graph ----------------------------------
TENSORS: dict[str, object] = {}


def with_sources(registry):
    """A copy of ``registry`` plus test.Image / test.Mask / test.Latent nodes that output
    TENSORS[key]."""
    from nodegraph.registry import Output, Registry, StringParam, node
    from nodegraph.types import IMAGE, LATENT, MASK

    @node("test.Image", "Image", "test", params=[StringParam("key", "")],
          outputs=[Output("image", IMAGE)])
    def image(key: str):
        return TENSORS[key]

    @node("test.Mask", "Mask", "test", params=[StringParam("key", "")],
          outputs=[Output("mask", MASK)])
    def mask(key: str):
        return TENSORS[key]

    @node("test.Latent", "Latent", "test", params=[StringParam("key", "")],
          outputs=[Output("latent", LATENT)])
    def latent(key: str):
        return TENSORS[key]

    copy = Registry(list(registry))
    for fn in (image, mask, latent):
        copy.add(fn.__nodegraph_spec__)
    return copy


@pytest.fixture(scope="session")
def test_registry(registry):
    return with_sources(registry)


@pytest.fixture
def test_executor(test_registry, tmp_path):
    from nodegraph.executor import Executor

    return Executor(test_registry, output_dir=tmp_path / "out", device="cpu")


def failures(result) -> dict[str, tuple[str | None, str]]:
    """node id -> (input field, message) of each failure."""
    return {k: (v.field, str(v)) for k, v in result.failures.items()}


def replay_from_a_contiguous_copy(executor, graph: Graph, encoder: str, output: str):
    """Run ``graph``, then run it again with the latent that node ``encoder`` made handed
    in by a test.Latent node as a contiguous copy. Returns (the latent ``encoder`` made,
    ``output``'s first value from the first run, from the second)."""
    import torch

    first = executor.run(graph, outputs=[output], keep_values=True)
    assert not first.failures, {k: str(v) for k, v in first.failures.items()}
    latent = first.values[encoder][0]
    TENSORS["replayed-latent"] = {k: v.contiguous().clone() if torch.is_tensor(v) else v
                                  for k, v in latent.items()}
    source = graph.add_node("test.Latent", {"key": "replayed-latent"}).id
    for link in [link for link in graph.links.values() if link.src == encoder]:
        graph.connect(source, "latent", link.dst, link.dst_input)
    second = executor.run(graph, outputs=[output], keep_values=True)
    assert not second.failures, {k: str(v) for k, v in second.failures.items()}
    return latent, first.values[output][0], second.values[output][0]
