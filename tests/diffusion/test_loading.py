"""Checkpoint loading: diffusers folders, single files, offline tokenizer, model folders,
sharing, and the errors for bad files."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from .conftest import MODEL, SINGLE, failures, run_image, txt2img_graph

SD2_SINGLE = "tiny-sd2-single.safetensors"
FP16_SINGLE = "tiny-sd-fp16.safetensors"
FP16_FOLDER = "tiny-sd-fp16"


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
    # the released text encoders' sizes (SD2: OpenCLIP ViT-H without its unused last
    # block; SDXL: CLIP ViT-L and OpenCLIP ViT-bigG with projection), whose features
    # together are as wide as the UNet's cross-attention
    import transformers

    counts, width = [], 0
    for entry in spec["text_encoders"]:
        with torch.device("meta"):
            encoder = getattr(transformers, entry["class"])(CLIPTextConfig(**entry["config"]))
        counts.append(sum(p.numel() for p in encoder.parameters()))
        width += encoder.config.hidden_size
    assert counts == {"sd15": [123_060_480], "sd2": [340_387_840],
                      "sdxl": [123_060_480, 694_659_840]}[arch]
    assert width == unet.config.cross_attention_dim


def _full_size_models(arch):
    """The architecture's UNet, VAE and text encoders at full size, without memory."""
    import transformers
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig

    from nodes.loaders import architecture_config

    spec = architecture_config(arch)
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(spec["unet"])
        vae = AutoencoderKL.from_config(spec["vae"])
        encoders = [getattr(transformers, e["class"])(CLIPTextConfig(**e["config"]))
                    for e in spec["text_encoders"]]
    return spec, unet, vae, encoders


# keys and shapes of the released files (v1-5-pruned-emaonly, v2-1_768-ema-pruned,
# sd_xl_base_1.0), a few per part
REAL_KEYS = {
    "sd15": {"cond_stage_model.transformer.text_model.embeddings.position_ids": (1, 77),
             "cond_stage_model.transformer.text_model.encoder.layers.11.mlp.fc2.weight":
                 (768, 3072),
             "cond_stage_model.transformer.text_model.final_layer_norm.weight": (768,),
             "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight":
                 (320, 768),
             "model.diffusion_model.output_blocks.11.0.skip_connection.weight":
                 (320, 640, 1, 1),
             "model.diffusion_model.middle_block.1.proj_in.weight": (1280, 1280, 1, 1),
             "first_stage_model.decoder.mid.attn_1.q.weight": (512, 512, 1, 1),
             "first_stage_model.encoder.down.3.block.1.conv2.weight": (512, 512, 3, 3),
             "first_stage_model.quant_conv.weight": (8, 8, 1, 1),
             "model.diffusion_model.output_blocks.2.1.conv.weight": (1280, 1280, 3, 3),
             "model.diffusion_model.output_blocks.8.2.conv.weight": (640, 640, 3, 3)},
    "sd2": {"cond_stage_model.model.positional_embedding": (77, 1024),
            "cond_stage_model.model.token_embedding.weight": (49408, 1024),
            "cond_stage_model.model.transformer.resblocks.23.attn.in_proj_weight": (3072, 1024),
            "cond_stage_model.model.transformer.resblocks.0.mlp.c_fc.weight": (4096, 1024),
            "cond_stage_model.model.ln_final.weight": (1024,),
            "cond_stage_model.model.text_projection": (1024, 1024),
            "cond_stage_model.model.logit_scale": (),
            "model.diffusion_model.input_blocks.1.1.proj_in.weight": (320, 320)},
    "sdxl": {"conditioner.embedders.0.transformer.text_model.embeddings.position_ids": (1, 77),
             "conditioner.embedders.1.model.transformer.resblocks.31.attn.in_proj_weight":
                 (3840, 1280),
             "conditioner.embedders.1.model.text_projection": (1280, 1280),
             "conditioner.embedders.1.model.positional_embedding": (77, 1280),
             "model.diffusion_model.label_emb.0.0.weight": (1280, 2816),
             "model.diffusion_model.input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight":
                 (640, 2048),
             "model.diffusion_model.output_blocks.5.2.conv.weight": (640, 640, 3, 3)},
}


@pytest.mark.parametrize("arch, diffusers_type", [("sd15", "v1"), ("sd2", "v2"),
                                                  ("sdxl", "xl_base")])
