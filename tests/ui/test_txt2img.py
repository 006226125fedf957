"""The whole story on the tiny test model: build txt2img from an empty canvas with
quick-add and port drags, set prompt and seed, run, and get a non-blank image (with the
sampler's live preview on the way)."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtTest import QTest

from .helpers import choose_enum, quick_add, type_into_field, type_into_text, wire

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    pytest.importorskip("diffusers")
    from tests.diffusion.tiny import save_diffusers_folder

    root = tmp_path_factory.mktemp("models")
    save_diffusers_folder(root / "tiny-sd")
    return root


def test_build_txt2img_from_an_empty_canvas_and_run_it(qtbot, make_window, tiny_models,
                                                       monkeypatch):
    monkeypatch.setenv("NODEGRAPH_MODELS", str(tiny_models))
    window = make_window()
    window.view.resetTransform()
    window.view.scale(0.7, 0.7)
    window.view.centerOn(QPointF(700, 450))

    def at(x: float, y: float) -> QPoint:
        return window.view.mapFromScene(QPointF(x, y))

    ckpt = quick_add(qtbot, window, "load checkpoint", at(0, 0))
    noise = quick_add(qtbot, window, "noise", at(0, 330))
    pos = quick_add(qtbot, window, "text encode", at(300, 0))
    neg = quick_add(qtbot, window, "text encode", at(300, 230))
    latent = quick_add(qtbot, window, "empty latent", at(300, 460))
    sched = quick_add(qtbot, window, "scheduler", at(300, 640))
    guider = quick_add(qtbot, window, "cfg guider", at(600, 0))
    sampler = quick_add(qtbot, window, "sampler", at(900, 0))
    decode = quick_add(qtbot, window, "vae decode", at(900, 330))
    preview = quick_add(qtbot, window, "preview image", at(1200, 0))
    graph = window.document.graph
    assert [graph.nodes[i].type for i in (noise, sampler, decode)] == [
        "sampling.Noise", "sampling.Sampler", "latent.VAEDecode"]
    for src, out, dst, inp in (
            (ckpt, "clip", pos, "clip"), (ckpt, "clip", neg, "clip"),
            (ckpt, "model", latent, "model"), (ckpt, "model", sched, "model"),
            (ckpt, "model", guider, "model"), (pos, "conditioning", guider, "positive"),
            (neg, "conditioning", guider, "negative"), (guider, "guider", sampler, "guider"),
            (sched, "scheduler", sampler, "scheduler"), (noise, "noise", sampler, "noise"),
            (latent, "latent", sampler, "latent"), (ckpt, "vae", decode, "vae"),
            (sampler, "latent", decode, "latent"), (decode, "image", preview, "images")):
        wire(window, src, out, dst, inp)
    assert len(graph.links) == 14
    choose_enum(qtbot, window, ckpt, "checkpoint", "tiny-sd")
    type_into_text(qtbot, window, pos, "text", "a photo of an astronaut")
    type_into_text(qtbot, window, neg, "text", "blurry")
    type_into_field(qtbot, window, noise, "seed", "1234")
    type_into_field(qtbot, window, latent, "width", "64")
    type_into_field(qtbot, window, latent, "height", "64")
    type_into_field(qtbot, window, sched, "steps", "4")
    assert graph.nodes[pos].params["text"] == "a photo of an astronaut"
    assert graph.nodes[noise].params["seed"] == 1234
    previews = []
    window.runs.event.connect(lambda e: previews.append(e) if type(e).__name__ ==
                              "NodeProgress" and e.preview is not None else None)
    QTest.keyClick(window.view, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: window.last_run is not None, timeout=300_000)
    assert window.last_run.status == "finished", window.statusBar().currentMessage()
    image = window.images[preview][0]
    assert (image.width(), image.height()) == (64, 64)
    colors = {image.pixel(x, y) for x in range(0, 64, 4) for y in range(0, 64, 4)}
    assert len(colors) > 10  # not blank
    assert previews and window.canvas.nodes[sampler].preview is not None
    assert window.canvas.nodes[sampler].state == "done"
    # where the time went: the sampler's previews are counted and shown
    assert "of which previews" in window.canvas.nodes[sampler].toolTip()
    assert "of which previews" in window.statusBar().currentMessage()
    shot = window.grab()
    assert not shot.isNull()
