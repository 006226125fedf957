#!/usr/bin/env python3
"""Train nodegraph's shipped default model: a small text-to-image latent diffusion model for the
"shapes world" (see tools/shapes_world.py), saved in the standard diffusers layout so that
``StableDiffusionPipeline.from_pretrained(folder)`` loads it offline.

Stages (each stops on its share of ``--time-budget`` or on its step cap, whichever first):

1. VAE     AutoencoderKL (3 blocks, vae_scale_factor 4, 4 latent channels) on rendered images;
           its ``scaling_factor`` (1/std of latents) is written into vae/config.json.
2. UNet    UNet2DConditionModel (16x16x4 latents, cross-attention at every level) trained jointly
           with a from-scratch CLIPTextModel on captions (12% dropped to "" for CFG), min-SNR
           weighted epsilon loss, EMA weights shipped.
3. LoRA    rank-4 LoRA on the UNet attention projections, trained on images where every object is
           purple whatever the caption says; saved in diffusers' LoRA format to ``--lora-out``.

The model folder is rewritten in place (fp16 safetensors) every ``--checkpoint-every`` seconds so
the latest usable model is always on disk; resumable training state (raw weights, EMA, optimiser,
RNG) goes to ``--state-dir`` (default /tmp/...), never into ``--out``.

Typical GPU run (H200):
    python3 tools/train_default_model.py --device cuda --out OUT/model --lora-out OUT/lora \
        --time-budget 480
CPU smoke test (< 60 s):
    python3 tools/train_default_model.py --smoke --out /tmp/m --lora-out /tmp/l
"""

from __future__ import annotations

import time

T0 = time.time()  # the time budget counts from here (before the heavy imports)

import argparse  # noqa: E402
import copy  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))
import shapes_world as W  # noqa: E402

from nodegraph.files import write_atomic  # noqa: E402
from nodes.clip_tokenizer import _bytes_to_unicode  # noqa: E402  (same byte map as CLIP)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
TOKENIZER_MAX_LENGTH = 32
STAGES = ("vae", "unet", "lora")


def log(msg: str) -> None:
    print(f"[{time.time() - T0:7.1f}s] {msg}", flush=True)


# ============================================================================ tokenizer


def _bpe(word: str, ranks: dict[tuple[str, str], int]) -> list[str]:
    """CLIP's BPE on one (byte-encoded) word, with the end-of-word marker."""
    toks = [*list(word[:-1]), word[-1] + "</w>"]
    while len(toks) > 1:
        pairs = {(toks[i], toks[i + 1]) for i in range(len(toks) - 1)}
        best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
        if best not in ranks:
            break
        merged, i = [], 0
        while i < len(toks):
            if i < len(toks) - 1 and (toks[i], toks[i + 1]) == best:
                merged.append(toks[i] + toks[i + 1])
                i += 2
            else:
                merged.append(toks[i])
                i += 1
        toks = merged
    return toks


def build_tokenizer_files(
    directory: Path, words=W.VOCABULARY, max_length: int = TOKENIZER_MAX_LENGTH
) -> None:
    """Write vocab.json / merges.txt / tokenizer_config.json of a CLIP BPE tokenizer in which every
    word of ``words`` is exactly one token (other text still tokenizes, byte by byte)."""
    b2u = _bytes_to_unicode()
    base = list(b2u.values())
    vocab_list = base + [c + "</w>" for c in base]
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for w in words:
        enc = "".join(b2u[b] for b in w.lower().encode("utf-8"))
        while True:
            toks = _bpe(enc, ranks)
            if len(toks) == 1:
                break
            # A new merge gets the lowest priority, so it can't change words already done.
            pair = (toks[0], toks[1])
            ranks[pair] = len(merges)
            merges.append(pair)
            vocab_list.append(pair[0] + pair[1])
    vocab_list += [BOS, EOS]
    vocab: dict[str, int] = {}
    for t in vocab_list:
        if t not in vocab:
            vocab[t] = len(vocab)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text(
        "#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8"
    )
    (directory / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "CLIPTokenizer",
                "model_max_length": max_length,
                "bos_token": BOS,
                "eos_token": EOS,
                "unk_token": EOS,
                "pad_token": EOS,
                "do_lower_case": True,
                "clean_up_tokenization_spaces": False,
            },
            indent=2,
        ),
        encoding="utf-8",
    )


def build_tokenizer(directory: Path, max_length: int = TOKENIZER_MAX_LENGTH):
    """Build, save (``save_pretrained``) and verify the caption tokenizer in ``directory``."""
    from transformers import CLIPTokenizer

    raw = directory.parent / (directory.name + ".raw")
    build_tokenizer_files(raw, max_length=max_length)
    tok = CLIPTokenizer.from_pretrained(str(raw), model_max_length=max_length)
    tok.save_pretrained(str(directory))
    # drop loader-only keys that from_pretrained copied into the saved config
    cfg_path = directory / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    for key in ("is_local", "local_files_only", "name_or_path", "_commit_hash"):
        cfg.pop(key, None)
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    # Keep the plain BPE files beside tokenizer.json (older/slow loaders need them).
    for name in ("vocab.json", "merges.txt"):
        if not (directory / name).exists():
            shutil.copy(raw / name, directory / name)
    shutil.rmtree(raw, ignore_errors=True)
    tok = CLIPTokenizer.from_pretrained(str(directory))
    verify_tokenizer(tok)
    return tok


