#!/usr/bin/env python3
"""Sanity evaluation of nodegraph's default shapes-world model (see tools/shapes_world.py).

Generates images for caption prompts with ``StableDiffusionPipeline`` (DDIM, fixed seeds, batched)
and checks each image FROM ITS PIXELS with a classifier that knows the world's palette:

* background: median of the border pixels -> nearest background colour;
* objects: pixels nearer an object colour than the background, 4-connected regions (scipy.ndimage),
  each region's colour by a vote of its pixels (a region holding two colours is split);
* shape: region descriptors (area, solidity, extent, euler number, circularity from skimage) plus
  the best soft-IoU against the world's own shape templates placed at the region's centroid;
* size: region area against the shape's small/large reference areas; position: centroid -> 3x3 cell.

The classifier is validated on rendered ground truth (``validate_classifier``; ~100% expected).

    python3 tools/evaluate_default_model.py MODEL_DIR [--lora LORA_DIR] [--n 128] [--cfg 1,3,5,8]
        [--negative red] [--steps 25] [--device cuda] [--json out.json]

Prints a markdown table and a JSON line.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

import shapes_world as W

os.environ.setdefault("HF_HUB_OFFLINE", "1")

OBJ_NAMES = list(W.OBJECT_COLOURS)
OBJ_RGB = np.array(list(W.OBJECT_COLOURS.values()), dtype=np.float32)
BG_NAMES = list(W.BACKGROUND_COLOURS)
BG_RGB = np.array(list(W.BACKGROUND_COLOURS.values()), dtype=np.float32)
MIN_AREA = 25  # pixels; the smallest rendered object (small star/triangle) has ~60


@dataclass
class Detected:
    colour: str
    shape: str
    size: str
    position: str
    area: int
    centroid: tuple[float, float]  # (x, y)
    iou: float
    features: dict = field(default_factory=dict)


@dataclass
class Detection:
    background: str
    objects: list[Detected]


# ----------------------------------------------------------------------------- templates


@cache
def _template_info() -> dict:
    """Per (shape, size): centroid offset of the rendered mask from its anchor, and its area."""
    info = {}
    for si, shape in enumerate(W.SHAPES):
        for _zi, size in enumerate(W.SIZES):
            a = _template_alpha(si, W.SIZE_RADIUS[size], 32.0, 32.0)
            ys, xs = np.nonzero(a >= 0.5)
            info[(shape, size)] = {
                "dx": float(xs.mean() + 0.5 - 32.0),
                "dy": float(ys.mean() + 0.5 - 32.0),
                "area": float((a >= 0.5).sum()),
            }
    return info


def _template_alpha(
    shape_idx: int, radius: float, cx: float, cy: float, size: int = W.IMAGE_SIZE
) -> np.ndarray:
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    px = coords.view(1, size) - cx
    py = cy - coords.view(size, 1)
    sd = W.shape_sdf(torch.tensor(shape_idx), px, py, torch.tensor(float(radius)))
    return (0.5 - sd).clamp(0, 1).numpy()


@cache
def _template_grid() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """All candidate templates: shape index, radius and centroid offsets, each [K, 1, 1]."""
    info = _template_info()
    sh, rad, dx, dy = [], [], [], []
    for si, shape in enumerate(W.SHAPES):
        for size in W.SIZES:
            off = info[(shape, size)]
            for scale in (0.85, 1.0, 1.15):
                sh.append(si)
                rad.append(W.SIZE_RADIUS[size] * scale)
                dx.append(off["dx"] * scale)
                dy.append(off["dy"] * scale)
    v = lambda x, dt=torch.float32: torch.tensor(x, dtype=dt).view(-1, 1, 1)  # noqa: E731
    return v(sh, torch.long), v(rad), v(dx), v(dy)


def _best_template(mask: np.ndarray, cx: float, cy: float) -> tuple[str, float, dict]:
    """Shape whose template (either size, three scales) best overlaps ``mask`` (soft IoU)."""
    sh, rad, dx, dy = _template_grid()
    size = mask.shape[0]
    coords = torch.arange(size, dtype=torch.float32) + 0.5
    px = coords.view(1, 1, size) - (cx - dx)
    py = (cy - dy) - coords.view(1, size, 1)
    a = (0.5 - W.shape_sdf(sh, px, py, rad)).clamp(0, 1)  # [K, H, W]
    m = torch.from_numpy(mask.astype(np.float32)).unsqueeze(0)
    iou = torch.minimum(a, m).sum((1, 2)) / torch.maximum(a, m).sum((1, 2)).clamp(min=1e-6)
    per_shape = iou.view(len(W.SHAPES), -1).max(dim=1).values
    best = int(per_shape.argmax())
    scores = {shape: round(float(per_shape[i]), 3) for i, shape in enumerate(W.SHAPES)}
    return W.SHAPES[best], float(per_shape[best]), scores


# ----------------------------------------------------------------------------- classifier


def _to_uint8_hwc(img) -> np.ndarray:
    if torch.is_tensor(img):
        img = img.detach().cpu().float().numpy()
        if img.ndim == 3 and img.shape[0] == 3:
            img = img.transpose(1, 2, 0)
    img = np.asarray(img)
    if img.dtype != np.uint8:
        img = np.clip(np.round(img.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return img


def _position_of(x: float, y: float) -> str:
    col = int(np.argmin([abs(x - a) for a in W.ANCHORS]))
    row = int(np.argmin([abs(y - a) for a in W.ANCHORS]))
    return W.POSITIONS[row * 3 + col]


def _describe(mask: np.ndarray) -> dict:
    from skimage.measure import regionprops

    r = regionprops(mask.astype(np.uint8))[0]
    perim = max(float(r.perimeter), 1.0)
    return {
        "area": int(r.area),
        "solidity": round(float(r.solidity), 3),
        "extent": round(float(r.extent), 3),
        "euler": int(r.euler_number),
        "circularity": round(float(4 * math.pi * r.area / perim**2), 3),
        "eccentricity": round(float(r.eccentricity), 3),
    }


class _SingleThread:
    """Small torch ops run far faster on one thread (and don't stall when the CPU is busy)."""

    def __enter__(self):
        self.n = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self.n)


