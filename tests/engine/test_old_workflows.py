"""Workflows saved by earlier versions keep opening: the shipped examples as of commit
65b6b35 (kept in tests/data) load, validate and take today's defaults for params added
since (e.g. VAE encode's posterior, Set latent noise mask's mode)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodegraph.problems import errors
from nodegraph.validation import missing_file_problems, validate
from nodegraph.workflow import graph_to_document, load
from nodegraph_app import default_registry

ROOT = Path(__file__).resolve().parents[2]
OLD = sorted((ROOT / "tests" / "data" / "workflows_65b6b35").glob("*.json"))
REGISTRY = default_registry(plugins=False)


@pytest.mark.parametrize("path", OLD, ids=[p.stem for p in OLD])
def test_an_old_workflow_opens_and_validates(path):
    graph, problems = load(path, REGISTRY)
    assert errors(problems) == []
    assert errors(validate(graph, REGISTRY)) == []
    assert missing_file_problems(graph, REGISTRY, ROOT / "workflows") == []
    saved = graph_to_document(graph)
    for node in saved["nodes"]:  # saved again, every param a node has today is written
        spec = REGISTRY[node["type"]]
        assert {p.name for p in spec.params} <= set(node["params"]), node["type"]


def test_the_corpus_covers_every_shipped_workflow_of_that_version():
    assert len(OLD) == 13
