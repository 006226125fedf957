"""docs/nodes.md documents every registered node with the names of its inputs, params and
outputs as the registry declares them (the section of a node, or its row in the table of
basic nodes)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nodegraph_app import default_registry

NODES_MD = Path(__file__).resolve().parents[1] / "docs" / "nodes.md"
NAME = re.compile(r"`(\w+)`")


def _documented() -> dict[str, dict[str, list[str]]]:
    """Node id -> {"inputs"|"params"|"outputs": names} as docs/nodes.md lists them."""
    text = NODES_MD.read_text(encoding="utf-8")
    found: dict[str, dict[str, list[str]]] = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        node_id = re.match(r".* — `([\w.]+)`", section).group(1)
        found[node_id] = {
            key: NAME.findall(line)
            for key, line in re.findall(r"^- (inputs|params|outputs): (.*)$", section, re.M)
        }
    table = text[text.index("| node | id | what it does | inputs | params | outputs |") :]
    for row in table.splitlines()[2:]:
        if not row.startswith("|"):
            break
        _, node_id, _, inputs, params, outputs = (c.strip() for c in row.strip("|").split("|"))
        found[node_id.strip("`")] = {
            "inputs": NAME.findall(inputs),
            "params": NAME.findall(params),
            "outputs": NAME.findall(outputs),
        }
    return found


DOCUMENTED = _documented()


@pytest.mark.parametrize("spec", list(default_registry(plugins=False)), ids=lambda s: s.id)
def test_docs_list_each_node_with_its_port_and_param_names(spec):
    assert spec.id in DOCUMENTED, f"docs/nodes.md does not document {spec.id}"
    assert DOCUMENTED[spec.id] == {
        "inputs": [i.name for i in spec.inputs],
        "params": [p.name for p in spec.params],
        "outputs": [o.name for o in spec.outputs],
    }