def classify_image(img) -> Detection:
    """Read the scene off an image (HxWx3 uint8 / float in [0,1], or a CHW tensor)."""
    with _SingleThread():
        return _classify_image(img)


def _classify_image(img) -> Detection:
    from scipy import ndimage

    px = _to_uint8_hwc(img).astype(np.float32)
    _h, _w, _ = px.shape
    border = np.concatenate([px[0], px[-1], px[:, 0], px[:, -1]])
    bg_med = np.median(border, axis=0)
    bg_idx = int(np.argmin(((BG_RGB - bg_med) ** 2).sum(-1)))
    d_obj = np.sqrt(((px[:, :, None, :] - OBJ_RGB[None, None]) ** 2).sum(-1))  # [H, W, 8]
    d_bg = np.sqrt(((px - bg_med) ** 2).sum(-1))
    nearest_obj = d_obj.argmin(-1)
    d_near = d_obj.min(-1)
    fg = d_near < d_bg
    labels, n = ndimage.label(fg)  # 4-connectivity
    objects: list[Detected] = []
    for lab in range(1, n + 1):
        comp = labels == lab
        if comp.sum() < MIN_AREA:
            continue
        # colour votes from interior pixels (edge pixels are blends with the background)
        core = ndimage.binary_erosion(comp) & (d_near < 60.0)
        if core.sum() < 5:
            core = comp & (d_near < 60.0)
        votes = np.bincount(
            nearest_obj[core if core.sum() >= 5 else comp], minlength=len(OBJ_NAMES)
        )
        order = np.argsort(-votes)
        pieces = [(int(order[0]), comp)]
        if votes[order[1]] >= max(12, 0.25 * votes.sum()):
            # two touching objects of different colours: split by the nearer of the two colours
            a, b = int(order[0]), int(order[1])
            closer_a = d_obj[:, :, a] <= d_obj[:, :, b]
            pieces = [(a, comp & closer_a), (b, comp & ~closer_a)]
        for colour_idx, piece in pieces:
            sub, k = ndimage.label(piece)
            if k == 0:
                continue
            sizes = ndimage.sum(piece, sub, range(1, k + 1))
            piece = sub == (int(np.argmax(sizes)) + 1)
            area = int(piece.sum())
            if area < MIN_AREA:
                continue
            ys, xs = np.nonzero(piece)
            cx, cy = float(xs.mean() + 0.5), float(ys.mean() + 0.5)
            shape, iou, scores = _best_template(piece, cx, cy)
            info = _template_info()
            small, large = info[(shape, "small")]["area"], info[(shape, "large")]["area"]
            size = "small" if area < math.sqrt(small * large) else "large"
            off = info[(shape, size)]
            position = _position_of(cx - off["dx"], cy - off["dy"])
            feats = _describe(piece)
            feats["template_iou"] = scores
            objects.append(
                Detected(OBJ_NAMES[colour_idx], shape, size, position, area, (cx, cy), iou, feats)
            )
    objects.sort(key=lambda o: -o.area)
    return Detection(BG_NAMES[bg_idx], objects)


