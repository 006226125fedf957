"""Executor overhead on image-op graphs (issue 2's benchmark).

Chains of N nodes (solid 64x64 -> alternating invert / blend-with-the-source -> preview)
and a 201-node fan (100 distinct blends reduced by a binary blend tree -> preview).
For each: full run on a fresh executor, identical re-run, re-run after changing the last
blend's factor, and the bare cost of calling the same node functions directly.
Medians over repeats.  Usage: python benchmarks/engine_bench.py [--repeats 7] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Callable

from nodegraph.executor import Executor
from nodegraph.graph import Graph
from nodegraph_app import default_registry
from nodes.image import basic, io


def chain_graph(n: int) -> tuple[Graph, str]:
    """solid -> (invert | blend with the source) x (n-2) -> preview; returns the last blend."""
    graph = Graph()
    source = graph.add_node("image.Solid", {"width": 64, "height": 64, "batch": 1,
                                            "color": "#336699"}).id
    previous, last_blend = source, None
    for i in range(n - 2):
        if i % 2 == 0:
            node = graph.add_node("image.Invert").id
            graph.connect(previous, "image", node, "image")
        else:
            node = graph.add_node("image.Blend", {"factor": 0.5, "mode": "normal"}).id
            graph.connect(previous, "image", node, "base")
            graph.connect(source, "image", node, "top")
            last_blend = node
        previous = node
    preview = graph.add_node("image.Preview").id
    graph.connect(previous, "image", preview, "images")
    return graph, last_blend


def fan_graph() -> tuple[Graph, str]:
    """solid -> 100 blends (distinct factors) -> binary tree of 99 blends -> preview."""
    graph = Graph()
    source = graph.add_node("image.Solid", {"width": 64, "height": 64, "batch": 1,
                                            "color": "#336699"}).id
    layer = []
    for i in range(100):
        node = graph.add_node("image.Blend", {"factor": i / 100, "mode": "multiply"}).id
        graph.connect(source, "image", node, "base")
        graph.connect(source, "image", node, "top")
        layer.append(node)
    while len(layer) > 1:
        nxt = []
        for a, b in zip(layer[0::2], layer[1::2]):
            node = graph.add_node("image.Blend", {"factor": 0.5, "mode": "normal"}).id
            graph.connect(a, "image", node, "base")
            graph.connect(b, "image", node, "top")
            nxt.append(node)
        if len(layer) % 2:
            nxt.append(layer[-1])
        layer = nxt
    preview = graph.add_node("image.Preview").id
    graph.connect(layer[0], "image", preview, "images")
    return graph, layer[0]


class _Ctx:
    def show_images(self, images):
        pass


def direct_cost(graph: Graph) -> float:
    """Seconds to call the node functions in order with no engine around them."""
    functions = {"image.Solid": basic.solid, "image.Invert": basic.invert,
                 "image.Blend": basic.blend}
    values: dict[str, object] = {}
    start = time.perf_counter()
    for node in graph.nodes.values():
        inputs = {name: values[link.src] for name, link in graph.incoming(node.id).items()}
        if node.type == "image.Preview":
            io.preview_image(inputs["images"], _Ctx())
        else:
            values[node.id] = functions[node.type](**inputs, **node.params)
    return time.perf_counter() - start


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def measure(name: str, build: Callable[[], tuple[Graph, str]], repeats: int) -> dict:
    registry = default_registry(plugins=False)
    graph, last_blend = build()

    def full():
        Executor(registry, output_dir="/tmp/nodegraph-bench").run(graph)

    executor = Executor(registry, output_dir="/tmp/nodegraph-bench")
    executor.run(graph)
    factors = iter([0.1 + 0.8 * i / (repeats + 2) for i in range(repeats + 2)])

    def late_change():
        graph.set_param(last_blend, "factor", next(factors))
        result = executor.run(graph)
        assert len(result.executed) == 2, result.executed

    rerun_ms = median_ms(lambda: executor.run(graph), repeats)
    row = {
        "graph": name, "nodes": len(graph),
        "full_ms": median_ms(full, repeats),
        "rerun_ms": rerun_ms,
        "late_change_ms": median_ms(late_change, repeats),
        "direct_ms": median_ms(lambda: direct_cost(graph), repeats),
    }
    row["overhead_per_node_us"] = (row["full_ms"] - row["direct_ms"]) * 1000 / row["nodes"]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    rows = [measure(f"chain-{n}", lambda n=n: chain_graph(n), args.repeats if n < 10_000
                    else max(3, args.repeats // 2)) for n in (50, 200, 1000, 10_000)]
    rows.append(measure("fan-201", fan_graph, args.repeats))
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"{__import__('os').cpu_count()} cores, Python {platform.python_version()}, "
          f"torch {torch.__version__} (1 thread)")
    print("| graph | nodes | full run ms | identical re-run ms | late-change re-run ms "
          "| direct node calls ms | engine overhead µs/node |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['graph']} | {r['nodes']} | {r['full_ms']:.2f} | {r['rerun_ms']:.2f} | "
              f"{r['late_change_ms']:.2f} | {r['direct_ms']:.2f} | "
              f"{r['overhead_per_node_us']:.1f} |")
    if args.json:
        with open(args.json, "w") as file:
            json.dump(rows, file, indent=2)


if __name__ == "__main__":
    main()
