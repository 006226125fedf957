"""Run a graph: prune to what the requested outputs need, order it topologically with
networkx, and run each node unless its Merkle key is already in the cache.

A node's key hashes its type id, version, params, external-file fingerprint and the
keys of the outputs it reads, so keys are computed once per node in topological order
(linear time) and a change anywhere upstream changes every key below it.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
import itertools
import json
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from .cache import DEFAULT_BUDGET, CacheEntry, NodeCache, estimate_nbytes
from .context import Cancelled, CancelToken, NodeContext, NodeInputError, current_node
from .events import (
    Event,
    NodeCached,
    NodeFailed,
    NodeFinished,
    NodeOutput,
    NodeSkipped,
    NodeStarted,
    RunFinished,
    RunRejected,
    RunStarted,
)
from .graph import Graph, GraphError, Node
from .memory import is_out_of_memory
from .paths import resolve_input_path
from .problems import Problem, WorkflowError, errors
from .registry import NodeSpec, Registry
from .run_options import DEFAULT_OUTPUT_DIR, RunOptions
from .validation import cycle_problems, dependency_digraph, node_label, validate
from .workflow import graph_from_document, graph_to_document

_run_ids = itertools.count(1)


@dataclass
class RunResult:
    """What a run did. ``status``: finished (all ran), failed (some node failed; the
    independent branches still ran) or cancelled."""

    run_id: int
    status: str
    order: list[str] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    bypassed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    failures: dict[str, Problem] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    values: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    total_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The --report entry for this run."""
        return {
            "run_id": self.run_id,
            "status": self.status,
            "executed": self.executed,
            "cached": self.cached,
            "bypassed": self.bypassed,
            "skipped": self.skipped,
            "failed": {k: str(v) for k, v in self.failures.items()},
            "seconds": {k: round(v, 6) for k, v in self.seconds.items()},
            "files": self.files,
            "total_seconds": round(self.total_seconds, 6),
        }


class Executor:
    """Runs graphs against one registry, keeping one cache across runs. Each run gets
    its :class:`RunOptions`; ``options`` (or the keywords, for short) are the default."""

    def __init__(self, registry: Registry, cache: NodeCache | None = None,
                 options: RunOptions | None = None, *, device: str = "auto",
                 output_dir: str | Path = DEFAULT_OUTPUT_DIR,
                 base_dir: str | Path | None = None, previews: bool = True) -> None:
        self.registry = registry
        self.cache = cache if cache is not None else NodeCache(DEFAULT_BUDGET)
        self.options = options or RunOptions(device=device, output_dir=str(output_dir),
                                             base_dir=base_dir, previews=previews)

    # -- planning --------------------------------------------------------------------
    def plan(self, graph: Graph, outputs: Iterable[str] | None = None) -> list[str]:
        """The nodes the requested outputs need, in a deterministic topological order.
        ``outputs`` defaults to every output node that is not muted."""
        if outputs is None:
            targets = [n.id for n in graph if not n.mute and self._is_output(n)]
        else:
            try:
                targets = [graph.find_node(ref).id for ref in outputs]
            except GraphError as error:
                raise WorkflowError([Problem("bad_document", str(error))]) from None
        digraph = dependency_digraph(graph)
        needed = set(targets)
        frontier = list(targets)
        while frontier:  # reverse breadth-first walk: iterative, linear
            for parent in digraph.predecessors(frontier.pop()):
                if parent not in needed:
                    needed.add(parent)
                    frontier.append(parent)
        index = {node_id: i for i, node_id in enumerate(graph.nodes)}
        if len(needed) < len(digraph):
            digraph.remove_nodes_from([n for n in graph.nodes if n not in needed])
        try:
            return list(nx.lexicographical_topological_sort(digraph, key=index.__getitem__))
        except nx.NetworkXUnfeasible:
            problems = [p for p in cycle_problems(graph) if p.node_id in needed]
            raise WorkflowError(problems or [Problem(
                "cycle", "the graph has a cycle", expected="a graph without cycles")]) from None

    def _is_output(self, node: Node) -> bool:
        spec = self.registry.get(node.type)
        return spec is not None and spec.output_node

    # -- running -----------------------------------------------------------------------
    def run(
        self,
        graph: Graph | dict[str, Any],
        outputs: Iterable[str] | None = None,
        *,
        on_event: Callable[[Event], None] | None = None,
        cancel: CancelToken | None = None,
        run_info: dict[str, Any] | None = None,
        keep_values: bool = False,
        options: RunOptions | None = None,
        partial: bool = False,
    ) -> RunResult:
        """Run ``graph`` (a Graph or a plain workflow document: a snapshot from any
        process). Raises WorkflowError, before running anything, if the part to run is
        invalid. Node failures do not raise: they are in the result and the events.
        ``keep_values`` keeps every visited node's outputs in ``result.values``
        (otherwise only the requested targets'). ``options`` defaults to the executor's.
        ``partial`` (the editor's runs) runs around invalid nodes instead: each fails with
        its problem and its descendants are skipped, unless nothing requested could run."""
        if isinstance(graph, dict):
            graph, load_problems = graph_from_document(graph, self.registry)
            if errors(load_problems):
                raise WorkflowError(errors(load_problems))
        emit = on_event or (lambda event: None)
        cancel = cancel or CancelToken()
        run_id = next(_run_ids)
        started = time.perf_counter()
        order = self.plan(graph, outputs)
        if outputs is None:
            targets = {n for n in order if self._is_output(graph.nodes[n])}
        else:
            targets = {graph.find_node(ref).id for ref in outputs}
        problems = errors(validate(graph, self.registry, order, cycles=False))
        invalid: dict[str, Problem] = {}
        if problems:
            invalid = _invalid_nodes(problems, graph, order, targets) if partial else {}
            if not invalid:
                emit(RunRejected(run_id, tuple(problems)))
                raise WorkflowError(problems)
        options = options or self.options
        run_info = dict(run_info or {})
        if options.base_dir is not None:  # recorded in saved images: re-runs find files
            run_info.setdefault("base_dir", str(options.base_path.resolve()))
        run = _Run(self, graph, order, targets, run_id, emit, cancel, run_info,
                   keep_values, options, invalid)
        emit(RunStarted(run_id, tuple(order)))
        result = run.execute()
        result.total_seconds = time.perf_counter() - started
        emit(RunFinished(run_id, result.status, result.total_seconds,
                         tuple(result.failures)))
        return result


