"""Shared test setup: offline model hub, offscreen Qt."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# One torch thread: the tiny test models gain little from more, and on a loaded machine
# oversubscribed threads made the suite many times slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"


@pytest.fixture(scope="session")
def shipped_workflow(tmp_path_factory):
    """``shipped_workflow(name) -> (graph, result)``: workflows/<name>.json loaded and run
    once per session, headless, each in a fresh executor (nothing cached from another
    workflow), with every node's values kept and its images saved in a folder of its own.
    Shared by the tests of what the workflows save (tests/test_workflows.py), what they
    show (tests/test_workflow_outputs.py) and the main job (tests/test_main_job.py)."""
    from nodegraph.executor import Executor
    from nodegraph.workflow import load
    from nodegraph_app import default_registry

    registry = default_registry()
    done: dict[str, tuple] = {}

    def run(name: str):
        if name not in done:
            graph, problems = load(WORKFLOWS / f"{name}.json", registry)
            assert problems == [], problems
            executor = Executor(  # as `nodegraph run` does: no sampler previews
                registry,
                output_dir=tmp_path_factory.mktemp(name),
                base_dir=WORKFLOWS,
                previews=False,
            )
            done[name] = graph, executor.run(graph, keep_values=True)
        return done[name]

    return run
