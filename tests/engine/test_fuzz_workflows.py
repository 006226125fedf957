"""Random and mutated documents: loading and validating raise only WorkflowError, and
every WorkflowError carries at least one problem with a message.

Below, a hostile corpus of 10,000+ mutated workflow files (JSON and PNG), generated from a
fixed seed: `nodegraph validate` answers every one with exit 0 or with exit 2 and a
problem list, never a traceback or an empty error; files carrying a known-bad value
(NaN, 1e999, 5000-digit numbers, deep nesting, lone surrogates, self-links, a broken
PNG chunk) must be refused; and the mutants that stay valid run to the end."""

from __future__ import annotations

import json
import random
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nodegraph import cli
from nodegraph.graph import Graph
from nodegraph.host import Host
from nodegraph.problems import WorkflowError
from nodegraph.validation import validate
from nodegraph.workflow import dumps, graph_from_document, loads

from .sample_nodes import registry as make_registry

REGISTRY = make_registry()
HOST = Host(lambda plugins: REGISTRY)  # one registry for every call

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


def _seed_document() -> dict:
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 8, "height": 8, "batch": 1,
                                           "color": "#000000"})
    blend = graph.add_node("image.Blend", {"factor": 0.5, "mode": "normal"})
    preview = graph.add_node("image.Preview")
    graph.connect(solid.id, "image", blend.id, "base")
    graph.connect(solid.id, "image", blend.id, "top")
    graph.connect(blend.id, "image", preview.id, "images")
    graph.add_group("g", (0, 0, 1, 1))
    return json.loads(dumps(graph))


SEED = _seed_document()
KEYS = ["format", "version", "nodes", "links", "groups", "metadata", "id", "type", "params",
        "pos", "from", "to", "title", "rect", "width", "mode", "factor", "size", "bypass"]


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _reported(error: WorkflowError) -> None:
    """A refusal must say why: never an empty problem list or an empty message."""
    assert error.problems and all(str(p).strip() for p in error.problems)


def _load_and_validate(document) -> None:
    try:
        graph, _ = graph_from_document(document, REGISTRY)
        validate(graph, REGISTRY)
        dumps(graph).encode("utf-8")
    except WorkflowError as error:
        _reported(error)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(json_values)
def test_random_documents(document):
    _load_and_validate(document)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_mutated_documents(data):
    document = json.loads(json.dumps(SEED))
    for _ in range(data.draw(st.integers(1, 4))):
        paths = list(_paths(document))
        path = data.draw(st.sampled_from(paths))
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            document = data.draw(json_values) if action == "replace" else document
            continue
        parent = document
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        if action == "replace":
            parent[key] = data.draw(json_values)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, dict):
            parent[data.draw(st.sampled_from(KEYS))] = data.draw(json_values)
        else:
            parent.append(data.draw(json_values))
    _load_and_validate(document)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_random_text(text):
    try:
        loads(text, REGISTRY)
    except WorkflowError as error:
        _reported(error)


# -- the hostile corpus ---------------------------------------------------------------
CORPUS_SIZE = 10_000
RUN_SAMPLE = 80  # valid mutants that are also run end to end


def _corpus_seeds() -> list[dict]:
    small = Graph()
    solid = small.add_node(
        "image.Solid", {"width": 8, "height": 8, "color": "#102030"}, title="Fill"
    )
    blend = small.add_node("image.Blend", {"factor": 0.5}, title="Mix")
    invert = small.add_node("image.Invert")
    save = small.add_node("image.Save", {"filename_prefix": "fuzz"}, title="Out")
    small.connect(solid.id, "image", blend.id, "base")
    small.connect(solid.id, "image", invert.id, "image")
    small.connect(invert.id, "image", blend.id, "top")
    small.connect(blend.id, "image", save.id, "images")
    small.add_group("group", (0, 0, 100, 50))
    small.metadata = {"note": "seed", "tags": ["a", "b"]}
    chain = Graph()
    number = chain.add_node("test.Number", {"value": 3})
    add = chain.add_node("test.Add", {"offset": 2})
    sink = chain.add_node("test.Sink")
    chain.connect(number.id, "value", add.id, "a")
    chain.connect(add.id, "value", sink.id, "a")
    return [json.loads(dumps(small)), json.loads(dumps(chain))]


SEEDS = _corpus_seeds()
BIG_INT = "7" * 5000  # beyond Python's int-string limit: only writable as raw text
HOSTILE = {  # raw JSON text for known-bad values: each must make the file invalid
    "huge_int": BIG_INT,
    "long_int": "9" * 400,
    "infinity": "Infinity",
    "minus_infinity": "-Infinity",
    "nan": "NaN",
    "overflow_float": "1e999",
    "deep_list": "[" * 600 + "]" * 600,
    "deep_object": '{"a":' * 600 + "1" + "}" * 600,
    "lone_surrogate": '"a\\ud800b"',
    "low_surrogate": '"\\udfff"',
}
PLAIN = [
    None,
    True,
    False,
    0,
    -1,
    1,
    2**31,
    2**63,
    -(2**64),
    0.5,
    -1e300,
    1e-300,
    "",
    "x",
    "#ff0000",
    "ünïcode ☃",
    "a" * 300,
    [],
    {},
    [1, 2],
    [0, 0, 0],
    {"x": 1},
    "1",
    "Solid",
    "image.Solid",
    "../../etc/passwd",
    "/dev/zero",
    " . ",
    "\u202e",
    "nul\x00byte",
]
MARK = "__HOSTILE__"


