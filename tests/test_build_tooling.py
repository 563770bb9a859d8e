"""The tooling that turns one Jupyter Book into two editions, Colab notebooks and a student edition."""

from __future__ import annotations

import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "book" / "_ext")]

import build_book  # noqa: E402
import notebooks  # noqa: E402
import student  # noqa: E402
from ja_search import split_terms  # noqa: E402

CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
LANGS = list(build_book.editions(CONFIG))


def toc_pages(toc: dict = TOC) -> list[str]:
    """Page names in _toc.yml, without the English folder prefix."""
    names = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    return [n.removeprefix(build_book.SOURCE_PREFIX) for n in names]


# --- one structure, two editions ----------------------------------------------------------

def test_toc_names_english_sources_that_exist():
    for page in toc_pages():
        assert (ROOT / "book" / "en" / f"{page}.md").is_file(), page


@pytest.mark.parametrize("lang", LANGS)
def test_every_edition_has_every_page_and_no_other(lang):
    pages = set(toc_pages())
    # files starting with "_" are included by pages (the exercise index), not pages themselves
    have = {p.stem for p in (ROOT / "book" / lang).glob("*.md") if not p.name.startswith("_")}
    assert pages - have == set(), f"book/{lang} lacks pages listed in _toc.yml"
    assert have - pages == set(), f"book/{lang} has pages that _toc.yml does not list"


def test_edition_toc_has_prefix_free_paths():
    toc = build_book.edition_toc(TOC)
    assert toc["root"] == "intro"
    assert all("/" not in c["file"] for c in toc["chapters"])


@pytest.mark.parametrize("lang", LANGS)
def test_edition_config_sets_language_title_and_paths(lang):
    cfg = build_book.edition_config(CONFIG, lang)
    assert cfg["sphinx"]["config"]["language"] == lang
    assert cfg["title"] == CONFIG["sphinx"]["config"]["bilingual_editions"][lang]["title"]
    assert cfg["repository"]["path_to_book"] == f"book/{lang}"
    assert all(Path(p).is_absolute() and Path(p).exists() for p in cfg["bibtex_bibfiles"])
    assert all(Path(p).is_absolute() for p in cfg["sphinx"]["local_extensions"].values())
    # the shared config is not modified
    assert CONFIG["sphinx"]["config"]["language"] == "en"


def test_student_config_drops_buttons_that_open_the_full_notebooks():
    cfg = build_book.edition_config(CONFIG, "en", student=True)
    assert "colab_url" not in cfg["launch_buttons"] and "binderhub_url" not in cfg["launch_buttons"]


def test_only_pages_keeps_root_and_named_chapters():
    toc = build_book.only_pages(TOC, ["entropy"])
    assert toc["root"] == TOC["root"]
    assert [c["file"] for c in toc["chapters"]] == ["book/en/entropy"]
    assert "chapters" not in build_book.only_pages(TOC, [])
    with pytest.raises(SystemExit, match="not found"):
        build_book.only_pages(TOC, ["no-such-page"])


# --- Colab notebooks ------------------------------------------------------------------------

def test_set_up_cells_are_in_step_with_the_configuration():
    """The .md pages' set-up cells follow _config.yml (the twins' own freshness, which needs
    the built book, is checked in tests/test_twins.py and tests/test_twins_built.py)."""
    stale = [md for md in notebooks.chapter_sources()
             if md.read_text(encoding="utf-8") != notebooks.synced_source(md, CONFIG)]
    assert stale == [], "run `make notebooks` and commit the result"


def test_every_chapter_page_is_a_notebook_with_a_twin():
    chapters = notebooks.chapter_sources()
    assert {(md.parent.name, md.stem) for md in chapters} >= {
        (lang, page) for lang in LANGS for page in ("intro", "entropy", "kl-divergence",
                                                     "mode-seeking", "comparing-losses")}
    for md in chapters:
        assert md.with_suffix(".ipynb").is_file(), md


