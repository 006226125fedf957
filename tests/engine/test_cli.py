"""The headless command line: run, validate, nodes; exit codes and messages."""

import json
import os
import subprocess
import sys

import pytest

from nodegraph.graph import Graph
from nodegraph.workflow import save
from nodegraph_app import main


@pytest.fixture
def workflow(tmp_path):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 8, "height": 8, "color": "#ff0000"},
                           title="Fill")
    invert = graph.add_node("image.Invert")
    blend = graph.add_node("image.Blend", {"factor": 0.5}, title="Mix")
    out = graph.add_node("image.Save", {"filename_prefix": "cli"})
    graph.connect(solid.id, "image", invert.id, "image")
    graph.connect(solid.id, "image", blend.id, "base")
    graph.connect(invert.id, "image", blend.id, "top")
    graph.connect(blend.id, "image", out.id, "images")
    path = tmp_path / "wf.json"
    save(graph, path)
    return path


def test_run_prints_files_and_writes_a_report(workflow, tmp_path, capsys):
    report = tmp_path / "report.json"
    code = main(["run", str(workflow), "-o", str(tmp_path / "o"), "--report", str(report)])
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert printed == [str(tmp_path / "o" / "cli_00001.png")]
    [run] = json.loads(report.read_text())["runs"]
    assert run["executed"] == ["1", "2", "3", "4"] and run["cached"] == []
    assert set(run["seconds"]) == {"1", "2", "3", "4"}
    assert run["files"] == printed


def test_sweep_reuses_the_cache(workflow, tmp_path):
    report = tmp_path / "report.json"
    code = main(["run", str(workflow), "-o", str(tmp_path / "o"), "--report", str(report),
                 "--sweep", "Mix.factor=0,0.5,1", "--set", "1.width=16"])
    assert code == 0
    runs = json.loads(report.read_text())["runs"]
    assert [r["set"] for r in runs] == [{"3.factor": 0.0}, {"3.factor": 0.5}, {"3.factor": 1.0}]
    assert runs[0]["executed"] == ["1", "2", "3", "4"]
    assert [r["executed"] for r in runs[1:]] == [["3", "4"], ["3", "4"]]
    assert [r["cached"] for r in runs[1:]] == [["1", "2"], ["1", "2"]]
    assert len({f for r in runs for f in r["files"]}) == 3


