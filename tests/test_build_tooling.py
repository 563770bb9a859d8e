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
                                     "ja": fake_build(tmp_path, "ja", "built", 0)})
    assert set(seconds) == {"en", "ja"}
    assert (tmp_path / "en" / "build.log").read_text().strip() == "built"
    assert "building en again (1/2)" in capsys.readouterr().err


def test_a_build_that_failed_for_another_reason_is_not_run_again(tmp_path, capsys):
    job = fake_build(tmp_path, "en", "WARNING: undefined label: 'kl-def'", 1)
    with pytest.raises(SystemExit, match="build failed for en"):
        build_book.run_builds({"en": job})
    assert "undefined label" in capsys.readouterr().err
