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
    once per session, each in a fresh executor (nothing cached from another workflow),
    with every node's values kept and the images saved in a folder of its own. Shared by
    the tests that check the workflows run (tests/test_workflows.py) and what they show
    (tests/test_workflow_outputs.py), which ran each one twice before."""
    from nodegraph.executor import Executor
    from nodegraph.registry import default_registry
    from nodegraph.workflow import load

    registry = default_registry()
    done: dict[str, tuple] = {}

    def run(name: str):
        if name not in done:
            graph, problems = load(WORKFLOWS / f"{name}.json", registry)
            assert problems == [], problems
            executor = Executor(
                registry, output_dir=tmp_path_factory.mktemp(name), base_dir=WORKFLOWS
            )
            done[name] = graph, executor.run(graph, keep_values=True)
        return done[name]

    return run
