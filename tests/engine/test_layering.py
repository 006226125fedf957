"""The layers keep their promises: the engine, the node library and the editor import
without torch, so listing nodes and opening the editor stay fast."""

import subprocess
import sys


def _imported_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120, check=True)
    return set(result.stdout.split())


def test_engine_and_node_registry_import_without_torch_or_qt():
    modules = _imported_after(
        "import nodegraph.cli, nodegraph.executor\n"
        "from nodegraph_app import default_registry\n"
        "default_registry()")
    heavy = {"torch", "diffusers", "transformers", "PySide6", "cv2", "spandrel"}
    assert not heavy & modules


def test_cli_help_imports_nothing_heavy():
    modules = _imported_after(
        "from nodegraph.cli import build_parser\nbuild_parser().format_help()")
    assert not {"torch", "networkx", "numpy", "PIL"} & modules


def test_the_engine_reaches_up_by_no_string_import():
    """import-linter sees only static imports: the engine must not dodge it by naming
    the node library, the editor or torch in importlib calls or sys.modules look-ups."""
    import re
    from pathlib import Path

    engine = Path(__file__).resolve().parents[2] / "nodegraph"
    escape = re.compile(r"""import_module\(\s*["'](ui|nodes|torch|nodegraph_app)\b"""
                        r"""|sys\.modules(\.get\(|\[)\s*["'](torch|ui|nodes)""")
    hits = [f"{path.name}:{number}" for path in sorted(engine.rglob("*.py"))
            for number, line in enumerate(path.read_text().splitlines(), 1)
            if escape.search(line)]
    assert hits == []