def _set(document, path, value):
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value


def _mutate_structure(rng: random.Random, document: dict) -> tuple[dict, str | None]:
    """A few random edits; returns the document and the hostile kind planted, if any."""
    hostile = None
    for _ in range(rng.randint(1, 3)):
        paths = [p for p in _paths(document) if p]
        path = rng.choice(paths)
        roll = rng.random()
        if roll < 0.25:
            hostile = rng.choice(sorted(HOSTILE))
            _set(document, path, MARK)
        elif roll < 0.55:
            _set(document, path, rng.choice(PLAIN))
        elif roll < 0.7:
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            del parent[path[-1]]
        elif roll < 0.8:
            parent = document
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, list) and parent:
                parent.append(json.loads(json.dumps(rng.choice(parent))))  # duplicate ids
        elif roll < 0.9 and isinstance(document.get("links"), list) and document["links"]:
            link = rng.choice(document["links"])
            if isinstance(link, dict) and isinstance(link.get("to"), list) and link["to"]:
                link["from"] = [link["to"][0], "image"]  # a node into itself
                hostile = hostile or "self_link"
        else:
            _set(
                document,
                path,
                rng.choice(
                    [
                        {"id": rng.randint(-3, 9), "type": "image.Solid"},
                        {"id": 7, "from": ["99", "image"], "to": ["1", "image"]},
                        ["nodes", {"nested": [1, [2, [3]]]}],
                    ]
                ),
            )
    return document, hostile


def _to_text(document: dict, hostile: str | None, rng: random.Random) -> str:
    text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
    return text.replace(json.dumps(MARK), HOSTILE.get(hostile, "null"))


def _mutate_text(rng: random.Random, text: str) -> str:
    """Byte-level damage: the result may or may not still be JSON."""
    choice = rng.randrange(5)
    position = rng.randrange(len(text) + 1)
    if choice == 0:
        return text[:position]
    if choice == 1:
        return text[:position] + rng.choice('{}[],:"\\0-eE.') + text[position:]
    if choice == 2:
        return text[:position] + text[position + rng.randint(1, 20) :]
    if choice == 3:
        return "\ufeff" + text
    return text[:position] + text[position:][::-1][:50] + text[position + 50 :]


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def _png(rng: random.Random, text: str) -> tuple[bytes, bool]:
    """A 1x1 PNG carrying ``text`` in some text chunk; True when the chunk is broken so
    the workflow cannot be found (the file must be refused)."""
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    pixels = _chunk(b"IDAT", zlib.compress(b"\x00\x00\x00\x00"))
    raw = text.encode("utf-8", "surrogatepass")
    kind = rng.randrange(6)
    if kind == 0:
        chunk, broken = _chunk(b"tEXt", b"workflow\0" + raw), False
    elif kind == 1:
        chunk, broken = _chunk(b"zTXt", b"workflow\0\0" + zlib.compress(raw)), False
    elif kind == 2:
        chunk, broken = _chunk(b"iTXt", b"workflow\0\0\0\0\0" + raw), False
    elif kind == 3:
        chunk, broken = _chunk(b"iTXt", b""), True  # empty iTXt
    elif kind == 4:
        chunk, broken = _chunk(b"iTXt", b"workflow\0"), True  # truncated iTXt
    else:
        chunk, broken = _chunk(b"zTXt", b"workflow\0\0" + b"not zlib"), True
    return head + chunk + pixels + _chunk(b"IEND", b""), broken


def _has_self_link(document) -> bool:
    links = document.get("links") if isinstance(document, dict) else None
    return isinstance(links, list) and any(
        isinstance(link, dict)
        and isinstance(link.get("from"), list)
        and isinstance(link.get("to"), list)
        and link["from"][:1] == link["to"][:1] != []
        for link in links
    )


def corpus(seed: int = 20261202, size: int = CORPUS_SIZE):
    """(name, bytes, must_fail) for ``size`` mutated files, the same on every call."""
    rng = random.Random(seed)
    for index in range(size):
        document = json.loads(json.dumps(rng.choice(SEEDS)))
        document, hostile = _mutate_structure(rng, document)
        text = _to_text(document, hostile, rng)
        # planted values may have been deleted again by a later edit: check what is left
        must_fail = (hostile in HOSTILE and HOSTILE[hostile] in text) or _has_self_link(document)
        if rng.random() < 0.15:
            text, must_fail = _mutate_text(rng, text), False  # may or may not survive
        if rng.random() < 0.2:
            data, broken = _png(rng, text)
            yield f"{index:05d}.png", data, must_fail or broken
        else:
            yield f"{index:05d}.json", text.encode("utf-8", "surrogatepass"), must_fail