def test_the_test_writer_gives_the_released_files_layout_and_the_loader_maps_all_of_it(
        arch, diffusers_type):
    """The tests' single files are written by tiny.ldm_state; at full size it names and
    shapes the weights as the released checkpoints do (diffusers recognises them), and the
    loader's conversion fills every weight of every model from it, with nothing left over."""
    from diffusers.loaders.single_file_utils import (
        convert_ldm_unet_checkpoint,
        convert_ldm_vae_checkpoint,
        infer_diffusers_model_type,
    )

    from nodes.loaders import text_encoder_state

    from .tiny import ldm_state

    spec, unet, vae, encoders = _full_size_models(arch)
    state = ldm_state(unet, vae, encoders, arch)
    assert infer_diffusers_model_type(state) == diffusers_type
    for key, shape in REAL_KEYS[arch].items():
        assert tuple(state[key].shape) == shape, key
    assert set(convert_ldm_unet_checkpoint(state, unet.config)) == set(unet.state_dict())
    assert set(convert_ldm_vae_checkpoint(state, vae.config)) == set(vae.state_dict())
    for entry, encoder in zip(spec["text_encoders"], encoders):
        keys = set(text_encoder_state(state, entry, encoder))
        assert keys - {"embeddings.position_ids", "text_model.embeddings.position_ids"} \
            == set(encoder.state_dict()), entry["prefix"]


def test_text_encoder_keys_fit_either_transformers_layout():
    """Original files name CLIP weights with transformers 4's ``text_model.`` level, which
    transformers 5 dropped from CLIPTextModel but kept in CLIPTextModelWithProjection;
    older files may lack it. Every combination loads with no key left over."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    from nodes.loaders import fit_text_keys

    config = CLIPTextConfig(hidden_size=8, intermediate_size=16, num_attention_heads=2,
                            num_hidden_layers=1, vocab_size=50, projection_dim=8,
                            bos_token_id=0, eos_token_id=1, pad_token_id=1)
    for cls in (CLIPTextModel, CLIPTextModelWithProjection):
        own = cls(config).state_dict()
        bare = {k.removeprefix("text_model."): v for k, v in own.items()}
        nested = {("text_model." + k if not k.startswith("text_projection") else k): v
                  for k, v in bare.items()}
        for state in (bare, nested):
            fitted = fit_text_keys(cls(config), state)
            result = cls(config).load_state_dict(fitted, strict=True)
            assert not result.missing_keys and not result.unexpected_keys, cls.__name__


def test_weights_of_another_size_are_reported_plainly():
    from nodes.loaders import CheckpointError, _load_state

    layer = torch.nn.Linear(4, 4)
    with pytest.raises(CheckpointError) as caught:
        _load_state(layer, {"weight": torch.zeros(8, 4), "bias": torch.zeros(4)}, "UNet", "sd15")
    message = str(caught.value)
    assert message.startswith("the UNet weights do not fit the sd15 architecture (1 of "
                              "another size, e.g. size mismatch for weight")
    assert "'<name>.config' folder" in message and "Error(s) in loading" not in message


@pytest.fixture(scope="module")
def more_single_files(models_dir):
    """SD2.x layout (the tiny text encoder stored as OpenCLIP) and an fp16 SD1.x file, with
    a diffusers folder of the same fp16 weights to compare with."""
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel

    from .tiny import save_single_file

    if not (models_dir / SD2_SINGLE).exists():
        save_single_file(models_dir / MODEL, models_dir / SD2_SINGLE, arch="sd2")
        save_single_file(models_dir / MODEL, models_dir / FP16_SINGLE, dtype=torch.float16)
        shutil.copytree(models_dir / MODEL, models_dir / FP16_FOLDER)
        for name, cls in (("unet", UNet2DConditionModel), ("vae", AutoencoderKL),
                          ("text_encoder", CLIPTextModel)):
            cls.from_pretrained(models_dir / MODEL / name).half().save_pretrained(
                models_dir / FP16_FOLDER / name)
    return models_dir


def test_single_file_checkpoint_gives_the_same_image_as_its_folder(executor):
    """SD1.x layout: cond_stage_model.transformer.text_model.*, position_ids included."""
    folder_image, _ = run_image(executor, *txt2img_graph(checkpoint=MODEL, seed=3))
    single_image, _ = run_image(executor, *txt2img_graph(checkpoint=SINGLE, seed=3))
    assert torch.equal(folder_image, single_image)


@pytest.mark.parametrize("single, folder", [("SD2_SINGLE", "MODEL"),
                                            ("FP16_SINGLE", "FP16_FOLDER")])
def test_sd2_and_fp16_single_files_give_the_image_of_their_folder(executor, more_single_files,
                                                                   single, folder):
    from nodes.loaders import load_checkpoint

    single, folder = globals()[single], globals()[folder]
    components = load_checkpoint(more_single_files / single)
    assert components.kind == ("sd2" if single == SD2_SINGLE else "sd15")
    folder_image, _ = run_image(executor, *txt2img_graph(checkpoint=folder, seed=4))
    single_image, _ = run_image(executor, *txt2img_graph(checkpoint=single, seed=4))
    assert torch.equal(folder_image, single_image)
    if single == FP16_SINGLE:  # fp16 weights are kept in fp32 at rest
        assert components.unet.dtype == torch.float32
        full, _ = run_image(executor, *txt2img_graph(checkpoint=MODEL, seed=4))
        assert 0 < (full - single_image).abs().max() < 0.05


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
    assert "not a readable .safetensors" in proc.stderr
    assert "Traceback" not in proc.stderr  # a message, not a crash