def score_detection(expected: W.Scene, det: Detection) -> dict:
    """Compare a detection with the scene the prompt asked for."""
    res = {
        "background": det.background == expected.background,
        "count": len(det.objects) == len(expected.objects),
    }
    obj_res = []
    for o in expected.objects:
        cands = [d for d in det.objects if d.colour == o.colour]
        if not cands:
            obj_res.append({"colour": False, "shape": False, "size": False, "position": False})
            continue
        d = max(cands, key=lambda c: c.area)
        obj_res.append(
            {
                "colour": True,
                "shape": d.shape == o.shape,
                "size": d.size == o.size,
                "position": d.position == o.position,
            }
        )
    res["objects"] = obj_res
    res["all"] = res["background"] and res["count"] and all(all(r.values()) for r in obj_res)
    return res


def detection_to_scene(det: Detection) -> W.Scene | None:
    if not 1 <= len(det.objects) <= 2:
        return None
    return W.Scene(
        tuple(W.SceneObject(o.shape, o.colour, o.size, o.position) for o in det.objects),
        det.background,
    )


def validate_classifier(n: int = 200, seed: int = 0) -> dict:
    """Classifier accuracy on rendered ground-truth scenes (should be ~1.0)."""
    scenes = W.sample_scenes(n, torch.Generator().manual_seed(seed))
    imgs = W.render(scenes)
    results = [score_detection(s, classify_image(im)) for s, im in zip(scenes, imgs)]
    return aggregate(scenes, results)


def aggregate(scenes: list[W.Scene], results: list[dict]) -> dict:
    def frac(vals):
        vals = list(vals)
        return round(sum(vals) / len(vals), 4) if vals else None

    one = [r for s, r in zip(scenes, results) if len(s.objects) == 1]
    two = [r for s, r in zip(scenes, results) if len(s.objects) == 2]
    objs = [o for r in results for o in r["objects"]]
    return {
        "n": len(results),
        "all": frac(r["all"] for r in results),
        "all_one_object": frac(r["all"] for r in one),
        "all_two_objects": frac(r["all"] for r in two),
        "n_one": len(one),
        "n_two": len(two),
        "background": frac(r["background"] for r in results),
        "count": frac(r["count"] for r in results),
        "colour": frac(o["colour"] for o in objs),
        "shape": frac(o["shape"] for o in objs),
        "size": frac(o["size"] for o in objs),
        "position": frac(o["position"] for o in objs),
    }


# ----------------------------------------------------------------------------- generation


def load_pipeline(model_dir, device, dtype=torch.float32):
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(str(model_dir), torch_dtype=dtype)
    pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


def generate(
    pipe, prompts, seeds, steps=25, guidance=5.0, negative=None, batch_size=32, deadline=None
):
    """-> list of uint8 HxWx3 images (stops early, returning fewer, past ``deadline``)."""
    images = []
    t_batch = 2.0  # guess for the first batch
    for i in range(0, len(prompts), batch_size):
        if deadline is not None and time.time() + 1.5 * t_batch > deadline:
            break
        t = time.time()
        ps = prompts[i : i + batch_size]
        gens = [torch.Generator("cpu").manual_seed(int(s)) for s in seeds[i : i + batch_size]]
        with torch.no_grad():
            out = pipe(
                ps,
                num_inference_steps=steps,
                guidance_scale=guidance,
                negative_prompt=None if negative is None else [negative] * len(ps),
                generator=gens,
                height=W.IMAGE_SIZE,
                width=W.IMAGE_SIZE,
                output_type="np",
            ).images
        images.extend(_to_uint8_hwc(im) for im in out)
        t_batch = time.time() - t
    return images


