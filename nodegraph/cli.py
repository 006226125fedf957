"""The ``nodegraph`` command: run, validate and list nodes headless; open the editor.

Exit codes: 0 success; 1 a node failed at run time; 2 invalid workflow or arguments;
130 interrupted. Errors are printed as messages naming the node and input, never as
bare tracebacks.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
from pathlib import Path
from typing import Any

from . import __version__
from .cache import DEFAULT_BUDGET_MB
from .host import Host
from .problems import Problem, WorkflowError, errors
from .run_options import DEFAULT_OUTPUT_DIR

EXIT_OK, EXIT_NODE_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad command-line arguments (exit code 2)."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (kept import-light so --help is instant)."""
    parser = argparse.ArgumentParser(
        prog="nodegraph", description="Node-based diffusion image generation.")
    parser.add_argument("--version", action="version", version=f"nodegraph {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run a workflow headless")
    run.add_argument("workflow", help="workflow .json file, or a PNG made by Save image "
                     "(it carries its workflow)")
    run.add_argument("-o", "--output-dir", default=DEFAULT_OUTPUT_DIR,
                     help="folder for saved images (default: ./output, created if needed)")
    run.add_argument("--set", action="append", default=[], metavar="NODE.PARAM=VALUE",
                     help="override a param (NODE is a node id or a unique title)")
    run.add_argument("--sweep", action="append", default=[], metavar="NODE.PARAM=V1,V2,...",
                     help="run once per value (several --sweep: every combination), "
                          "in one process, reusing the cache")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    run.add_argument("--dtype", default="auto", choices=["auto", "fp32", "fp16", "bf16"],
                     help="compute precision (auto: fp32 on the CPU, fp16 on a GPU)")
    run.add_argument("--report", metavar="REPORT.json",
                     help="write what ran, what was cached, timings and files as JSON")
    run.add_argument("--output", action="append", dest="outputs", metavar="NODE",
                     help="run only what this node needs (default: every output node)")
    run.add_argument("--cache-mb", type=int, default=DEFAULT_BUDGET_MB,
                     help="cache budget in MiB")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar")

    validate = commands.add_parser("validate", help="check a workflow without running it")
    validate.add_argument("workflow", help="workflow .json file, or a PNG made by Save image")
    validate.add_argument("--json", action="store_true", help="problems as JSON")

    nodes = commands.add_parser("nodes", help="list the node types")
    nodes.add_argument("--json", action="store_true", help="full declarations as JSON")

    gui = commands.add_parser("gui", help="open the editor")
    gui.add_argument("workflow", nargs="?")
    gui.add_argument("--screenshot", metavar="FILE.png",
                     help="render the window to a PNG and exit")
    gui.add_argument("--run", action="store_true", help="run the workflow before the screenshot")
    return parser


