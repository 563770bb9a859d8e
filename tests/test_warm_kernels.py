"""Tests of tools/warm_kernels.py: the build's kernels, forked from a process that has imported torch.

A page must give the same outputs in such a kernel as in one started from scratch; a kernel must
be interruptible, leave no process behind, and be an ordinary kernel where the server is gone.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import jupytext
import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import warm_kernels  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not sys.platform.startswith("linux"), reason="warm kernels are Linux only")]

PROBE = "import os, sys\nprint(os.getpid(), 'torch' in sys.modules, os.getcwd())"


def run(nb, folder, **kw):
    """Execute ``nb`` in Jupyter's ``python3`` kernel (whichever JUPYTER_PATH names) in ``folder``; return it."""
    NotebookClient(nb, timeout=kw.pop("timeout", 120), kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}, **kw).execute()
    return nb


def probe(folder, **kw):
    """(kernel pid, whether torch was imported before the first cell, its working directory)."""
    nb = run(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(PROBE)]), folder, **kw)
    pid, preloaded, cwd = nb.cells[0].outputs[0]["text"].split()
    return int(pid), preloaded == "True", cwd


def outputs(nb):
    """Each code cell's outputs with what differs between any two runs taken out: how a cell's
    printing was cut into stream messages (they are joined) and objects' memory addresses."""
    cells = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept, streams = [], {}
        for out in cell.outputs:
            if out["output_type"] == "stream":
                streams[out["name"]] = streams.get(out["name"], "") + out["text"]
            else:
                kept.append(re.sub(r" at 0x[0-9a-f]+", " at 0x?", json.dumps(out, sort_keys=True)))
        cells.append((kept, streams))
    return cells


@pytest.fixture
def warm(tmp_path, monkeypatch):
    """Jupyter's python3 kernel is a warm one while the test runs; yields the variables that make it so."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with warm_kernels.server(env, tmp_path / "kernels.log") as kernels:
        monkeypatch.setenv("JUPYTER_PATH", kernels["JUPYTER_PATH"])
        yield kernels


def test_a_page_gives_the_same_outputs_in_a_warm_kernel(warm, monkeypatch):
    page = ROOT / "book" / "en" / "entropy.md"   # figures, glued numbers, tables, printing
    in_warm = run(jupytext.read(page), page.parent)
    monkeypatch.delenv("JUPYTER_PATH")
    in_fresh = run(jupytext.read(page), page.parent)
    assert outputs(in_warm) == outputs(in_fresh)
    assert sum(len(kept) for kept, _ in outputs(in_warm)) > 20


def test_a_warm_kernel_has_torch_loaded_and_the_page_s_folder(warm, tmp_path, monkeypatch):
    pid, preloaded, cwd = probe(tmp_path)
    assert preloaded and Path(cwd) == tmp_path
    for _ in range(100):  # the kernel has exited: the server reaped it
        if not warm_kernels._alive(pid):
            break
        time.sleep(0.05)
    assert not warm_kernels._alive(pid)
    monkeypatch.delenv("JUPYTER_PATH")
    assert probe(tmp_path)[1] is False  # an ordinary kernel imports torch only when asked


def test_a_warm_kernel_can_be_interrupted(warm, tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(60)"),
                                         nbformat.v4.new_code_cell("print('after')")])
    start = time.monotonic()
    run(nb, tmp_path, timeout=3, interrupt_on_timeout=True, allow_errors=True)
    assert time.monotonic() - start < 30
    assert nb.cells[0].outputs[-1]["ename"] == "KeyboardInterrupt"
    assert nb.cells[1].outputs[0]["text"] == "after\n"


def test_the_server_kills_its_kernels_when_the_build_ends(tmp_path):
    import subprocess

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    with warm_kernels.server(env, tmp_path / "kernels.log") as kernels:
        spec = Path(kernels["JUPYTER_PATH"]) / "kernels" / "python3" / "kernel.json"
        argv = json.loads(spec.read_text())["argv"]
        connection = tmp_path / "kernel.json"
        from jupyter_client.connect import write_connection_file

        write_connection_file(str(connection))
        launcher = subprocess.Popen([a.replace("{connection_file}", str(connection)) for a in argv])
        try:
            server = int(argv[argv.index("launch") + 2])
            deadline = time.monotonic() + 60
            while not (children := _children(server)):
                assert time.monotonic() < deadline, "the server forked no kernel"
                time.sleep(0.1)
            kernel = children[0]
            assert warm_kernels._alive(kernel)
        except BaseException:
            launcher.kill()  # no Jupyter here to shut down whatever kernel it started
            raise
    launcher.wait(timeout=10)  # the launcher ends with its kernel
    assert not warm_kernels._alive(kernel)


def _children(pid):
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_a_launcher_without_a_server_starts_an_ordinary_kernel(tmp_path, monkeypatch):
    folder = tmp_path / "data"
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    dead = os.fork()
    if dead == 0:
        os._exit(0)
    os.waitpid(dead, 0)
    argv = [sys.executable, str(ROOT / "tools" / "warm_kernels.py"), "launch", str(tmp_path / "none.sock"), str(dead),
            "{connection_file}"]
    spec.joinpath("kernel.json").write_text(json.dumps({"argv": argv, "language": "python"}))
    monkeypatch.setenv("JUPYTER_PATH", str(folder))
    start = time.monotonic()
    assert probe(tmp_path)[1] is False
    assert time.monotonic() - start < warm_kernels.CONNECT_WAIT
