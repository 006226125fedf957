"""Sampling behaviour: caching across sweeps, inpainting, noise, schedulers, unrolled
steps, progress and cancellation, and the errors for bad inputs."""

from __future__ import annotations

import json

import pytest
import torch

from .conftest import MODEL, TENSORS, failures, run_image, txt2img_graph


def test_sweep_loads_and_encodes_once_and_cfg_change_reruns_only_guider_and_after(
        tmp_path, capsys):
    from nodegraph.workflow import save
    from nodegraph_app import main

    graph, ids = txt2img_graph(save=True, steps=2)
    save(graph, tmp_path / "wf.json")
    report = tmp_path / "report.json"
    # `nodegraph run` in this process (a new interpreter spent ~15 s importing torch)
    status = main(["run", str(tmp_path / "wf.json"), "-o", str(tmp_path / "out"), "-q",
                   "--device", "cpu", "--sweep", "noise.seed=1,2,3", "--sweep", "guider.scale=5,6",
                   "--report", str(report)])
    assert status == 0, capsys.readouterr().err
    runs = json.loads(report.read_text())["runs"]
    assert len(runs) == 6
    executed = [set(r["executed"]) for r in runs]
    for role in ("ckpt", "pos", "neg", "latent", "sched"):
        assert sum(ids[role] in e for e in executed) == 1, role
    # run 2 changes only the CFG scale (seed 1, scale 5 -> 6)
    assert runs[1]["set"] == {f"{ids['noise']}.seed": 1, f"{ids['guider']}.scale": 6.0}
    assert executed[1] == {ids[r] for r in ("guider", "sampler", "decode", "save")}
    # run 3 changes the seed back at scale 5: the guider for scale 5 is still cached
    assert executed[2] == {ids[r] for r in ("noise", "sampler", "decode", "save")}
    assert len(list((tmp_path / "out").glob("tiny_*.png"))) == 6


def _inpaint_graph(image_key: str, mask_key: str, sampler: str = "euler"):
    from nodegraph.graph import Graph

    g = Graph()
    ids = {}
    ids["ckpt"] = g.add_node("loaders.Checkpoint", {"checkpoint": MODEL}).id
    ids["image"] = g.add_node("test.Image", {"key": image_key}).id
    ids["mask"] = g.add_node("test.Mask", {"key": mask_key}).id
    ids["enc"] = g.add_node("latent.VAEEncode", {}, title="encode").id
    g.connect(ids["ckpt"], "vae", ids["enc"], "vae")
    g.connect(ids["image"], "image", ids["enc"], "image")
    ids["setmask"] = g.add_node("latent.SetNoiseMask", {}, title="set mask").id
    g.connect(ids["enc"], "latent", ids["setmask"], "latent")
    g.connect(ids["mask"], "mask", ids["setmask"], "mask")
    ids["pos"] = g.add_node("conditioning.TextEncode", {"text": "a green tree"}).id
    g.connect(ids["ckpt"], "clip", ids["pos"], "clip")
    ids["sched"] = g.add_node("sampling.Scheduler", {"sampler": sampler, "steps": 4}).id
    g.connect(ids["ckpt"], "model", ids["sched"], "model")
    ids["guider"] = g.add_node("sampling.CFGGuider", {"scale": 1.0}).id
    g.connect(ids["ckpt"], "model", ids["guider"], "model")
    g.connect(ids["pos"], "conditioning", ids["guider"], "positive")
    ids["noise"] = g.add_node("sampling.Noise", {"seed": 4}).id
    ids["sampler"] = g.add_node("sampling.Sampler", {}).id
    g.connect(ids["guider"], "guider", ids["sampler"], "guider")
    g.connect(ids["sched"], "scheduler", ids["sampler"], "scheduler")
    g.connect(ids["noise"], "noise", ids["sampler"], "noise")
    g.connect(ids["setmask"], "latent", ids["sampler"], "latent")
    return g, ids