@pytest.mark.parametrize("md", notebooks.chapter_sources(), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_twin_has_the_same_code_cells_and_no_outputs(md):
    page = jupytext.read(md)
    twin = nbformat.read(md.with_suffix(".ipynb"), as_version=4)
    assert [c.source for c in twin.cells if c.cell_type == "code"] == \
        [c.source for c in page.cells if c.cell_type == "code"]
    code = [c for c in twin.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    setup = code[0]
    assert notebooks.SETUP_TAG in setup.metadata["tags"] and "remove-cell" in setup.metadata["tags"]
    assert notebooks.install_address(CONFIG) in setup.source


def test_install_address_follows_the_configured_repository():
    fork = {**CONFIG, "repository": {"url": "https://github.com/someone/fork/", "branch": "dev"}}
    assert notebooks.install_address(fork) == "git+https://github.com/someone/fork@dev#subdirectory=code"
    assert "someone/fork@dev" in notebooks.setup_cell_source(fork)


# --- student edition ------------------------------------------------------------------------

PAGE_WITH_SOLUTIONS = """\
# Page

```{exercise} Compute it
:label: ex-a

Do the thing.
```

```{solution} ex-a
:class: dropdown

SECRET-ONE: the answer is 42.
```

Between the exercises.

::::{solution} ex-b
:class: dropdown
SECRET-TWO in a colon fence.
::::

```{solution-start} ex-c
:class: dropdown
```

SECRET-THREE text before code.

```{code-cell} ipython3
print("SECRET-FOUR")
```

```{solution-end}
```

After.
"""


def test_strip_text_removes_every_solution_form_and_keeps_the_rest():
    out = student.strip_text(PAGE_WITH_SOLUTIONS)
    assert "SECRET" not in out and "solution" not in out
    assert "{exercise} Compute it" in out and "Between the exercises." in out and out.endswith("After.\n")


# --- Japanese search splitting ---------------------------------------------------------------

@pytest.mark.parametrize("text, terms", [
    ("相対エントロピー", ["相対", "エントロピー"]),
    ("KLダイバージェンス", ["kl", "ダイバージェンス"]),
    ("情報量は", ["情報", "報量", "は"]),
    ("ＫＬ　ダイバージェンス", ["kl", "ダイバージェンス"]),        # full-width letters and space
    ("平均探索（mean-seeking）", ["平均", "均探", "探索", "mean", "seeking"]),
])
def test_split_terms(text, terms):
    assert split_terms(text) == terms


def test_committed_notebooks_are_the_ones_colab_opens():
    """Colab opens the committed .ipynb on the branch, not the working tree's: they must agree."""
    import subprocess

    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    twins = [str(md.with_suffix(".ipynb").relative_to(ROOT)) for md in notebooks.chapter_sources()]
    changed = subprocess.run(["git", "status", "--porcelain", "--", *twins], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
    assert changed == "", f"notebooks differ from the last commit; commit them:\n{changed}"


# --- exercises ------------------------------------------------------------------------------

import exercises  # noqa: E402

TOPIC_CHAPTERS = ("entropy", "kl-divergence", "mode-seeking", "comparing-losses")


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", TOPIC_CHAPTERS)
def test_each_topic_chapter_ends_with_at_least_three_exercises(lang, page):
    found = exercises.collect(ROOT / "book" / lang / f"{page}.md")
    assert len(found) >= 3
    assert len({e.kind for e in found}) >= 2, "a mix of kinds"


@pytest.mark.parametrize("page", TOPIC_CHAPTERS)
def test_exercises_match_across_editions(page):
    en, ja = (exercises.collect(ROOT / "book" / lang / f"{page}.md") for lang in ("en", "ja"))
    assert [(e.label, e.stars, e.check) for e in en] == [(e.label, e.stars, e.check) for e in ja]


def test_every_coding_exercise_names_a_check_that_exists():
    import klcourse.checks

    for page in TOPIC_CHAPTERS:
        for ex in exercises.collect(ROOT / "book" / "en" / f"{page}.md"):
            if ex.kind == "coding":
                name = ex.check.strip("`")
                assert callable(getattr(klcourse.checks, name, None)), f"{ex.label}: {ex.check}"


def test_exercise_index_is_in_step_with_the_chapters():
    assert exercises.main(["exercises.py", "check"]) == 0, "run `make notebooks`"


# --- Japanese line breaks ---------------------------------------------------------------------

from bilingual import join_cjk_lines  # noqa: E402


@pytest.mark.parametrize("text, joined", [
    ("必要か、そして別の\n分布", "必要か、そして別の分布"),
    ("平均\n   探索", "平均探索"),
    ("分布\n$Q$ 向け", "分布\n$Q$ 向け"),          # a break before Latin or math stays a space
    ("two\nwords", "two\nwords"),
])
def test_join_cjk_lines(text, joined):
    assert join_cjk_lines(text) == joined


# --- parallel builds ------------------------------------------------------------------------

def fake_build(tmp_path: Path, name: str, first_log: str, first_code: int) -> tuple[list[str], Path]:
    """A 'build' that prints ``first_log`` and exits ``first_code`` the first time, then succeeds."""
    work = tmp_path / name
    work.mkdir()
    script = (f"import pathlib, sys\n"
              f"seen = pathlib.Path({str(work / 'seen')!r})\n"
              f"if seen.exists():\n    print('built'); sys.exit(0)\n"
              f"seen.touch(); print({first_log!r}); sys.exit({first_code})\n")
    return [sys.executable, "-c", script], work


def test_a_build_whose_kernel_lost_the_port_race_is_run_again(tmp_path, capsys):
    race = ('  File "kernelapp.py", line 256, in _try_bind_socket\n'
            "zmq.error.ZMQError: Address already in use (addr='tcp://127.0.0.1:41873')")
    seconds = build_book.run_builds({"en": fake_build(tmp_path, "en", race, 1),
                                     "ja": fake_build(tmp_path, "ja", "built", 0)}, warm=False)
    assert set(seconds) == {"en", "ja"}
    assert (tmp_path / "en" / "build.log").read_text().strip() == "built"
    assert "building en again (1/2)" in capsys.readouterr().err


def test_a_build_that_failed_for_another_reason_is_not_run_again(tmp_path, capsys):
    job = fake_build(tmp_path, "en", "WARNING: undefined label: 'kl-def'", 1)
    with pytest.raises(SystemExit, match="build failed for en"):
        build_book.run_builds({"en": job}, warm=False)
    assert "undefined label" in capsys.readouterr().err


def test_jupyter_book_runs_on_the_build_interpreter(tmp_path):
    """Not the Python the `jupyter-book` script's first line names (a venv copied from elsewhere
    would build, and execute the chapters, with another checkout's packages)."""
    cmd = build_book.prepare_edition("en", CONFIG, build_book.edition_toc(TOC), ROOT / "book" / "en", tmp_path)
    assert cmd[:3] == [sys.executable, "-c", build_book.JUPYTER_BOOK] and cmd[3] == "build"


@pytest.mark.parametrize("args, code", [(["--version"], 0), (["build", "/no/such/book"], 2)])
def test_the_quick_exit_keeps_jupyter_book_s_exit_status(args, code):
    import subprocess

    done = subprocess.run([sys.executable, "-c", build_book.JUPYTER_BOOK, *args], capture_output=True, text=True)
    assert done.returncode == code, done.stderr


def test_execution_seconds_are_read_from_the_build_log():
    log = ("/w/book/en/entropy.md: Executing notebook using local CWD [mystnb]\n"
           "/w/book/en/entropy.md: Executed notebook in 9.04 seconds [mystnb]\n"
           "/w/book/en/kl-divergence.md: Executed notebook in 11.5 seconds [mystnb]\n")
    assert build_book.executed_seconds(log) == {"entropy": 9.04, "kl-divergence": 11.5}
    assert build_book.executed_seconds("reading sources... [100%] intro\n") == {}


# --- what a build's caches depend on -------------------------------------------------------

def _fake_root(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in ("code/klcourse/fit.py", "book/_ext/bilingual.py", "requirements.txt"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("v1\n")
    return root


def _fake_work(tmp_path: Path, root: Path) -> Path:
    import json

    work = tmp_path / "work"
    for name in (".jupyter_cache", ".doctrees", "html"):
        (work / "_build" / name).mkdir(parents=True)
    (work / "fingerprint").write_text(json.dumps(build_book.fingerprints(root)))
    return work


def test_an_extension_change_keeps_the_executed_notebooks(tmp_path):
    root = _fake_root(tmp_path)
    work = _fake_work(tmp_path, root)
    (root / "book/_ext/bilingual.py").write_text("v2\n")
    build_book.drop_stale(work, root)
    assert (work / "_build" / ".jupyter_cache").is_dir()
    assert not (work / "_build" / ".doctrees").exists() and not (work / "_build" / "html").exists()


@pytest.mark.parametrize("changed", ["code/klcourse/fit.py", "requirements.txt"])
def test_a_package_or_environment_change_drops_the_executed_notebooks(tmp_path, changed):
    root = _fake_root(tmp_path)
    work = _fake_work(tmp_path, root)
    (root / changed).write_text("v2\n")
    build_book.drop_stale(work, root)
    assert not (work / "_build").exists()


def test_nothing_changed_nothing_dropped(tmp_path):
    root = _fake_root(tmp_path)
    work = _fake_work(tmp_path, root)
    build_book.drop_stale(work, root)
    assert all((work / "_build" / n).is_dir() for n in (".jupyter_cache", ".doctrees", "html"))


# --- the student edition reuses the reader edition's outputs ----------------------------------

def _code(source: str, output: str | None = None):
    cell = nbformat.v4.new_code_cell(source)
    if output is not None:
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=output)]
        cell.execution_count = 1
    return cell


def test_outputs_are_matched_by_source_around_removed_solutions():
    executed = nbformat.v4.new_notebook(cells=[
        _code("x = 1", "a"), _code("print(x)", "1"), _code("solution()", "SECRET"),
        _code("print(x)", "1 again"), nbformat.v4.new_markdown_cell("text")])
    student_nb = nbformat.v4.new_notebook(cells=[
        _code("x = 1"), nbformat.v4.new_markdown_cell("exercise"), _code("print(x)"), _code("print(x)")])
    filled = build_book.outputs_by_source(executed, student_nb)
    texts = [c.outputs[0]["text"] for c in filled.cells if c.cell_type == "code"]
    assert texts == ["a", "1", "1 again"]
    assert all(c.outputs == [] for c in student_nb.cells if c.cell_type == "code"), "the input is not modified"


def test_a_student_cell_the_reader_page_lacks_is_not_guessed():
    executed = nbformat.v4.new_notebook(cells=[_code("x = 1", "a")])
    assert build_book.outputs_by_source(executed, nbformat.v4.new_notebook(cells=[_code("y = 2")])) is None


# --- pins ------------------------------------------------------------------------------------

import lock  # noqa: E402


def _pins(path: Path) -> dict[str, str]:
    return lock.pins(path.read_text(encoding="utf-8"))


def test_every_requirement_is_pinned_exactly():
    import re

    pinned = {name.lower().replace("_", "-") for name in _pins(ROOT / "constraints.txt")}
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        name = re.match(r"\s*([A-Za-z0-9._-]+)", line.split("#")[0])
        if name:
            assert name[1].lower().replace("_", "-") in pinned, f"{name[1]} is not in constraints.txt"
    assert _pins(ROOT / "constraints.txt")["torch"] == "2.13.0"
    assert "Sphinx" in _pins(ROOT / "constraints.txt") and "pydata-sphinx-theme" in _pins(ROOT / "constraints.txt")


def test_binder_uses_the_pinned_versions():
    binder, pinned = _pins(ROOT / "binder" / "requirements.txt"), _pins(ROOT / "constraints.txt")
    assert set(binder) == set(lock.BINDER_PACKAGES)
    assert all(pinned[name] == version for name, version in binder.items())


def test_lock_drops_the_local_label_and_refuses_a_freeze_without_torch():
    found = lock.pins("torch==2.13.0+cpu\nSphinx==7.4.7\n-e git+https://x#egg=klcourse\n")
    assert found == {"torch": "2.13.0", "Sphinx": "7.4.7"}
    assert lock.constraints_text(found).endswith("Sphinx==7.4.7\ntorch==2.13.0\n")
    with pytest.raises(SystemExit, match="torch"):
        lock.constraints_text({"Sphinx": "7.4.7"})


# --- math typeset at build time ---------------------------------------------------------------

import prerender_math  # noqa: E402

MATH_PAGE = """<html><head><title>t</title></head><body>
<p>Inline <span class="math notranslate nohighlight">\\(p &lt; q\\)</span> and
<span class="math notranslate nohighlight">\\(x^2\\)</span>.</p>
<div class="math notranslate nohighlight" id="equation-a">
<span class="eqno">(1)<a class="headerlink" href="#equation-a">#</a></span>\\[D(P\\,\\|\\,Q) = \\sum_x p(x)\\]</div>
<div class="math notranslate nohighlight">
\\begin{align}a &amp;= b\\end{align}</div>
<pre>\\(not math: code\\)</pre>
</body></html>"""


def test_find_math_reads_every_formula_unescaped():
    assert prerender_math.find_math(MATH_PAGE) == [
        ("p < q", False), ("x^2", False), ("D(P\\,\\|\\,Q) = \\sum_x p(x)", True), ("\\begin{align}a &= b\\end{align}", True)]


def test_replace_math_keeps_the_wrappers_and_the_equation_number():
    page = prerender_math.replace_math(MATH_PAGE, ["<i>1</i>", "<i>2</i>", "<i>3</i>", "<i>4</i>"], "mjx-c {}\n")
    assert '<span class="math notranslate nohighlight"><i>1</i></span>' in page
    assert '<span class="eqno">(1)<a class="headerlink" href="#equation-a">#</a></span><i>3</i></div>' in page
    assert '<style id="mathjax-chtml">mjx-c {}</style>' in page
    assert prerender_math.find_math(page) == [] and prerender_math.leftover_tex(page) == []


def test_tex_outside_a_math_node_is_reported():
    assert prerender_math.leftover_tex("<p>an output with \\(x\\) in it</p><pre>\\(x\\)</pre>") != []
    assert prerender_math.leftover_tex("<p>no math</p><pre>\\(x\\)</pre>") == []


@pytest.mark.skipif(not (prerender_math.RENDERER_DIR / "node_modules" / "mathjax-full").is_dir(),
                    reason="MathJax for Node is not installed (make book installs it)")
def test_mathjax_in_node_typesets_with_assistive_mathml_and_reports_tex_errors():
    [page] = prerender_math.typeset([[("x^2", False), ("\\frac{a}{b}", True), ("\\nosuchmacro", False)]],
                                    ["_static/mathjax-fonts"])
    inline, display, broken = page["html"]
    assert inline.startswith("<mjx-container") and "<mjx-assistive-mml" in inline
    assert "<msup><mi>x</mi><mn>2</mn></msup>" in inline
    assert 'display="true"' in display
    assert len(page["errors"]) == 1 and "nosuchmacro" in page["errors"][0]
    assert "font-size: 127.3%" in page["css"]            # the browser's scale with this theme
    assert "_static/mathjax-fonts/MathJax_Main-Regular.woff" in page["css"]


@pytest.mark.skipif(not (prerender_math.RENDERER_DIR / "node_modules" / "mathjax-full").is_dir(),
                    reason="MathJax for Node is not installed (make book installs it)")
def test_a_repeated_formula_is_typeset_as_the_first_one():
    """A page's repeated formulas are typeset once (render_math.js): the same HTML as a page where
    each occurs once, kept apart by display mode."""
    math = [("P", False), ("\\sum_x p(x)", True), ("P", False), ("\\sum_x p(x)", False), ("\\sum_x p(x)", True)]
    [repeated, single] = prerender_math.typeset([math, [math[0], math[1], math[3]]], ["f", "f"])
    assert repeated["html"] == [single["html"][i] for i in (0, 1, 0, 2, 1)]
    assert repeated["html"][1] != repeated["html"][3] and repeated["css"] == single["css"]


# --- icon font -------------------------------------------------------------------------------

import theme_fixes  # noqa: E402


def test_unused_icon_rules_go_and_grouped_rules_stay_whole():
    css = ('.x{a:b}.fa-bars:before,.fa-navicon:before{content:"\\f0c9"}'
           '.fa-zz:before{content:"\\f111"}.fa-0:before{content:"\\30 "}.y{c:d}')
    kept = '.x{a:b}.fa-bars:before,.fa-navicon:before{content:"\\f0c9"}.y{c:d}'
    assert theme_fixes.trim_icon_css(css, {"bars"}) == kept       # the page uses the first name
    assert theme_fixes.trim_icon_css(css, {"navicon"}) == kept
    assert theme_fixes.used_icon_classes(['<i class="fas fa-language"></i>', "x.classList.add('fa-sun')"]) == \
        {"language", "sun"}


def test_an_opaque_rgba_png_is_written_again_as_the_same_rgb_pixels(tmp_path):
    from PIL import Image, ImageChops

    noise = Image.effect_noise((64, 48), 60).convert("RGB")
    opaque, clear = tmp_path / "opaque.png", tmp_path / "clear.png"
    noise.convert("RGBA").save(opaque)
    with_alpha = noise.convert("RGBA")
    with_alpha.putpixel((0, 0), (1, 2, 3, 128))
    with_alpha.save(clear)
    assert theme_fixes.opaque_png(opaque) and not theme_fixes.opaque_png(clear)
    with Image.open(opaque) as image:
        assert image.mode == "RGB" and ImageChops.difference(image, noise).getbbox() is None
    with Image.open(clear) as image:
        assert image.mode == "RGBA"


def test_math_font_characters_are_read_from_the_stylesheet():
    css = 'mjx-c.mjx-c1D465.TEX-I::before{padding:0;content:"x";}mjx-c.mjx-c2211::before{content:"\\2211";}'
    assert prerender_math.characters(css) == {ord("x"), 0x2211}


# --- make bench ------------------------------------------------------------------------------

def test_bench_splits_each_edition_into_execution_and_the_rest(tmp_path, monkeypatch):
    import bench_build

    for lang, log in (("en", "/w/en/entropy.md: Executed notebook in 9.0 seconds [mystnb]\n"), ("ja", "")):
        (tmp_path / "_build" / "editions" / f"html-{lang}").mkdir(parents=True)
        (tmp_path / "_build" / "editions" / f"html-{lang}" / "build.log").write_text(log)
    monkeypatch.setattr(bench_build, "ROOT", tmp_path)
    lines = bench_build.breakdown("[en] built in 20.0 s, of which 9.0 s executing\n[ja] built in 12.5 s\n", 25.0)
    assert "executing   9.0 s (entropy 9.0) + the rest  11.0 s" in lines[0]
    assert "executing   0.0 s + the rest  12.5 s" in lines[1]
    assert "outside the Sphinx builds (run alone):   5.0 s" in lines[2]