def main(argv: list[str] | None, host: Host) -> int:
    """The ``nodegraph`` command, with the node library, device policy and editor that
    ``host`` provides (the console script is :func:`nodegraph_app.main`)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            return _run(args, host)
        if args.command == "validate":
            return _validate(args, host)
        if args.command == "nodes":
            return _nodes(args, host)
        return _gui(args, host)
    except WorkflowError as error:
        if getattr(args, "json", False):
            print(json.dumps([p.to_json() for p in error.problems], indent=2))
        else:
            _print_problems(error.problems, getattr(args, "workflow", None))
        return EXIT_INVALID
    except UsageError as error:
        print(f"nodegraph: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        print("nodegraph: interrupted", file=sys.stderr)
        if argv is None:  # the program itself, not a caller in the same process
            _exit_quietly_on_further_interrupts()
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return EXIT_OK


def _exit_quietly_on_further_interrupts() -> None:
    """After the first Ctrl-C the process is shutting down: another Ctrl-C (impatient
    users press it three times) ends it at once instead of printing tracebacks from
    libraries' exit handlers (torch's among them)."""
    import os
    import signal

    def leave(signum: int, frame: Any) -> None:
        sys.stderr.flush()
        os._exit(EXIT_INTERRUPTED)

    with contextlib.suppress(ValueError):  # ValueError: not the main thread
        signal.signal(signal.SIGINT, leave)


def _print_problems(problems: list[Problem], source: str | None = None) -> None:
    """The problems, one a line, under a header naming the file when any is an error."""
    count = len(errors(problems))
    if count:
        where = f" in {source}" if source else ""
        print(f"nodegraph: {count} problem{'s' * (count != 1)}{where}:", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)


def _registry(host: Host):
    registry = host.make_registry(True)
    for message in registry.plugin_errors:
        print(f"nodegraph: warning: {message}", file=sys.stderr)
    return registry


def _problems(graph, document_problems: list[Problem], registry, folder: Path) -> list[Problem]:
    """Every problem `validate` reports: the document's, the graph's, missing files."""
    from .validation import missing_file_problems, validate

    return (document_problems + validate(graph, registry)
            + missing_file_problems(graph, registry, folder))


def _validate(args: argparse.Namespace, host: Host) -> int:
    from .workflow import base_dir, load_document

    registry = _registry(host)
    graph, document_problems = load_document(args.workflow, registry)
    problems = _problems(graph, document_problems, registry, base_dir(args.workflow))
    if args.json:
        print(json.dumps([p.to_json() for p in problems], indent=2))
    elif problems:
        _print_problems(problems, args.workflow)
    if errors(problems):
        return EXIT_INVALID
    if not args.json:
        print(f"{args.workflow}: valid ({_count(len(graph), 'node')}, "
              f"{_count(len(graph.links), 'link')})")
    return EXIT_OK


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def _nodes(args: argparse.Namespace, host: Host) -> int:
    registry = _registry(host)
    if args.json:
        print(json.dumps(registry.to_json(), indent=2, default=str))
        return EXIT_OK
    category = None
    for spec in registry:
        if spec.category != category:
            if category is not None:
                print()
            print(f"[{spec.category}]")
            category = spec.category
        inputs = ", ".join(f"{i.name}: {i.type}{'?' * i.optional}" for i in spec.inputs)
        params = ", ".join(_param_summary(p) for p in spec.params)
        outputs = ", ".join(f"{o.name}: {o.type}" for o in spec.outputs)
        print(f"  {spec.id}  ({spec.title})")
        for label, text in (("in", inputs), ("params", params), ("out", outputs)):
            if text:
                print(f"      {label:<7}{text}")
    return EXIT_OK


def _param_summary(param) -> str:
    """``name=default`` plus its choices (up to 8) or range, for `nodegraph nodes`."""
    text = f"{param.name}={param.default!r}"
    choices = param.current_choices() if param.kind == "enum" else []
    if choices:
        more = f"|... {len(choices) - 8} more" if len(choices) > 8 else ""
        return f"{text} {{{'|'.join(choices[:8])}{more}}}"
    if param.min is not None or param.max is not None:
        return f"{text} [{_number(param.min)}..{_number(param.max)}]"
    return text


def _number(value: float | None) -> str:
    """A bound as people write it: integers in full (a seed's 18446744073709551615)."""
    if value is None:
        return ""
    return str(value) if isinstance(value, int) else f"{value:g}"


def _split_assignment(text: str, option: str) -> tuple[str, str, str]:
    target, sep, value = text.partition("=")
    node_ref, dot, param = target.rpartition(".")
    if not sep or not dot or not node_ref or not param:
        raise UsageError(f"{option} {text!r}: expected NODE.PARAM=VALUE")
    return node_ref, param, value


def _resolve(graph, registry, node_ref: str, param_name: str, option: str):
    from .graph import GraphError

    try:
        node = graph.find_node(node_ref)
    except GraphError as error:
        raise UsageError(f"{option}: {error}") from None
    spec = registry.get(node.type)
    param = spec.param(param_name) if spec else None
    if param is None:
        names = ", ".join(p.name for p in spec.params) if spec else "unknown node type"
        raise UsageError(f"{option}: node {node.label()} has no param {param_name!r} "
                         f"(params: {names})")
    if graph.link_into(node.id, param_name) is not None:
        raise UsageError(f"{option}: param {param_name!r} of {node.label()} is driven by a "
                         "link; set the node it comes from instead")
    return node, param


def _parse_value(param, node, text: str, option: str) -> Any:
    from .registry import ParamValueError

    try:
        text.encode("utf-8")  # undecodable bytes in argv arrive as lone surrogates
        return param.parse(text)
    except UnicodeEncodeError:
        raise UsageError(f"{option}: {node.label()} param {param.name!r}: the value is not "
                         "valid UTF-8 text") from None
    except ParamValueError as error:
        raise UsageError(f"{option}: {node.label()} param {param.name!r}: {error}") from None


def _run(args: argparse.Namespace, host: Host) -> int:
    from .cache import NodeCache
    from .executor import Executor
    from .run_options import RunOptions
    from .workflow import base_dir, load_document

    registry = _registry(host)
    graph, document_problems = load_document(args.workflow, registry)
    folder = base_dir(args.workflow)
    set_by = {}
    for text in args.set:
        node_ref, name, value = _split_assignment(text, "--set")
        node, param = _resolve(graph, registry, node_ref, name, "--set")
        graph.set_param(node.id, name, _parse_value(param, node, value, "--set"))
        set_by[(node.id, name)] = text
    axes = []
    for text in args.sweep:
        node_ref, name, values = _split_assignment(text, "--sweep")
        node, param = _resolve(graph, registry, node_ref, name, "--sweep")
        parsed = [_parse_value(param, node, v, "--sweep") for v in values.split(",")]
        axes.append([(node.id, name, v) for v in parsed])
        if (node.id, name) in set_by:
            raise UsageError(f"--set {set_by[node.id, name]!r} and --sweep {text!r} both give "
                             f"{node.label()} param {name!r}; keep one")
    first = graph.copy()  # checked as the first run will see it (--set and --sweep applied)
    for node_id, name, value in (axis[0] for axis in axes):
        first.set_param(node_id, name, value)
    problems = _problems(first, document_problems, registry, folder)
    # a missing input file fails only its node and what follows it, at run time; any other
    # error refuses the run, printing every problem validate prints
    if errors(p for p in problems if p.code != "missing_file") and not args.outputs:
        raise WorkflowError(problems)
    warnings = [p for p in problems if p.severity != "error"]
    if warnings:
        _print_problems(warnings)
    if args.cache_mb <= 0:
        raise UsageError("--cache-mb must be positive")
    _check_output_dir(args.output_dir)
    if args.report:
        _check_report_path(args.report)
    try:
        host.check_device(args.device)
    except ValueError as error:
        raise UsageError(str(error)) from None
    options = RunOptions(device=args.device, dtype=args.dtype, output_dir=args.output_dir,
                         base_dir=str(folder), previews=False)
    executor = Executor(registry, NodeCache(args.cache_mb * 1024**2), options)
    reports, worst = [], EXIT_OK
    combos = list(itertools.product(*axes)) if axes else [()]
    for index, combo in enumerate(combos):
        run_graph = graph.copy()
        for node_id, name, value in combo:
            run_graph.set_param(node_id, name, value)
        label = ", ".join(f"{graph.nodes[n].title or n}.{p}={v}" for n, p, v in combo)
        if len(combos) > 1:
            print(f"run {index + 1}/{len(combos)}: {label}", file=sys.stderr)
        info = {"workflow": str(args.workflow), "set": args.set,
                "sweep": {f"{n}.{p}": v for n, p, v in combo}}
        try:
            result = _run_once(executor, run_graph, args, info)
        except WorkflowError as error:  # the part to run is invalid: show the whole list
            raise WorkflowError(error.problems + [p for p in problems
                                                  if p not in error.problems]) from None
        reports.append({"set": info["sweep"], **result.to_json()})
        for path in result.files:
            print(path)
        if not result.files and not result.failures:
            print(f"nodegraph: ran {_count(len(result.executed), 'node')}, "
                  f"{len(result.cached)} from the cache; no files written", file=sys.stderr)
        for failure in result.failures.values():
            print(f"nodegraph: {failure}", file=sys.stderr)
        if result.status == "cancelled":
            worst = EXIT_INTERRUPTED
        elif result.failures and worst == EXIT_OK:
            worst = EXIT_NODE_FAILED
    if args.report:
        from .files import write_atomic

        try:
            write_atomic(args.report, json.dumps({"runs": reports}, indent=2).encode())
        except OSError as error:  # checked up front; the disk may still fill up
            print(f"nodegraph: cannot write the report {args.report}: {error}", file=sys.stderr)
            return worst or EXIT_NODE_FAILED
    return worst


def _check_folder(folder: Path, option: str) -> None:
    """Refuse a folder that cannot take files: checked without creating it (a run that
    saves nothing leaves no empty folder behind), through its nearest existing parent."""
    import os

    path = folder.absolute()
    existing = next(p for p in (path, *path.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        raise UsageError(f"{option}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"{option}: cannot write into {existing} (permission denied)")


def _check_output_dir(folder: str) -> None:
    """Refuse, before anything runs, an output folder that cannot take files."""
    _check_folder(Path(folder), f"-o {folder}")


def _check_report_path(report: str) -> None:
    """Refuse, before anything runs, a --report path that cannot be written."""
    import os

    path = Path(report)
    if path.is_dir():
        raise UsageError(f"--report {report}: this is a folder; give a file name")
    _check_folder(path.parent, f"--report {report}")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"--report {report}: cannot write there (permission denied)")


def _run_once(executor, graph, args: argparse.Namespace, info: dict[str, Any]):
    from .context import CancelToken
    from .progress import ProgressPrinter

    cancel = CancelToken()
    printer = ProgressPrinter(graph, enabled=not args.quiet and sys.stderr.isatty())
    try:
        return executor.run(graph, args.outputs, on_event=printer, cancel=cancel,
                            run_info=info)
    except KeyboardInterrupt:
        cancel.cancel()
        raise
    finally:
        printer.close()


def _gui(args: argparse.Namespace, host: Host) -> int:
    if host.open_editor is None:
        raise UsageError("the editor is not available in this installation")
    return host.open_editor(args, _registry(host))
