"""Every shipped workflow validates and runs headless, producing its images, and names
the pixel tests that check what its note says."""

import ast
import json
from pathlib import Path

import pytest

from nodegraph.workflow import dumps

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / "workflows").glob("*.json"))


def test_there_are_workflows():
    assert WORKFLOWS


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_workflow_validates_round_trips_and_runs(path, shipped_workflow):
    graph, result = shipped_workflow(path.stem)  # loaded without problems, run once
    assert dumps(graph) == path.read_text(encoding="utf-8"), "saved with another layout"
    assert graph.metadata.get("description"), "every workflow says what it shows"
    assert not result.failures, [str(f) for f in result.failures.values()]
    assert result.files, "a workflow saves at least one image"
    assert all(Path(f).stat().st_size > 0 for f in result.files)


def test_workflow_readme_describes_every_workflow():
    readme = (WORKFLOWS[0].parent / "README.md").read_text(encoding="utf-8")
    missing = [p.name for p in WORKFLOWS if p.name not in readme]
    assert not missing, f"workflows/README.md does not describe {missing}"


def _test_functions(path: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}


def _strings(node: ast.AST) -> set[str]:
    return {
        n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    }


def _notes(path: Path) -> str:
    document = json.loads(path.read_text(encoding="utf-8"))
    notes = [n["params"].get("text", "") for n in document["nodes"] if n["type"] == "utils.Note"]
    return "\n".join([document.get("metadata", {}).get("description", ""), *notes])


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.stem)
def test_every_workflow_names_the_pixel_tests_that_check_its_note(path):
    """A workflow's note makes claims about its pictures: its metadata 'checked_by' names
    the tests ("tests/FILE.py::test_NAME") that measure them, each of which exists and runs
    this workflow (its name is in the test or in a fixture it takes); a workflow checked by
    none must say in its note that it is only illustrative."""
    checked_by = json.loads(path.read_text(encoding="utf-8"))["metadata"].get("checked_by", [])
    if not checked_by:
        assert "only illustrative" in _notes(path), (
            f"{path.name}: no 'checked_by' tests and the note does not say 'only illustrative'"
        )
        return
    for entry in checked_by:
        file, _, name = entry.partition("::")
        test_file = ROOT / file
        assert test_file.is_file() and name.startswith("test_"), f"{path.name}: {entry}"
        functions = _test_functions(test_file)
        assert name in functions, f"{path.name}: {file} has no test {name}"
        test = functions[name]
        fixtures = [functions[a.arg] for a in test.args.args if a.arg in functions]
        named = set().union(_strings(test), *(_strings(f) for f in fixtures))
        assert {path.stem, path.name} & named, f"{entry} does not run {path.name}"


def test_every_pixel_test_is_named_by_the_workflow_it_runs():
    """The other way round: each test in test_workflow_outputs.py that runs a workflow is
    listed in that workflow's 'checked_by' (so a note cannot lose its test unnoticed)."""
    listed = {
        entry
        for path in WORKFLOWS
        for entry in json.loads(path.read_text(encoding="utf-8"))["metadata"].get("checked_by", [])
    }
    outputs = ROOT / "tests" / "test_workflow_outputs.py"
    stems = {p.stem for p in WORKFLOWS}
    for name, test in _test_functions(outputs).items():
        if name.startswith("test_") and _strings(test) & stems:
            assert f"tests/test_workflow_outputs.py::{name}" in listed, name
