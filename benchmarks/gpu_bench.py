"""GPU benchmark (issue 3): full-size SD1.5-architecture UNet / VAE / CLIP with random
weights (built from nodes/configs/sd15.json, nothing downloaded), our graph vs diffusers'
StableDiffusionPipeline sharing the very same modules, at 512x512, 20 steps, CFG 7,
fp16; eager, channels_last, and torch.compile. Reports denoising it/s (latent output,
no decode) and seconds per full image (with VAE decode), alternating ours / pipeline.

Run through benchmarks/gpu.sh (which provides diffusers from a wheels folder if needed).
``--tiny`` runs the same code on the CPU with a small model, to check the script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build(tiny: bool, device, dtype):
    """Random-weight UNet, VAE, text encoder and a locally written tokenizer."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from nodes.loaders import architecture_config
    from tests.diffusion.tiny import build_components, write_tokenizer

    folder = Path(tempfile.mkdtemp(prefix="nodegraph-gpu-tok-"))
    write_tokenizer(folder)
    tokenizer = CLIPTokenizer.from_pretrained(str(folder))
    spec = architecture_config("sd15")
    if tiny:
        unet, vae, text, _, _ = build_components()
    else:
        torch.manual_seed(0)
        with torch.device(device):
            unet = UNet2DConditionModel.from_config(spec["unet"])
            vae = AutoencoderKL.from_config(spec["vae"])
            text = CLIPTextModel(CLIPTextConfig(**spec["text_encoders"][0]["config"]))
    scheduler = EulerDiscreteScheduler.from_config(spec["scheduler"])
    parts = [m.to(device=device, dtype=dtype).eval() for m in (unet, vae, text)]
    return (*parts, tokenizer, scheduler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="small model on the CPU")
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--scale", type=float, default=7.0)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--variants", default="eager,channels_last,compile,compile+channels_last")
    parser.add_argument("--dtype", default="fp16", choices=["fp16", "bf16", "fp32"])
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()

    import diffusers
    import numpy as np
    import torch

    from nodegraph.executor import Executor
    from nodegraph.graph import Graph
    from nodegraph.registry import Output, Registry, node
    from nodegraph.types import CLIP, MODEL, VAE
    from nodegraph_app import default_registry
    from nodes.handles import ClipHandle, Components, ModelHandle, TextEncoderSlot, VaeHandle

    device = torch.device("cpu" if args.tiny else "cuda")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}[args.dtype]
    if args.tiny:
        args.size, dtype = min(args.size, 64), torch.float32
    os.environ["NODEGRAPH_DTYPE"] = {torch.float32: "fp32", torch.float16: "fp16",
                                     torch.bfloat16: "bf16"}[dtype]
    # full fp32 when asked for fp32 (to compare pixels); TF32 is a different precision
    torch.backends.cuda.matmul.allow_tf32 = dtype != torch.float32
    torch.backends.cudnn.allow_tf32 = dtype != torch.float32
    unet, vae, text, tokenizer, scheduler = build(args.tiny, device, dtype)
    components = Components("random-sd15", "sd15", unet, vae,
                            [TextEncoderSlot(text, tokenizer)], dict(scheduler.config))
    vae.register_to_config(force_upcast=False)  # SD1.5: decode in the compute dtype
    for module in (unet, vae, text):  # already placed
        module._nodegraph_placement = (str(device), str(dtype))

    @node("bench.Model", "Random SD1.5", "bench",
          outputs=[Output("model", MODEL), Output("clip", CLIP), Output("vae", VAE)])
    def bench_model():
        return ModelHandle(components), ClipHandle(components), VaeHandle(components)

    registry = Registry(list(default_registry(plugins=False)))
    registry.add(bench_model.__nodegraph_spec__)
    g = Graph()
    ck = g.add_node("bench.Model").id
    pos = g.add_node("conditioning.TextEncode", {"text": "a photo of an astronaut"}).id
    neg = g.add_node("conditioning.TextEncode", {"text": "blurry"}).id
    for n in (pos, neg):
        g.connect(ck, "clip", n, "clip")
    lat = g.add_node("latent.Empty", {"width": args.size, "height": args.size}).id
    g.connect(ck, "model", lat, "model")
    sch = g.add_node("sampling.Scheduler", {"sampler": "euler", "steps": args.steps}).id
    g.connect(ck, "model", sch, "model")
    gd = g.add_node("sampling.CFGGuider", {"scale": args.scale}).id
    g.connect(ck, "model", gd, "model")
    g.connect(pos, "conditioning", gd, "positive")
    g.connect(neg, "conditioning", gd, "negative")
    noise = g.add_node("sampling.Noise", {"seed": 0}).id
    smp = g.add_node("sampling.Sampler").id
    for src, out, dst in ((gd, "guider", "guider"), (sch, "scheduler", "scheduler"),
                          (noise, "noise", "noise"), (lat, "latent", "latent")):
        g.connect(src, out, smp, dst)
    dec = g.add_node("latent.VAEDecode").id
    g.connect(ck, "vae", dec, "vae")
    g.connect(smp, "latent", dec, "latent")
    executor = Executor(registry, output_dir=tempfile.mkdtemp(), device=device.type)

    pipe = diffusers.StableDiffusionPipeline(
        vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        embeds, neg_embeds = pipe.encode_prompt("a photo of an astronaut", device, 1, True,
                                                "blurry")

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def ours(seed: int, full: bool):
        g.set_param(noise, "seed", seed)
        result = executor.run(g, outputs=[dec if full else smp])
        assert not result.failures, {k: str(v) for k, v in result.failures.items()}
        value = result.values[dec if full else smp][0]
        return value if full else value["samples"]

    def theirs(seed: int, full: bool):
        with torch.no_grad():
            out = pipe(prompt_embeds=embeds, negative_prompt_embeds=neg_embeds,
                       num_inference_steps=args.steps, guidance_scale=args.scale,
                       height=args.size, width=args.size,
                       output_type="pt" if full else "latent",
                       generator=torch.Generator("cpu").manual_seed(seed)).images
        return out.permute(0, 2, 3, 1).float().cpu() if full else out.float().cpu()

    def timed(fn, seed, full):
        sync()
        start = time.perf_counter()
        value = fn(seed, full)
        sync()
        return time.perf_counter() - start, value

    results = []
    seed = 0
    for variant in args.variants.split(","):
        if "channels_last" in variant:
            unet.to(memory_format=torch.channels_last)
            vae.to(memory_format=torch.channels_last)
        else:
            unet.to(memory_format=torch.contiguous_format)
            vae.to(memory_format=torch.contiguous_format)
        if "compile" in variant:
            torch._dynamo.reset()
            unet.compile()
            vae.compile()
        else:
            unet._compiled_call_impl = None
            vae._compiled_call_impl = None
        t0 = time.perf_counter()
        for full in (False, True):  # warm-up / compile both paths
            timed(ours, 99, full)
            timed(theirs, 99, full)
        warm = time.perf_counter() - t0
        row = {"variant": variant, "warmup_s": round(warm, 2)}
        for full in (False, True):
            t_ours, t_pipe, worst = [], [], 0.0
            for run in range(args.runs):
                seed += 1
                pair = [(ours, t_ours), (theirs, t_pipe)]
                if run % 2:
                    pair.reverse()
                outs = []
                for fn, bucket in pair:
                    seconds, value = timed(fn, seed, full)
                    bucket.append(seconds)
                    outs.append(value)
                worst = max(worst, float((outs[0] - outs[1]).abs().max()))
            mo, mp = statistics.median(t_ours), statistics.median(t_pipe)
            key = "image" if full else "denoise"
            if full:
                row.update({"ours_s_per_image": round(mo, 4), "pipe_s_per_image": round(mp, 4),
                            "image_time_ratio": round(mo / mp, 4),
                            "image_max_abs_diff": round(worst, 5)})
            else:
                row.update({"ours_it_s": round(args.steps / mo, 2),
                            "pipe_it_s": round(args.steps / mp, 2),
                            "denoise_time_ratio": round(mo / mp, 4),
                            "latent_max_abs_diff": round(worst, 5)})
            del key
        print(json.dumps(row), flush=True)
        results.append(row)
    report = {"benchmark": "gpu_sd15_random", "device": torch.cuda.get_device_name()
              if device.type == "cuda" else "cpu", "dtype": str(dtype), "size": args.size,
              "steps": args.steps, "cfg": args.scale, "runs": args.runs,
              "torch": torch.__version__, "diffusers": diffusers.__version__,
              "results": results}
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    del np


if __name__ == "__main__":
    main()
