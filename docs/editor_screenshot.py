"""Make the README's editor screenshot: txt2img on the tiny random-weight test model,
run, rendered with `nodegraph gui --screenshot --run`.

    .venv/bin/python docs/editor_screenshot.py docs/images/editor-txt2img.png
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def txt2img(path: Path) -> None:
    from nodegraph.graph import Graph
    from nodegraph.workflow import save

    g = Graph()

    def add(type_id, params, pos, title=""):
        return g.add_node(type_id, params, pos=pos, title=title).id

    ckpt = add("loaders.Checkpoint", {"checkpoint": "tiny-sd"}, (0, 0))
    noise = add("sampling.Noise", {"seed": 1234}, (0, 330))
    pos = add("conditioning.TextEncode", {"text": "a photo of an astronaut riding a horse "
                                                  "on the moon"}, (300, 0), "Prompt")
    neg = add("conditioning.TextEncode", {"text": "blurry"}, (300, 200), "Negative")
    latent = add("latent.Empty", {"width": 64, "height": 64, "batch": 1}, (300, 400))
    sched = add("sampling.Scheduler", {"sampler": "euler", "steps": 8}, (300, 560))
    guider = add("sampling.CFGGuider", {"scale": 7.5}, (600, 0))
    sampler = add("sampling.Sampler", {}, (900, 0))
    decode = add("latent.VAEDecode", {}, (900, 420))
    preview = add("image.Preview", {}, (1200, 0))
    for a, out, b, inp in (
            (ckpt, "clip", pos, "clip"), (ckpt, "clip", neg, "clip"),
            (ckpt, "model", latent, "model"), (ckpt, "model", sched, "model"),
            (ckpt, "model", guider, "model"), (pos, "conditioning", guider, "positive"),
            (neg, "conditioning", guider, "negative"), (guider, "guider", sampler, "guider"),
            (sched, "scheduler", sampler, "scheduler"), (noise, "noise", sampler, "noise"),
            (latent, "latent", sampler, "latent"), (ckpt, "vae", decode, "vae"),
            (sampler, "latent", decode, "latent"), (decode, "image", preview, "images")):
        g.connect(a, out, b, inp)
    g.add_group("txt2img on the tiny test model", (-30, -60, 1500, 860))
    save(g, path)


def main(target: str) -> int:
    from tests.diffusion.tiny import save_diffusers_folder

    work = Path(tempfile.mkdtemp(prefix="ng-shot-"))
    save_diffusers_folder(work / "models" / "tiny-sd")
    txt2img(work / "txt2img.json")
    env = dict(os.environ, NODEGRAPH_MODELS=str(work / "models"),
               NODEGRAPH_CONFIG_DIR=str(work / "config"), QT_QPA_PLATFORM="offscreen",
               PYTHONPATH=str(ROOT))
    return subprocess.call([sys.executable, "-m", "nodegraph.cli", "gui",
                            str(work / "txt2img.json"), "--screenshot",
                            str(Path(target).resolve()), "--run"], env=env, cwd=work)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "docs/images/editor-txt2img.png"))
