"""Checkpoint loading: diffusers folders, single files, offline tokenizer, model folders,
sharing, and the errors for bad files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from .conftest import MODEL, SINGLE, failures, run_image, txt2img_graph


def test_node_modules_import_without_torch():
    code = ("import sys\nfrom nodegraph_app import default_registry\n"
            "r = default_registry(plugins=False)\n"
            "assert 'loaders.Checkpoint' in r and 'sampling.Sampler' in r\n"
            "bad = [m for m in ('torch', 'diffusers', 'transformers', 'cv2', 'spandrel') "
            "if m in sys.modules]\nassert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_checkpoints_are_offered_by_name_from_the_model_folders(registry):
    from nodes import model_files

    names = model_files.list_checkpoints()
    assert MODEL in names and SINGLE in names
    assert not any(n.startswith("loras/") for n in names)
    assert "tiny_lora.safetensors" in model_files.list_loras()
    spec = registry["loaders.Checkpoint"]
    assert MODEL in spec.param("checkpoint").current_choices()


def test_standard_clip_tokenizer_is_built_offline():
    from nodes.clip_tokenizer import standard_clip_tokenizer

    tok = standard_clip_tokenizer()
    assert tok("a photo of an astronaut").input_ids == [49406, 320, 1125, 539, 550, 18376,
                                                        49407]
    assert tok.pad_token_id == 49407
    assert standard_clip_tokenizer("!").pad_token_id == 0


def test_architecture_detection_from_keys():
    from nodes.loaders import CheckpointError, detect_architecture

    assert detect_architecture(["model.diffusion_model.x", "cond_stage_model.transformer.t"]) \
        == "sd15"
    assert detect_architecture(["model.diffusion_model.x", "cond_stage_model.model.t"]) == "sd2"
    assert detect_architecture(["conditioner.embedders.1.model.t"]) == "sdxl"
    with pytest.raises(CheckpointError, match="no Stable Diffusion UNet"):
        detect_architecture(["lora_unet_down.lora_up.weight"])


@pytest.mark.parametrize("arch", ["sd15", "sd2", "sdxl"])
def test_bundled_architecture_configs_build_the_right_models(arch):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig

    from nodes.loaders import architecture_config

    spec = architecture_config(arch)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(spec["unet"])
        vae = AutoencoderKL.from_config(spec["vae"])
    count = sum(p.numel() for p in unet.parameters())
    expected = {"sd15": 859_520_964, "sd2": 865_910_724, "sdxl": 2_567_463_684}[arch]
    assert count == expected
    assert 2 ** (len(vae.config.block_out_channels) - 1) == 8
    for entry in spec["text_encoders"]:
        CLIPTextConfig(**entry["config"])


def test_single_file_checkpoint_gives_the_same_image_as_its_folder(executor):
    folder_image, _ = run_image(executor, *txt2img_graph(checkpoint=MODEL, seed=3))
    single_image, _ = run_image(executor, *txt2img_graph(checkpoint=SINGLE, seed=3))
    assert torch.equal(folder_image, single_image)


def test_loader_nodes_share_one_copy_of_the_weights(executor, registry, tmp_path):
    from nodegraph.executor import Executor

    graph, ids = txt2img_graph()
    first = executor.run(graph, outputs=[ids["ckpt"]], keep_values=True)
    other = Executor(registry, output_dir=tmp_path / "o2", device="cpu")
    second = other.run(graph, outputs=[ids["ckpt"]], keep_values=True)
    assert ids["ckpt"] in second.executed  # a new cache, but the same weights
    assert first.values[ids["ckpt"]][0].components is second.values[ids["ckpt"]][0].components


def test_a_missing_checkpoint_is_reported_with_node_and_input(executor):
    from nodegraph.problems import WorkflowError

    graph, ids = txt2img_graph(checkpoint="no-such-model")
    with pytest.raises(WorkflowError) as caught:
        executor.run(graph, outputs=[ids["decode"]])
    text = " ".join(str(p) for p in caught.value.problems)
    assert "checkpoint" in text and "no-such-model" in text


def test_a_corrupt_checkpoint_fails_its_node_and_the_executor_keeps_working(executor):
    graph, ids = txt2img_graph(checkpoint="broken.safetensors")
    result = executor.run(graph, outputs=[ids["decode"]])
    field, message = failures(result)[ids["ckpt"]]
    assert field == "checkpoint"
    assert "not a readable .safetensors" in message and "ckpt" in message
    assert ids["decode"] in result.skipped
    image, _ = run_image(executor, *txt2img_graph())
    assert image.shape == (1, 64, 64, 3)


def test_cli_reports_a_corrupt_checkpoint_naming_node_and_input(tmp_path, models_dir):
    from nodegraph.workflow import save

    graph, _ = txt2img_graph(checkpoint="broken.safetensors", save=True)
    save(graph, tmp_path / "wf.json")
    proc = subprocess.run([sys.executable, "-m", "nodegraph_app", "run", str(tmp_path / "wf.json"),
                           "-o", str(tmp_path / "out"), "-q", "--device", "cpu"],
                          capture_output=True, text=True,
                          env={**__import__("os").environ, "NODEGRAPH_MODELS": str(models_dir)})
    assert proc.returncode == 1, proc.stderr
    assert "ckpt" in proc.stderr and "param 'checkpoint'" in proc.stderr
    assert json.dumps("x")  # the process ended normally, with a message
