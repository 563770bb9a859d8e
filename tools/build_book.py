"""Build both editions of the book, strictly, from the top-level _config.yml and _toc.yml.

Jupyter Book 1.x builds one language per Sphinx project, so each edition listed under
``sphinx.config.bilingual_editions`` in ``_config.yml`` is built as its own project:

* its source folder is ``book/<lang>/``, and the table of contents is ``_toc.yml`` with the
  English folder prefix removed, so a page has the same URL in every edition
  (``en/kl-divergence.html`` <-> ``ja/kl-divergence.html``) and a page missing from one
  edition fails the build;
* its config is ``_config.yml`` with that edition's title and ``language`` (which sets
  ``<html lang>``, the interface strings and the search splitter) and absolute paths.

Builds run with ``-W -n --keep-going``: any warning, broken reference or failing cell fails
the build. Executed notebooks are cached; the cache is dropped when the package in ``code/``
or the Sphinx extensions change, since cached outputs would then be stale.

    python tools/build_book.py              # both editions + landing page -> _build/html
    python tools/build_book.py --lang ja    # one edition
    python tools/build_book.py --student    # student edition without solutions -> _build/student
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import student as student_edition  # noqa: E402  (tools/student.py)
import warm_kernels  # noqa: E402  (tools/warm_kernels.py)

SOURCE_PREFIX = "book/en/"


def load_yaml(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def editions(config: dict) -> dict[str, dict]:
    return config["sphinx"]["config"]["bilingual_editions"]


def edition_toc(toc: dict) -> dict:
    """_toc.yml with paths relative to one edition's folder."""

    def strip(node):
        if isinstance(node, dict):
            return {k: (v[len(SOURCE_PREFIX):] if k in ("root", "file") and v.startswith(SOURCE_PREFIX)
                        else strip(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return strip(toc)


def only_pages(toc: dict, pages: list[str]) -> dict:
    """_toc.yml cut down to the root page and the chapters named in ``pages``."""
    chapters = [c for c in toc["chapters"] if c["file"].removeprefix(SOURCE_PREFIX) in pages]
    missing = set(pages) - {c["file"].removeprefix(SOURCE_PREFIX) for c in chapters}
    if missing:
        raise SystemExit(f"--pages must name chapters in _toc.yml; not found: {sorted(missing)}")
    rest = {k: v for k, v in toc.items() if k != "chapters"}
    return {**rest, "chapters": chapters} if chapters else rest


def edition_config(config: dict, lang: str, root: Path = ROOT, student: bool = False) -> dict:
    """_config.yml for one edition: its title, language and absolute paths.

    The student edition keeps Live Code but drops the Colab and Binder buttons, which
    open the repository's notebooks, solutions included; its own notebooks sit beside it.
    """
    cfg = copy.deepcopy(config)
    if student:
        cfg["launch_buttons"] = {"thebe": config["launch_buttons"].get("thebe", False)}
    cfg["title"] = editions(config)[lang]["title"]
    cfg["repository"]["path_to_book"] = f"book/{lang}"
    cfg["bibtex_bibfiles"] = [str(root / p) for p in config["bibtex_bibfiles"]]
    sphinx = cfg["sphinx"]
    sphinx["local_extensions"] = {name: str(root / path)
                                  for name, path in config["sphinx"]["local_extensions"].items()}
    sphinx["config"]["language"] = lang
    sphinx["config"]["html_static_path"] = [str(root / p)
                                            for p in config["sphinx"]["config"]["html_static_path"]]
    return cfg


# What a build's cached results depend on beyond the pages themselves. Executed outputs (the
# jupyter-cache) depend on the package and the pinned environment; the parsed pages (Sphinx's
# doctrees) and the HTML also on the extensions, the bibliography and the math renderer. A change
# drops only what depends on it: editing an extension does not execute the chapters again.
EXECUTION_INPUTS = ("code/klcourse/**/*.py", "code/pyproject.toml", "requirements.txt", "constraints.txt")
RENDERING_INPUTS = ("book/_ext/*.py", "book/references.bib", "tools/mathjax/render_math.js",
                    "tools/mathjax/package-lock.json")


def fingerprint(patterns: tuple[str, ...] = EXECUTION_INPUTS, root: Path = ROOT) -> str:
    """Hash of the files that ``patterns`` name (relative to ``root``)."""
    h = hashlib.sha256()
    for path in sorted({p for pattern in patterns for p in root.glob(pattern) if p.is_file()}):
        h.update(path.relative_to(root).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def fingerprints(root: Path = ROOT) -> dict[str, str]:
    return {"execution": fingerprint(EXECUTION_INPUTS, root), "rendering": fingerprint(RENDERING_INPUTS, root)}


def drop_stale(work: Path, root: Path = ROOT) -> None:
    """Remove the cached results in ``work`` whose inputs changed since its last good build."""
    stamp = work / "fingerprint"
    if not stamp.exists():
        return
    try:
        old = json.loads(stamp.read_text())
    except ValueError:          # an older build's single hash: drop everything
        old = {}
    now = fingerprints(root)
    if old.get("execution") != now["execution"]:
        shutil.rmtree(work / "_build", ignore_errors=True)      # executed outputs may be stale
    elif old.get("rendering") != now["rendering"]:
        for name in (".doctrees", "html"):                      # keep .jupyter_cache
            shutil.rmtree(work / "_build" / name, ignore_errors=True)


# jupyter-book's command line, run by this interpreter, so the kernels it starts run this one too
# (not whichever Python the first line of the `jupyter-book` script names, e.g. that of the venv it
# was copied from). Once the build has written everything, the process leaves without tearing down
# its objects one by one (the doctrees of every page: about a second of a build's time).
JUPYTER_BOOK = """\
import os, sys
from jupyter_book.cli.main import main
try:
    main()
except SystemExit as done:
    if done.code is not None and not isinstance(done.code, int):
        print(done.code, file=sys.stderr)
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(done.code if isinstance(done.code, int) else 0 if done.code is None else 1)
"""


def prepare_edition(lang: str, config: dict, toc: dict, source: Path, work: Path,
                    student: bool = False) -> list[str]:
    """Write one edition's config and toc into ``work``; return its jupyter-book command."""
    work.mkdir(parents=True, exist_ok=True)
    drop_stale(work)
    cfg_path, toc_path = work / "_config.yml", work / "_toc.yml"
    cfg_path.write_text(yaml.safe_dump(edition_config(config, lang, student=student), allow_unicode=True),
                        encoding="utf-8")
    toc_path.write_text(yaml.safe_dump(edition_toc(toc), allow_unicode=True), encoding="utf-8")
    return [sys.executable, "-c", JUPYTER_BOOK, "build", str(source),
            "--config", str(cfg_path), "--toc", str(toc_path), "--path-output", str(work),
            "-W", "-n", "--keep-going"]


# --- the student edition reuses the reader edition's executed notebooks -------------------------
# The student sources are the reader sources minus the solutions, so each of their code cells is
# a code cell of the reader page, with the same source, in the same order. Executing the chapters
# again (44 s) would only compute the same outputs: instead, each student notebook is put in the
# student build's jupyter-cache with the outputs of the reader's executed cells, matched by
# source, and Sphinx finds it there. A student notebook that cannot be matched (the reader
# edition was not built, or its cache is stale) is executed by the student build as before.

def _read_as_myst_nb(md: Path):
    """The notebook myst-nb reads from a MyST Markdown page (what jupyter-cache hashes)."""
    from myst_nb.core.read import read_myst_markdown_notebook

    return read_myst_markdown_notebook(md.read_text(encoding="utf-8"), add_source_map=True, path=md)


def outputs_by_source(executed, notebook):
    """``notebook`` with the outputs of ``executed``'s code cells of the same source, in order;
    None if one of its code cells has no such cell left in ``executed``."""
    import copy

    queue = [c for c in executed.cells if c.cell_type == "code"]
    result = copy.deepcopy(notebook)
    for cell in result.cells:
        if cell.cell_type != "code":
            continue
        while queue and queue[0].source != cell.source:
            queue.pop(0)            # a solution cell: the student page does not have it
        if not queue:
            return None
        match = queue.pop(0)
        cell.outputs, cell.execution_count = copy.deepcopy(match.outputs), match.execution_count
    result.metadata.update({k: v for k, v in executed.metadata.items() if k in ("kernelspec", "language_info")})
    return result


def notebook_pages(source: Path) -> list[str]:
    """The pages of ``source`` that have code cells (those that a build executes)."""
    return [md.stem for md in sorted(source.glob("*.md")) if "```{code-cell}" in md.read_text(encoding="utf-8")]


def reuse_reader_outputs(reader_source: Path, reader_work: Path, student_source: Path,
                         student_work: Path) -> list[str]:
    """Fill the student build's cache from the reader build's; return the pages reused."""
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    reader_db = reader_work / "_build" / ".jupyter_cache"
    stamp = reader_work / "fingerprint"
    if not (reader_db.is_dir() and stamp.exists()
            and json.loads(stamp.read_text()).get("execution") == fingerprints()["execution"]):
        return []
    reader, student = get_cache(str(reader_db)), get_cache(str(student_work / "_build" / ".jupyter_cache"))
    reused = []
    for md in sorted(student_source.glob("*.md")):
        notebook = _read_as_myst_nb(md)
        if not any(c.cell_type == "code" for c in notebook.cells):
            continue
        try:
            student.match_cache_notebook(notebook)
            reused.append(md.stem)          # already there from an earlier student build
            continue
        except KeyError:
            pass
        try:
            _, executed = reader.merge_match_into_notebook(_read_as_myst_nb(reader_source / md.name))
        except KeyError:
            continue
        filled = outputs_by_source(executed, notebook)
        if filled is not None:
            student.cache_notebook_bundle(CacheBundleIn(filled, str(md), data={"reused_from": str(reader_source / md.name)}),
                                          check_validity=False, overwrite=True)
            reused.append(md.stem)
    return reused


# A kernel is told its ports by jupyter_client, which finds free ones and releases them before the
# kernel binds them; a kernel started at the same moment by the other edition's build can take one
# first (jupyter/jupyter_client's known race: nteract/papermill#511). The kernel then dies with
# "Address already in use" before running any cell. Nothing about the book is wrong when that
# happens, so that edition is built again; executed notebooks are cached, so the retry is quick.
#
# Why a retry and not kernels that cannot clash (IPC transport, or a port range per edition):
# myst-nb executes through jupyter-cache, which calls nbclient with no kernel manager and no
# configuration, and nbclient creates a KernelManager with an empty traitlets config (it reads no
# config file), so neither the transport nor the ports can be set from the book's build without
# patching those libraries' classes at run time, which an upgrade would silently undo. A retry
# of one edition costs seconds and cannot hide a real failure: it happens only on this one
# message, at most PORT_RACE_RETRIES times, and the student edition runs no kernel at all when
# it reuses the reader edition's outputs.
PORT_RACE = ("Address already in use", "in _try_bind_socket")
PORT_RACE_RETRIES = 2


def lost_port_race(log: str) -> bool:
    """Whether a failed build's log shows a kernel that could not bind its ports."""
    return any(sign in log for sign in PORT_RACE)


def run_builds(jobs: dict[str, tuple[list[str], Path]], warm: bool = True) -> dict[str, float]:
    """Run the editions' builds side by side (one per core); return seconds per edition.

    Each build's output goes to ``<work>/build.log``; a failed build's log is printed. A build
    that failed only because its kernel lost the port race is run again (``PORT_RACE_RETRIES``).
    With ``warm``, the pages' kernels are forks of a process that has imported torch, numpy and
    matplotlib (tools/warm_kernels.py, its log in ``kernels.log`` next to the builds): about 2 s
    less per page, the same outputs.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if not warm:
        return _run_builds(jobs, env)
    with warm_kernels.server(env, next(iter(jobs.values()))[1].parent / "kernels.log") as kernels:
        return _run_builds(jobs, {**env, **kernels})


def _run_builds(jobs: dict[str, tuple[list[str], Path]], env: dict[str, str]) -> dict[str, float]:
    """``run_builds`` with the builds' environment ``env``."""
    start, running, seconds, retries = time.perf_counter(), {}, {}, dict.fromkeys(jobs, 0)

    def launch(lang: str) -> None:
        cmd, work = jobs[lang]
        log = (work / "build.log").open("w", encoding="utf-8")
        running[lang] = (subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env), log, work)

    for lang in jobs:
        launch(lang)
    failed = []
    while running:
        for lang, (proc, log, work) in list(running.items()):
            if proc.poll() is None:
                continue
            log.close()
            del running[lang]
            text = (work / "build.log").read_text(encoding="utf-8")
            if proc.returncode != 0 and lost_port_race(text) and retries[lang] < PORT_RACE_RETRIES:
                retries[lang] += 1
                print(f"{lang}: a notebook kernel could not bind its ports (another build's kernel took one); "
                      f"building {lang} again ({retries[lang]}/{PORT_RACE_RETRIES})", file=sys.stderr)
                launch(lang)
                continue
            seconds[lang] = time.perf_counter() - start
            if proc.returncode != 0:
                failed.append(lang)
                print(text, file=sys.stderr)
            else:
                (work / "fingerprint").write_text(json.dumps(fingerprints()))
        time.sleep(0.2)
    if failed:
        raise SystemExit(f"build failed for {', '.join(failed)}: warnings are errors; see the log above")
    return seconds


EXECUTED = re.compile(r"/([^/\s]+)\.md: Executed notebook in ([0-9.]+) seconds")


def executed_seconds(log: str) -> dict[str, float]:
    """Seconds each page's notebook took to execute in a build, from its log (myst-nb says so)."""
    return {page: float(seconds) for page, seconds in EXECUTED.findall(log)}


def build_edition(lang: str, config: dict, toc: dict, source: Path, work: Path,
                  student: bool = False) -> float:
    """Build one edition with jupyter-book into ``work``; return seconds taken."""
    cmd = prepare_edition(lang, config, toc, source, work, student=student)
    return run_builds({lang: (cmd, work)})[lang]


LANDING = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" href="{first}/_static/favicon.svg" type="image/svg+xml">
{alternates}
<script>
  // Send the reader to the edition in their browser's language; English otherwise.
  (function () {{
    var editions = {codes};
    var wanted = (navigator.languages || [navigator.language || ""]);
    for (var i = 0; i < wanted.length; i++) {{
      var code = String(wanted[i]).toLowerCase().split("-")[0];
      if (editions.indexOf(code) !== -1) {{ location.replace(code + "/index.html"); return; }}
    }}
    location.replace(editions[0] + "/index.html");
  }})();
</script>
<style>
  body {{ font-family: system-ui, sans-serif; max-width: 36rem; margin: 4rem auto; padding: 0 1rem; line-height: 1.6; }}
  a {{ display: block; font-size: 1.25rem; margin: .5rem 0; }}
</style>
</head>
<body>
<main>
<h1>{title}</h1>
{links}
</main>
</body>
</html>
"""


def finish_redirect_stub(target: Path) -> None:
    """Give the edition's index.html (Jupyter Book's redirect to the root page) the favicon;
    without one the browser asks the server root for /favicon.ico, a 404 in its console."""
    stub = target / "index.html"
    text = stub.read_text(encoding="utf-8") if stub.exists() else ""
    if 'http-equiv="Refresh"' in text and 'rel="icon"' not in text:
        stub.write_text('<link rel="icon" href="_static/favicon.svg" type="image/svg+xml" />\n' + text,
                        encoding="utf-8")


def write_landing(out: Path, config: dict) -> None:
    eds = editions(config)
    links = "\n".join(f'<a href="{lang}/index.html" lang="{lang}" hreflang="{lang}">{e["title"]} ({e["label"]})</a>'
                      for lang, e in eds.items())
    alternates = "\n".join(f'<link rel="alternate" hreflang="{lang}" href="{lang}/index.html">' for lang in eds)
    codes = "[" + ", ".join(f'"{lang}"' for lang in eds) + "]"
    title = " / ".join(e["title"] for e in eds.values())
    (out / "index.html").write_text(LANDING.format(title=title, links=links, alternates=alternates, codes=codes,
                                                   first=next(iter(eds))),
                                    encoding="utf-8")
    (out / ".nojekyll").write_text("")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lang", nargs="*", help="editions to build (default: all)")
    parser.add_argument("--student", action="store_true", help="student edition without solutions")
    parser.add_argument("--out", type=Path, help="output folder (default _build/html or _build/student)")
    parser.add_argument("--pages", nargs="*", help="build only these chapters (and the root page): "
                        "a quick preview while writing one chapter")
    parser.add_argument("--execute", action="store_true",
                        help="student edition: execute its chapters rather than reuse the reader edition's outputs")
    parser.add_argument("--work", type=Path, default=ROOT / "_build" / "editions",
                        help="folder for each edition's Sphinx build and execution cache")
    parser.add_argument("--fresh-kernels", action="store_true",
                        help="run each page in a kernel started from scratch, not one forked from a process "
                        "that has imported torch (tools/warm_kernels.py): slower, the same outputs")
    args = parser.parse_args(argv)

    config, toc = load_yaml(ROOT / "_config.yml"), load_yaml(ROOT / "_toc.yml")
    if args.pages is not None:
        toc = only_pages(toc, args.pages)
    langs = args.lang or list(editions(config))
    unknown = set(langs) - set(editions(config))
    if unknown:
        parser.error(f"--lang must be among {sorted(editions(config))}; got {sorted(unknown)}")
    kind = "student" if args.student else "html"
    out = (args.out or ROOT / "_build" / kind).resolve()
    out.mkdir(parents=True, exist_ok=True)

    jobs, sources, executes = {}, {}, not args.student or args.execute
    for lang in langs:
        source = ROOT / "book" / lang
        work = args.work.resolve() / f"{kind}-{lang}"
        if args.student:
            source = student_edition.strip_solutions(source, work / "source")
        sources[lang] = source
        jobs[lang] = (prepare_edition(lang, config, toc, source, work, student=args.student), work)
        if args.student and not args.execute:
            reused = reuse_reader_outputs(ROOT / "book" / lang, args.work.resolve() / f"html-{lang}", source, work)
            executes = executes or len(reused) < len(notebook_pages(source))
            print(f"[{lang}] student edition: executed outputs of the reader edition reused for "
                  f"{', '.join(reused) or 'no page'}")
    timings = run_builds(jobs, warm=executes and not args.fresh_kernels)   # no kernel to start where nothing runs
    for lang, (_, work) in jobs.items():
        target = out / lang
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(work / "_build" / "html", target)
        finish_redirect_stub(target)
        if args.student:
            student_edition.finish(target, sources[lang])
    write_landing(out, config)

    for lang, seconds in timings.items():
        log = jobs[lang][1] / "build.log"
        executed = executed_seconds(log.read_text(encoding="utf-8"))
        print(f"[{lang}] built in {seconds:.1f} s, of which {sum(executed.values()):.1f} s executing "
              f"{len(executed)} page(s) (log: {log})")
    print(f"\nOpen {out / 'index.html'}  (or run `make serve` and visit http://localhost:8000/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