@pytest.mark.parametrize(("args", "message"), [
    (["--set", "Nobody.width=3"], "no node has id or title 'Nobody'"),
    (["--set", "Fill.depth=3"], "has no param 'depth' (params: width, height, batch, color)"),
    (["--set", "Fill.width=huge"], "param 'width': expected an integer, got 'huge'"),
    (["--set", "Fill.width=0"], "param 'width': expected at least 1, got 0"),
    (["--set", "width=3"], "expected NODE.PARAM=VALUE"),
    (["--sweep", "Mix.mode=normal,sparkle"], "expected one of: normal"),
    (["--set", "4.filename_prefix=shot\udcff"], "the value is not valid UTF-8 text"),
])
def test_bad_arguments_exit_2_with_a_message(workflow, tmp_path, capsys, args, message):
    assert main(["run", str(workflow), "-o", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


def test_invalid_workflow_exits_2_listing_every_problem(tmp_path, capsys):
    graph = Graph()
    graph.add_node("image.Solid", {"width": 0}, title="Fill")
    graph.add_node("image.Save", title="Out")
    graph.add_node("vendor.Unknown")
    graph.add_node("image.Solidd", title="Typo")
    path = tmp_path / "bad.json"
    save(graph, path)
    assert main(["validate", str(path)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == f"nodegraph: 4 problems in {path}:"  # the header comes first
    assert "  node Fill (#1), 'width': expected at least 1, got 0" in lines
    assert "  node Out (#2), 'images': required input is not connected (expects IMAGE)" in lines
    assert any("unknown node type 'vendor.Unknown'" in line for line in lines)
    assert any("node Typo (#4): unknown node type 'image.Solidd': did you mean 'image.Solid'?"
               in line for line in lines)
    assert main(["validate", str(path), "--json"]) == 2
    problems = json.loads(capsys.readouterr().out)
    assert [p["code"] for p in problems] == ["bad_param", "missing_input", "unknown_node_type",
                                             "unknown_node_type"]


def test_malformed_and_missing_files_exit_2(tmp_path, capsys):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "nodegraph.workflow",\n "version": 1,\n "nodes": [}')
    assert main(["run", str(broken)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nodegraph: 1 problem in {broken}:")
    assert "line 3, column 12: not valid JSON" in err
    assert main(["validate", str(tmp_path / "absent.json")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_node_failure_exits_1_naming_the_node(tmp_path):
    graph = Graph()
    load = graph.add_node("image.Load", {"path": "missing.png"}, title="Photo")
    preview = graph.add_node("image.Preview")
    graph.connect(load.id, "image", preview.id, "images")
    path = tmp_path / "wf.json"
    save(graph, path)
    result = subprocess.run([sys.executable, "-m", "nodegraph_app", "run", str(path)],
                            capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert result.returncode == 1
    assert "node Photo (#1), param 'path': file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_reports_a_missing_input_file_and_finds_one_beside_the_workflow(
        tmp_path, capsys, monkeypatch):
    from PIL import Image

    graph = Graph()
    photo = graph.add_node("image.Load", {"path": "photo.png"}, title="Photo")
    preview = graph.add_node("image.Preview")
    graph.connect(photo.id, "image", preview.id, "images")
    folder = tmp_path / "wf"
    folder.mkdir()
    save(graph, folder / "wf.json")
    monkeypatch.chdir(tmp_path)  # relative paths resolve beside the workflow, not here
    assert main(["validate", str(folder / "wf.json")]) == 2
    err = capsys.readouterr().err
    assert "Photo (#1)" in err and "'path'" in err and "file not found: photo.png" in err
    Image.new("RGB", (4, 4)).save(folder / "photo.png")
    assert main(["validate", str(folder / "wf.json")]) == 0
    assert "valid (2 nodes, 1 link)" in capsys.readouterr().out


def test_validate_ok_and_nodes_json(workflow, capsys):
    assert main(["validate", str(workflow)]) == 0
    assert "valid (4 nodes, 4 links)" in capsys.readouterr().out
    assert main(["nodes"]) == 0
    listing = capsys.readouterr().out
    assert listing.startswith("[")  # no blank first line
    assert "width=512 [1..16384]" in listing  # ranges and choices are shown
    assert "mode='normal' {normal|" in listing
    assert main(["nodes", "--json"]) == 0
    specs = {s["id"]: s for s in json.loads(capsys.readouterr().out)}
    solid = specs["image.Solid"]
    assert solid["params"][0] == {"name": "width", "kind": "int", "default": 512, "min": 1,
                                  "max": 16384, "step": 1}
    assert specs["image.Blend"]["inputs"] == [
        {"name": "base", "type": "IMAGE", "optional": False},
        {"name": "top", "type": "IMAGE", "optional": False}]


def test_a_png_made_by_save_image_runs_as_its_workflow(workflow, tmp_path, capsys):
    assert main(["run", str(workflow), "-o", str(tmp_path / "first")]) == 0
    png = capsys.readouterr().out.split()[0]
    assert main(["validate", png]) == 0
    assert "valid (4 nodes, 4 links)" in capsys.readouterr().out
    assert main(["run", png, "-o", str(tmp_path / "again"), "--set", "Fill.color=#00ff00"]) == 0
    assert capsys.readouterr().out.split() == [str(tmp_path / "again" / "cli_00001.png")]


def test_png_without_workflow_and_unavailable_device_exit_2(workflow, tmp_path, capsys):
    import torch
    from PIL import Image

    plain = tmp_path / "plain.png"
    Image.new("RGB", (4, 4)).save(plain)
    assert main(["validate", str(plain), "--json"]) == 2
    assert "PNG without an embedded workflow" in capsys.readouterr().out
    if not torch.cuda.is_available():
        assert main(["run", str(workflow), "--device", "cuda"]) == 2
        assert "no CUDA device is available" in capsys.readouterr().err


def test_a_self_link_is_reported_by_validate_and_run(tmp_path, capsys):
    document = {
        "format": "nodegraph.workflow",
        "version": 1,
        "nodes": [
            {"id": "1", "type": "image.Solid", "params": {"width": 4, "height": 4}},
            {"id": "2", "type": "image.Invert", "title": "Loop"},
            {"id": "3", "type": "image.Save"},
        ],
        "links": [
            {"id": 7, "from": ["2", "image"], "to": ["2", "image"]},
            {"id": 8, "from": ["2", "image"], "to": ["3", "images"]},
        ],
    }
    path = tmp_path / "loop.json"
    path.write_text(json.dumps(document))
    for command in (["validate"], ["run", "-o", str(tmp_path / "out")]):
        assert main([*command, str(path)]) == 2
        err = capsys.readouterr().err
        assert "node Loop (#2): link 7: cannot link node '2' to itself" in err
        assert "node Loop (#2), 'image': required input is not connected" in err
    assert not (tmp_path / "out").exists()


def test_run_prints_the_dropped_link_naming_its_id(tmp_path, capsys):
    document = {
        "format": "nodegraph.workflow",
        "version": 1,
        "nodes": [{"id": "2", "type": "image.Save", "title": "Out"}],
        "links": [{"id": 12, "from": ["9", "image"], "to": ["2", "images"]}],
    }
    path = tmp_path / "dropped.json"
    path.write_text(json.dumps(document))
    assert main(["validate", str(path)]) == 2
    validated = capsys.readouterr().err.splitlines()
    assert main(["run", str(path), "-o", str(tmp_path / "out")]) == 2
    ran = capsys.readouterr().err.splitlines()
    assert ran == validated
    assert (
        "  node Out (#2), 'images': link 12 goes from node '9', which does not exist; "
        "the link was dropped" in ran
    )
    assert "  node Out (#2), 'images': required input is not connected (expects IMAGE)" in ran


def test_a_png_finds_relative_images_beside_the_workflow_that_made_it(
    tmp_path, capsys, monkeypatch
):
    from PIL import Image

    folder = tmp_path / "project"
    (folder / "assets").mkdir(parents=True)
    Image.new("RGB", (4, 4), (255, 0, 0)).save(folder / "assets" / "red.png")
    graph = Graph()
    photo = graph.add_node("image.Load", {"path": "assets/red.png"}, title="Photo")
    out = graph.add_node("image.Save", {"filename_prefix": "re"})
    graph.connect(photo.id, "image", out.id, "images")
    save(graph, folder / "wf.json")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["run", str(folder / "wf.json"), "-o", str(tmp_path / "first")]) == 0
    png = capsys.readouterr().out.split()[0]
    assert main(["validate", png]) == 0
    capsys.readouterr()
    assert main(["run", png, "-o", str(tmp_path / "again")]) == 0
    again = capsys.readouterr().out.split()[0]
    assert Image.open(again).getpixel((0, 0)) == (255, 0, 0)


def test_help_names_pngs_and_the_default_output_and_seeds_show_in_full(capsys):
    from nodegraph.cli import build_parser

    text = build_parser()._subparsers._group_actions[0].choices["run"].format_help()
    text = " ".join(text.split())
    assert "or a PNG made by Save image" in text
    assert "(default: ./output, created if needed)" in text
    assert main(["nodes"]) == 0
    listing = capsys.readouterr().out
    assert "seed=0 [0..18446744073709551615]" in listing
    assert "e+19" not in listing


@pytest.mark.parametrize("where", ["file", "inside_file", "report_dir", "report_in_a_file"])
def test_unusable_output_or_report_paths_are_refused_before_running(
    workflow, tmp_path, capsys, where
):
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    out, report = tmp_path / "o", tmp_path / "report.json"
    message = {
        "file": f"{blocker} is a file, not a folder",
        "inside_file": f"{blocker} is a file, not a folder",
        "report_dir": "this is a folder; give a file name",
        "report_in_a_file": f"{blocker} is a file, not a folder",
    }[where]
    if where == "file":
        out = blocker
    elif where == "inside_file":
        out = blocker / "sub"
    elif where == "report_dir":
        report = tmp_path
    else:
        report = blocker / "report.json"
    code = main(["run", str(workflow), "-o", str(out), "--report", str(report)])
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "o").exists()  # nothing ran: no image computed and then lost


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_output_folder_is_refused_before_running(workflow, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(["run", str(workflow), "-o", str(locked / "out")]) == 2
    finally:
        locked.chmod(0o700)
    assert "permission denied" in capsys.readouterr().err


def test_ctrl_c_while_shutting_down_prints_no_traceback(tmp_path):
    script = (
        "import atexit, os, signal, sys\n"
        "from nodegraph import cli\n"
        "import nodegraph_app\n"
        "def interrupted(args, host):\n"
        "    raise KeyboardInterrupt\n"
        "cli._run = interrupted\n"
        "def impatient():\n"  # the 2nd and 3rd Ctrl-C land in the exit handlers
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    print('still running', file=sys.stderr)\n"
        "sys.argv = ['nodegraph', 'run', 'any.json']\n"
        "code = nodegraph_app.main()\n"
        "atexit.register(impatient)\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
        cwd=tmp_path, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert result.returncode == 130
    assert result.stderr == "nodegraph: interrupted\n"


def test_a_missing_model_says_where_it_looked_and_absolute_paths_work(
    tmp_path, capsys, monkeypatch
):
    extra = tmp_path / "my_models"
    extra.mkdir()
    monkeypatch.setenv("NODEGRAPH_MODELS", str(extra))
    graph = Graph()
    graph.add_node("loaders.Checkpoint", {"checkpoint": "sd15"}, title="Ckpt")
    path = tmp_path / "wf.json"
    save(graph, path)
    assert main(["validate", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "got 'sd15' (looked in " in err and str(extra) in err
    assert "to add a folder, set NODEGRAPH_MODELS" in err
    folder = tmp_path / "elsewhere" / "sd15"
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text("{}")
    graph.set_param("1", "checkpoint", str(folder))
    save(graph, path)
    assert main(["validate", str(path)]) == 0


def test_validate_says_a_device_is_not_a_regular_file(tmp_path, capsys):
    graph = Graph()
    photo = graph.add_node("image.Load", {"path": "/dev/zero"}, title="Photo")
    preview = graph.add_node("image.Preview")
    graph.connect(photo.id, "image", preview.id, "images")
    path = tmp_path / "wf.json"
    save(graph, path)
    assert main(["validate", str(path)]) == 2
    assert "node Photo (#1), 'path': /dev/zero is not a regular file" in capsys.readouterr().err


def test_set_can_repair_a_bad_value_before_the_run_is_checked(tmp_path, capsys):
    graph = Graph()
    solid = graph.add_node("image.Solid", {"width": 0, "height": 4}, title="Fill")
    out = graph.add_node("image.Save", {"filename_prefix": "fixed"})
    graph.connect(solid.id, "image", out.id, "images")
    path = tmp_path / "wf.json"
    save(graph, path)
    assert main(["run", str(path), "-o", str(tmp_path / "o"), "--set", "Fill.width=4"]) == 0
    assert main(["run", str(path), "-o", str(tmp_path / "o"), "--sweep", "Fill.width=2,3"]) == 0
    assert len(capsys.readouterr().out.split()) == 3


def test_a_report_may_go_into_the_output_folder_made_by_the_run(workflow, tmp_path):
    out = tmp_path / "new" / "out"
    assert main(["run", str(workflow), "-o", str(out), "--report", str(out / "report.json")]) == 0
    [run] = json.loads((out / "report.json").read_text())["runs"]
    assert run["files"] == [str(out / "cli_00001.png")]


def test_set_and_sweep_of_one_param_are_refused_and_node_typos_get_a_suggestion(tmp_path, capsys):
    graph = Graph()
    graph.add_node("image.Solid", {"width": 8, "height": 8}, title="Count")
    path = tmp_path / "wf.json"
    save(graph, path)
    code = main(["run", str(path), "--set", "Count.width=2", "--sweep", "Count.width=3,4"])
    assert code == 2
    assert "both give Count (#1) param 'width'; keep one" in capsys.readouterr().err
    assert main(["run", str(path), "--set", "Cuont.width=2"]) == 2
    assert "no node has id or title 'Cuont' (did you mean 'Count'?)" in capsys.readouterr().err
