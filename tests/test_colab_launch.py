"""Run the chapter notebooks as Colab would: a fresh kernel where `klcourse` is not installed.

A new virtual environment sees the build's packages (torch, numpy, matplotlib, ...) through
a path file, but not the editable install of `klcourse`. Each notebook runs top to bottom in
a kernel of that environment; its set-up cell must install the package, here from the local
``code/`` folder (``KLCOURSE_SOURCE``) since GitHub cannot be reached, exactly as on Colab it
installs from the repository. ``myst_nb`` is hidden from the kernel, as it is on Colab, so
``klcourse.glue`` must degrade to a no-op. Both the reader's notebooks (the committed
twins) and the student notebooks (``_build/student/<lang>/notebooks``) run this way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import notebooks  # noqa: E402

pytestmark = pytest.mark.build

CHAPTERS = [md.with_suffix(".ipynb") for md in notebooks.chapter_sources()]
# the student notebooks that `make student` builds: exercises without solutions, checks kept
STUDENT = [ROOT / "_build" / "student" / md.parent.name / "notebooks" / md.with_suffix(".ipynb").name
           for md in notebooks.chapter_sources()]


@pytest.fixture(scope="module")
def colab_like_kernel(tmp_path_factory):
    """A kernel in a fresh venv that can import the build's packages but not klcourse."""
    base = tmp_path_factory.mktemp("colab")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    target_site = Path(subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True).stdout.strip())
    # The build venv's site-packages as a plain path: its .pth files (the editable
    # install of klcourse among them) are not processed, so klcourse stays missing.
    (target_site / "build_env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # Hide myst_nb, as on Colab, with a module finder that refuses it.
    (target_site / "hide_myst_nb.py").write_text(
        "import sys\n"
        "class _Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'myst_nb' or name.startswith('myst_nb.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'myst_nb'\")\n"
        "sys.meta_path.insert(0, _Hide())\n")
    (target_site / "zz_hide_myst_nb.pth").write_text("import hide_myst_nb\n")
    probe = subprocess.run([str(py), "-c", "import torch, ipykernel; import klcourse"],
                           capture_output=True, text=True)
    assert "No module named 'klcourse'" in probe.stderr, probe.stderr
    kernels = base / "share" / "jupyter" / "kernels" / "colab-like"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(py), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab-like", "language": "python"}))
    env = {"JUPYTER_PATH": str(base / "share" / "jupyter"),
           # pip builds the local package with the build venv's setuptools, offline
           "KLCOURSE_SOURCE": f"--no-build-isolation --no-deps {ROOT / 'code'}",
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield py, target_site
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.parametrize("path", CHAPTERS + STUDENT,
                         ids=[f"reader:{p.parent.name}/{p.stem}" for p in CHAPTERS]
                         + [f"student:{p.parent.parent.name}/{p.stem}" for p in STUDENT])
def test_notebook_runs_top_to_bottom_in_a_fresh_kernel(path, colab_like_kernel, tmp_path):
    if not path.exists():
        pytest.fail(f"no {path.relative_to(ROOT)}: run `make student` (make test does it)")
    py, target_site = colab_like_kernel
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, kernel_name="colab-like", timeout=600, resources={"metadata": {"path": str(tmp_path)}},
                   allow_errors=False).execute()
    # the set-up cell installed the package into the fresh environment
    installed = subprocess.run([str(py), "-c", "import klcourse; print(klcourse.__file__)"],
                               capture_output=True, text=True, check=True).stdout
    assert str(target_site) in installed
