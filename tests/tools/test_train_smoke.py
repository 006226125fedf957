"""CPU checks of the default-model tooling: shapes world, caption tokenizer, pixel classifier and
a smoke training run whose output must load offline as an ordinary StableDiffusionPipeline."""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

import pytest
import torch

TOOLS = Path(__file__).resolve().parents[2] / "tools"
sys.path.insert(0, str(TOOLS))

import shapes_world as W  # noqa: E402


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """These tensors are tiny: one thread is as fast, and far faster when the CPU is shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_captions_round_trip_and_determinism():
    scenes = W.sample_scenes(500, torch.Generator().manual_seed(3))
    for s in scenes:
        assert W.parse_caption(W.caption(s)) == s
        assert 1 <= len(s.objects) <= 2
        assert all(o.colour in W.OBJECT_COLOURS for o in s.objects)
        assert s.background in W.BACKGROUND_COLOURS
        if len(s.objects) == 2:
            a, b = s.objects
            assert a.position != b.position and a.colour != b.colour
        assert all(w in W.VOCABULARY for w in W.caption(s).split())
    again = W.sample_scenes(500, torch.Generator().manual_seed(3))
    assert [W.caption(s) for s in again] == [W.caption(s) for s in scenes]
    assert torch.equal(W.render(scenes[:8]), W.render(again[:8]))
    assert W.parse_caption("A large green circle in the center on a black background") == W.Scene(
        (W.SceneObject("circle", "green", "large", "centre"),), "black"
    )
    img = W.render(scenes[:4])
    assert img.shape == (4, 3, 64, 64) and img.min() >= 0 and img.max() <= 1


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_two_objects_never_overlap(seed):
    t = W.sample_scene_tensors(600, torch.Generator().manual_seed(seed), two_object_prob=1.0)
    bg = W.palette_tensor()[1][t["background"]].view(-1, 3, 1, 1)
    masks = []
    for j in range(2):  # render each object alone; their drawn pixels must never meet
        solo = {k: v.clone() for k, v in t.items()}
        solo["present"][:, 1 - j] = False
        masks.append((W.render_tensors(solo) - bg).abs().sum(1) > 1e-6)
    assert not (masks[0] & masks[1]).any()
    assert (t["pos"][:, 0] != t["pos"][:, 1]).all() and (
        t["colour"][:, 0] != t["colour"][:, 1]
    ).all()


def test_tokenizer_one_token_per_word(tmp_path):
    pytest.importorskip("transformers")
    import train_default_model as T

    tok = T.build_tokenizer(tmp_path / "tokenizer")
    word_to_id = T.verify_tokenizer(tok)
    assert len(set(word_to_id.values())) == len(W.VOCABULARY)
    t = W.sample_scene_tensors(300, torch.Generator().manual_seed(7))
    captions = W.captions_from_tensors(t)
    for c in captions:
        ids = tok(c)["input_ids"]
        assert (
            len(ids) == len(c.split()) + 2
        )  # one token per word, plus <|startoftext|> / <|endoftext|>
    # the on-device id builder used in training matches what the pipeline's tokenizer produces
    ref = tok(captions, padding="max_length", max_length=tok.model_max_length, truncation=True)[
        "input_ids"
    ]
    fast = W.caption_token_ids(
        t, word_to_id, tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.model_max_length
    )
    assert fast.tolist() == ref
    assert tok.model_max_length == 32 and tok.pad_token_id == tok.eos_token_id


def test_partial_captions_leave_out_exactly_the_dropped_phrases(tmp_path):
    pytest.importorskip("transformers")
    import train_default_model as T

    tok = T.build_tokenizer(tmp_path / "tokenizer")
    word_to_id = T.verify_tokenizer(tok)
    t = W.sample_scene_tensors(200, torch.Generator().manual_seed(9))
    n = t["shape"].shape[0]
    special = (tok.bos_token_id, tok.eos_token_id, tok.pad_token_id, tok.model_max_length)

    def words(ids) -> list[list[str]]:
        return [tok.decode(row, skip_special_tokens=True).split() for row in ids]

    colours = set(W.OBJECT_COLOURS)
    full = W.captions_from_tensors(t)
    # colour left out of every object: the caption minus its colour words
    no_colour = {"colour": torch.zeros(n, 2, dtype=torch.bool)}
    got = words(W.caption_token_ids(t, word_to_id, *special, keep=no_colour))
    assert got == [[w for w in c.split() if w not in colours] for c in full]
    # only the first object's colour, no function words: a bare colour word ("red")
    off = torch.zeros(n, 2, dtype=torch.bool)
    first = torch.tensor([[True, False]]).expand(n, 2)
    bare = dict(size=off, shape=off, position=off, colour=first)
    bare |= dict(background=off[:, 0], function_words=off[:, 0])
    got = words(W.caption_token_ids(t, word_to_id, *special, keep=bare))
    assert got == [[list(W.OBJECT_COLOURS)[int(c)]] for c in t["colour"][:, 0]]
    # share 0 changes nothing; share 1 drops each phrase about half of the time
    g = torch.Generator().manual_seed(1)
    none = W.sample_partial_caption_masks(n, 0.0, g)
    assert all(bool(m.all()) for m in none.values())
    some = W.sample_partial_caption_masks(4000, 1.0, g)
    assert 0.45 < some["colour"].float().mean() < 0.55
    assert 0.65 < some["function_words"].float().mean() < 0.75


def test_pixel_classifier_on_rendered_ground_truth():
    pytest.importorskip("scipy")
    pytest.importorskip("skimage")
    import evaluate_default_model as E

    res = E.validate_classifier(200, seed=11)
    assert res["all"] >= 0.98, res
    assert res["all_one_object"] >= 0.98 and res["all_two_objects"] >= 0.98, res
    scenes = W.sample_scenes(40, torch.Generator().manual_seed(5))
    for s, im in zip(scenes, W.render(scenes)):
        found = E.detection_to_scene(E.classify_image(im))
        assert found is not None
        key = lambda o: (o.shape, o.colour, o.size, o.position)  # noqa: E731
        assert (
            sorted(map(key, found.objects)) == sorted(map(key, s.objects))
            and found.background == s.background
        )


def _load_as_a_stock_pipeline(model: Path, lora: Path) -> dict:
    """Load the trained folder with diffusers' StableDiffusionPipeline (fp32 and its saved
    dtype), draw an image with each, then with the LoRA: what a diffusers user would do.
    In this process, which has diffusers imported already (a fresh interpreter spent
    ~15 s importing it again)."""
    from diffusers import StableDiffusionPipeline

    out = {}
    for name, kw in (("fp32", {"torch_dtype": torch.float32}), ("default", {})):
        pipe = StableDiffusionPipeline.from_pretrained(model, **kw)
        pipe.set_progress_bar_config(disable=True)
        img = pipe(
            "a small red star at the top left on a white background",
            num_inference_steps=2,
            generator=torch.Generator().manual_seed(0),
            output_type="np",
        ).images
        out[name] = {
            "shape": list(img.shape),
            "unet": str(pipe.unet.dtype),
            "text": str(pipe.text_encoder.dtype),
            "safety_checker": pipe.safety_checker is None,
            "finite": bool(abs(img).max() < 10),
        }
    pipe.load_lora_weights(lora)
    img = pipe(
        "a large blue ring in the centre on a black background",
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(0),
        output_type="pil",
    ).images[0]
    out["lora"] = {"size": list(img.size), "adapters": pipe.get_active_adapters()}
    return out


def test_smoke_training_run_loads_offline(tmp_path, monkeypatch):
    pytest.importorskip("diffusers")
    pytest.importorskip("peft")
    import train_default_model as T

    model, lora, state = tmp_path / "model", tmp_path / "lora", tmp_path / "state"
    argv = [
        "--smoke",
        "--device",
        "cpu",
        "--out",
        str(model),
        "--lora-out",
        str(lora),
        "--state-dir",
        str(state),
    ]
    summary = T.main(argv)
    assert summary["stages"]["unet"]["steps"] == 3
    for part in ("model_index.json", "unet", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (model / part).exists(), part
    assert not list(model.glob(".staging*"))
    index = json.loads((model / "model_index.json").read_text())
    assert index["tokenizer"] == ["transformers", "CLIPTokenizer"]
    assert index["safety_checker"] == [None, None] and index["requires_safety_checker"] is False
    assert json.loads((model / "vae" / "config.json").read_text())["scaling_factor"] > 0
    for f in model.rglob("*.safetensors"):
        assert f.stat().st_size < 16 * 1024 * 1024
    from safetensors import safe_open

    with safe_open(str(model / "unet" / "diffusion_pytorch_model.safetensors"), "pt") as f:
        assert f.get_tensor(next(iter(f.keys()))).dtype == torch.float16
    assert (lora / "pytorch_lora_weights.safetensors").exists()

    # resuming a finished run re-saves the same model without training again
    summary2 = T.main([*argv, "--resume"])
    assert summary2["stages"]["unet"].get("resumed") and summary2["stages"]["vae"].get("resumed")

    # --init-from --keep-vae: same VAE bit for bit, UNet and text encoder go on from the model
    more = tmp_path / "more"
    T.main(
        [
            "--smoke",
            "--device",
            "cpu",
            "--out",
            str(more),
            "--skip-lora",
            "--state-dir",
            str(tmp_path / "state2"),
            "--init-from",
            str(model),
            "--keep-vae",
        ]
    )
    from safetensors.torch import load_file

    for part, name in (
        ("vae", "diffusion_pytorch_model"),
        ("unet", "diffusion_pytorch_model"),
        ("text_encoder", "model"),
    ):
        before = load_file(str(model / part / f"{name}.safetensors"))
        after = load_file(str(more / part / f"{name}.safetensors"))
        assert before.keys() == after.keys()
        diff = max((before[k].float() - after[k].float()).abs().max().item() for k in before)
        assert diff == 0.0 if part == "vae" else 0.0 < diff < 0.01, (part, diff)

    def no_network(*args, **kwargs):
        raise OSError("the model folder must load without the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    res = _load_as_a_stock_pipeline(model, lora)
    for name in ("fp32", "default"):
        assert res[name]["shape"] == [1, 64, 64, 3]
        assert res[name]["unet"] == "torch.float32" and res[name]["text"] == "torch.float32"
        assert res[name]["safety_checker"] and res[name]["finite"]
    assert res["lora"]["size"] == [64, 64] and res["lora"]["adapters"]
