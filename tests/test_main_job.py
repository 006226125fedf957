"""The README's main job (workflows/txt2img.json on the shipped model): its images for
the fixed seed match stored references, and the prompt's colour word steers the colour."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodegraph.executor import Executor
from nodegraph.workflow import load
from nodegraph_app import default_registry

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "txt2img_reference.png"
# CPU fp32 runs of the same torch build agree to float error; other builds and BLAS
# libraries may round differently, which moves a few pixels by a few levels.
MEAN_TOLERANCE, MAX_TOLERANCE = 1.0, 24


def _strip(images) -> np.ndarray:
    """A batch [B,H,W,3] in 0..1 as one uint8 image, side by side."""
    return np.concatenate(list((images.numpy() * 255).round().astype(np.uint8)), axis=1)


def run_prompt(prompt: str) -> np.ndarray:
    """The main job's images for another prompt (its own copy of the workflow)."""
    registry = default_registry()
    graph, _ = load(ROOT / "workflows" / "txt2img.json", registry)
    graph.set_param(graph.find_node("Prompt").id, "text", prompt)
    decode = graph.find_node("VAE decode").id
    executor = Executor(registry, output_dir="/tmp/unused", base_dir=ROOT / "workflows")
    result = executor.run(graph, [decode], keep_values=True)
    assert not result.failures
    return _strip(result.values[decode][0])


@pytest.fixture(scope="module")
def main_job(shipped_workflow) -> np.ndarray:
    """The images of the session's one run of workflows/txt2img.json as shipped."""
    graph, result = shipped_workflow("txt2img")
    assert not result.failures
    return _strip(result.values[graph.find_node("VAE decode").id][0])


def test_main_job_matches_its_reference(main_job):
    strip = main_job
    if os.environ.get("NODEGRAPH_BLESS"):  # a new model: NODEGRAPH_BLESS=1 pytest ...
        Image.fromarray(strip).save(REFERENCE)
    assert REFERENCE.exists(), "no reference image: run once with NODEGRAPH_BLESS=1"
    reference = np.asarray(Image.open(REFERENCE).convert("RGB"))
    difference = np.abs(strip.astype(int) - reference.astype(int))
    assert difference.mean() <= MEAN_TOLERANCE
    assert difference.max() <= MAX_TOLERANCE


def _object_colour(strip: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Mean colour of the pixels that differ clearly from the background."""
    far = np.abs(strip.astype(int) - background).sum(axis=-1) > 120
    assert far.mean() > 0.01, "no object drawn"
    return strip[far].mean(axis=0)


def test_colour_word_changes_the_colour(shipped_workflow, main_job):
    graph, _ = shipped_workflow("txt2img")
    prompt = graph.nodes[graph.find_node("Prompt").id].params["text"]
    assert prompt == "a large red circle in the centre on a white background"
    white = np.array([255, 255, 255])
    red = _object_colour(main_job, white)
    blue = _object_colour(run_prompt("a large blue circle in the centre on a white background"),
                          white)
    assert red[0] > red[2] + 40  # red channel dominates
    assert blue[2] > blue[0] + 40  # blue channel dominates