@pytest.mark.parametrize("sampler", ["euler", "ddim"])
def test_inpainting_keeps_the_unmasked_latent_exactly(test_executor, sampler):
    TENSORS["inpaint-image"] = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(0))
    mask = torch.zeros(1, 64, 64)
    mask[:, 16:48, 16:48] = 1.0
    TENSORS["inpaint-mask"] = mask
    g, ids = _inpaint_graph("inpaint-image", "inpaint-mask", sampler)
    result = test_executor.run(g, outputs=[ids["sampler"]], keep_values=True)
    assert not result.failures, failures(result)
    original = result.values[ids["enc"]][0]["samples"]
    final = result.values[ids["sampler"]][0]["samples"]
    keep = torch.ones(8, 8, dtype=torch.bool)
    keep[2:6, 2:6] = False
    assert torch.equal(final[..., keep], original[..., keep])
    assert (final[..., ~keep] - original[..., ~keep]).abs().max() > 1e-2


def test_an_encoded_image_inpaints_exactly_like_the_same_latent_from_elsewhere(test_executor):
    """VAE encode gives a contiguous latent (the VAE's convolutions hand back channels_last
    strides for an image [B,H,W,C]); otherwise the UNet computes ~1e-5 differently."""
    from .conftest import replay_from_a_contiguous_copy

    TENSORS["inpaint-image"] = torch.rand(1, 64, 64, 3, generator=torch.Generator().manual_seed(6))
    mask = torch.zeros(1, 64, 64)
    mask[:, 8:40, 24:56] = 1.0
    TENSORS["inpaint-mask"] = mask
    g, ids = _inpaint_graph("inpaint-image", "inpaint-mask")
    latent, encoded, replayed = replay_from_a_contiguous_copy(test_executor, g, ids["enc"],
                                                              ids["sampler"])
    assert latent["samples"].is_contiguous()
    assert torch.equal(encoded["samples"], replayed["samples"])


def test_a_mask_of_the_wrong_size_is_refused_naming_node_and_input(test_executor):
    TENSORS["wrong-image"] = torch.rand(1, 64, 64, 3)
    TENSORS["wrong-mask"] = torch.ones(1, 50, 40)
    g, ids = _inpaint_graph("wrong-image", "wrong-mask")
    result = test_executor.run(g, outputs=[ids["sampler"]])
    field, message = failures(result)[ids["setmask"]]
    assert field == "mask" and "set mask" in message and "40x50" in message


def test_width_not_divisible_by_the_latent_cell_is_refused(executor):
    graph, ids = txt2img_graph(width=60)
    result = executor.run(graph, outputs=[ids["decode"]])
    field, message = failures(result)[ids["latent"]]
    assert field == "width" and "multiple of 8" in message
    assert run_image(executor, *txt2img_graph())[0].shape == (1, 64, 64, 3)


def test_image_not_divisible_by_the_latent_cell_is_refused(test_executor):
    TENSORS["odd-image"] = torch.rand(1, 60, 64, 3)
    TENSORS["odd-mask"] = torch.zeros(1, 60, 64)
    g, ids = _inpaint_graph("odd-image", "odd-mask")
    result = test_executor.run(g, outputs=[ids["sampler"]])
    assert failures(result)[ids["enc"]][0] == "image"


def test_batch_item_can_be_reproduced_on_its_own(executor):
    batch, _ = run_image(executor, *txt2img_graph(sampler="euler_ancestral", seed=10, batch=2,
                                                  steps=3))
    second, _ = run_image(executor, *txt2img_graph(sampler="euler_ancestral", seed=11, steps=3))
    assert torch.allclose(batch[1], second[0], atol=1e-5)


