"""LoRA changes the image and never leaks into the cached base model."""

from __future__ import annotations

import torch

from .conftest import failures, run_image, txt2img_graph

LORA, KOHYA = "tiny_lora.safetensors", "tiny_lora_kohya.safetensors"


def _merge(graph_a, ids_a, graph_b, ids_b):
    """One graph holding both: b's nodes first (so they run first), then a's."""
    from nodegraph.graph import Graph

    g = Graph()
    maps = []
    for graph in (graph_b, graph_a):
        mapping = {}
        for node in graph.nodes.values():
            mapping[node.id] = g.add_node(node.type, dict(node.params)).id
        for link in graph.links.values():
            g.connect(mapping[link.src], link.src_output, mapping[link.dst], link.dst_input)
        maps.append(mapping)
    return g, {k: maps[1][v] for k, v in ids_a.items()}, {k: maps[0][v] for k, v in ids_b.items()}


def test_lora_changes_the_image_and_strength_zero_restores_it(executor, registry, tmp_path):
    from nodegraph.executor import Executor

    base, _ = run_image(executor, *txt2img_graph(steps=2, seed=5))
    lora, _ = run_image(executor, *txt2img_graph(steps=2, seed=5, lora=LORA))
    assert (lora - base).abs().max() > 1e-3
    zero, _ = run_image(executor, *txt2img_graph(steps=2, seed=5, lora=LORA,
                                                 lora_strength=0.0))
    assert torch.equal(zero, base)
    # removing the LoRA node, in a fresh cache but the same loaded weights
    fresh = Executor(registry, output_dir=tmp_path / "fresh", device="cpu")
    again, result = run_image(fresh, *txt2img_graph(steps=2, seed=5))
    assert result.executed  # really ran again
    assert torch.equal(again, base)


def test_base_and_lora_side_by_side_give_the_base_image_unchanged(executor, registry, tmp_path):
    from nodegraph.executor import Executor

    base, _ = run_image(executor, *txt2img_graph(steps=2, seed=9))
    with_lora, _ = run_image(executor, *txt2img_graph(steps=2, seed=9, lora=LORA))
    graph, ids_base, ids_lora = _merge(*txt2img_graph(steps=2, seed=9),
                                       *txt2img_graph(steps=2, seed=9, lora=LORA))
    side = Executor(registry, output_dir=tmp_path / "side", device="cpu")
    result = side.run(graph, outputs=[ids_lora["decode"], ids_base["decode"]], keep_values=True)
    assert not result.failures
    assert result.order.index(ids_lora["sampler"]) < result.order.index(ids_base["sampler"])
    assert torch.equal(result.values[ids_base["decode"]][0], base)
    assert torch.equal(result.values[ids_lora["decode"]][0], with_lora)


def test_loras_stack_and_kohya_layout_loads(executor):
    from nodegraph.graph import Graph

    base, _ = run_image(executor, *txt2img_graph(steps=2, seed=2))
    kohya, _ = run_image(executor, *txt2img_graph(steps=2, seed=2, lora=KOHYA))
    assert (kohya - base).abs().max() > 1e-3
    # the kohya file holds the same UNet weights as the diffusers one: with the text
    # encoder part off, both give the same image
    graph, ids = txt2img_graph(steps=2, seed=2, lora=LORA)
    graph.set_param(ids["lora"], "clip_strength", 0.0)
    unet_only, _ = run_image(executor, graph, ids)
    assert torch.allclose(kohya, unet_only, atol=1e-5)
    # stacked: LoRA -> LoRA
    g: Graph = graph
    second = g.add_node("loaders.LoRA", {"lora": KOHYA,
                                         "unet_strength": 0.5, "clip_strength": 1.0}).id
    g.connect(ids["lora"], "model", second, "model")
    g.connect(ids["lora"], "clip", second, "clip")
    for role in ("latent", "sched", "guider"):
        g.connect(second, "model", ids[role], "model")
    stacked, _ = run_image(executor, g, ids)
    assert (stacked - unet_only).abs().max() > 1e-4


