"""Workflow files: JSON with a format name and a version; load -> migrate -> validate,
and atomic save (temp file + rename). Loading never executes code."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .files import FileTooLarge, regular_file, write_atomic
from .graph import Graph, GraphError, Link
from .layout import place_unpositioned
from .pngmeta import PNG_SIGNATURE, read_chunks
from .problems import Problem, WorkflowError, errors
from .registry import Registry
from .validation import validate

FORMAT = "nodegraph.workflow"
VERSION = 1
PNG_WORKFLOW_KEY = "workflow"  # the PNG text chunk Save image writes the workflow into
PNG_RUN_KEY = "nodegraph_run"  # ... and the run's parameters (with the workflow's folder)

#: Document migrations: MIGRATIONS[v] turns a version-v document into version v+1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def _doc_problem(message: str, **where: Any) -> Problem:
    return Problem("bad_document", message, **where)


#: Limits on what a workflow document may hold: deeper nesting, longer numbers or bigger
#: files are refused with a problem instead of exhausting the stack or the memory.
MAX_DEPTH = 64
MAX_NUMBER_DIGITS = 100
MAX_FILE_BYTES = 64 * 1024**2
MAX_COORDINATE = 1e9  # positions and sizes on the canvas


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(f"a number with {len(text)} digits is too long "
                         f"(at most {MAX_NUMBER_DIGITS})")
    return int(text)


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:20]} is too large")
    return value


def parse_json(text: str) -> Any:
    """Parse JSON text; a syntax error becomes a WorkflowError naming line and column.
    Standard JSON only: no NaN/Infinity, finite numbers of sane length."""
    try:
        document = json.loads(text, parse_constant=_refuse_constant, parse_int=_parse_int,
                              parse_float=_parse_float)
    except json.JSONDecodeError as error:
        raise WorkflowError([Problem("malformed_json", f"not valid JSON: {error.msg}",
                                     line=error.lineno, column=error.colno)]) from None
    except RecursionError:
        raise WorkflowError([Problem("malformed_json", "JSON nested too deeply")]) from None
    except ValueError as error:  # from the hooks above
        raise WorkflowError([Problem("malformed_json", f"not valid JSON: {error}")]) from None
    check_document_values(document, text=True)
    return document


def check_document_values(document: Any, text: bool = False) -> None:
    """Raise WorkflowError if ``document`` nests deeper than MAX_DEPTH levels or, with
    ``text``, holds a string that is not valid Unicode (a lone surrogate such as "\\ud800"
    in a file; snapshots of a live graph are saved with such characters replaced)."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    while stack:
        value, where, depth = stack.pop()
        if depth > MAX_DEPTH:
            where = where if len(where) <= 40 else where[:40] + "..."
            raise WorkflowError([_doc_problem(
                f"{where or 'the document'} is nested more than {MAX_DEPTH} levels deep",
                expected=f"at most {MAX_DEPTH} levels")])
        if isinstance(value, dict):
            for key, item in value.items():
                if text:
                    _check_text(key, f"{where} key")
                stack.append((item, f"{where}.{key}" if where else str(key), depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value))
        elif text and isinstance(value, str):
            _check_text(value, where)