def test_cfg_scale_one_skips_the_unconditional_pass(executor):
    from nodes.sampling import CFGGuider

    graph, ids = txt2img_graph(scale=1.0, steps=2)
    result = executor.run(graph, outputs=[ids["guider"]], keep_values=True)
    guider: CFGGuider = result.values[ids["guider"]][0]
    calls = []
    unet = guider.model.components.unet
    handle = unet.register_forward_hook(lambda m, a, k: calls.append(a[0].shape[0]),
                                        with_kwargs=False)
    try:
        run_image(executor, *txt2img_graph(scale=1.0, steps=2, seed=77))
        run_image(executor, *txt2img_graph(scale=3.0, steps=2, seed=77))
    finally:
        handle.remove()
    assert calls == [1, 1, 2, 2]


@pytest.mark.parametrize("beta", ["model default", "linear", "scaled_linear", "cosine"])
def test_beta_schedules_and_karras_spacing(executor, beta):
    graph, ids = txt2img_graph(sampler="dpmpp_2m", steps=3)
    graph.set_param(ids["sched"], "beta_schedule", beta)
    graph.set_param(ids["sched"], "karras", True)
    _image, result = run_image(executor, graph, ids)
    plan = result.values[ids["sched"]][0]
    scheduler = plan.scheduler()
    assert scheduler.config.use_karras_sigmas
    if beta != "model default":
        assert scheduler.config.beta_schedule == {"cosine": "squaredcos_cap_v2"}.get(beta, beta)


def test_karras_on_a_scheduler_without_it_names_the_param(executor):
    graph, ids = txt2img_graph(sampler="ddim")
    graph.set_param(ids["sched"], "karras", True)
    result = executor.run(graph, outputs=[ids["decode"]])
    assert failures(result)[ids["sched"]][0] == "karras"


def test_progress_events_with_previews_and_cancellation(executor):
    from nodegraph.context import CancelToken
    from nodegraph.events import NodeProgress

    graph, ids = txt2img_graph(steps=3, seed=123)
    events = []
    result = executor.run(graph, outputs=[ids["decode"]], on_event=events.append,
                          keep_values=True)
    progress = [e for e in events if isinstance(e, NodeProgress) and e.node_id == ids["sampler"]]
    assert [(e.step, e.total) for e in progress] == [(1, 3), (2, 3), (3, 3)]
    # the tiny model's VAE is small: previews are decoded by it, at full size, and the
    # last one (euler's x0 prediction at the last step) is the decoded image itself
    assert progress[0].preview.shape == (64, 64, 3) and progress[0].preview.dtype.name == "uint8"
    image = (result.values[ids["decode"]][0][0] * 255).round().to(torch.uint8).numpy()
    assert abs(progress[-1].preview.astype(int) - image.astype(int)).max() <= 1

    cancel = CancelToken()
    steps = []

    def on_event(event):
        if isinstance(event, NodeProgress) and event.node_id == ids["sampler"]:
            steps.append(event.step)
            cancel.cancel()

    graph, ids = txt2img_graph(steps=3, seed=124)
    result = executor.run(graph, outputs=[ids["decode"]], on_event=on_event, cancel=cancel)
    assert result.status == "cancelled" and steps == [1]


def test_checkpoints_with_a_large_vae_preview_by_latent_factors(executor, monkeypatch):
    import nodes.handles
    from nodegraph.events import NodeProgress

    monkeypatch.setattr(nodes.handles, "PREVIEW_DECODER_MAX_PARAMS", 0)
    graph, ids = txt2img_graph(steps=2, seed=125)
    events = []
    executor.run(graph, outputs=[ids["decode"]], on_event=events.append)
    previews = [e.preview for e in events
                if isinstance(e, NodeProgress) and e.node_id == ids["sampler"]]
    assert [p.shape for p in previews] == [(8, 8, 3)] * 2  # one pixel per latent cell