def test_a_lora_for_another_architecture_is_refused_by_its_node(executor):
    graph, ids = txt2img_graph(lora="other_arch_lora.safetensors")
    result = executor.run(graph, outputs=[ids["decode"]])
    field, message = failures(result)[ids["lora"]]
    assert field == "lora" and "does not fit" in message
    base, _ = run_image(executor, *txt2img_graph(steps=2, seed=5))  # the base model is intact
    fresh_base, _ = run_image(executor, *txt2img_graph(steps=2, seed=5))
    assert torch.equal(base, fresh_base)


def test_a_lora_with_alpha_in_its_metadata_matches_the_pipeline(executor, models_dir):
    """diffusers/peft save lora_alpha in the file's metadata (lora_adapter_metadata), not
    as tensors: alpha 8 at rank 4 scales the LoRA by 2, as StableDiffusionPipeline does."""
    import numpy as np
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from peft import LoraConfig, get_peft_model_state_dict, inject_adapter_in_model
    from transformers import CLIPTextModel

    from .conftest import MODEL

    folder = models_dir / "loras"
    name = "alpha8_rank4.safetensors"
    if not (folder / name).exists():
        unet = UNet2DConditionModel.from_pretrained(models_dir / MODEL / "unet")
        text = CLIPTextModel.from_pretrained(models_dir / MODEL / "text_encoder")
        torch.manual_seed(321)
        unet_config = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                 target_modules=["to_q", "to_k", "to_v", "to_out.0"])
        text_config = LoraConfig(r=4, lora_alpha=8, init_lora_weights=False,
                                 target_modules=["q_proj", "v_proj"])
        unet.add_adapter(unet_config)
        inject_adapter_in_model(text_config, text)
        StableDiffusionPipeline.save_lora_weights(
            folder, weight_name=name,
            unet_lora_layers=get_peft_model_state_dict(unet),
            text_encoder_lora_layers=get_peft_model_state_dict(text),
            unet_lora_adapter_metadata=unet_config.to_dict(),
            text_encoder_lora_adapter_metadata=text_config.to_dict())
    ours, _ = run_image(executor, *txt2img_graph(lora=name, sampler="ddim", steps=3, seed=8,
                                                 scale=6.0))
    pipe = StableDiffusionPipeline.from_pretrained(
        models_dir / MODEL, safety_checker=None, requires_safety_checker=False,
        local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    pipe.load_lora_weights(folder / name)
    ref = pipe("a photo of an astronaut", negative_prompt="blurry", num_inference_steps=3,
               guidance_scale=6.0, height=64, width=64, output_type="np",
               generator=torch.Generator("cpu").manual_seed(8)).images
    diff = np.abs(ours.numpy() - ref).max()
    assert diff <= 1e-4, f"LoRA with lora_alpha metadata: max abs pixel difference {diff}"


def test_lora_metadata_from_a_newer_peft_loads_and_bad_metadata_names_the_input(
        executor, models_dir):
    """Settings this peft does not know are left out; values it refuses, or metadata that
    is not JSON, fail the LoRA node naming its input, not deep in the sampler."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    folder = models_dir / "loras"
    with safe_open(folder / "alpha8_rank4.safetensors", "pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}  # noqa: SIM118
        metadata = json.loads(handle.metadata()["lora_adapter_metadata"])
    variants = {"newer.safetensors": {**metadata, "unet.future_option": 3},
                "refused.safetensors": {**metadata, "unet.r": "four"},
                "notjson.safetensors": "{unet.r: 4"}
    for name, value in variants.items():
        raw = value if isinstance(value, str) else json.dumps(value)
        save_file(tensors, str(folder / name), metadata={"lora_adapter_metadata": raw})
    reference, _ = run_image(executor, *txt2img_graph(lora="alpha8_rank4.safetensors",
                                                      steps=2, seed=3))
    newer, _ = run_image(executor, *txt2img_graph(lora="newer.safetensors", steps=2, seed=3))
    assert torch.equal(reference, newer)
    for name, expected in (("refused.safetensors", "settings peft refuses"),
                           ("notjson.safetensors", "is not valid JSON")):
        graph, ids = txt2img_graph(lora=name, steps=2)
        field, message = failures(executor.run(graph, outputs=[ids["decode"]]))[ids["lora"]]
        assert field == "lora" and expected in message and name in message
