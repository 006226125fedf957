"""The README's main job (workflows/txt2img.json on the shipped model): its images for
the fixed seed match stored references, and the prompt's colour word steers the colour."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nodegraph.executor import Executor
from nodegraph.registry import default_registry
from nodegraph.workflow import load

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "txt2img_reference.png"
# CPU fp32 runs of the same torch build agree to float error; other builds and BLAS
# libraries may round differently, which moves a few pixels by a few levels.
MEAN_TOLERANCE, MAX_TOLERANCE = 1.0, 24


@pytest.fixture(scope="module")
def run_prompt():
    registry = default_registry()
    shipped, _ = load(ROOT / "workflows" / "txt2img.json", registry)
    executor = Executor(registry, output_dir="/tmp/unused", base_dir=ROOT / "workflows")
    decode = shipped.find_node("VAE decode").id

    def run(prompt: str | None = None) -> np.ndarray:
        """The shipped workflow's images, with its own prompt unless ``prompt`` is given
        (on a copy: the shipped graph never changes, whatever ran before)."""
        graph = shipped.copy()
        if prompt is not None:
            graph.set_param(graph.find_node("Prompt").id, "text", prompt)
        result = executor.run(graph, [decode], keep_values=True)
        assert not result.failures
        images = result.values[decode][0].numpy()
        return np.concatenate(list((images * 255).round().astype(np.uint8)), axis=1)

    return run


def test_main_job_matches_its_reference(run_prompt):
    strip = run_prompt()
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


def test_colour_word_changes_the_colour(run_prompt):
    white = np.array([255, 255, 255])
    red = _object_colour(
        run_prompt("a large red circle in the centre on a white background"), white
    )
    blue = _object_colour(
        run_prompt("a large blue circle in the centre on a white background"), white
    )
    assert red[0] > red[2] + 40  # red channel dominates
    assert blue[2] > blue[0] + 40  # blue channel dominates


def test_main_job_reference_holds_after_another_prompt(run_prompt):
    """The shared fixture keeps the shipped prompt: running another prompt first (as the
    colour test does) must not change what the reference test sees."""
    run_prompt("a large blue circle in the centre on a white background")
    strip = run_prompt()
    reference = np.asarray(Image.open(REFERENCE).convert("RGB"))
    assert np.abs(strip.astype(int) - reference.astype(int)).mean() <= MEAN_TOLERANCE
