"""Every shipped workflow validates and runs headless, producing its images."""

from pathlib import Path

import pytest

from nodegraph.executor import Executor
from nodegraph.workflow import dumps, load
from nodegraph_app import default_registry

WORKFLOWS = sorted((Path(__file__).resolve().parents[1] / "workflows").glob("*.json"))


@pytest.fixture(scope="module")
def registry():
    return default_registry()


def test_there_are_workflows():
    assert WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_validates_round_trips_and_runs(path, registry, tmp_path):
    graph, problems = load(path, registry)
    assert problems == [], problems
    assert dumps(graph) == path.read_text(encoding="utf-8"), "saved with another layout"
    assert graph.metadata.get("description"), "every workflow says what it shows"
    result = Executor(registry, output_dir=tmp_path, base_dir=path.parent).run(graph)
    assert not result.failures, [str(f) for f in result.failures.values()]
    assert result.files, "a workflow saves at least one image"
    assert all(Path(f).stat().st_size > 0 for f in result.files)


def test_workflow_readme_describes_every_workflow():
    readme = (WORKFLOWS[0].parent / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in WORKFLOWS if p.name not in readme]
    assert not missing, f"workflows/README.md does not describe {missing}"