@pytest.fixture
def quiet_registry(monkeypatch):
    """The CLI with one registry and one argument parser for all calls (building them
    per call would dominate a 10,000-file corpus)."""
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)


def _small_enough_to_run(path: Path) -> bool:
    from nodegraph.workflow import load

    graph, _ = load(path, REGISTRY)
    for node in graph:
        params = node.params
        if node.type == "image.Solid":
            size = [params.get(k, 512) for k in ("width", "height", "batch")]
            if not all(isinstance(v, int) for v in size) or size[0] * size[1] * size[2] > 4096:
                return False
    return True


def test_every_mutated_file_is_answered_with_a_problem_list(tmp_path, capsys, quiet_registry):
    counts = {"valid": 0, "refused": 0, "must_fail": 0, "ran": 0}
    valid: list[Path] = []
    for name, data, must_fail in corpus():
        path = tmp_path / name
        path.write_bytes(data)
        code = cli.main(["validate", str(path)], HOST)
        out, err = capsys.readouterr()
        assert code in (0, 2), (name, code, err)
        if code == 0:
            assert not must_fail, f"{name} should have been refused:\n{data[:300]!r}"
            assert out.startswith(f"{path}: valid (")
            counts["valid"] += 1
            valid.append(path)
        else:
            lines = err.splitlines()
            assert lines and lines[0].startswith("nodegraph: "), (name, err)
            assert len(lines) >= 2 and all(line.strip() for line in lines[1:]), (name, err)
            counts["refused"] += 1
            counts["must_fail"] += must_fail
            path.unlink()
    assert counts["valid"] + counts["refused"] == CORPUS_SIZE
    assert counts["must_fail"] > 1500 and counts["valid"] > 200, counts

    rng = random.Random(7)
    runnable = [
        p for p in rng.sample(valid, min(len(valid), 3 * RUN_SAMPLE)) if _small_enough_to_run(p)
    ][:RUN_SAMPLE]
    for path in runnable:
        code = cli.main(["run", str(path), "-q", "-o", str(tmp_path / "out")], HOST)
        out, err = capsys.readouterr()
        assert code in (0, 1), (path.read_text()[:500], err)
        if code == 1:
            assert err.startswith("nodegraph: node "), err
        counts["ran"] += 1
    assert counts["ran"] >= RUN_SAMPLE // 2, counts


def test_the_corpus_is_the_same_on_every_run():
    first = [(name, len(data)) for name, data, _ in corpus(size=50)]
    assert first == [(name, len(data)) for name, data, _ in corpus(size=50)]


TWO_NODES = (
    '{"format": "nodegraph.workflow", "version": 1, "nodes": [{"id": "1", "type": '
    '"image.Solid", "params": {"width": 4, "height": 4}}, {"id": "2", "type": "image.Preview"}],'
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            TWO_NODES + '"links": [{"id": ' + BIG_INT + ', "from": ["1", "image"], '
            '"to": ["2", "images"]}]}',
            "a number with 5000 digits is too long",
        ),
        (
            TWO_NODES + '"links": [{"id": Infinity, "from": ["1", "image"], '
            '"to": ["2", "images"]}]}',
            "Infinity is not a JSON number",
        ),
        (
            TWO_NODES + '"groups": [{"id": 1e999, "title": "g", "rect": [0, 0, 1, 1]}]}',
            "the number 1e999 is too large",
        ),
        (
            '{"format": "nodegraph.workflow", "version": 1, "nodes": [{"id": "1", "type": '
            '"image.Solid", "pos": [' + "4" * 400 + ", 0]}]}",
            "a number with 400 digits",
        ),
        (
            TWO_NODES + '"links": [{"id": 1, "from": ["1", "image"], "to": ["2", "images"]}],'
            '"metadata": {"deep": ' + "[" * 600 + "]" * 600 + "}}",
            "is nested more than 64 levels deep",
        ),
        (
            '{"format": "nodegraph.workflow", "version": 1, "nodes": [{"id": "1", "type": '
            '"image.Solid", "title": "a\\ud800"}]}',
            "nodes[0].title holds \\ud800, which is not valid Unicode",
        ),
    ],
)
def test_each_reported_crash_is_a_problem_now(tmp_path, capsys, quiet_registry, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    assert cli.main(["validate", str(path)], HOST) == 2
    assert message in capsys.readouterr().err
    assert cli.main(["run", str(path), "-o", str(tmp_path / "out")], HOST) == 2
    assert message in capsys.readouterr().err


def test_an_empty_itxt_chunk_is_skipped(tmp_path, capsys, quiet_registry):
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    workflow = json.dumps(SEEDS[1]).encode()
    path = tmp_path / "empty_itxt.png"
    path.write_bytes(
        head
        + _chunk(b"iTXt", b"")
        + _chunk(b"tEXt", b"workflow\0" + workflow)
        + _chunk(b"IEND", b"")
    )
    assert cli.main(["validate", str(path)], HOST) == 0
    assert "valid (3 nodes, 2 links)" in capsys.readouterr().out