def _invalid_nodes(problems: list[Problem], graph: Graph, order: list[str],
                   targets: set[str]) -> dict[str, Problem]:
    """For a partial run: each invalid node's first problem; {} (reject the run) when a
    problem is not a node's or when no target is left outside the invalid nodes and
    their descendants."""
    first: dict[str, Problem] = {}
    for problem in problems:
        if problem.node_id is None:
            return {}
        first.setdefault(problem.node_id, problem)
    blocked = set(first)
    for node_id in order:  # topological: every input is decided before its reader
        if any(link.src in blocked for link in graph.incoming(node_id).values()):
            blocked.add(node_id)
    return first if targets - blocked else {}


class _Run:
    """One run's state: keys, live values and the bookkeeping for freeing them."""

    def __init__(self, executor: Executor, graph: Graph, order: list[str], targets: set[str],
                 run_id: int, emit: Callable[[Event], None], cancel: CancelToken,
                 run_info: dict[str, Any], keep_values: bool, options: RunOptions,
                 invalid: dict[str, Problem]) -> None:
        self.graph, self.order, self.targets = graph, order, targets
        self.options = options
        self.invalid = invalid  # nodes a partial run fails up front, with their problem
        self.key_salt = options.cache_key_part()
        self.registry, self.cache = executor.registry, executor.cache
        self.emit, self.cancel, self.run_info = emit, cancel, run_info
        self.keep_values = keep_values
        self.result = RunResult(run_id, "finished", order=list(order))
        self.keys: dict[str, str] = {}
        self.live: dict[str, tuple[Any, ...]] = {}
        self.remaining: dict[str, int] = dict.fromkeys(order, 0)
        self.inputs = {node_id: graph.incoming(node_id) for node_id in order}
        for links in self.inputs.values():
            for src in {link.src for link in links.values()}:
                self.remaining[src] += 1
        self._workflow: dict[str, Any] | None = None

    @property
    def workflow(self) -> dict[str, Any]:
        """The run's graph as a document, made once, for nodes that embed it."""
        if self._workflow is None:
            self._workflow = graph_to_document(self.graph)
        return self._workflow

    def execute(self) -> RunResult:
        result = self.result
        for position, node_id in enumerate(self.order):
            if self.cancel.cancelled:
                self._cancel_rest(position)
                break
            node = self.graph.nodes[node_id]
            blocked = self._blocked_reason(node)
            if node_id in self.invalid:
                self._fail_invalid(node, self.invalid[node_id])
            elif blocked:
                result.skipped[node_id] = blocked
                self.emit(NodeSkipped(result.run_id, node_id, blocked))
            else:
                try:
                    self._visit(node)
                except Cancelled:
                    self._cancel_rest(position)
                    break
            self._release_inputs(node_id)
        if result.status != "cancelled" and result.failures:
            result.status = "failed"
        return result

    def _cancel_rest(self, position: int) -> None:
        self.result.status = "cancelled"
        for node_id in self.order[position:]:
            if node_id not in self.result.executed:
                self.result.skipped.setdefault(node_id, "the run was cancelled")

    def _blocked_reason(self, node: Node) -> str | None:
        if node.mute:
            return "the node is muted"
        for name, link in self.inputs[node.id].items():
            failed = link.src in self.result.failures
            if failed or link.src in self.result.skipped:
                source = node_label(self.graph.nodes[link.src], self.registry)
                verb = "failed" if failed else "did not run"
                return f"input {name!r} comes from {source}, which {verb}"
        return None

    def _release_inputs(self, node_id: str) -> None:
        """Drop values nobody later needs (the cache may still hold its own reference)."""
        for src in {link.src for link in self.inputs[node_id].values()}:
            self.remaining[src] -= 1
            if self.remaining[src] == 0 and src not in self.targets and not self.keep_values:
                self.live.pop(src, None)
        if self.remaining[node_id] == 0 and node_id not in self.targets and not self.keep_values:
            self.live.pop(node_id, None)
        if node_id in self.live and (node_id in self.targets or self.keep_values):
            self.result.values[node_id] = self.live[node_id]

    def _visit(self, node: Node) -> None:
        spec = self.registry[node.type]
        if node.bypass:
            self._bypass(node, spec)
            return
        params = self._params(node, spec)  # once: path params may touch the disk
        key = self._key(node, spec, params)
        self.keys[node.id] = key
        entry = self.cache.get(key)
        if entry is not None and all(Path(f).exists() for f in entry.files):
            self.live[node.id] = entry.values
            self.result.cached.append(node.id)
            self.result.files.extend(entry.files)
            self.emit(NodeCached(self.result.run_id, node.id))
            if entry.images or entry.files:
                self.emit(NodeOutput(self.result.run_id, node.id, entry.images, entry.files))
            return
        self._call(node, spec, key, params)

    def _call(self, node: Node, spec: NodeSpec, key: str, params: dict[str, Any]) -> None:
        run_id = self.result.run_id
        kwargs = dict(params)
        links = self.inputs[node.id]
        for port in spec.inputs:
            link = links.get(port.name)
            kwargs[port.name] = None if link is None else self._value(link)
        for param in spec.params:
            link = links.get(param.name)
            if link is not None:
                kwargs[param.name] = param.check(self._value(link))
        ctx = NodeContext(node.id, node.title or spec.title, run_id, self.cancel, self.emit,
                          self.options, run_info=self.run_info)
        if spec.wants_context:
            ctx.workflow_source = lambda: self.workflow
            kwargs["ctx"] = ctx
        self.emit(NodeStarted(run_id, node.id))
        started = time.perf_counter()
        token = current_node.set(ctx)  # for add_time() deep inside the node
        try:
            values = self._call_with_retry(spec, kwargs)
        except Cancelled:
            raise
        except Exception as error:  # any node failure is reported, never fatal
            self._fail(node, spec, error)
            return
        finally:
            current_node.reset(token)
        seconds = time.perf_counter() - started
        self.live[node.id] = values
        self.result.executed.append(node.id)
        self.result.seconds[node.id] = seconds
        self.result.files.extend(ctx.files)
        if ctx.images or ctx.files:
            self.emit(NodeOutput(run_id, node.id, tuple(ctx.images), tuple(ctx.files)))
        if spec.deterministic:
            images = tuple(ctx.images)  # previews are held too: count them
            entry = CacheEntry(values, estimate_nbytes((values, images)), images,
                               tuple(ctx.files))
            self.cache.put(key, entry)
        self.emit(NodeFinished(run_id, node.id, seconds, tuple(ctx.timings.items())))

    def _call_with_retry(self, spec: NodeSpec, kwargs: dict[str, Any]) -> tuple[Any, ...]:
        """Call the node; on out-of-memory, free the cache and try once more."""
        try:
            return self._normalise(spec, spec.function(**kwargs))
        except Exception as error:
            if not is_out_of_memory(error):
                raise
        self.cache.clear()
        gc.collect()
        for free in self.registry.on_out_of_memory:
            free()
        return self._normalise(spec, spec.function(**kwargs))

    @staticmethod
    def _normalise(spec: NodeSpec, returned: Any) -> tuple[Any, ...]:
        count = len(spec.outputs)
        if count == 0:
            return ()
        if count == 1:
            return (returned,)
        if not isinstance(returned, tuple) or len(returned) != count:
            raise TypeError(f"{spec.id} returned {type(returned).__name__}, "
                            f"expected a tuple of {count} outputs")
        return returned

    def _fail(self, node: Node, spec: NodeSpec, error: Exception) -> None:
        own_words = isinstance(error, NodeInputError)  # the node's words: no class name
        field = error.field if own_words else None
        message = str(error) or repr(error)
        failure = Problem(
            "bad_input" if own_words else "node_failed",
            message if own_words else f"{type(error).__name__}: {message}",
            node.id, node.title or spec.title, field,
            field_kind=None if field is None else
            "param" if spec.param(field) is not None else "input",
            traceback="".join(traceback.format_exception(error)),
        )
        self.result.failures[node.id] = failure
        self.emit(NodeFailed(self.result.run_id, node.id, failure))

    def _fail_invalid(self, node: Node, problem: Problem) -> None:
        """A node a partial run cannot run (e.g. a required input not connected): its
        validation problem is its failure."""
        spec = self.registry.get(node.type)
        kind = None
        if problem.field and spec is not None:
            kind = "param" if spec.param(problem.field) is not None else "input"
        failure = dataclasses.replace(problem, field_kind=kind)
        self.result.failures[node.id] = failure
        self.emit(NodeFailed(self.result.run_id, node.id, failure))

    def _bypass(self, node: Node, spec: NodeSpec) -> None:
        """A bypassed node passes, for each output, its first linked input of that type."""
        values, sources = [], []
        links = self.inputs[node.id]
        for port in spec.outputs:
            match = next((links[i.name] for i in spec.inputs
                          if i.type == port.type and i.name in links), None)
            if match is None:
                self._fail(node, spec, TypeError(
                    f"is bypassed, but has no linked input of type {port.type} to pass "
                    f"through to output {port.name!r}"))
                return
            values.append(self._value(match))
            sources.append([self.keys.get(match.src), match.src_output])
        self.keys[node.id] = _hash(["bypass", sources])
        self.live[node.id] = tuple(values)
        self.result.bypassed.append(node.id)

    def _value(self, link) -> Any:
        spec = self.registry[self.graph.nodes[link.src].type]
        return self.live[link.src][spec.output_index[link.src_output]]

    def _params(self, node: Node, spec: NodeSpec) -> dict[str, Any]:
        """Param values as the node sees them: relative file paths are resolved against
        the workflow's folder when the file is there (else left relative to the cwd)."""
        params = {p.name: node.params.get(p.name, p.default) for p in spec.params}
        for param in spec.params:
            if param.kind == "path":
                params[param.name] = resolve_input_path(params[param.name],
                                                        self.options.base_path)
        return params

    def _key(self, node: Node, spec: NodeSpec, params: dict[str, Any]) -> str:
        links = self.inputs[node.id]
        if not spec.deterministic:
            return _hash(["nondeterministic", uuid.uuid4().hex])
        params = {k: v for k, v in params.items() if k not in links}
        fingerprint = None
        if spec.fingerprint is not None:
            try:
                fingerprint = spec.fingerprint(params)
            except Exception:  # the node itself will report the problem when it runs
                fingerprint = uuid.uuid4().hex
        inputs = sorted((name, self.keys[link.src], link.src_output)
                        for name, link in links.items())
        extra = str(self.options.output_path.resolve()) if spec.output_node else None
        return _hash([spec.id, spec.version, params, fingerprint, inputs, extra,
                      self.key_salt])


def _hash(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


__all__ = ["Executor", "Problem", "RunResult"]
