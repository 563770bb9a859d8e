"""What `pip install klcourse` brings: the learner's install on Colab, and the grader's extra.

Every chapter's set-up cell installs the package on Colab, into a runtime that pins its own
Jupyter kernel (ipykernel, jupyter_client, tornado, pyzmq ...). A dependency that asked for a
newer one would make pip replace the kernel of the running runtime, and Colab would then ask
for a restart, or crash. So no package of the kernel stack may be among the package's
dependencies, directly or through another one; only the grader needs them, as the ``grade``
extra, and without it ``klcourse-grade`` says how to install it.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "code" / "pyproject.toml").read_text())["project"]

# What Colab's runtime pins and warns about replacing ("Upgrading ipython, ipykernel, tornado,
# prompt-toolkit or pyzmq can cause your runtime to repeatedly crash"), with the rest of the
# kernel machinery that would come with them.
KERNEL_STACK = {"ipykernel", "ipython", "jupyter-client", "jupyter-core", "nbclient", "nbformat", "notebook",
                "tornado", "pyzmq", "prompt-toolkit", "traitlets", "comm", "jupyter-server"}


def _closure(requirements):
    """Every distribution that installing ``requirements`` pulls in, through the installed metadata: {name: path}."""
    seen, todo = {}, [(Requirement(r), ("klcourse",)) for r in requirements]
    while todo:
        req, path = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue  # an extra, or another platform's dependency
        name = canonicalize_name(req.name)
        if name in seen:
            continue
        seen[name] = path + (name,)
        try:
            todo += [(Requirement(r), seen[name]) for r in metadata.requires(name) or ()]
        except metadata.PackageNotFoundError:  # not installed here: its own dependencies are not known
            pass
    return seen


def test_the_learners_install_leaves_the_kernel_stack_alone():
    pulled = _closure(PROJECT["dependencies"])
    assert {"torch", "numpy", "matplotlib", "matplotlib-fontja"} <= set(pulled)
    offending = {name: " -> ".join(path) for name, path in pulled.items() if name in KERNEL_STACK}
    assert not offending, f"the package's dependencies pull in Colab's kernel: {offending}"


def test_the_grade_extra_holds_what_the_grader_imports():
    import klcourse.grading

    extra = {canonicalize_name(Requirement(r).name) for r in PROJECT["optional-dependencies"]["grade"]}
    assert extra == {canonicalize_name(name) for name in klcourse.grading._EXTRA}
    assert extra <= KERNEL_STACK  # and so none of it may be a plain dependency (the test above)


# nbclient as if not installed: importing it fails, and importlib.util.find_spec finds nothing
HIDE_NBCLIENT = "import sys\nsys.modules['nbclient'] = None\n"


def _without_nbclient(code):
    return subprocess.run([sys.executable, "-c", HIDE_NBCLIENT + code], capture_output=True, text=True, timeout=120)


def test_the_grader_without_its_extra_says_how_to_install_it():
    command = _without_nbclient("from klcourse.grading import main\nsys.exit(main(['a.ipynb']))")
    assert command.returncode == 2, command.stderr
    assert command.stderr.startswith("klcourse-grade: grading needs nbclient,"), command.stderr
    assert 'pip install "klcourse[grade]"' in command.stderr
    assert "Traceback" not in command.stderr

    library = _without_nbclient(
        "try:\n    from klcourse.grading import grade_notebook\n"
        "except ImportError as e:\n    print(e)\nelse:\n    print('imported')")
    assert library.stdout.startswith("klcourse.grading.grade_notebook: grading needs nbclient,"), library.stdout
    assert "klcourse[grade]" in library.stdout

    # the course itself does not notice
    course = _without_nbclient("import klcourse as kc\nprint(kc.entropy([0.5, 0.5], base=2))")
    assert course.returncode == 0 and course.stdout.strip() == "1.0", course.stderr