def verify_tokenizer(tok) -> dict[str, int]:
    """Every vocabulary word -> exactly one token; returns word -> id."""
    word_to_id = {}
    for w in W.VOCABULARY:
        ids = tok(w, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise RuntimeError(f"tokenizer splits {w!r} into {ids}")
        word_to_id[w] = ids[0]
    if tok.pad_token_id != tok.eos_token_id:
        raise RuntimeError("pad token must be <|endoftext|>")
    return word_to_id


# ============================================================================ model configs


def model_configs(size: str, vocab_size: int, bos_id: int, eos_id: int) -> dict:
    """size: "full" (the shipped model), "small" (CPU experiments) or "smoke" (CI)."""
    # VAE GroupNorms keep >= 4 channels per group: with one channel per group (instance norm)
    # the per-channel mean, i.e. the colour, is normalised away and the VAE learns colour
    # ~5x slower (measured on CPU: 14% vs 75% of one-object scenes reconstructed right).
    if size == "small":
        vae = dict(block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=4)
        unet = dict(
            block_out_channels=(32, 64, 64),
            layers_per_block=1,
            attention_head_dim=(1, 2, 2),
            norm_num_groups=16,
        )
        text = dict(
            hidden_size=64, intermediate_size=256, num_hidden_layers=2, num_attention_heads=2
        )
    elif size == "smoke":
        vae = dict(block_out_channels=(16, 16, 16), layers_per_block=1, norm_num_groups=8)
        unet = dict(
            block_out_channels=(32, 32, 32),
            layers_per_block=1,
            attention_head_dim=(1, 1, 1),
            norm_num_groups=8,
        )
        text = dict(
            hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2
        )
    elif size == "full":
        vae = dict(block_out_channels=(16, 32, 32), layers_per_block=1, norm_num_groups=4)
        unet = dict(
            block_out_channels=(64, 128, 128),
            layers_per_block=1,
            attention_head_dim=(2, 4, 4),
            norm_num_groups=32,
        )
        text = dict(
            hidden_size=256, intermediate_size=1024, num_hidden_layers=3, num_attention_heads=4
        )
    else:
        raise ValueError(f"unknown model size {size!r}")
    vae_cfg = dict(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3,
        latent_channels=4,
        sample_size=W.IMAGE_SIZE,
        scaling_factor=1.0,
        **vae,
    )
    unet_cfg = dict(
        sample_size=W.IMAGE_SIZE // 4,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D",) * 3,
        up_block_types=("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=text["hidden_size"],
        **unet,
    )
    text_cfg = dict(
        vocab_size=vocab_size,
        max_position_embeddings=TOKENIZER_MAX_LENGTH,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        projection_dim=text["hidden_size"],
        **text,
    )
    return {"vae": vae_cfg, "unet": unet_cfg, "text": text_cfg}


def make_vae(cfg):
    from diffusers import AutoencoderKL

    return AutoencoderKL(**cfg)


def make_unet(cfg):
    from diffusers import UNet2DConditionModel

    return UNet2DConditionModel(**cfg)


def make_text(cfg):
    from transformers import CLIPTextConfig, CLIPTextModel

    return CLIPTextModel(CLIPTextConfig(**cfg))


def make_scheduler():
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
        timestep_spacing="leading",
    )


def n_params(m) -> int:
    return sum(p.numel() for p in m.parameters())


# ============================================================================ saving


def _place(src: Path, dest: Path) -> None:
    """Atomically move a finished file into place, world-readable."""
    os.chmod(src, 0o644)
    os.replace(src, dest)


def _save_component(model, out: Path, name: str, dtype=torch.float16) -> None:
    """save_pretrained ``model`` (as ``dtype`` safetensors) into out/name, replacing the files
    in place one by one (os.replace), so a kill mid-save never leaves a half-written file."""
    staging = out / f".staging-{name}"
    shutil.rmtree(staging, ignore_errors=True)
    m = copy.deepcopy(model).to("cpu", dtype)
    m.save_pretrained(str(staging), safe_serialization=True)
    del m
    config = staging / "config.json"  # a kept (from_pretrained) model records where it came from
    data = json.loads(config.read_text()) if config.exists() else {}
    if data.pop("_name_or_path", None) is not None:
        config.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    dest = out / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in sorted(staging.iterdir()):
        _place(f, dest / f.name)
    shutil.rmtree(staging, ignore_errors=True)


def _fix_model_index(out: Path) -> None:
    p = out / "model_index.json"
    idx = json.loads(p.read_text())
    idx["tokenizer"] = ["transformers", "CLIPTokenizer"]
    idx["text_encoder"] = ["transformers", "CLIPTextModel"]
    idx["safety_checker"] = [None, None]
    idx["feature_extractor"] = [None, None]
    if "image_encoder" in idx:
        idx["image_encoder"] = [None, None]
    idx["requires_safety_checker"] = False
    write_atomic(p, (json.dumps(idx, indent=2, sort_keys=True) + "\n").encode())


def _fix_text_encoder_config(out: Path) -> None:
    """Record float32 as the text encoder's dtype: the weights are stored in fp16, but
    transformers 5 loads with dtype="auto" by default, which would give an fp16 text encoder
    beside an fp32 UNet (a dtype mismatch on CPU) when no torch_dtype is passed."""
    p = out / "text_encoder" / "config.json"
    cfg = json.loads(p.read_text())
    for key in ("dtype", "torch_dtype"):
        if key in cfg:
            cfg[key] = "float32"
    write_atomic(p, (json.dumps(cfg, indent=2, sort_keys=True) + "\n").encode())


def save_pipeline_layout(out: Path, vae, text, unet, tokenizer_dir: Path) -> None:
    """Write the complete diffusers folder (model_index.json, all components)."""
    from diffusers import StableDiffusionPipeline
    from transformers import CLIPTokenizer

    out.mkdir(parents=True, exist_ok=True)
    tok = CLIPTokenizer.from_pretrained(str(tokenizer_dir))
    pipe = StableDiffusionPipeline(
        vae=copy.deepcopy(vae).to("cpu", torch.float32),
        text_encoder=copy.deepcopy(text).to("cpu", torch.float32),
        tokenizer=tok,
        unet=copy.deepcopy(unet).to("cpu", torch.float32),
        scheduler=make_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        image_encoder=None,
        requires_safety_checker=False,
    )
    staging = out / ".staging-pipeline"
    shutil.rmtree(staging, ignore_errors=True)
    pipe.to(torch.float16).save_pretrained(str(staging), safe_serialization=True)
    # tokenizer: overwrite with our own verified files (also keeps vocab.json/merges.txt)
    shutil.rmtree(staging / "tokenizer", ignore_errors=True)
    shutil.copytree(tokenizer_dir, staging / "tokenizer")
    for sub in sorted(staging.iterdir()):
        if sub.is_dir():
            dest = out / sub.name
            dest.mkdir(parents=True, exist_ok=True)
            for f in sorted(sub.iterdir()):
                _place(f, dest / f.name)
    _place(staging / "model_index.json", out / "model_index.json")
    shutil.rmtree(staging, ignore_errors=True)
    _fix_model_index(out)
    _fix_text_encoder_config(out)


def save_weights(out: Path, **models) -> None:
    """Rolling checkpoint: rewrite just the given components' weights in place."""
    for name, model in models.items():
        _save_component(model, out, name)
        if name == "text_encoder":
            _fix_text_encoder_config(out)


def save_lora(lora_out: Path, unet) -> None:
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft.utils import get_peft_model_state_dict

    lora_out.mkdir(parents=True, exist_ok=True)
    sd = get_peft_model_state_dict(unet)
    sd = {k: v.detach().to("cpu", torch.float16).contiguous() for k, v in sd.items()}
    sd = convert_state_dict_to_diffusers(sd)
    staging = lora_out.parent / f".staging-{lora_out.name}"
    shutil.rmtree(staging, ignore_errors=True)
    StableDiffusionPipeline.save_lora_weights(
        str(staging), unet_lora_layers=sd, safe_serialization=True
    )
    for f in sorted(staging.iterdir()):
        _place(f, lora_out / f.name)
    shutil.rmtree(staging, ignore_errors=True)
    (lora_out / "README.md").write_text(
        "LoRA for nodegraph's default shapes-world model: draws every object purple.\n"
        "Load with `pipe.load_lora_weights(this_folder)`.\n"
    )


# ============================================================================ training helpers


class Clock:
    """Time budget bookkeeping (all times in seconds since T0)."""

    def __init__(
        self, budget: float | None, reserve: float, split: dict[str, float], transition: float
    ):
        self.budget = budget
        self.reserve = reserve
        self.split = split
        self.transition = transition  # seconds between two stages (final evals, saves, set-up)

    def allocation(self, stage: str, remaining_stages: list[str]) -> float | None:
        """Seconds for ``stage``: its share of what is left of the budget, after the reserve and
        the set-up time of the stages that come after it."""
        if self.budget is None:
            return None
        left = (
            self.budget
            - (time.time() - T0)
            - self.reserve
            - self.transition * (len(remaining_stages) - 1)
        )
        weight = sum(self.split[s] for s in remaining_stages)
        return max(0.0, left * self.split[stage] / max(weight, 1e-9))


def lr_factor(step: int, progress: float, warmup: int, min_factor: float = 0.1) -> float:
    warm = min(1.0, (step + 1) / max(1, warmup))
    cos = min_factor + (1 - min_factor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return warm * cos


def stage_progress(
    step: int,
    max_steps: int | None,
    elapsed: float,
    alloc: float | None,
    elapsed_before: float = 0.0,
) -> float:
    """Fraction of the stage done: by steps and/or by time. ``elapsed_before`` is time spent in the
    stage by an earlier (resumed) run, so the LR schedule carries on rather than restarting."""
    p = 0.0
    if max_steps:
        p = max(p, step / max_steps)
    if alloc:
        p = max(p, (elapsed_before + elapsed) / (elapsed_before + alloc))
    return p


def make_optimizer(params, lr, weight_decay, device):
    kw = dict(lr=lr, betas=(0.9, 0.99), weight_decay=weight_decay, eps=1e-8)
    if device.type == "cuda":
        kw["fused"] = True
    return torch.optim.AdamW(params, **kw)


@torch.no_grad()
def ema_update(ema_params, params, decay: float) -> None:
    torch._foreach_lerp_(ema_params, params, 1.0 - decay)


def autocast_ctx(device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def gen_state(g: torch.Generator):
    return g.get_state()


def save_state(state_dir: Path | None, name: str, payload: dict) -> None:
    if state_dir is None:
        return
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_atomic(state_dir / f"{name}.pt", buffer.getvalue())


def load_state(state_dir: Path | None, name: str):
    if state_dir is None:
        return None
    p = state_dir / f"{name}.pt"
    if not p.exists():
        return None
    return torch.load(p, map_location="cpu", weights_only=True)


def cpu_state_dict(model) -> dict:
    return {k: v.detach().to("cpu").clone() for k, v in model.state_dict().items()}


def optimizer_state_cpu(opt) -> dict:
    sd = opt.state_dict()
    return {
        "state": {
            k: {kk: (vv.detach().cpu() if torch.is_tensor(vv) else vv) for kk, vv in v.items()}
            for k, v in sd["state"].items()
        },
        "param_groups": sd["param_groups"],
    }


class Progress:
    def __init__(self, stage: str, every: float, device, batch: int = 0, start_step: int = 0):
        self.batch = batch
        self.stage = stage
        self.every = every
        self.device = device
        self.t_start = time.time()
        self.t_last = self.t_start
        self.step_last = start_step
        self.printed = False
        self.loss_sum = torch.zeros((), device=device)
        self.loss_n = 0
        self.last_loss = float("nan")

    def add(self, loss: torch.Tensor) -> None:
        self.loss_sum += loss.detach().float()
        self.loss_n += 1

    def maybe_print(self, step: int, lr: float, force: bool = False, extra: str = "") -> None:
        now = time.time()
        first = not self.printed
        if not force and not first and now - self.t_last < self.every:
            return
        self.printed = True
        if self.loss_n:
            self.last_loss = float(self.loss_sum) / self.loss_n  # host sync only here
        rate = (step - self.step_last) / max(now - self.t_last, 1e-9)
        if first and self.device.type == "cuda":
            extra += (
                f" (first step; GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB)"
            )
        log(
            f"{self.stage} step {step} loss {self.last_loss:.5f} lr {lr:.2e} "
            f"{rate:.2f} it/s ({rate * self.batch:.0f} img/s) "
            f"stage {now - self.t_start:.1f}s{extra}"
        )
        self.t_last = now
        self.step_last = step
        self.loss_sum.zero_()
        self.loss_n = 0


def image_batch(t, device, colour_override=None):
    return W.render_tensors(t, colour_override=colour_override) * 2.0 - 1.0


def object_mask(t, x: torch.Tensor, dilate: int = 2) -> torch.Tensor:
    """[N, 1, H, W] 1.0 on (and ``dilate`` px around) object pixels of images ``x`` in [-1, 1]."""
    bg = W.palette_tensor(x.device)[1][t["background"]].view(-1, 3, 1, 1) * 2.0 - 1.0
    m = ((x - bg).abs().amax(dim=1, keepdim=True) > 0.04).float()
    if dilate:
        m = F.max_pool2d(m, 2 * dilate + 1, stride=1, padding=dilate)
    return m


# ============================================================================ stage 1: VAE


def train_vae(args, cfg, device, clock, state_dir, out: Path, summary) -> tuple:
    if args.keep_vae:
        from diffusers import AutoencoderKL

        vae = AutoencoderKL.from_pretrained(str(args.init_from), subfolder="vae")
        vae = vae.to(device, torch.float32).eval().requires_grad_(False)
        sf = float(vae.config.scaling_factor)
        log(f"vae: kept from {args.init_from} (scaling_factor {sf:.4f})")
        summary["stages"]["vae"] = {"kept_from": str(args.init_from), "scaling_factor": sf}
        return vae, sf
    st = load_state(state_dir, "vae") if args.resume else None
    vae = make_vae(cfg)
    if vae.quant_conv is not None and args.vae_logvar_init is not None:
        # Start with a nearly deterministic posterior (std ~0.05): with the default logvar ~0 the
        # sampling noise swamps the latents early on and colour is learnt very slowly.
        with torch.no_grad():
            c = vae.quant_conv.bias.shape[0] // 2
            vae.quant_conv.bias[c:] = args.vae_logvar_init
    vae = vae.to(device)
    step, elapsed_before = 0, 0.0
    g = torch.Generator(device=device).manual_seed(args.seed * 1000 + 1)
    if st is not None:
        vae.load_state_dict(st["model"])
        step, elapsed_before = st["step"], st["elapsed"]
        g.set_state(st["gen"])
        if st["done"]:
            vae.register_to_config(scaling_factor=st["scaling_factor"])
            log(
                f"vae: resumed finished stage ({step} steps), "
                f"scaling_factor {st['scaling_factor']:.4f}"
            )
            summary["stages"]["vae"] = dict(st["summary"], resumed=True)
            return vae.eval().requires_grad_(False), st["scaling_factor"]
    opt = make_optimizer(vae.parameters(), args.vae_lr, 0.0, device)
    if st is not None and st.get("opt"):
        opt.load_state_dict(st["opt"])
    alloc = clock.allocation("vae", ["vae", "unet"] + ([] if args.skip_lora else ["lora"]))
    max_steps = args.vae_steps
    log(
        f"vae: {n_params(vae) / 1e6:.2f}M params, batch {args.vae_batch_size}, "
        f"time {'-' if alloc is None else f'{alloc:.0f}s'}, max steps {max_steps or '-'}"
    )
    vae.train()
    prog = Progress("vae", args.log_every, device, args.vae_batch_size, step)
    t_stage = time.time()
    t_ckpt = time.time()
    sf_est = 1.0
    last = {}
    if alloc is None and not max_steps:
        raise SystemExit("give --time-budget or --vae-steps")
    lr = 0.0
    while True:
        if (max_steps and step >= max_steps) or (
            alloc is not None and time.time() - t_stage >= alloc
        ):
            break
        progress = stage_progress(step, max_steps, time.time() - t_stage, alloc, elapsed_before)
        lr = args.vae_lr * lr_factor(step, progress, args.vae_warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        t = W.sample_scene_tensors(args.vae_batch_size, g)
        x = image_batch(t, device)
        with autocast_ctx(device):
            moments = (
                vae.quant_conv(vae.encoder(x)) if vae.quant_conv is not None else vae.encoder(x)
            )
            mean, logvar = moments.float().chunk(2, dim=1)
            logvar = logvar.clamp(-30.0, 20.0)
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g, device=device)
            rec = vae.decode(z).sample.float()
        # objects are a few % of the pixels: weight them up so their colour and outline are learnt
        w = 1.0 + args.vae_object_weight * object_mask(t, x)
        w = w / w.mean()
        l1 = ((rec - x).abs() * w).mean()
        mse = ((rec - x).pow(2) * w).mean()
        # light edge term: match horizontal/vertical image gradients
        edge = (
            rec[..., 1:, :] - rec[..., :-1, :] - (x[..., 1:, :] - x[..., :-1, :])
        ).abs().mean() + (
            rec[..., :, 1:] - rec[..., :, :-1] - (x[..., :, 1:] - x[..., :, :-1])
        ).abs().mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar).mean()
        loss = l1 + mse + 0.5 * edge + args.vae_kl * kl
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        prog.add(loss)
        last = {"l1": l1.detach(), "kl": kl.detach(), "zstd": z.detach().float().std()}
        prog.maybe_print(step, lr)
        if time.time() - t_ckpt >= args.checkpoint_every:
            sf_est = 1.0 / max(float(last["zstd"]), 1e-6)
            vae.register_to_config(scaling_factor=sf_est)
            save_weights(out, vae=vae)
            save_state(
                state_dir,
                "vae",
                dict(
                    model=cpu_state_dict(vae),
                    opt=optimizer_state_cpu(opt),
                    step=step,
                    elapsed=elapsed_before + time.time() - t_stage,
                    gen=gen_state(g),
                    done=False,
                    cfg=cfg,
                ),
            )
            t_ckpt = time.time()
    prog.maybe_print(step, lr, force=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    stage_s = time.time() - t_stage
    vae.eval().requires_grad_(False)
    # scaling factor = 1 / std of latents (posterior samples) on fresh data
    with torch.no_grad(), autocast_ctx(device):
        zs = []
        for _ in range(max(1, args.sf_batches)):
            t = W.sample_scene_tensors(args.vae_batch_size, g)
            zs.append(vae.encode(image_batch(t, device)).latent_dist.sample(generator=g).float())
        zs = torch.cat(zs)
        # reconstruction error of the posterior mean, for the summary
        rec = vae.decode(vae.encode(image_batch(t, device)).latent_dist.mean).sample.float()
        rec_l1 = float((rec - image_batch(t, device)).abs().mean())
    zstd, zmean = float(zs.std()), float(zs.mean())
    sf = 1.0 / max(zstd, 1e-6)
    vae.register_to_config(scaling_factor=sf)
    log(
        f"vae: done {step} steps in {stage_s:.1f}s ({step / max(stage_s, 1e-9):.2f} it/s); "
        f"latent mean {zmean:.3f} std {zstd:.3f} -> scaling_factor {sf:.4f}; eval L1 {rec_l1:.4f}"
    )
    summ = dict(
        seconds=round(stage_s, 1),
        steps=step,
        final_loss=round(prog.last_loss, 5),
        eval_l1=round(rec_l1, 5),
        latent_mean=round(zmean, 4),
        latent_std=round(zstd, 4),
        scaling_factor=round(sf, 5),
        params=n_params(vae),
        kl=round(float(last.get("kl", 0.0)), 4),
    )
    summary["stages"]["vae"] = summ
    save_weights(out, vae=vae)
    save_state(
        state_dir,
        "vae",
        dict(
            model=cpu_state_dict(vae),
            opt=None,
            step=step,
            elapsed=elapsed_before + stage_s,
            gen=gen_state(g),
            done=True,
            scaling_factor=sf,
            summary=summ,
            cfg=cfg,
        ),
    )
    return vae, sf


# ================================================================ stage 2: UNet + text encoder


class CaptionIds:
    """Builds token ids for scene tensors on-device (no per-sample Python work)."""

    def __init__(self, tokenizer, device):
        self.word_to_id = verify_tokenizer(tokenizer)
        self.bos = tokenizer.bos_token_id
        self.eos = tokenizer.eos_token_id
        self.pad = tokenizer.pad_token_id
        self.max_length = tokenizer.model_max_length
        self.empty = torch.tensor(
            tokenizer("", padding="max_length", max_length=self.max_length, truncation=True)[
                "input_ids"
            ],
            device=device,
        )
        self.centre = self.word_to_id["centre"]
        self.center = self.word_to_id["center"]

    def __call__(self, t, g, dropout: float, partial: float = 0.0):
        n = t["shape"].shape[0]
        keep = W.sample_partial_caption_masks(n, partial, g) if partial > 0 else None
        ids = W.caption_token_ids(
            t, self.word_to_id, self.bos, self.eos, self.pad, self.max_length, keep
        )
        # "center" as a synonym of "centre" half of the time
        swap = torch.rand(ids.shape, generator=g, device=ids.device) < 0.5
        ids = torch.where((ids == self.centre) & swap, torch.full_like(ids, self.center), ids)
        drop = torch.rand((n, 1), generator=g, device=ids.device) < dropout
        return torch.where(drop, self.empty.view(1, -1).expand_as(ids), ids)


def diffusion_loss(
    unet,
    text,
    vae,
    sf,
    ids,
    x,
    g,
    alphas_cumprod,
    snr_gamma,
    device,
    offset_noise=0.0,
    obj_mask=None,
    object_weight=0.0,
    high_t_share=0.0,
):
    n = x.shape[0]
    with torch.no_grad(), autocast_ctx(device):
        post = vae.encode(x).latent_dist
        z = (
            post.mean.float()
            + post.std.float() * torch.randn(post.mean.shape, generator=g, device=device)
        ) * sf
    noise = torch.randn(z.shape, generator=g, device=device)
    if offset_noise:
        # "offset noise": lets the model move whole-image colour (plain backgrounds) at high t
        noise = noise + offset_noise * torch.randn(
            (n, z.shape[1], 1, 1), generator=g, device=device
        )
    T = alphas_cumprod.shape[0]
    timesteps = torch.randint(0, T, (n,), generator=g, device=device)
    if high_t_share > 0:
        # the layout (which object goes where) is settled in the noisiest half of the steps
        high = torch.randint(T // 2, T, (n,), generator=g, device=device)
        pick = torch.rand((n,), generator=g, device=device) < high_t_share
        timesteps = torch.where(pick, high, timesteps)
    acp = alphas_cumprod[timesteps].view(n, 1, 1, 1)
    noisy = acp.sqrt() * z + (1 - acp).sqrt() * noise
    with autocast_ctx(device):
        enc = text(ids)[0]
        pred = unet(noisy, timesteps, enc).sample
    err = F.mse_loss(pred.float(), noise, reduction="none")
    if obj_mask is not None and object_weight:
        # latent cells that hold (part of) an object count (1 + object_weight) times; this
        # leaves the per-cell optimum unchanged and only shifts the model's effort to objects
        w = 1.0 + object_weight * F.adaptive_max_pool2d(obj_mask, err.shape[-2:])
        per = (err * w).sum(dim=(1, 2, 3)) / (w.sum(dim=(1, 2, 3)) * err.shape[1])
    else:
        per = err.mean(dim=(1, 2, 3))
    if snr_gamma and snr_gamma > 0:
        snr = acp.view(n) / (1 - acp.view(n))
        per = per * (torch.clamp(snr, max=snr_gamma) / snr)
    return per.mean()


def init_weights(model_dir: Path, **models) -> None:
    """Load each ``models[name]`` from ``model_dir/name/*.safetensors`` (strict: the
    architecture must match), as float32."""
    from safetensors.torch import load_file

    for name, model in models.items():
        files = sorted((model_dir / name).glob("*.safetensors"))
        if len(files) != 1:
            raise SystemExit(f"--init-from: expected one .safetensors in {model_dir / name}")
        weights = {k: v.float() for k, v in load_file(str(files[0])).items()}
        model.load_state_dict(weights, strict=True)
        log(f"{name}: initialised from {files[0]}")


def train_unet(
    args, cfgs, device, clock, state_dir, out: Path, tokenizer, tokenizer_dir, vae, sf, summary
):
    st = load_state(state_dir, "unet") if args.resume else None
    unet = make_unet(cfgs["unet"]).to(device)
    text = make_text(cfgs["text"]).to(device)
    step, elapsed_before = 0, 0.0
    g = torch.Generator(device=device).manual_seed(args.seed * 1000 + 2)
    if st is None and args.init_from is not None:
        init_weights(args.init_from, unet=unet, text_encoder=text)
    ema_unet = copy.deepcopy(unet).requires_grad_(False)
    ema_text = copy.deepcopy(text).requires_grad_(False)
    if st is not None:
        unet.load_state_dict(st["unet"])
        text.load_state_dict(st["text"])
        ema_unet.load_state_dict(st["ema_unet"])
        ema_text.load_state_dict(st["ema_text"])
        step, elapsed_before = st["step"], st["elapsed"]
        g.set_state(st["gen"])
        if st["done"]:
            log(f"unet: resumed finished stage ({step} steps)")
            summary["stages"]["unet"] = dict(st["summary"], resumed=True)
            return ema_unet.eval(), ema_text.eval()
    params = list(unet.parameters()) + list(text.parameters())
    ema_params = list(ema_unet.parameters()) + list(ema_text.parameters())
    opt = make_optimizer(params, args.lr, args.weight_decay, device)
    if st is not None and st.get("opt"):
        opt.load_state_dict(st["opt"])
    from diffusers import DDPMScheduler

    noise_sched = DDPMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    )
    alphas_cumprod = noise_sched.alphas_cumprod.to(device=device, dtype=torch.float32)
    captions = CaptionIds(tokenizer, device)
    alloc = clock.allocation("unet", ["unet"] + ([] if args.skip_lora else ["lora"]))
    max_steps = args.unet_steps
    if alloc is None and not max_steps:
        raise SystemExit("give --time-budget or --unet-steps")
    log(
        f"unet: {n_params(unet) / 1e6:.2f}M params, text encoder {n_params(text) / 1e6:.2f}M, "
        f"batch {args.batch_size}, "
        f"time {'-' if alloc is None else f'{alloc:.0f}s'}, max steps {max_steps or '-'}"
    )
    # The full folder layout exists from now on; later checkpoints rewrite weights only.
    save_pipeline_layout(out, vae, ema_text, ema_unet, tokenizer_dir)
    unet.train()
    text.train()
    prog = Progress("unet", args.log_every, device, args.batch_size, step)
    t_stage = time.time()
    t_ckpt = time.time()
    lr = 0.0
    while True:
        if (max_steps and step >= max_steps) or (
            alloc is not None and time.time() - t_stage >= alloc
        ):
            break
        progress = stage_progress(step, max_steps, time.time() - t_stage, alloc, elapsed_before)
        lr = args.lr * lr_factor(step, progress, args.warmup)
        for group in opt.param_groups:
            group["lr"] = lr
        t = W.sample_scene_tensors(args.batch_size, g, two_object_prob=args.two_object_prob)
        x = image_batch(t, device)
        ids = captions(t, g, args.caption_dropout, args.partial_captions)
        loss = diffusion_loss(
            unet,
            text,
            vae,
            sf,
            ids,
            x,
            g,
            alphas_cumprod,
            args.snr_gamma,
            device,
            args.offset_noise,
            object_mask(t, x, dilate=1),
            args.object_weight,
            args.high_t_share,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(args.ema_decay, (1 + step) / (10 + step))
        ema_update(ema_params, params, decay)
        prog.add(loss)
        prog.maybe_print(step, lr)
        if time.time() - t_ckpt >= args.checkpoint_every:
            t_save = time.time()
            save_weights(out, unet=ema_unet, text_encoder=ema_text)
            save_state(
                state_dir,
                "unet",
                dict(
                    unet=cpu_state_dict(unet),
                    text=cpu_state_dict(text),
                    ema_unet=cpu_state_dict(ema_unet),
                    ema_text=cpu_state_dict(ema_text),
                    opt=optimizer_state_cpu(opt),
                    step=step,
                    elapsed=elapsed_before + time.time() - t_stage,
                    gen=gen_state(g),
                    done=False,
                    cfg=cfgs,
                ),
            )
            log(f"unet: checkpoint at step {step} ({time.time() - t_save:.1f}s)")
            t_ckpt = time.time()
    prog.maybe_print(step, lr, force=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    stage_s = time.time() - t_stage
    log(f"unet: done {step} steps in {stage_s:.1f}s ({step / max(stage_s, 1e-9):.2f} it/s)")
    ema_unet.eval()
    ema_text.eval()
    # final EMA loss on a fixed held-out batch (no dropout)
    with torch.no_grad():
        gh = torch.Generator(device=device).manual_seed(12345)
        t = W.sample_scene_tensors(min(args.batch_size, 256), gh)
        ema_loss = float(
            diffusion_loss(
                ema_unet,
                ema_text,
                vae,
                sf,
                captions(t, gh, 0.0),
                image_batch(t, device),
                gh,
                alphas_cumprod,
                0.0,
                device,
            )
        )
    summ = dict(
        seconds=round(stage_s, 1),
        steps=step,
        final_loss=round(prog.last_loss, 5),
        ema_eval_loss=round(ema_loss, 5),
        params_unet=n_params(unet),
        params_text=n_params(text),
        samples_seen=step * args.batch_size,
    )
    summary["stages"]["unet"] = summ
    log(f"unet: EMA held-out loss (unweighted eps MSE) {ema_loss:.5f}")
    if state_dir is not None:
        save_state(
            state_dir,
            "unet",
            dict(
                unet=cpu_state_dict(unet),
                text=cpu_state_dict(text),
                ema_unet=cpu_state_dict(ema_unet),
                ema_text=cpu_state_dict(ema_text),
                opt=None,
                step=step,
                elapsed=elapsed_before + stage_s,
                gen=gen_state(g),
                done=True,
                summary=summ,
                cfg=cfgs,
            ),
        )
    del unet, text, opt, params
    return ema_unet, ema_text


# ================================================================ stage 3: LoRA (purple style)


LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def train_lora(
    args, device, clock, state_dir, lora_out: Path, tokenizer, vae, sf, unet, text, summary
):
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict

    st = load_state(state_dir, "lora") if args.resume else None
    unet = copy.deepcopy(unet).requires_grad_(False)
    text = text.requires_grad_(False)
    unet.add_adapter(
        LoraConfig(
            r=args.lora_rank,
            lora_alpha=args.lora_rank,
            init_lora_weights="gaussian",
            target_modules=LORA_TARGETS,
        )
    )
    unet.to(device)
    step, elapsed_before = 0, 0.0
    g = torch.Generator(device=device).manual_seed(args.seed * 1000 + 3)
    if st is not None:
        set_peft_model_state_dict(unet, st["lora"])
        step, elapsed_before = st["step"], st["elapsed"]
        g.set_state(st["gen"])
        if st["done"]:
            log(f"lora: resumed finished stage ({step} steps)")
            summary["stages"]["lora"] = dict(st["summary"], resumed=True)
            save_lora(lora_out, unet)
            return unet
    params = [p for p in unet.parameters() if p.requires_grad]
    opt = make_optimizer(params, args.lora_lr, 0.0, device)
    if st is not None and st.get("opt"):
        opt.load_state_dict(st["opt"])
    from diffusers import DDPMScheduler

    alphas_cumprod = DDPMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    ).alphas_cumprod.to(device)
    captions = CaptionIds(tokenizer, device)
    purple = list(W.OBJECT_COLOURS).index("purple")
    alloc = clock.allocation("lora", ["lora"])
    max_steps = args.lora_steps
    if alloc is None and not max_steps:
        raise SystemExit("give --time-budget or --lora-steps")
    log(
        f"lora: rank {args.lora_rank}, {sum(p.numel() for p in params)} params, "
        f"batch {args.lora_batch_size}, "
        f"time {'-' if alloc is None else f'{alloc:.0f}s'}, max steps {max_steps or '-'}"
    )
    unet.train()
    prog = Progress("lora", args.log_every, device, args.lora_batch_size, step)
    t_stage = time.time()
    t_ckpt = time.time()
    lr = 0.0
    while True:
        if (max_steps and step >= max_steps) or (
            alloc is not None and time.time() - t_stage >= alloc
        ):
            break
        progress = stage_progress(step, max_steps, time.time() - t_stage, alloc, elapsed_before)
        lr = args.lora_lr * lr_factor(step, progress, min(50, args.warmup))
        for group in opt.param_groups:
            group["lr"] = lr
        t = W.sample_scene_tensors(args.lora_batch_size, g)
        x = image_batch(t, device, colour_override=purple)
        ids = captions(t, g, args.caption_dropout)
        loss = diffusion_loss(
            unet,
            text,
            vae,
            sf,
            ids,
            x,
            g,
            alphas_cumprod,
            args.snr_gamma,
            device,
            args.offset_noise,
            object_mask(t, x, dilate=1),
            args.object_weight,
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        prog.add(loss)
        prog.maybe_print(step, lr)
        if time.time() - t_ckpt >= args.checkpoint_every:
            save_lora(lora_out, unet)
            save_state(
                state_dir,
                "lora",
                dict(
                    lora={k: v.cpu() for k, v in get_peft_model_state_dict(unet).items()},
                    opt=optimizer_state_cpu(opt),
                    step=step,
                    elapsed=elapsed_before + time.time() - t_stage,
                    gen=gen_state(g),
                    done=False,
                ),
            )
            t_ckpt = time.time()
    prog.maybe_print(step, lr, force=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    stage_s = time.time() - t_stage
    log(f"lora: done {step} steps in {stage_s:.1f}s ({step / max(stage_s, 1e-9):.2f} it/s)")
    unet.eval()
    save_lora(lora_out, unet)
    summ = dict(
        seconds=round(stage_s, 1),
        steps=step,
        final_loss=round(prog.last_loss, 5),
        params=sum(p.numel() for p in params),
    )
    summary["stages"]["lora"] = summ
    save_state(
        state_dir,
        "lora",
        dict(
            lora={k: v.cpu() for k, v in get_peft_model_state_dict(unet).items()},
            opt=None,
            step=step,
            elapsed=elapsed_before + stage_s,
            gen=gen_state(g),
            done=True,
            summary=summ,
        ),
    )
    return unet


# ============================================================================ main


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--out",
        required=True,
        type=Path,
        help="model folder (diffusers layout), rewritten in place",
    )
    p.add_argument("--lora-out", type=Path, default=None, help="LoRA folder (default: OUT-lora)")
    p.add_argument(
        "--state-dir",
        type=str,
        default="/tmp/nodegraph_train_state",
        help="resumable training state (optimiser etc.); '' to disable",
    )
    p.add_argument("--resume", action="store_true", help="continue from --state-dir")
    p.add_argument(
        "--init-from",
        type=Path,
        default=None,
        help="start the UNet and text encoder from this model folder's weights (same "
        "architecture) instead of from scratch; the VAE is trained anew unless --keep-vae",
    )
    p.add_argument(
        "--keep-vae",
        action="store_true",
        help="with --init-from: keep that model's VAE (no VAE stage), so the UNet goes on "
        "learning in the same latent space",
    )
    p.add_argument("--device", default=None, help="cuda / cpu (default: cuda if available)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--smoke", action="store_true", help="tiny models and a few steps (CI)")
    p.add_argument(
        "--model-size",
        choices=("full", "small", "smoke"),
        default=None,
        help="architecture (default: full; smoke with --smoke)",
    )
    p.add_argument(
        "--time-budget",
        type=float,
        default=None,
        help="wall seconds for the whole run, counted from process start, incl. saving",
    )
    p.add_argument(
        "--reserve",
        type=float,
        default=None,
        help="seconds of the budget kept for the final save and evaluation (default 25, smoke 0)",
    )
    p.add_argument("--stage-split", default="0.2,0.75,0.05", help="time shares of vae,unet,lora")
    p.add_argument(
        "--transition",
        type=float,
        default=None,
        help="seconds kept for the work between two stages (default 6 cuda, 15 cpu)",
    )
    p.add_argument("--vae-steps", type=int, default=None)
    p.add_argument("--unet-steps", type=int, default=None)
    p.add_argument("--lora-steps", type=int, default=None)
    p.add_argument(
        "--batch-size", type=int, default=None, help="UNet batch (default 512 cuda / 16 cpu)"
    )
    p.add_argument("--vae-batch-size", type=int, default=None, help="default 256 cuda / 16 cpu")
    p.add_argument("--lora-batch-size", type=int, default=None, help="default 256 cuda / 16 cpu")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--vae-lr", type=float, default=2e-3)
    p.add_argument("--lora-lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--vae-warmup", type=int, default=100)
    p.add_argument("--vae-kl", type=float, default=1e-4, help="weight of the per-element KL term")
    p.add_argument(
        "--vae-object-weight",
        type=float,
        default=8.0,
        help="extra reconstruction weight of object pixels in the VAE loss",
    )
    p.add_argument(
        "--object-weight",
        type=float,
        default=2.0,
        help="extra weight of object latent cells in the UNet/LoRA loss",
    )
    p.add_argument(
        "--vae-logvar-init",
        type=float,
        default=-6.0,
        help="initial posterior log-variance of the VAE (bias of quant_conv)",
    )
    p.add_argument("--ema-decay", type=float, default=0.999)
    p.add_argument("--caption-dropout", type=float, default=0.12)
    p.add_argument(
        "--partial-captions",
        type=float,
        default=0.15,
        help="share of UNet captions with phrases left out (each word learnt on its own)",
    )
    p.add_argument(
        "--two-object-prob", type=float, default=0.65, help="share of two-object training scenes"
    )
    p.add_argument(
        "--high-t-share",
        type=float,
        default=0.3,
        help="share of UNet samples drawn from the noisier half of the timesteps (layout)",
    )
    p.add_argument("--snr-gamma", type=float, default=5.0, help="min-SNR loss weighting (0: off)")
    p.add_argument(
        "--offset-noise", type=float, default=0.05, help="offset-noise strength (0: off)"
    )
    p.add_argument("--lora-rank", type=int, default=4)
    p.add_argument(
        "--sf-batches", type=int, default=4, help="batches used to estimate the VAE scaling factor"
    )
    p.add_argument(
        "--checkpoint-every", type=float, default=45.0, help="seconds between rolling checkpoints"
    )
    p.add_argument("--log-every", type=float, default=10.0, help="seconds between progress lines")
    p.add_argument(
        "--eval-prompts",
        type=int,
        default=None,
        help="prompts for the closing sanity evaluation "
        "(default 128 cuda, 16 cpu, 2 smoke; 0: skip)",
    )
    p.add_argument(
        "--eval-steps",
        type=int,
        default=None,
        help="DDIM steps in the evaluation (default 25, smoke 2)",
    )
    p.add_argument(
        "--samples-dir",
        type=Path,
        default=None,
        help="write PNG grids of the evaluation's samples here (keep it outside --out)",
    )
    p.add_argument("--skip-lora", action="store_true")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch CPU threads (default: torch's; 1 with --smoke)",
    )
    args = p.parse_args(argv)
    return args


def resolve_defaults(args):
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    if args.model_size is None:
        args.model_size = "smoke" if args.smoke else "full"
    if args.lora_out is None:
        args.lora_out = args.out.parent / (args.out.name + "-lora")
    args.state_dir = Path(args.state_dir) if args.state_dir else None
    if args.keep_vae and args.init_from is None:
        raise SystemExit("--keep-vae needs --init-from MODEL_DIR")
    if args.smoke:
        args.vae_steps = args.vae_steps or 3
        args.unet_steps = args.unet_steps or 3
        args.lora_steps = args.lora_steps or 2
        args.batch_size = args.batch_size or 4
        args.vae_batch_size = args.vae_batch_size or 4
        args.lora_batch_size = args.lora_batch_size or 4
        args.sf_batches = 1
        args.warmup = min(args.warmup, 2)
        args.vae_warmup = min(args.vae_warmup, 2)
        args.log_every = min(args.log_every, 5.0)
    args.batch_size = args.batch_size or (512 if cuda else 16)
    args.vae_batch_size = args.vae_batch_size or (256 if cuda else 16)
    args.lora_batch_size = args.lora_batch_size or (256 if cuda else 16)
    if args.transition is None:
        args.transition = 6.0 if cuda else 15.0
    if args.reserve is None:
        args.reserve = 0.0 if args.smoke else 25.0
    if args.eval_prompts is None:
        args.eval_prompts = 2 if args.smoke else (128 if cuda else 16)
    if args.eval_steps is None:
        args.eval_steps = 2 if args.smoke else 25
    if args.time_budget is None:
        args.vae_steps = args.vae_steps or 1000
        args.unet_steps = args.unet_steps or 5000
        args.lora_steps = args.lora_steps or 300
    return device


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = resolve_defaults(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    elif args.smoke and device.type == "cpu":
        torch.set_num_threads(1)  # tiny tensors: one thread is faster, and immune to a busy CPU
    warnings.filterwarnings("ignore", category=FutureWarning)
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    if device.type == "cuda":
        torch.cuda.manual_seed_all(args.seed)
        torch.backends.cudnn.benchmark = (
            True  # fixed shapes; TF32 flags left alone (bf16 autocast anyway)
        )
        dev_name = torch.cuda.get_device_name(device)
    else:
        dev_name = f"cpu ({torch.get_num_threads()} threads)"
    split = dict(zip(STAGES, (float(s) for s in args.stage_split.split(","))))
    clock = Clock(args.time_budget, args.reserve, split, args.transition)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    if not args.resume and args.state_dir is not None:
        shutil.rmtree(args.state_dir, ignore_errors=True)
    log(
        f"device {dev_name}; torch {torch.__version__}, diffusers {diffusers.__version__}, "
        f"transformers {transformers.__version__}; out {out}; lora-out {args.lora_out}; "
        f"budget {args.time_budget}; model size {args.model_size}"
    )
    log("settings: " + json.dumps({k: str(v) if isinstance(v, Path) else v
                                   for k, v in sorted(vars(args).items())}))
    summary: dict = {"device": dev_name, "stages": {}, "smoke": args.smoke, "seed": args.seed}

    tokenizer_dir = (args.state_dir or Path("/tmp")) / "tokenizer_build"
    shutil.rmtree(tokenizer_dir, ignore_errors=True)
    tokenizer = build_tokenizer(tokenizer_dir)
    cfgs = model_configs(
        args.model_size, len(tokenizer), tokenizer.bos_token_id, tokenizer.eos_token_id
    )
    if args.resume:
        for name in ("vae", "unet"):
            st = load_state(args.state_dir, name)
            if st is not None and st.get("cfg"):
                cfgs = st["cfg"] if name == "unet" else dict(cfgs, vae=st["cfg"])
    log(f"tokenizer: {len(tokenizer)} tokens, max length {tokenizer.model_max_length}")

    vae, sf = train_vae(args, cfgs["vae"], device, clock, args.state_dir, out, summary)
    ema_unet, ema_text = train_unet(
        args, cfgs, device, clock, args.state_dir, out, tokenizer, tokenizer_dir, vae, sf, summary
    )
    t = time.time()
    save_pipeline_layout(out, vae, ema_text, ema_unet, tokenizer_dir)
    log(f"model saved to {out} ({time.time() - t:.1f}s)")
    if not args.skip_lora:
        train_lora(
            args,
            device,
            clock,
            args.state_dir,
            args.lora_out,
            tokenizer,
            vae,
            sf,
            ema_unet,
            ema_text,
            summary,
        )
        log(f"lora saved to {args.lora_out}")
    summary["files"] = {
        str(p.relative_to(out)): p.stat().st_size for p in sorted(out.rglob("*")) if p.is_file()
    }
    too_big = {k: v for k, v in summary["files"].items() if v >= 16 * 1024 * 1024}
    if too_big:
        log(f"WARNING: files over 16 MiB: {too_big}")
    summary["model_bytes"] = sum(summary["files"].values())
    summary["params"] = {
        "vae": n_params(vae),
        "unet": n_params(ema_unet),
        "text_encoder": n_params(ema_text),
    }
    del vae, ema_unet, ema_text
    if device.type == "cuda":
        torch.cuda.empty_cache()

    # closing sanity evaluation, within what is left of the budget
    if args.eval_prompts > 0:
        try:
            import evaluate_default_model as E

            deadline = None if args.time_budget is None else T0 + args.time_budget - 3.0
            res = E.evaluate(
                out,
                n_prompts=args.eval_prompts,
                steps=args.eval_steps,
                cfg_list=[5.0],
                device=device,
                seed=args.seed + 777,
                lora_dir=None if args.skip_lora else args.lora_out,
                deadline=deadline,
                negative="red" if device.type == "cuda" else None,
                batch_size=64 if device.type == "cuda" else 8,
                save_grid=args.samples_dir,
            )
            summary["eval"] = res["summary"]
            print(res["markdown"], flush=True)
        except Exception as e:  # the model is saved; a failing check must not lose it
            log(f"evaluation failed: {type(e).__name__}: {e}")
            summary["eval"] = {"error": f"{type(e).__name__}: {e}"}
    summary["total_seconds"] = round(time.time() - T0, 1)
    print("SUMMARY " + json.dumps(summary, sort_keys=True), flush=True)
    return summary


if __name__ == "__main__":
    main()