def _check_text(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        bad = text[error.start:error.end].encode("unicode_escape").decode("ascii")
        raise WorkflowError([_doc_problem(
            f"{where or 'a string'} holds {bad}, which is not valid Unicode "
            "(a lone surrogate)", expected="valid Unicode text")]) from None


def migrate(document: dict[str, Any]) -> dict[str, Any]:
    """Bring a document of any older version up to VERSION."""
    version = document.get("version")
    while version < VERSION:
        document = MIGRATIONS[version](document)
        version = document["version"] = version + 1
    return document


def graph_from_document(document: Any, registry: Registry) -> tuple[Graph, list[Problem]]:
    """Build a Graph from a parsed document. Unknown node types and bad entries are
    reported, never crashed on; the graph holds everything that could be placed."""
    if not isinstance(document, dict):
        raise WorkflowError([_doc_problem(
            f"a workflow is a JSON object, got {type(document).__name__}")])
    check_document_values(document)
    if document.get("format") != FORMAT:
        hint = ""
        if "last_node_id" in document or all(
            isinstance(v, dict) and "class_type" in v for v in document.values()
        ):
            hint = " (this looks like a ComfyUI workflow, which cannot be opened yet)"
        raise WorkflowError([_doc_problem(
            f"not a nodegraph workflow: 'format' must be {FORMAT!r}{hint}",
            expected=FORMAT)])
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise WorkflowError([_doc_problem("'version' must be a positive integer",
                                          expected=f"1..{VERSION}")])
    if version > VERSION:
        raise WorkflowError([_doc_problem(
            f"saved by a newer nodegraph (format version {version}; this one reads up to "
            f"{VERSION})", expected=f"1..{VERSION}")])
    document = migrate(dict(document))

    graph = Graph()
    problems: list[Problem] = []
    entries = _list(document, "nodes", problems)
    for index, entry in enumerate(entries):
        problem = _add_node(graph, registry, entry, index)
        if problem:
            problems.append(problem)
    for index, entry in enumerate(_list(document, "links", problems)):
        problem = _add_link(graph, entry, index)
        if problem:
            problems.append(problem)
    for index, entry in enumerate(_list(document, "groups", problems)):
        try:
            graph.add_group(str(entry["title"]), _numbers(entry["rect"], 4),
                            _opt_str(entry.get("color")), id=int(entry["id"]))
        except (KeyError, TypeError, ValueError, OverflowError, GraphError) as error:
            problems.append(_doc_problem(f"groups[{index}] is malformed: {error}"))
    # nodes saved without a position get a layered layout (not all at 0, 0)
    place_unpositioned(graph, [str(e.get("id")) for e in entries
                               if isinstance(e, dict) and "pos" not in e], registry)
    metadata = document.get("metadata", {})
    if isinstance(metadata, dict):
        graph.metadata = metadata
    else:
        problems.append(_doc_problem("'metadata' must be an object"))
    return graph, problems


def _list(document: dict[str, Any], key: str, problems: list[Problem]) -> list[Any]:
    value = document.get(key, [])
    if not isinstance(value, list):
        problems.append(_doc_problem(f"'{key}' must be a list, got {type(value).__name__}"))
        return []
    return value


def _numbers(value: Any, count: int) -> tuple[float, ...]:
    if (not isinstance(value, (list, tuple)) or len(value) != count
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and abs(v) <= MAX_COORDINATE for v in value)):
        raise ValueError(f"expected {count} numbers (each within +-{MAX_COORDINATE:.0e}), "
                         f"got {_short(value)}")
    return tuple(float(v) for v in value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _opt_str(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def _add_node(graph: Graph, registry: Registry, entry: Any, index: int) -> Problem | None:
    where = f"nodes[{index}]"
    if not isinstance(entry, dict):
        return _doc_problem(f"{where} must be an object")
    node_id, node_type = entry.get("id"), entry.get("type")
    if isinstance(node_id, int) and not isinstance(node_id, bool):
        node_id = str(node_id)
    if not isinstance(node_id, str) or not node_id:
        return _doc_problem(f"{where} has no valid 'id' (a non-empty string)")
    if not isinstance(node_type, str) or not node_type:
        return _doc_problem(f"{where} (id {node_id!r}) has no valid 'type'", node_id=node_id)
    params = entry.get("params", {})
    version = entry.get("version", 1)
    try:
        if not isinstance(params, dict):
            raise ValueError(f"'params' must be an object, got {params!r}")
        if isinstance(version, bool) or not isinstance(version, int):
            raise ValueError(f"'version' must be an integer, got {version!r}")
        size = entry.get("size")
        attrs = dict(
            title=_opt_str(entry.get("title", "")) or "",
            pos=_numbers(entry.get("pos", [0, 0]), 2),
            bypass=bool(entry.get("bypass", False)),
            mute=bool(entry.get("mute", False)),
            color=_opt_str(entry.get("color")),
            collapsed=bool(entry.get("collapsed", False)),
            size=None if size is None else _numbers(size, 2),
        )
    except ValueError as error:
        return _doc_problem(f"{where} is malformed: {error}", node_id=node_id)
    spec = registry.get(node_type)
    params = dict(params)
    if spec is not None:
        if version < spec.version and spec.migrate is not None:
            try:
                params = dict(spec.migrate(version, params))
            except Exception as error:  # a broken migration must not stop the load
                return _doc_problem(f"{where}: cannot migrate {node_type} from version "
                                    f"{version} to {spec.version}: {error}", node_id=node_id)
            version = spec.version
        for name, default in spec.default_params().items():
            params.setdefault(name, default)
    try:
        node = graph.add_node(node_type, params, id=node_id, **attrs)
    except GraphError as error:
        return _doc_problem(f"{where}: {error}", node_id=node_id)
    node.version = version
    return None


def _add_link(graph: Graph, entry: Any, index: int) -> Problem | None:
    link_id = entry.get("id") if isinstance(entry, dict) else None
    if isinstance(link_id, int) and not isinstance(link_id, bool):
        where = f"link {link_id}"  # what the user sees in the file, not a list index
    else:
        where = f"links[{index}]"
    try:
        src, src_output = entry["from"]
        dst, dst_input = entry["to"]
        link = Link(int(entry["id"]), str(src), str(src_output), str(dst), str(dst_input))
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        return _doc_problem(f"{where} is malformed ({_short(str(error))}); expected "
                            '{"id": 1, "from": [node, output], "to": [node, input]}')
    for end, node_id in (("from", link.src), ("to", link.dst)):
        if node_id not in graph.nodes:
            message = (f"{where} goes {end} node {node_id!r}, which does not exist; the link "
                       "was dropped")
            if end == "from" and link.dst in graph.nodes:  # name the node the user will look at
                dst = graph.nodes[link.dst]
                return Problem("bad_link", message, dst.id, dst.title or dst.type, link.dst_input,
                               "a link from an existing node")
            return Problem("bad_link", message, expected="an existing node")
    try:
        graph.restore_link(link)
    except GraphError as error:
        return Problem("bad_link", f"{where}: {error}; the link was dropped",
                       node_id=link.dst,
                       node_title=graph.nodes[link.dst].title or graph.nodes[link.dst].type)
    return None


def graph_to_document(graph: Graph) -> dict[str, Any]:
    """The Graph as a plain, JSON-serialisable document (also a run's snapshot)."""
    nodes = []
    for node in graph.nodes.values():
        entry: dict[str, Any] = {"id": node.id, "type": node.type, "version": node.version}
        if node.title:
            entry["title"] = node.title
        entry["pos"] = [_round(v) for v in node.pos]
        for attr in ("bypass", "mute", "collapsed"):
            if getattr(node, attr):
                entry[attr] = True
        if node.color:
            entry["color"] = node.color
        if node.size:
            entry["size"] = [_round(v) for v in node.size]
        entry["params"] = node.params
        nodes.append(entry)
    links = [
        {"id": link.id, "from": [link.src, link.src_output], "to": [link.dst, link.dst_input]}
        for link in sorted(graph.links.values(), key=lambda link: link.id)
    ]
    groups = [
        {"id": g.id, "title": g.title, "rect": [_round(v) for v in g.rect],
         **({"color": g.color} if g.color else {})}
        for g in sorted(graph.groups.values(), key=lambda g: g.id)
    ]
    return {"format": FORMAT, "version": VERSION, "nodes": nodes, "links": links,
            "groups": groups, "metadata": graph.metadata}


def _round(value: float) -> float | int:
    value = round(float(value), 2)
    return int(value) if value.is_integer() else value


def dumps(graph: Graph) -> str:
    """The workflow as JSON text (stable: the same graph always gives the same bytes).
    A lone surrogate (which can arrive through an API or a clipboard, and is not a
    character) is written as U+FFFD, so the text always encodes as UTF-8."""
    return valid_unicode(compact_json(graph_to_document(graph)))


def valid_unicode(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD (pairs are joined)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


_SCALAR_ARRAY = re.compile(r"\[\n\s+([^\[\]{}]*?)\n\s*\]")


def compact_json(data: Any) -> str:
    """Indented JSON with arrays of scalars on one line (positions, link ends)."""
    text = json.dumps(data, indent=2, ensure_ascii=False)
    # JSON strings never hold a raw newline, so only layout newlines are matched here.
    text = _SCALAR_ARRAY.sub(
        lambda m: "[" + ", ".join(part.strip() for part in m.group(1).split(",\n")) + "]", text)
    return text + "\n"


def loads(text: str, registry: Registry) -> tuple[Graph, list[Problem]]:
    """Parse, migrate and validate workflow text. Returns the graph and every problem
    (document problems first, then validation problems). Raises WorkflowError only when
    no graph can be built at all."""
    graph, problems = graph_from_document(parse_json(text), registry)
    return graph, problems + validate(graph, registry)


def load(path: str | os.PathLike[str], registry: Registry) -> tuple[Graph, list[Problem]]:
    """Read a workflow file, or the workflow embedded in a PNG made by Save image
    (see :func:`loads`)."""
    graph, problems = load_document(path, registry)
    return graph, problems + validate(graph, registry)


def load_document(path: str | os.PathLike[str],
                  registry: Registry) -> tuple[Graph, list[Problem]]:
    """Read a workflow file or PNG into a graph, with the document's own problems
    (dropped links, malformed entries) but not yet validated against the registry."""
    try:
        regular_file(path)  # never open a FIFO or a device: it may block or never end
        with open(path, "rb") as file:
            head = file.read(len(PNG_SIGNATURE))
            png = head == PNG_SIGNATURE
            if png:
                file.seek(0)
                text = read_chunks(file).get(PNG_WORKFLOW_KEY)
            else:
                data = head + file.read(MAX_FILE_BYTES + 1 - len(head))
                if len(data) > MAX_FILE_BYTES:
                    raise FileTooLarge(f"{path} is larger than {MAX_FILE_BYTES // 1024**2} "
                                       "MiB, the most accepted for a workflow")
                text = data.decode("utf-8")
        if text is None:
            raise WorkflowError([_doc_problem(
                f"{path} is a PNG without an embedded workflow (only images saved by "
                "Save image with embed_workflow carry one)")])
    except (OSError, ValueError) as error:  # missing, not a regular file, too large, not UTF-8
        raise WorkflowError([_doc_problem(f"cannot read {path}: {error}")]) from None
    return graph_from_document(parse_json(text), registry)


def base_dir(path: str | os.PathLike[str]) -> Path:
    """The folder a workflow's relative file paths are resolved against: beside the file,
    or for a PNG made by Save image, the folder of the workflow that made it (recorded
    in the image) when that folder still exists."""
    path = Path(path).resolve()
    try:
        regular_file(path)
        with open(path, "rb") as file:
            if file.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE:
                file.seek(0)
                recorded = json.loads(read_chunks(file).get(PNG_RUN_KEY, "{}")).get("base_dir")
                if isinstance(recorded, str) and Path(recorded).is_dir():
                    return Path(recorded)
    except (OSError, ValueError, AttributeError):
        pass  # unreadable files are reported by load()
    return path.parent


def load_strict(path: str | os.PathLike[str], registry: Registry) -> Graph:
    """Read a workflow and raise WorkflowError if it has any error-level problem."""
    graph, problems = load(path, registry)
    if errors(problems):
        raise WorkflowError(errors(problems))
    return graph


def save(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Write the workflow atomically: a temp file in the same folder, fsync, rename.
    If anything fails, the old file is left as it was."""
    write_atomic(path, dumps(graph).encode("utf-8"))