def vae_round_trip(vae, scenes: list[W.Scene], device, batch_size: int = 32) -> dict:
    """Classify the VAE's reconstructions (posterior mean) of the rendered scenes: no sampler
    can draw better than its decoder reproduces, so this bounds every generation row."""
    results = []
    with torch.no_grad():
        for i in range(0, len(scenes), batch_size):
            batch = scenes[i : i + batch_size]
            x = W.render(batch, device=device) * 2.0 - 1.0
            y = vae.decode(vae.encode(x).latent_dist.mean).sample
            imgs = ((y + 1.0) / 2.0).clamp(0, 1).cpu()
            results += [score_detection(s, classify_image(im)) for s, im in zip(batch, imgs)]
    return aggregate(scenes, results)


def eval_prompts(n: int, seed: int) -> list[W.Scene]:
    g = torch.Generator().manual_seed(seed)
    half = n // 2
    return W.sample_scenes(n - half, g, two_object_prob=0.0) + W.sample_scenes(
        half, g, two_object_prob=1.0
    )


def evaluate(
    model_dir,
    n_prompts=128,
    steps=25,
    cfg_list=(5.0,),
    device="cpu",
    seed=1234,
    lora_dir=None,
    negative=None,
    deadline=None,
    batch_size=32,
    save_grid=None,
) -> dict:
    """Run the evaluation; returns {"summary": {...}, "markdown": str}."""
    device = torch.device(device)
    t0 = time.time()
    if deadline is not None and deadline - t0 < 8.0:
        return {
            "summary": {"skipped": "no time left"},
            "markdown": "(evaluation skipped: no time left)",
        }
    scenes = eval_prompts(n_prompts, seed)
    # interleave one/two-object prompts so a deadline cut keeps both kinds
    order = [
        i
        for pair in zip(
            range(n_prompts - n_prompts // 2), range(n_prompts - n_prompts // 2, n_prompts)
        )
        for i in pair
    ]
    order += [i for i in range(n_prompts) if i not in set(order)]
    scenes = [scenes[i] for i in order]
    prompts = [W.caption(s) for s in scenes]
    seeds = [seed + i for i in range(n_prompts)]
    pipe = load_pipeline(model_dir, device)
    rows: dict[str, dict] = {"VAE round trip of the rendered scenes (upper bound)":
                             vae_round_trip(pipe.vae, scenes, device, batch_size)}
    grids = {}
    for cfg in cfg_list:
        imgs = generate(pipe, prompts, seeds, steps, cfg, batch_size=batch_size, deadline=deadline)
        res = [score_detection(s, classify_image(im)) for s, im in zip(scenes, imgs)]
        rows[f"cfg {cfg:g}"] = aggregate(scenes[: len(res)], res)
        grids[f"cfg{cfg:g}"] = imgs
    main_cfg = 5.0 if 5.0 in cfg_list or not cfg_list else cfg_list[-1]
    if negative:
        # prompts that name the colour: does the negative prompt remove it?
        cand = W.sample_scenes(4 * n_prompts, torch.Generator().manual_seed(seed + 1))
        neg_scenes = [s for s in cand if any(o.colour == negative for o in s.objects)][
            : max(8, n_prompts // 2)
        ]
        named = [W.caption(s) for s in neg_scenes]
        # the same prompts with every colour word taken out: the model picks colours itself
        colours = set(W.OBJECT_COLOURS)
        unnamed = [" ".join(w for w in p.split() if w not in colours) for p in named]
        neg_seeds = [seed + 10_000 + i for i in range(len(neg_scenes))]
        for kind, neg_prompts in ((f"prompts naming {negative}", named),
                                  ("prompts naming no object colour", unnamed)):
            for label, neg in (("without negative", None), (f"negative '{negative}'", negative)):
                imgs = generate(pipe, neg_prompts, neg_seeds, steps, main_cfg, negative=neg,
                                batch_size=batch_size, deadline=deadline)
                dets = [classify_image(im) for im in imgs]
                has = [any(o.colour == negative for o in d.objects) for d in dets]
                rows[f"{label} ({kind})"] = {
                    "n": len(dets),
                    f"has_{negative}": round(sum(has) / max(len(has), 1), 4),
                }
    if lora_dir is not None and Path(lora_dir).exists():
        lp = [s for s in scenes if all(o.colour != "purple" for o in s.objects)]
        lp_prompts = [W.caption(s) for s in lp]
        lp_seeds = [seed + 20_000 + i for i in range(len(lp))]
        for label in ("base", "lora"):
            if label == "lora":
                pipe.load_lora_weights(str(lora_dir))
            imgs = generate(
                pipe,
                lp_prompts,
                lp_seeds,
                steps,
                main_cfg,
                batch_size=batch_size,
                deadline=deadline,
            )
            dets = [classify_image(im) for im in imgs]
            objs = [o for d in dets for o in d.objects]
            purple = sum(o.colour == "purple" for o in objs) / max(len(objs), 1)
            res = [score_detection(s, d) for s, d in zip(lp, dets)]
            agg = aggregate(lp[: len(res)], res)
            rows[f"{label}: purple-LoRA check"] = {
                "n": len(dets),
                "purple_objects": round(purple, 4),
                "shape": agg["shape"],
                "position": agg["position"],
            }
            grids[f"lora_{label}"] = imgs
        with contextlib.suppress(Exception):
            pipe.unload_lora_weights()
    if save_grid:
        save_grids(grids, save_grid)
    summary = {
        "model": str(model_dir),
        "steps": steps,
        "n_prompts": n_prompts,
        "seconds": round(time.time() - t0, 1),
        "rows": rows,
    }
    return {"summary": summary, "markdown": markdown_table(rows)}


def markdown_table(rows: dict[str, dict]) -> str:
    cols = []
    for r in rows.values():
        for k in r:
            if k not in cols and not k.startswith("n_"):
                cols.append(k)
    lines = ["| run | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
    for name, r in rows.items():
        lines.append(
            f"| {name} | "
            + " | ".join("" if r.get(c) is None else str(r.get(c)) for c in cols)
            + " |"
        )
    return "\n".join(lines)


def save_grids(grids: dict[str, list[np.ndarray]], directory) -> None:
    from PIL import Image

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, imgs in grids.items():
        if not imgs:
            continue
        k = min(len(imgs), 64)
        cols = 8
        rows = math.ceil(k / cols)
        canvas = np.zeros((rows * 64, cols * 64, 3), np.uint8)
        for i, im in enumerate(imgs[:k]):
            canvas[
                (i // cols) * 64 : (i // cols + 1) * 64, (i % cols) * 64 : (i % cols + 1) * 64
            ] = im
        Image.fromarray(canvas).save(directory / f"{name}.png")


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("model", nargs="?", help="model folder (diffusers layout)")
    p.add_argument("--lora", default=None)
    p.add_argument("--n", type=int, default=128, help="prompts (half one-object, half two-object)")
    p.add_argument("--cfg", default="5", help="comma-separated guidance scales, e.g. 1,3,5,8")
    p.add_argument("--negative", default=None, help="colour word used as negative prompt, e.g. red")
    p.add_argument("--steps", type=int, default=25)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--device", default=None)
    p.add_argument("--json", default=None, help="also write the JSON summary here")
    p.add_argument("--grids", default=None, help="save sample grids (PNG) into this folder")
    p.add_argument(
        "--validate", action="store_true", help="only check the classifier on rendered scenes"
    )
    args = p.parse_args(argv)
    if args.validate or not args.model:
        res = validate_classifier(200)
        print(markdown_table({"rendered ground truth": res}))
        print(json.dumps(res))
        return res
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    res = evaluate(
        args.model,
        n_prompts=args.n,
        steps=args.steps,
        cfg_list=[float(c) for c in args.cfg.split(",")],
        device=device,
        seed=args.seed,
        lora_dir=args.lora,
        negative=args.negative,
        batch_size=args.batch_size,
        save_grid=args.grids,
    )
    print(res["markdown"])
    print(json.dumps(res["summary"]))
    if args.json:
        Path(args.json).write_text(json.dumps(res["summary"], indent=2))
    return res


if __name__ == "__main__":
    main()
