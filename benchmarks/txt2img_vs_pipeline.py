"""Our txt2img graph vs diffusers' StableDiffusionPipeline on the same tiny random-weight
components, in one process, alternating runs (issue 3's benchmark).

Both sides do the same work per run: draw the noise, run the sampler (CFG, one batched
UNet call per step), decode with the VAE. The pipeline gets precomputed prompt
embeddings (our graph's text encodes are cached by the executor across seed changes, so
neither side re-encodes); every run uses a new seed so our sampler and decoder really
run. Reports the median and minimum wall time of each, the median process CPU time,
their ratios, and the largest pixel difference (on a shared, busy machine the CPU-time
ratio is the steady figure).

Usage: python benchmarks/txt2img_vs_pipeline.py [--runs 15] [--steps 20] [--sampler euler]
       [--size 64] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SCHEDULERS = {"euler": "EulerDiscreteScheduler", "ddim": "DDIMScheduler",
              "euler_ancestral": "EulerAncestralDiscreteScheduler",
              "dpmpp_2m": "DPMSolverMultistepScheduler"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--sampler", default="euler", choices=sorted(SCHEDULERS))
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--scale", type=float, default=7.5)
    parser.add_argument("--json", metavar="OUT")
    args = parser.parse_args()

    import diffusers
    import numpy as np
    import torch

    from nodegraph.executor import Executor
    from nodegraph_app import default_registry
    from tests.diffusion.conftest import MODEL, txt2img_graph
    from tests.diffusion.tiny import save_diffusers_folder

    torch.set_num_threads(max(1, torch.get_num_threads()))
    models = Path(tempfile.mkdtemp(prefix="nodegraph-bench-"))
    save_diffusers_folder(models / MODEL)
    os.environ["NODEGRAPH_MODELS"] = str(models)

    prompt, negative = "a photo of an astronaut riding a horse", "ugly blurry"
    pipe = diffusers.StableDiffusionPipeline.from_pretrained(
        models / MODEL, safety_checker=None, requires_safety_checker=False,
        local_files_only=True)
    pipe.scheduler = getattr(diffusers, SCHEDULERS[args.sampler]).from_config(
        pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    with torch.no_grad():
        embeds, neg_embeds = pipe.encode_prompt(prompt, torch.device("cpu"), 1, True, negative)

    executor = Executor(default_registry(plugins=False), output_dir=models / "out",
                        device="cpu")
    graph, ids = txt2img_graph(prompt=prompt, negative=negative, sampler=args.sampler,
                               steps=args.steps, scale=args.scale, width=args.size,
                               height=args.size)

    def ours(seed: int) -> np.ndarray:
        graph.set_param(ids["noise"], "seed", seed)
        result = executor.run(graph, outputs=[ids["decode"]])
        assert not result.failures, result.failures
        return result.values[ids["decode"]][0].numpy()

    def theirs(seed: int) -> np.ndarray:
        with torch.no_grad():
            return pipe(prompt_embeds=embeds, negative_prompt_embeds=neg_embeds,
                        num_inference_steps=args.steps, guidance_scale=args.scale,
                        height=args.size, width=args.size, output_type="np",
                        generator=torch.Generator("cpu").manual_seed(seed)).images

    ours(10_000)  # warm up both (loads, first-call allocations, cached text encodes)
    theirs(10_000)
    t_ours, t_pipe, worst = [], [], 0.0
    c_ours, c_pipe = [], []  # process CPU time: steadier than wall time on a busy machine
    for run in range(args.runs):
        seed = run + 1
        order = (("ours", ours), ("pipe", theirs)) if run % 2 == 0 else \
            (("pipe", theirs), ("ours", ours))
        images = {}
        for name, fn in order:
            start, cpu = time.perf_counter(), time.process_time()
            images[name] = fn(seed)
            (t_ours if name == "ours" else t_pipe).append(time.perf_counter() - start)
            (c_ours if name == "ours" else c_pipe).append(time.process_time() - cpu)
        worst = max(worst, float(np.abs(images["ours"] - images["pipe"]).max()))
    med_ours, med_pipe = statistics.median(t_ours), statistics.median(t_pipe)
    report = {
        "benchmark": "txt2img_vs_pipeline", "sampler": args.sampler, "steps": args.steps,
        "size": args.size, "runs": args.runs, "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(), "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "ours_median_s": round(med_ours, 4), "pipeline_median_s": round(med_pipe, 4),
        "ratio": round(med_ours / med_pipe, 4),
        "ratio_of_sums": round(sum(t_ours) / sum(t_pipe), 4),
        "ours_min_s": round(min(t_ours), 4), "pipeline_min_s": round(min(t_pipe), 4),
        "ratio_of_mins": round(min(t_ours) / min(t_pipe), 4),
        "ours_cpu_median_s": round(statistics.median(c_ours), 4),
        "pipeline_cpu_median_s": round(statistics.median(c_pipe), 4),
        "cpu_time_ratio": round(statistics.median(c_ours) / statistics.median(c_pipe), 4),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "max_abs_pixel_difference": worst,
    }
    print(json.dumps(report, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
