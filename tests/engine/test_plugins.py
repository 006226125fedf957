"""Third-party node packages register through the nodegraph.nodes entry point group."""

import subprocess
import sys
import textwrap

PLUGIN = '''
from nodegraph.registry import IntParam, Output, node
from nodegraph.types import INT


@node("acme.Answer", "Answer", "acme", params=[IntParam("value", 42)],
      outputs=[Output("value", INT)])
def answer(value):
    return value
'''


def _install_plugin(site, name, entry):
    (site / f"{name}.py").write_text(PLUGIN if entry.endswith(name) else "raise ImportError('x')")
    dist = site / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[nodegraph.nodes]\n{name} = {entry}\n")


def test_plugin_nodes_appear_in_the_registry_and_the_cli(tmp_path):
    _install_plugin(tmp_path, "acme_nodes", "acme_nodes")
    _install_plugin(tmp_path, "broken_nodes", "broken_nodes:missing")
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        from nodegraph_app import main
        sys.exit(main(["nodes"]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "acme.Answer  (Answer)" in result.stdout
    assert "image.Solid" in result.stdout  # built-ins are still there
    assert "plugin 'broken_nodes'" in result.stderr  # a broken plugin is reported, not fatal
