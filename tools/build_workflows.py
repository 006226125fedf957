"""(Re)generate the example workflows in workflows/ and the assets they use.

    .venv/bin/python tools/build_workflows.py            # write every workflow + assets
    .venv/bin/python tools/build_workflows.py txt2img    # only the named workflows

Every workflow is built with nodegraph.graph.Graph and written with nodegraph.workflow.save,
laid out left to right in columns, with a Note saying what it shows. File paths are relative
to workflows/ (the executor resolves them against the workflow's folder). The default model
is models/shapes64 (64x64 images of one or two coloured shapes, see tools/shapes_world.py).

Assets made here (deterministic; rewritten only if their pixels change):
  assets/shapes_scene.png     a rendered shapes-world scene (inpainting, forward process)
  assets/shapes_sketch.png    a rough drawing of two shapes, numpy seed 0 (img2img)
  assets/inpaint_mask.png     a white rectangle on black, 64x64 (the region to repaint)
  assets/astronaut_noisy.png  astronaut.png plus Gaussian noise, sigma 25/255, numpy seed 0
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / "workflows"
ASSETS = WORKFLOWS / "assets"
sys.path.insert(0, str(ROOT))

from nodegraph.graph import Graph, Node  # noqa: E402
from nodegraph.registry import Registry  # noqa: E402
from nodegraph.workflow import dumps, load, save  # noqa: E402
from nodegraph_app import default_registry  # noqa: E402

CHECKPOINT = "shapes64"
LORA = "shapes64-purple.safetensors"
SEED = 42
SIZE = 64  # the model's native image size
PROMPT = "a large red circle in the centre on a white background"
# two objects: guidance, samplers and schedules show their differences on these first
TWO_OBJECTS = (
    "a small green triangle at the top left and a large orange ring at the "
    "bottom right on a beige background"
)
CFG_SEED = 4  # CFG 1 draws a second ring on this seed (checked by the tests)
SCHEDULER_SEED = 5  # samplers and schedules differ visibly at few steps on this seed

# the inpainting start scene and the region repainted (pixels; multiples of the VAE's 4)
SCENE_CAPTION = "a large blue square at the left on a white background"
MASK_BOX = (32, 12, 32, 40)  # x, y, width, height: room for a large circle
INPAINT_PROMPT = (
    "a large blue square at the left and a large red circle at the right on a white background"
)

# canvas layout (the editor draws nodes 220 wide; see ui/node_item.py)
COL_W = 300
GAP = 36
TITLE_H, ROW_H, THUMB_H = 30, 22, 212

# the pixel tests that check each workflow's note (metadata "checked_by"; a test in
# tests/test_workflows.py holds every workflow to naming tests that exist and run it)
OUTPUTS = "tests/test_workflow_outputs.py::"
CHECKED_BY: dict[str, list[str]] = {
    "txt2img": [
        "tests/test_main_job.py::test_main_job_matches_its_reference",
        "tests/test_main_job.py::test_colour_word_changes_the_colour",
    ],
    "negative_prompt": [OUTPUTS + "test_negative_prompt_red_removes_red"],
    "cfg_sweep": [OUTPUTS + "test_cfg_sweep_goes_from_ignoring_the_prompt_to_breaking_up"],
    "noise_schedule": [OUTPUTS + "test_a_wrong_schedule_drifts_at_few_steps"],
    "sampler_comparison": [OUTPUTS + "test_samplers_differ_at_few_steps_and_agree_at_many"],
    "img2img": [OUTPUTS + "test_img2img_turns_the_sketch_into_clean_shapes"],
    "inpainting": [
        OUTPUTS + "test_inpainting_keeps_everything_outside_the_mask",
        OUTPUTS + "test_inpainting_draws_the_whole_circle_inside_the_mask",
    ],
    "hires_fix": [OUTPUTS + "test_hires_fix_sharpens_and_the_latent_pass_breaks_the_star"],
    "upscale_restore": [OUTPUTS + "test_restore_removes_noise_from_the_photo"],
    "lora": [OUTPUTS + "test_lora_turns_the_square_purple_at_strength_1"],
    "forward_process": [OUTPUTS + "test_forward_process_gets_noisier_with_t"],
    "unrolled_reverse": [OUTPUTS + "test_unrolled_x0_predictions_converge_to_the_final_image"],
}

GROUP_COLOURS = {
    "model": "#2e3f55",
    "prompt": "#3d4a2e",
    "sample": "#553a2e",
    "output": "#3a2e55",
    "note": "#444444",
}


class Canvas:
    """A Graph plus a column layout: ``add`` stacks each node under the previous one in
    its column, so graphs come out tidy without hand-placed coordinates."""

    def __init__(self, registry: Registry, name: str, description: str) -> None:
        self.registry = registry
        self.name = name
        self.graph = Graph()
        self.graph.set_metadata("description", description)
        self.graph.set_metadata("checked_by", CHECKED_BY[name])
        self._cursor: dict[float, float] = {}

    def height(self, node: Node) -> float:
        if node.collapsed:
            return TITLE_H
        spec = self.registry.get(node.type)
        rows = max(len(spec.inputs), len(spec.outputs))
        params = sum(ROW_H * 4 if p.multiline else ROW_H for p in spec.params)
        thumb = THUMB_H if spec.output_node else 0
        return TITLE_H + rows * ROW_H + params + thumb + 8

    def add(
        self,
        type_id: str,
        title: str,
        col: float,
        row_y: float | None = None,
        inputs: dict[str, tuple[Node, str]] | None = None,
        collapsed: bool = False,
        **params: Any,
    ) -> Node:
        """Add a node in column ``col`` (below the last one there unless ``row_y`` is given),
        with params in declaration order (defaults filled in, as a saved file has them)
        and links from ``inputs`` {input name: (source node, output name)}."""
        spec = self.registry.get(type_id)
        if spec is None:
            raise KeyError(f"no node type {type_id!r}")
        unknown = set(params) - {p.name for p in spec.params}
        if unknown:
            raise KeyError(f"{type_id} has no params {sorted(unknown)}")
        values = {p.name: params.get(p.name, p.default) for p in spec.params}
        y = self._cursor.get(col, 0.0) if row_y is None else row_y
        node = self.graph.add_node(
            type_id,
            values,
            title=title,
            pos=(round(col * COL_W), round(y)),
            version=spec.version,
            collapsed=collapsed,
        )
        gap = GAP / 2 if collapsed else GAP
        self._cursor[col] = max(self._cursor.get(col, 0.0), y + self.height(node) + gap)
        for name, (src, output) in (inputs or {}).items():
            self.graph.connect(src.id, output, node.id, name)
        return node

    def next_y(self, *cols: float) -> float:
        """The lowest free y over these columns (to start a row aligned across them)."""
        return max(self._cursor.get(c, 0.0) for c in cols)

    def note(self, text: str, col: float, y: float | None = None) -> Node:
        return self.add("utils.Note", "About this workflow", col, y, text=text)

    def group(self, title: str, nodes: list[Node], colour: str) -> None:
        """A frame around ``nodes`` (with room for its title bar)."""
        left = min(n.pos[0] for n in nodes) - 20
        top = min(n.pos[1] for n in nodes) - 50
        right = max(n.pos[0] for n in nodes) + 220 + 20
        bottom = max(n.pos[1] + self.height(n) for n in nodes) + 16
        self.graph.add_group(title, (left, top, right - left, bottom - top), GROUP_COLOURS[colour])

    def save(self) -> Path:
        path = WORKFLOWS / f"{self.name}.json"
        save(self.graph, path)
        graph, problems = load(path, self.registry)
        if problems:
            raise SystemExit(f"{path.name}: {[str(p) for p in problems]}")
        if dumps(graph) != path.read_text(encoding="utf-8"):
            raise SystemExit(f"{path.name}: does not round-trip byte for byte")
        return path


# -- building blocks --------------------------------------------------------------------------
def base_model(c: Canvas, col: float = 0) -> Node:
    return c.add("loaders.Checkpoint", "Load checkpoint", col, checkpoint=CHECKPOINT)


def text(
    c: Canvas, title: str, ckpt: Node, col: float, prompt: str, clip: tuple[Node, str] | None = None
) -> Node:
    return c.add(
        "conditioning.TextEncode", title, col, text=prompt, inputs={"clip": clip or (ckpt, "clip")}
    )


def strip(
    c: Canvas,
    title: str,
    tiles: list[tuple[Node, str]],
    col: float,
    tile_w: int = SIZE,
    tile_h: int = SIZE,
    rows: int = 1,
    background: str = "#ffffff",
    order: list[int] | None = None,
    cols: list[float] | None = None,
    frame: bool = True,
) -> Node:
    """Paste images side by side (row-major, ``len(tiles) / rows`` per row) on a solid
    canvas with a chain of image.Composite nodes: there is no concatenate node, and one
    strip is easier to compare than separate files. The composites are collapsed and
    framed in a group; ``order`` chains the tiles in another order and ``cols`` puts each
    composite in its own column (default: all in ``col``, under the canvas)."""
    per_row = -(-len(tiles) // rows)
    canvas = c.add(
        "image.Solid",
        f"{title}: canvas",
        col,
        width=tile_w * per_row,
        height=tile_h * rows,
        color=background,
    )
    members, out = [canvas], canvas
    for n, i in enumerate(order or range(len(tiles))):
        at = cols[n] if cols else col
        out = c.add(
            "image.Composite",
            f"{title}: tile {i + 1}",
            at,
            x=(i % per_row) * tile_w,
            y=(i // per_row) * tile_h,
            collapsed=True,
            inputs={"destination": (out, "image"), "source": tiles[i]},
        )
        members.append(out)
    if frame:
        c.group(title, members, "output")
    return out


def save_node(
    c: Canvas,
    image: tuple[Node, str],
    col: float,
    suffix: str = "",
    title: str = "Save image",
    y: float | None = None,
) -> Node:
    prefix = c.name + (f"_{suffix}" if suffix else "")
    return c.add("image.Save", title, col, y, filename_prefix=prefix, inputs={"images": image})


def view_x4(
    c: Canvas,
    image: tuple[Node, str],
    col: float,
    suffix: str = "x4",
    method: str = "nearest",
    title: str = "Upscale x4 (for viewing)",
    y: float | None = None,
) -> Node:
    """64px images are hard to see: scale by 4 and save that too."""
    scaled = c.add("image.Scale", title, col, y, factor=4.0, method=method, inputs={"image": image})
    return save_node(
        c, (scaled, "image"), col + 1, suffix, title="Save image (x4)", y=scaled.pos[1]
    )


# -- the workflows --------------------------------------------------------------------------
def txt2img(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "txt2img",
        "Text to image on the shapes64 model: a prompt, DDIM 25 steps, "
        "CFG 5, a fixed seed, a batch of 4; saved at 64x64 and upscaled x4 to view.",
    )
    ckpt = base_model(c)
    pos = text(c, "Prompt", ckpt, 1, PROMPT)
    neg = text(c, "Negative prompt", ckpt, 1, "")
    empty = c.add(
        "latent.Empty",
        "Empty latent",
        1,
        width=SIZE,
        height=SIZE,
        batch=4,
        inputs={"model": (ckpt, "model")},
    )
    noise = c.add("sampling.Noise", "Noise (seed)", 1, seed=SEED)
    sched = c.add(
        "sampling.Scheduler",
        "Scheduler",
        2,
        sampler="ddim",
        steps=25,
        inputs={"model": (ckpt, "model")},
    )
    guider = c.add(
        "sampling.CFGGuider",
        "CFG guider",
        2,
        scale=5.0,
        inputs={
            "model": (ckpt, "model"),
            "positive": (pos, "conditioning"),
            "negative": (neg, "conditioning"),
        },
    )
    sampler = c.add(
        "sampling.Sampler",
        "Sampler",
        3,
        inputs={
            "guider": (guider, "guider"),
            "scheduler": (sched, "scheduler"),
            "noise": (noise, "noise"),
            "latent": (empty, "latent"),
        },
    )
    decode = c.add(
        "latent.VAEDecode",
        "VAE decode",
        4,
        inputs={"vae": (ckpt, "vae"), "latent": (sampler, "latent")},
    )
    first = save_node(c, (decode, "image"), 5)
    # below the first Save's thumbnail, which grows once the run shows its images
    view_x4(c, (decode, "image"), 4, method="lanczos", y=first.pos[1] + 420)
    c.note(
        "The shapes64 model draws 64x64 pictures of one or two coloured shapes "
        "(circle, square, triangle, star, ring, cross) described in a fixed grammar: "
        "'a <small|large> <colour> <shape> <in the centre|at the top left|...> on a "
        "<white|black|gray|beige|navy> background'.\n\nBatch 4: item i uses seed + i. "
        "Try another colour, shape or position in the prompt.",
        0,
    )
    return c


def _shared_start(c: Canvas, batch: int = 1, seed: int = SEED) -> tuple[Node, Node, Node]:
    """Checkpoint, empty latent and noise shared by side-by-side branches."""
    ckpt = base_model(c)
    empty = c.add(
        "latent.Empty",
        "Empty latent",
        0,
        width=SIZE,
        height=SIZE,
        batch=batch,
        inputs={"model": (ckpt, "model")},
    )
    noise = c.add("sampling.Noise", "Noise (seed)", 0, seed=seed)
    return ckpt, empty, noise


def _sample(
    c: Canvas,
    col: float,
    label: str,
    guider: Node,
    sched: Node,
    noise: Node,
    latent: tuple[Node, str],
    vae: tuple[Node, str],
    y: float | None = None,
) -> Node:
    sampler = c.add(
        "sampling.Sampler",
        f"Sampler ({label})",
        col,
        y,
        inputs={
            "guider": (guider, "guider"),
            "scheduler": (sched, "scheduler"),
            "noise": (noise, "noise"),
            "latent": latent,
        },
    )
    return c.add(
        "latent.VAEDecode",
        f"VAE decode ({label})",
        col + 1,
        sampler.pos[1],
        inputs={"vae": vae, "latent": (sampler, "latent")},
    )


NEGATIVE_BATCH = 8


def negative_prompt(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "negative_prompt",
        "One prompt that names no colour, eight seeds, sampled "
        "without and with the negative prompt 'red': CFG steers away from red.",
    )
    ckpt, empty, noise = _shared_start(c, batch=NEGATIVE_BATCH)
    prompt = "a large circle in the centre on a white background"
    pos = text(c, "Prompt", ckpt, 1, prompt)
    empty_neg = text(c, "Negative prompt (empty)", ckpt, 1, "")
    colour_neg = text(c, "Negative prompt (red)", ckpt, 1, "red")
    sched = c.add(
        "sampling.Scheduler",
        "Scheduler",
        2,
        sampler="ddim",
        steps=20,
        inputs={"model": (ckpt, "model")},
    )
    rows = []
    for label, neg in (("no negative", empty_neg), ("negative: red", colour_neg)):
        guider = c.add(
            "sampling.CFGGuider",
            f"CFG guider ({label})",
            2,
            scale=5.0,
            inputs={
                "model": (ckpt, "model"),
                "positive": (pos, "conditioning"),
                "negative": (neg, "conditioning"),
            },
        )
        decoded = _sample(c, 3, label, guider, sched, noise, (empty, "latent"), (ckpt, "vae"))
        rows.append(
            c.add(
                "image.Grid",
                f"Grid ({label})",
                5,
                decoded.pos[1],
                gap=0,
                inputs={"images": (decoded, "image")},
            )
        )
    save_node(c, (rows[0], "image"), 6, "plain", "Save (no negative)", y=rows[0].pos[1])
    save_node(c, (rows[1], "image"), 6, "negative_red", "Save (negative: red)", y=rows[1].pos[1])
    both = strip(
        c, "Without / with", [(r, "image") for r in rows], 6, tile_w=SIZE * NEGATIVE_BATCH, rows=2
    )
    view_x4(c, (both, "image"), 7, "x4")
    c.note(
        f"Prompt: '{prompt}' (no colour named). Top row: negative prompt empty; with no "
        "colour asked for, the model blends the colours it knows (mostly red and green "
        "mottled circles). Bottom row: negative prompt 'red': guidance steers away from "
        f"red and the circles come out blue. Same checkpoint, noise (batch of "
        f"{NEGATIVE_BATCH}: seed + i), scheduler and CFG 5; only the negative "
        "conditioning differs.",
        0,
    )
    return c


CFG_SCALES = (1, 3, 8, 25)


def cfg_sweep(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "cfg_sweep",
        "One two-object prompt and seed with no prompt at all, then at CFG scale 1, 3, 8 "
        "and 25 (five guiders and samplers): from ignoring the prompt, through following "
        "it, to breaking up.",
    )
    ckpt, empty, noise = _shared_start(c, seed=CFG_SEED)
    pos = text(c, "Prompt", ckpt, 1, TWO_OBJECTS)
    neg = text(c, "Negative prompt", ckpt, 1, "")
    sched = c.add(
        "sampling.Scheduler",
        "Scheduler",
        1,
        sampler="ddim",
        steps=20,
        inputs={"model": (ckpt, "model")},
    )
    unconditional = c.add(  # the empty prompt as the positive: the unconditional prediction
        "sampling.CFGGuider",
        "No prompt",
        2,
        scale=1.0,
        inputs={
            "model": (ckpt, "model"),
            "positive": (neg, "conditioning"),
        },
    )
    decoded = [
        _sample(c, 3, "no prompt", unconditional, sched, noise, (empty, "latent"), (ckpt, "vae"))
    ]
    for scale in CFG_SCALES:
        guider = c.add(
            "sampling.CFGGuider",
            f"CFG guider {scale}",
            2,
            scale=float(scale),
            inputs={
                "model": (ckpt, "model"),
                "positive": (pos, "conditioning"),
                "negative": (neg, "conditioning"),
            },
        )
        decoded.append(
            _sample(c, 3, f"CFG {scale}", guider, sched, noise, (empty, "latent"), (ckpt, "vae"))
        )
    both = strip(c, "CFG strip", [(d, "image") for d in decoded], 5)
    save_node(c, (both, "image"), 6)
    view_x4(c, (both, "image"), 6, "x4")
    c.note(
        f"Prompt: '{TWO_OBJECTS}', seed {CFG_SEED}, DDIM 20 steps. Left to right: no "
        "prompt, then CFG 1, 3, 8, 25; the guider computes uncond + scale * (cond - uncond) "
        "and, as diffusers' pipelines do, skips guidance at a scale of 1 or below.\n"
        "No prompt (the empty prompt as the positive) is the unconditional prediction "
        "alone: some scene of the shapes world that ignores the prompt (what CFG 0 means "
        "in ComfyUI). CFG 1 is the conditional prediction alone: the prompt's "
        "layout, but on this seed with a second orange ring (CFG 1 gets two-object "
        "scenes wrong most often, see the model card). CFG 3 and 8 draw exactly the "
        "prompt. CFG 25 overshoots: colours leave the palette and specks cover the "
        "background.\nFor a one-branch sweep from the command line: nodegraph run "
        'workflows/cfg_sweep.json --sweep "CFG guider 8.scale=1,3,5,8".',
        0,
    )
    return c


def _scheduler_grid(
    c: Canvas,
    variants: list[tuple[str, dict[str, Any]]],
    steps: tuple[int, ...],
    title: str,
    note: str,
) -> Canvas:
    """One prompt, seed and guider sampled once per scheduler variant and step count: a
    grid with a row per step count and a column per variant."""
    ckpt, empty, noise = _shared_start(c, seed=SCHEDULER_SEED)
    pos = text(c, "Prompt", ckpt, 1, TWO_OBJECTS)
    neg = text(c, "Negative prompt", ckpt, 1, "")
    guider = c.add(
        "sampling.CFGGuider",
        "CFG guider",
        1,
        scale=5.0,
        inputs={
            "model": (ckpt, "model"),
            "positive": (pos, "conditioning"),
            "negative": (neg, "conditioning"),
        },
    )
    decoded = []
    for n in steps:
        for label, settings in variants:
            name = f"{label}, {n} steps"
            sched = c.add(
                "sampling.Scheduler",
                f"Scheduler ({name})",
                2,
                **settings,
                steps=n,
                inputs={"model": (ckpt, "model")},
            )
            decoded.append(
                _sample(
                    c,
                    3,
                    name,
                    guider,
                    sched,
                    noise,
                    (empty, "latent"),
                    (ckpt, "vae"),
                    y=sched.pos[1],
                )
            )
    grid = strip(c, title, [(d, "image") for d in decoded], 5, rows=len(steps))
    save_node(c, (grid, "image"), 6)
    view_x4(c, (grid, "image"), 6, "x4")
    c.note(note, 0)
    return c


SCHEDULE_STEPS = (5, 20)


def noise_schedule(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "noise_schedule",
        "One prompt and seed sampled on the model's own beta "
        "schedule (scaled_linear), on linear and on cosine, at 5 and at 20 steps.",
    )
    variants = [
        (beta, {"sampler": "ddim", "beta_schedule": beta})
        for beta in ("model default", "linear", "cosine")
    ]
    return _scheduler_grid(
        c,
        variants,
        SCHEDULE_STEPS,
        "Schedule grid",
        f"Prompt: '{TWO_OBJECTS}', seed {SCHEDULER_SEED}, DDIM, CFG 5. Columns: the model's "
        "training schedule (scaled_linear, beta 0.00085 to 0.012), linear (same end points) "
        "and cosine (squaredcos_cap_v2); top row 5 steps, bottom row 20.\nThe model "
        "predicts noise for the schedule it was trained on; another schedule tells the "
        "sampler a different noise level at each timestep. Linear claims far more noise in "
        "the middle of the schedule than there is, so at 5 steps every step is mis-sized: "
        "the beige background washes out towards white and the ring gets a yellow "
        "fringe. Cosine drifts much less on these five steps (the picture barely moves). "
        "With 20 steps each step is small and all three "
        "nearly agree: a wrong schedule costs most when steps are few.",
    )


SAMPLER_STEPS = (4, 20)


def sampler_comparison(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "sampler_comparison",
        "DDPM, DDIM, Euler ancestral and DPM++ 2M on one "
        "prompt and seed, at 4 steps (top row) and 20 steps (bottom row).",
    )
    variants = [
        (name, {"sampler": name}) for name in ("ddpm", "ddim", "euler_ancestral", "dpmpp_2m")
    ]
    return _scheduler_grid(
        c,
        variants,
        SAMPLER_STEPS,
        "Sampler grid",
        f"Prompt: '{TWO_OBJECTS}', seed {SCHEDULER_SEED}, CFG 5. Columns: ddpm, ddim, "
        "euler_ancestral, dpmpp_2m; top row 4 steps, bottom row 20, all from the same "
        "starting noise.\nAt 4 steps they differ: ddpm and euler_ancestral (the same "
        "ancestral update written two ways: here the same picture) add fresh noise at "
        "every step and, with so few steps, do not remove it again: a pale background and "
        "a ring with a yellow fringe. ddim is clean. dpmpp_2m, a multistep solver, "
        "extrapolates from the previous step's prediction and with steps this large the "
        "colours drift: the triangle comes out blue, the ring red. At 20 steps the "
        "four agree: every one of them is a way of solving the same reverse process, and "
        "with small steps they land on the same picture.",
    )


IMG2IMG_DENOISE = (0.1, 0.2, 0.4, 0.7)


def img2img(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "img2img",
        "A rough sketch of two shapes, VAE-encoded and re-sampled at "
        "denoise 0.1, 0.2, 0.4 and 0.7: as the strength rises the sketch turns into "
        "the model's clean flat shapes.",
    )
    ckpt = base_model(c)
    sketch_img = c.add("image.Load", "Sketch", 0, path="assets/shapes_sketch.png")
    encode = c.add(
        "latent.VAEEncode",
        "VAE encode",
        1,
        sketch_img.pos[1],
        inputs={"vae": (ckpt, "vae"), "image": (sketch_img, "image")},
    )
    pos = text(c, "Prompt", ckpt, 1, SKETCH_PROMPT)
    neg = text(c, "Negative prompt", ckpt, 1, "")
    noise = c.add("sampling.Noise", "Noise (seed)", 1, seed=SEED)
    guider = c.add(
        "sampling.CFGGuider",
        "CFG guider",
        2,
        scale=5.0,
        inputs={
            "model": (ckpt, "model"),
            "positive": (pos, "conditioning"),
            "negative": (neg, "conditioning"),
        },
    )
    decoded = []
    for denoise in IMG2IMG_DENOISE:
        sched = c.add(
            "sampling.Scheduler",
            f"Scheduler (denoise {denoise})",
            2,
            sampler="ddim",
            steps=20,
            denoise=denoise,
            inputs={"model": (ckpt, "model")},
        )
        decoded.append(
            _sample(
                c,
                3,
                f"denoise {denoise}",
                guider,
                sched,
                noise,
                (encode, "latent"),
                (ckpt, "vae"),
                y=sched.pos[1],
            )
        )
    save_node(c, (decoded[-1], "image"), 5, title=f"Save image (denoise {IMG2IMG_DENOISE[-1]})")
    round_trip = c.add(
        "latent.VAEDecode",
        "VAE round trip (denoise 0)",
        3,
        inputs={"vae": (ckpt, "vae"), "latent": (encode, "latent")},
    )
    both = strip(
        c,
        "Strength strip",
        [(sketch_img, "image"), (round_trip, "image")] + [(d, "image") for d in decoded],
        5,
    )
    view_x4(c, (both, "image"), 6, "strip_x4")
    c.note(
        "img2img: the encoded input is noised to where a schedule with denoise d starts "
        "(the Sampler's add_noise does it) and only the last d of the steps run. Input: "
        "assets/shapes_sketch.png, a rough drawing (wobbly outlines, pencil strokes, "
        "paper grain; made by tools/build_workflows.py). Prompt: "
        f"'{SKETCH_PROMPT}'.\nStrip, left to right: the sketch; its VAE round trip "
        "(encode + decode, no sampling): the VAE, trained on flat shapes only, keeps "
        "the shapes, colours and layout but not the paper grain, and turns the pencil "
        "lines into faint pink ones; then denoise 0.1, 0.2, 0.4, 0.7. At 0.1 the model "
        "only touches the sketch up (a lumpy orange blob, a triangle with bent sides, "
        "pencil traces); at 0.2 the shapes firm up; from 0.4 they are the model's clean "
        "flat circle and triangle in the palette's orange and blue, still where the "
        "sketch put them.",
        0,
    )
    return c


def inpainting(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "inpainting",
        "Inpainting: a shapes scene, a rectangle mask from a PNG and "
        "a prompt that adds a red circle inside the masked region; the rest is kept.",
    )
    ckpt = base_model(c)
    start = c.add("image.Load", "Start image", 0, path="assets/shapes_scene.png")
    mask_png = c.add("image.Load", "Mask image", 0, path="assets/inpaint_mask.png")
    mask = c.add(
        "mask.FromImage",
        "Mask from image",
        1,
        mask_png.pos[1],
        channel="luminance",
        inputs={"image": (mask_png, "image")},
    )
    encode = c.add(
        "latent.VAEEncode",
        "VAE encode",
        1,
        start.pos[1],
        inputs={"vae": (ckpt, "vae"), "image": (start, "image")},
    )
    masked = c.add(
        "latent.SetNoiseMask",
        "Set latent noise mask",
        2,
        inputs={"latent": (encode, "latent"), "mask": (mask, "mask")},
    )
    pos = text(c, "Prompt", ckpt, 2, INPAINT_PROMPT)
    neg = text(c, "Negative prompt", ckpt, 2, "")
    noise = c.add("sampling.Noise", "Noise (seed)", 2, seed=SEED)
    sched = c.add(
        "sampling.Scheduler",
        "Scheduler",
        3,
        sampler="ddim",
        steps=20,
        inputs={"model": (ckpt, "model")},
    )
    guider = c.add(
        "sampling.CFGGuider",
        "CFG guider",
        3,
        scale=5.0,
        inputs={
            "model": (ckpt, "model"),
            "positive": (pos, "conditioning"),
            "negative": (neg, "conditioning"),
        },
    )
    sampler = c.add(
        "sampling.Sampler",
        "Sampler",
        4,
        inputs={
            "guider": (guider, "guider"),
            "scheduler": (sched, "scheduler"),
            "noise": (noise, "noise"),
            "latent": (masked, "latent"),
        },
    )
    decode = c.add(
        "latent.VAEDecode",
        "VAE decode",
        5,
        inputs={"vae": (ckpt, "vae"), "latent": (sampler, "latent")},
    )
    save_node(c, (decode, "image"), 6)
    feather = c.add("mask.Feather", "Feather mask", 5, radius=2.0, inputs={"mask": (mask, "mask")})
    pasted = c.add(
        "image.Composite",
        "Paste back into the start image",
        6,
        x=0,
        y=0,
        inputs={
            "destination": (start, "image"),
            "source": (decode, "image"),
            "mask": (feather, "mask"),
        },
    )
    save_node(c, (pasted, "image"), 7, "pasted", "Save (pasted back)", y=pasted.pos[1])
    round_trip = c.add(
        "latent.VAEDecode",
        "VAE round trip (no sampling)",
        5,
        inputs={"vae": (ckpt, "vae"), "latent": (encode, "latent")},
    )
    mask_img = c.add("mask.ToImage", "Mask as image", 5, inputs={"mask": (mask, "mask")})
    both = strip(
        c,
        "Before / round trip / mask / after",
        [
            (start, "image"),
            (round_trip, "image"),
            (mask_img, "image"),
            (decode, "image"),
            (pasted, "image"),
        ],
        6,
    )
    view_x4(c, (both, "image"), 7, "strip_x4")
    c.note(
        "Set latent noise mask: the Sampler regenerates only where the mask is white "
        "(the right-hand rectangle) and resets everything else to the noised original at "
        f"every step. Start: '{SCENE_CAPTION}' (rendered by tools/shapes_world.py). "
        f"Prompt: '{INPAINT_PROMPT}'.\n\nThe latent outside the mask is kept exactly, "
        "but the VAE decoder sees the whole latent (it has attention), so decoded pixels "
        "far from the mask still shift a little; 'Paste back' composites the result into "
        "the start image through a feathered mask so the rest stays pixel for pixel.\n"
        "Strip: start, its VAE round trip (encode + decode, no sampling), mask, result, "
        "pasted back.",
        0,
    )
    return c


HIRES_DENOISE = 0.05  # 1 of 20 steps: the noise level the 64px model still reads at 128px


def hires_fix(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "hires_fix",
        "Hires fix on a model trained at 64x64: pass 1 at 64px; "
        "lanczos x2 (plain upscale); lanczos x2 re-encoded and a light second pass "
        "(crisper edges); the classic latent x2 + denoise 0.5 (the model breaks the "
        "picture at a size it never saw).",
    )
    ckpt = base_model(c)
    pos = text(c, "Prompt", ckpt, 1, "a large yellow star in the centre on a navy background")
    neg = text(c, "Negative prompt", ckpt, 1, "")
    empty = c.add(
        "latent.Empty",
        "Empty latent",
        1,
        width=SIZE,
        height=SIZE,
        batch=1,
        inputs={"model": (ckpt, "model")},
    )
    noise = c.add("sampling.Noise", "Noise (seed)", 1, seed=SEED)
    guider = c.add(
        "sampling.CFGGuider",
        "CFG guider",
        2,
        scale=5.0,
        inputs={
            "model": (ckpt, "model"),
            "positive": (pos, "conditioning"),
            "negative": (neg, "conditioning"),
        },
    )
    sched1 = c.add(
        "sampling.Scheduler",
        "Scheduler (pass 1)",
        2,
        sampler="ddim",
        steps=20,
        inputs={"model": (ckpt, "model")},
    )
    pass1 = c.add(
        "sampling.Sampler",
        "Sampler (pass 1, 64px)",
        3,
        inputs={
            "guider": (guider, "guider"),
            "scheduler": (sched1, "scheduler"),
            "noise": (noise, "noise"),
            "latent": (empty, "latent"),
        },
    )
    decode1 = c.add(
        "latent.VAEDecode",
        "VAE decode (pass 1, 64px)",
        4,
        inputs={"vae": (ckpt, "vae"), "latent": (pass1, "latent")},
    )
    plain = c.add(
        "image.Scale",
        "Pass 1 upscaled x2 (lanczos)",
        5,
        decode1.pos[1],
        factor=2.0,
        method="lanczos",
        inputs={"image": (decode1, "image")},
    )
    # the fix that works here: pixels up, back into a 32x32 latent, one light step
    encode = c.add(
        "latent.VAEEncode",
        "VAE encode (128px)",
        6,
        plain.pos[1],
        inputs={"vae": (ckpt, "vae"), "image": (plain, "image")},
    )
    sched2 = c.add(
        "sampling.Scheduler",
        f"Scheduler (pass 2, denoise {HIRES_DENOISE})",
        6,
        sampler="ddim",
        steps=20,
        denoise=HIRES_DENOISE,
        inputs={"model": (ckpt, "model")},
    )
    pass2 = c.add(
        "sampling.Sampler",
        "Sampler (pass 2, 128px)",
        7,
        encode.pos[1],
        inputs={
            "guider": (guider, "guider"),
            "scheduler": (sched2, "scheduler"),
            "noise": (noise, "noise"),
            "latent": (encode, "latent"),
        },
    )
    hires = c.add(
        "latent.VAEDecode",
        "VAE decode (128px)",
        8,
        pass2.pos[1],
        inputs={"vae": (ckpt, "vae"), "latent": (pass2, "latent")},
    )
    save_node(c, (hires, "image"), 9, title="Save image (128px)", y=hires.pos[1])
    # the classic recipe, as a lesson
    row = c.next_y(4, 5, 6, 7, 8)
    up = c.add(
        "latent.Upscale",
        "Latent upscale x2",
        4,
        row,
        method="bilinear",
        mode="factor",
        factor=2.0,
        inputs={"latent": (pass1, "latent")},
    )
    sched3 = c.add(
        "sampling.Scheduler",
        "Scheduler (latent pass, denoise 0.5)",
        4,
        sampler="ddim",
        steps=20,
        denoise=0.5,
        inputs={"model": (ckpt, "model")},
    )
    pass3 = c.add(
        "sampling.Sampler",
        "Sampler (latent pass, 128px)",
        5,
        row,
        inputs={
            "guider": (guider, "guider"),
            "scheduler": (sched3, "scheduler"),
            "noise": (noise, "noise"),
            "latent": (up, "latent"),
        },
    )
    classic = c.add(
        "latent.VAEDecode",
        "VAE decode (latent upscale, denoise 0.5)",
        6,
        row,
        inputs={"vae": (ckpt, "vae"), "latent": (pass3, "latent")},
    )
    trio = strip(
        c,
        "Lanczos / hires / latent pass",
        [(plain, "image"), (hires, "image"), (classic, "image")],
        7,
        tile_w=2 * SIZE,
        tile_h=2 * SIZE,
        background="#000000",
    )
    save_node(c, (trio, "image"), 8, "strip", "Save (strip)", y=trio.pos[1])
    c.note(
        "Hires fix: compose at the model's native size, then enlarge and let the model "
        "redraw detail at the new size. shapes64 was trained on 64x64 images only.\n"
        "Strip, left to right (all 128x128):\n1. pass 1 scaled x2 with lanczos: soft, "
        "blurred edges.\n2. the hires fix that works on this model: the lanczos image "
        f"VAE-encoded to a 32x32 latent, a second pass at denoise {HIRES_DENOISE} (one "
        "of 20 DDIM steps, at very little noise) and decoded: crisp edges, same star. "
        "The VAE decoder is convolutional and draws a hard edge at any size; the one "
        "light step changes little.\n3. the classic recipe (latent upscale x2, "
        "denoise 0.5): the UNet, which never saw a 32x32 latent, does not read a star "
        "twice the largest size it knows and redraws a lumpy blob and a second, small "
        "star. With this model any denoise above about 0.1 breaks the picture the same "
        "way; a hires fix needs a model that has seen the larger size, or a denoise low "
        "enough that only the VAE's sharpening is left.",
        0,
    )
    return c


def upscale_restore(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "upscale_restore",
        "Photo restoration without a model: non-local-means "
        "denoising of a noisy photo, and a 4x-downscaled photo brought back with "
        "lanczos vs bicubic.",
    )
    noisy = c.add("image.Load", "Noisy photo (sigma 25)", 0, path="assets/astronaut_noisy.png")
    restored = c.add(
        "image.Restore",
        "Denoise (non-local means)",
        1,
        noisy.pos[1],
        strength=15.0,
        color_strength=15.0,
        inputs={"image": (noisy, "image")},
    )
    up = c.add(
        "image.Scale",
        "Upscale x2 (lanczos)",
        2,
        noisy.pos[1],
        factor=2.0,
        method="lanczos",
        inputs={"image": (restored, "image")},
    )
    save_node(c, (up, "image"), 3, "restored", "Save (restored, x2)", y=noisy.pos[1])
    pair = strip(
        c, "Noisy / restored", [(noisy, "image"), (restored, "image")], 2, tile_w=256, tile_h=256
    )
    save_node(c, (pair, "image"), 3, "denoise_pair", "Save (noisy | restored)")
    row2 = c.next_y(0, 1, 2, 3, 4)
    photo = c.add("image.Load", "Photo", 0, row2, path="assets/coffee.png")
    small = c.add(
        "image.Scale",
        "Downscale /4 (area)",
        1,
        row2,
        factor=0.25,
        method="area",
        inputs={"image": (photo, "image")},
    )
    lanczos = c.add(
        "image.Scale",
        "Upscale x4 (lanczos)",
        2,
        row2,
        factor=4.0,
        method="lanczos",
        inputs={"image": (small, "image")},
    )
    bicubic = c.add(
        "image.Scale",
        "Upscale x4 (bicubic)",
        2,
        factor=4.0,
        method="bicubic",
        inputs={"image": (small, "image")},
    )
    nearest = c.add(
        "image.Scale",
        "Upscale x4 (nearest)",
        2,
        factor=4.0,
        method="nearest",
        inputs={"image": (small, "image")},
    )
    trio = strip(
        c,
        "Original / lanczos / bicubic / nearest",
        [(photo, "image"), (lanczos, "image"), (bicubic, "image"), (nearest, "image")],
        3,
        tile_w=256,
        tile_h=256,
    )
    save_node(c, (trio, "image"), 4, "resample", "Save (resampling strip)")
    c.note(
        "Top: assets/astronaut_noisy.png is astronaut.png plus Gaussian noise (sigma "
        "25/255, numpy seed 0, made by tools/build_workflows.py); OpenCV's non-local "
        "means removes it while keeping edges. No upscale model is shipped (Load upscale "
        "model + Upscale image (model) take ESRGAN-family files from "
        "models/upscale_models), so x2 is lanczos.\nBottom: coffee.png reduced to 64x64 "
        "and scaled back x4: original, lanczos, bicubic, nearest.",
        0,
    )
    return c


def lora(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "lora",
        "The base model next to the same model with the purple LoRA at "
        "strength 0.5 and 1, on the same prompt and seed: the LoRA pulls objects to purple.",
    )
    ckpt, empty, noise = _shared_start(c)
    prompt = "a large yellow square in the centre on a navy background"
    sched = c.add(
        "sampling.Scheduler",
        "Scheduler",
        0,
        sampler="ddim",
        steps=20,
        inputs={"model": (ckpt, "model")},
    )
    branches: list[tuple[str, str, Node]] = [("base", "base", ckpt)]
    for strength in (0.5, 1.0):
        node = c.add(
            "loaders.LoRA",
            f"Load LoRA (purple, {strength:g})",
            1,
            lora=LORA,
            unet_strength=strength,
            clip_strength=strength,
            inputs={"model": (ckpt, "model"), "clip": (ckpt, "clip")},
        )
        branches.append((f"LoRA {strength:g}", f"purple_{strength:g}", node))
    decoded = []
    for label, suffix, src in branches:
        pos = text(c, f"Prompt ({label})", ckpt, 2, prompt, clip=(src, "clip"))
        neg = text(c, f"Negative prompt ({label})", ckpt, 2, "", clip=(src, "clip"))
        guider = c.add(
            "sampling.CFGGuider",
            f"CFG guider ({label})",
            3,
            pos.pos[1],
            scale=5.0,
            inputs={
                "model": (src, "model"),
                "positive": (pos, "conditioning"),
                "negative": (neg, "conditioning"),
            },
        )
        decode = _sample(
            c, 4, label, guider, sched, noise, (empty, "latent"), (ckpt, "vae"), y=pos.pos[1]
        )
        save_node(c, (decode, "image"), 6, suffix, f"Save ({label})", y=decode.pos[1])
        decoded.append(decode)
    both = strip(c, "Base / LoRA 0.5 / LoRA 1", [(d, "image") for d in decoded], 7)
    view_x4(c, (both, "image"), 7, "x4")
    c.note(
        f"Prompt: '{prompt}'. models/loras/{LORA} (rank 4, 1514 steps, see the model "
        "card) was trained on scenes where every object is purple. Left to right: base "
        "model, LoRA at strength 0.5, LoRA at 1. The base draws the yellow square the "
        "prompt asks for; at 0.5 the square stays yellow, barely darker; at 1 it is "
        "purple (the model card measures 100% purple objects at strength 1 over 258 "
        "prompts). The change is not linear in the strength: half the LoRA does not "
        "give a half-purple square. Load LoRA patches the UNet and the text encoder only "
        "while a node downstream runs them, so the base branch is exactly the image you "
        "get without the LoRA.",
        0,
    )
    return c


TIMESTEPS = (0, 250, 500, 750, 999)


def forward_process(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "forward_process",
        "The forward (noising) process: one encoded scene noised "
        "to timesteps 0, 250, 500, 750 and 999 and decoded.",
    )
    ckpt = base_model(c)
    scene = c.add("image.Load", "Scene", 0, path="assets/shapes_scene.png")
    encode = c.add(
        "latent.VAEEncode",
        "VAE encode",
        1,
        inputs={"vae": (ckpt, "vae"), "image": (scene, "image")},
    )
    sched = c.add(
        "sampling.Scheduler",
        "Scheduler (training schedule)",
        1,
        sampler="ddpm",
        steps=20,
        inputs={"model": (ckpt, "model")},
    )
    noise = c.add("sampling.Noise", "Noise (seed)", 1, seed=SEED)
    decoded = []
    for t in TIMESTEPS:
        noised = c.add(
            "sampling.AddNoise",
            f"Add noise t={t}",
            2,
            mode="timestep",
            timestep=t,
            inputs={
                "scheduler": (sched, "scheduler"),
                "noise": (noise, "noise"),
                "latent": (encode, "latent"),
            },
        )
        decoded.append(
            c.add(
                "latent.VAEDecode",
                f"VAE decode t={t}",
                3,
                noised.pos[1],
                inputs={"vae": (ckpt, "vae"), "latent": (noised, "latent")},
            )
        )
    both = strip(c, "Timestep strip", [(d, "image") for d in decoded], 4)
    save_node(c, (both, "image"), 5)
    view_x4(c, (both, "image"), 5, "x4")
    c.note(
        "q(x_t | x_0) = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, on the model's "
        "training schedule. Left to right: t = 0, 250, 500, 750, 999. The latent is "
        "noised and then decoded, so what you see is the VAE's reading of a noisy latent; "
        "by t = 999 almost nothing of the scene is left (abar_999 is about 0.005).",
        0,
    )
    return c


UNROLL_STEPS = 6


def unrolled_reverse(reg: Registry) -> Canvas:
    c = Canvas(
        reg,
        "unrolled_reverse",
        f"Sampling unrolled: {UNROLL_STEPS} DDIM steps as "
        "separate UNet step nodes, each decoded twice (the noisy latent x_t and the "
        "model's prediction of the clean image x0).",
    )
    ckpt = base_model(c)
    pos = text(c, "Prompt", ckpt, 0, PROMPT)
    neg = text(c, "Negative prompt", ckpt, 0, "")
    empty = c.add(
        "latent.Empty",
        "Empty latent",
        1,
        width=SIZE,
        height=SIZE,
        batch=1,
        inputs={"model": (ckpt, "model")},
    )
    noise = c.add("sampling.Noise", "Noise (seed)", 1, seed=SEED)
    sched = c.add(
        "sampling.Scheduler",
        "Scheduler",
        1,
        sampler="ddim",
        steps=UNROLL_STEPS,
        inputs={"model": (ckpt, "model")},
    )
    guider = c.add(
        "sampling.CFGGuider",
        "CFG guider",
        1,
        scale=5.0,
        inputs={
            "model": (ckpt, "model"),
            "positive": (pos, "conditioning"),
            "negative": (neg, "conditioning"),
        },
    )
    start = c.add(
        "sampling.AddNoise",
        "x_T (pure noise)",
        2,
        mode="strength",
        strength=1.0,
        inputs={
            "scheduler": (sched, "scheduler"),
            "noise": (noise, "noise"),
            "latent": (empty, "latent"),
        },
    )
    latent: tuple[Node, str] = (start, "latent")
    xt, x0 = [], []
    for k in range(UNROLL_STEPS):
        col = 3 + k
        step = c.add(
            "sampling.UNetStep",
            f"UNet step {k}",
            col,
            0,
            step=k,
            inputs={
                "guider": (guider, "guider"),
                "scheduler": (sched, "scheduler"),
                "noise": (noise, "noise"),
                "latent": latent,
            },
        )
        latent = (step, "latent")
        xt.append(
            c.add(
                "latent.VAEDecode",
                f"x_t after step {k}",
                col,
                inputs={"vae": (ckpt, "vae"), "latent": (step, "latent")},
            )
        )
        x0.append(
            c.add(
                "latent.VAEDecode",
                f"x0 predicted at step {k}",
                col,
                inputs={"vae": (ckpt, "vae"), "latent": (step, "x0")},
            )
        )
    final_col = 3 + UNROLL_STEPS
    interleaved = [i for k in range(UNROLL_STEPS) for i in (k, UNROLL_STEPS + k)]
    grid = strip(
        c,
        "Steps grid",
        [(n, "image") for n in xt + x0],
        2,
        rows=2,
        order=interleaved,
        cols=[3 + i // 2 for i in range(2 * UNROLL_STEPS)],
        frame=False,
    )
    save_node(c, (grid, "image"), final_col + 1, "grid")
    view_x4(c, (grid, "image"), final_col + 1, "grid_x4")
    save_node(c, (xt[-1], "image"), final_col + 2, title="Save final image", y=0)
    c.note(
        f"A {UNROLL_STEPS}-step DDIM schedule run one UNet call at a time. Add noise "
        "(strength 1) makes x_T from the seed; UNet step k takes x_t at step k and gives "
        "x_(t-1) and the model's current guess of the clean latent x0. Grid: top row "
        "x_t after each step, bottom row the x0 predictions; the guess settles early and "
        "the last x_t is the final image (what a 6-step DDIM Sampler draws, up to the "
        "start: here x_T is Add noise's sqrt(1 - abar_T) eps rather than eps).",
        0,
    )
    return c


BUILDERS: dict[str, Callable[[Registry], Canvas]] = {
    f.__name__: f
    for f in (
        txt2img,
        negative_prompt,
        cfg_sweep,
        noise_schedule,
        sampler_comparison,
        img2img,
        inpainting,
        hires_fix,
        upscale_restore,
        lora,
        forward_process,
        unrolled_reverse,
    )
}


# -- assets ---------------------------------------------------------------------------------
def _write_png(path: Path, array: Any) -> None:
    """Write an HxWx3 uint8 array unless the file already holds exactly these pixels (so
    rebuilding leaves file fingerprints, and caches keyed on them, alone)."""
    import numpy as np
    from PIL import Image

    if path.exists():
        with Image.open(path) as old:
            if np.array_equal(np.asarray(old.convert("RGB")), array):
                return
    Image.fromarray(array, "RGB").save(path, format="PNG", optimize=True)


SKETCH_PROMPT = (
    "a large orange circle at the left and a small blue triangle at the top "
    "right on a white background"
)


def sketch() -> Any:
    """A rough hand-drawn take on SKETCH_PROMPT (64x64 uint8): wobbly outlines, uneven
    fills in colours near the model's, pencil strokes and paper grain; drawn at 4x and
    reduced with area averaging, numpy seed 0."""
    import numpy as np
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(0)
    big = 4 * SIZE
    paper = Image.new("RGB", (big, big), (246, 243, 236))
    draw = ImageDraw.Draw(paper)

    def wobbly(cx: float, cy: float, radius: float, corners: int, phase: float) -> list:
        """A closed outline around (cx, cy): a polygon with ``corners`` corners (0: a
        circle) whose radius wanders by about 10%."""
        points = []
        wander = [(rng.normal(0, 0.05), rng.uniform(0, 2 * np.pi)) for _ in range(3)]
        for a in np.linspace(0, 2 * np.pi, 90, endpoint=False):
            r = radius
            if corners:  # distance to a regular polygon's edge in direction a
                sector = 2 * np.pi / corners
                r *= np.cos(np.pi / corners) / np.cos((a - phase) % sector - sector / 2)
            r *= 1 + sum(w * np.sin(k * a + p) for k, (w, p) in enumerate(wander, 2))
            points.append((cx + r * np.cos(a), cy + r * np.sin(a)))
        return points

    circle = wobbly(4 * 14, 4 * 33, 4 * 12, 0, 0.0)
    draw.polygon(circle, fill=(232, 150, 60))
    triangle = wobbly(4 * 50, 4 * 14, 4 * 8, 3, -np.pi / 2)
    draw.polygon(triangle, fill=(70, 100, 200))
    for cx, cy, r, corners, phase in ((14, 33, 12, 0, 0.0), (50, 14, 8, 3, -np.pi / 2)):
        outline = wobbly(4 * cx + 5, 4 * cy - 3, 4 * r, corners, phase)  # pencil, off the fill
        draw.line(outline + outline[:1], fill=(60, 60, 60), width=3)
    for _ in range(4):  # stray strokes
        x, y = rng.uniform(20, big - 20, 2)
        dx, dy = rng.normal(0, 30, 2)
        draw.line([(x, y), (x + dx, y + dy)], fill=(120, 120, 120), width=2)
    pixels = np.asarray(paper.resize((SIZE, SIZE), Image.Resampling.BOX), np.float64)
    pixels = pixels + rng.normal(0, 3, pixels.shape)  # paper grain
    return pixels.round().clip(0, 255).astype(np.uint8)


def build_assets() -> None:
    import numpy as np
    from PIL import Image

    sys.path.insert(0, str(ROOT / "tools"))
    import shapes_world

    scene = shapes_world.parse_caption(SCENE_CAPTION)
    pixels = shapes_world.render([scene])[0].permute(1, 2, 0).numpy()
    _write_png(ASSETS / "shapes_scene.png", (pixels * 255).round().astype(np.uint8))

    mask = np.zeros((SIZE, SIZE, 3), np.uint8)
    x, y, w, h = MASK_BOX
    mask[y : y + h, x : x + w] = 255
    _write_png(ASSETS / "inpaint_mask.png", mask)

    _write_png(ASSETS / "shapes_sketch.png", sketch())

    with Image.open(ASSETS / "astronaut.png") as photo:
        clean = np.asarray(photo.convert("RGB"), np.float64)
    rng = np.random.default_rng(0)
    noisy = clean + rng.normal(0.0, 25.0, clean.shape)
    _write_png(ASSETS / "astronaut_noisy.png", noisy.round().clip(0, 255).astype(np.uint8))


def main(argv: list[str]) -> int:
    names = argv or list(BUILDERS)
    unknown = [n for n in names if n not in BUILDERS]
    if unknown:
        print(f"unknown workflows {unknown}; choose from {list(BUILDERS)}", file=sys.stderr)
        return 2
    build_assets()
    registry = default_registry()
    for name in names:
        canvas = BUILDERS[name](registry)
        print(canvas.save().relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