def test_unrolled_unet_steps_equal_the_sampler(test_executor):
    """Add noise (strength 0.5) then two UNet steps == a Sampler with denoise 0.5 on a
    4-step DDIM schedule; each step also shows its x0 prediction."""
    from nodegraph.graph import Graph

    TENSORS["unroll-latent"] = {"samples": torch.randn(1, 4, 8, 8, generator=torch.Generator()
                                                       .manual_seed(3)), "scale_factor": 8}
    g = Graph()
    ck = g.add_node("loaders.Checkpoint", {"checkpoint": MODEL}).id
    lat = g.add_node("test.Latent", {"key": "unroll-latent"}).id
    pos = g.add_node("conditioning.TextEncode", {"text": "a cat"}).id
    neg = g.add_node("conditioning.TextEncode", {"text": ""}).id
    for n in (pos, neg):
        g.connect(ck, "clip", n, "clip")
    sched = g.add_node("sampling.Scheduler", {"sampler": "ddim", "steps": 4, "denoise": 0.5}).id
    g.connect(ck, "model", sched, "model")
    guider = g.add_node("sampling.CFGGuider", {"scale": 4.0}).id
    g.connect(ck, "model", guider, "model")
    g.connect(pos, "conditioning", guider, "positive")
    g.connect(neg, "conditioning", guider, "negative")
    noise = g.add_node("sampling.Noise", {"seed": 8}).id
    smp = g.add_node("sampling.Sampler", {}).id
    for src, out, dst in ((guider, "guider", "guider"), (sched, "scheduler", "scheduler"),
                          (noise, "noise", "noise"), (lat, "latent", "latent")):
        g.connect(src, out, smp, dst)
    add = g.add_node("sampling.AddNoise", {"mode": "strength", "strength": 0.5}).id
    g.connect(sched, "scheduler", add, "scheduler")
    g.connect(noise, "noise", add, "noise")
    g.connect(lat, "latent", add, "latent")
    previous, steps = (add, "latent"), []
    for k in range(2):
        step = g.add_node("sampling.UNetStep", {"step": k}).id
        for src, out, dst in ((guider, "guider", "guider"), (sched, "scheduler", "scheduler"),
                              (noise, "noise", "noise")):
            g.connect(src, out, step, dst)
        g.connect(*previous, step, "latent")
        previous = (step, "latent")
        steps.append(step)
    result = test_executor.run(g, outputs=[smp, steps[-1]], keep_values=True)
    assert not result.failures, failures(result)
    sampled = result.values[smp][0]["samples"]
    unrolled = result.values[steps[-1]][0]["samples"]
    assert torch.allclose(sampled, unrolled, atol=1e-5)
    x0 = result.values[steps[0]][1]["samples"]
    assert x0.shape == sampled.shape and torch.isfinite(x0).all()


def test_add_noise_at_a_timestep_is_the_forward_process(test_executor):
    from nodegraph.graph import Graph

    x0 = torch.randn(2, 4, 8, 8)
    TENSORS["fwd-latent"] = {"samples": x0}
    g = Graph()
    ck = g.add_node("loaders.Checkpoint", {"checkpoint": MODEL}).id
    sched = g.add_node("sampling.Scheduler", {"sampler": "ddpm", "steps": 10}).id
    g.connect(ck, "model", sched, "model")
    lat = g.add_node("test.Latent", {"key": "fwd-latent"}).id
    noise = g.add_node("sampling.Noise", {"seed": 5}).id
    add = g.add_node("sampling.AddNoise", {"mode": "timestep", "timestep": 600}).id
    g.connect(sched, "scheduler", add, "scheduler")
    g.connect(noise, "noise", add, "noise")
    g.connect(lat, "latent", add, "latent")
    result = test_executor.run(g, outputs=[add], keep_values=True)
    noised = result.values[add][0]["samples"]
    plan = result.values[sched][0]
    abar = plan.scheduler().alphas_cumprod[600]
    eps = torch.cat([torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(s))
                     for s in (5, 6)])
    assert torch.allclose(noised, abar.sqrt() * x0 + (1 - abar).sqrt() * eps, atol=1e-6)
