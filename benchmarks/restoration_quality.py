"""Restoration and upscale quality of ``workflows/upscale_restore.json`` (issue 4), measured.

Runs the shipped workflow through the engine and compares its node outputs with the clean
photographs it started from (PSNR in dB and SSIM, scikit-image, on 8-bit RGB):

* denoise: ``assets/astronaut_noisy.png`` (the clean photo plus Gaussian noise, sigma 25/255)
  -> "Denoise (non-local means)" vs ``assets/astronaut.png``; also a sweep of the node's
  strength, to show where the shipped setting sits;
* upscale: ``assets/coffee.png`` reduced 4x (area) and brought back with lanczos, bicubic and
  nearest, each vs the original.

Usage: python benchmarks/restoration_quality.py [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from nodegraph.executor import Executor
from nodegraph.graph import Graph
from nodegraph.workflow import load_strict
from nodegraph_app import default_registry

WORKFLOWS = Path(__file__).resolve().parent.parent / "workflows"
STRENGTHS = (0.0, 5.0, 10.0, 15.0, 20.0)


def metrics(image: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    """PSNR (dB) and SSIM of two HxWx3 uint8 images."""
    return {
        "psnr": round(float(peak_signal_noise_ratio(reference, image, data_range=255)), 2),
        "ssim": round(float(structural_similarity(reference, image, channel_axis=2,
                                                  data_range=255)), 4),
    }


def asset(name: str) -> np.ndarray:
    with Image.open(WORKFLOWS / "assets" / name) as img:
        return np.asarray(img.convert("RGB"))


def by_title(graph: Graph, title: str) -> str:
    return next(node.id for node in graph.nodes.values() if node.title == title)


def as_uint8(value: Any) -> np.ndarray:
    """First image of an IMAGE tensor [B,H,W,3] in [0,1] -> HxWx3 uint8."""
    return (value[0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)


def measure() -> dict[str, Any]:
    registry = default_registry()
    graph = load_strict(WORKFLOWS / "upscale_restore.json", registry)
    executor = Executor(registry, device="cpu", base_dir=WORKFLOWS, previews=False)
    titles = {"noisy": "Noisy photo (sigma 25)", "denoised": "Denoise (non-local means)",
              "lanczos": "Upscale x4 (lanczos)", "bicubic": "Upscale x4 (bicubic)",
              "nearest": "Upscale x4 (nearest)"}
    ids = {key: by_title(graph, title) for key, title in titles.items()}
    result = executor.run(graph, outputs=list(ids.values()), keep_values=True)
    if result.status != "finished":
        raise SystemExit(f"workflow did not finish: {result.to_json()}")
    out = {key: as_uint8(result.values[node_id][0]) for key, node_id in ids.items()}
    clean, photo = asset("astronaut.png"), asset("coffee.png")
    shipped = graph.node(ids["denoised"]).params["strength"]
    sweep = {}
    for strength in STRENGTHS:
        graph.set_param(ids["denoised"], "strength", strength)
        graph.set_param(ids["denoised"], "color_strength", strength)
        run = executor.run(graph, outputs=[ids["denoised"]], keep_values=True)
        sweep[f"{strength:g}"] = metrics(as_uint8(run.values[ids["denoised"]][0]), clean)
    return {
        "denoise": {"noisy": metrics(out["noisy"], clean),
                    "restored": metrics(out["denoised"], clean),
                    "shipped_strength": shipped, "strength_sweep": sweep},
        "upscale_x4": {m: metrics(out[m], photo) for m in ("lanczos", "bicubic", "nearest")},
        "sizes": {"denoise": list(clean.shape[:2]), "upscale": list(photo.shape[:2])},
    }


def markdown(res: dict[str, Any]) -> str:
    d = res["denoise"]
    lines = ["| denoise (astronaut, sigma 25/255) | PSNR dB | SSIM |", "|---|---|---|",
             f"| noisy input | {d['noisy']['psnr']} | {d['noisy']['ssim']} |",
             f"| workflow (NL-means, strength {d['shipped_strength']:g}) | "
             f"{d['restored']['psnr']} | {d['restored']['ssim']} |"]
    lines += [f"| strength {k} | {v['psnr']} | {v['ssim']} |" for k, v in
              d["strength_sweep"].items()]
    lines += ["", "| upscale x4 (coffee, from 1/4 size) | PSNR dB | SSIM |", "|---|---|---|"]
    lines += [f"| {m} | {v['psnr']} | {v['ssim']} |" for m, v in res["upscale_x4"].items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    args = parser.parse_args()
    res = measure()
    if args.json:
        args.json.write_text(json.dumps(res, indent=2) + "\n")
    print(markdown(res))


if __name__ == "__main__":
    main()
