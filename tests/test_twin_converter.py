"""tools/twin.py: MyST pages written as plain Jupyter Markdown (no build needed).

The converter runs here on small pages against a hand-made ``Edition`` (what a build would
know), so each construct's translation, and each failure, is pinned down exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import twin  # noqa: E402

BOOK = "https://example.org/book/"
CONFIG = {"repository": {"url": "https://github.com/someone/fork", "branch": "dev", "book_url": BOOK}}

HEADER = """\
---
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

(page)=
# The Page

"""

PAGE = HEADER + """\
Intro with {glue:text}`width:.4f` and {glue:text}`count:d` and {glue:text}`word`, a
{term}`support` and {term}`a custom text <Information content>`, see
{ref}`sec-two` or {ref}`that part <sec-two>`; after {cite:t}`shannon1948` and
{cite:p}`cover2006,mackay2003`. Math stays: $\\sigma^2$, \\* and &amp; stay escaped.

```{code-cell} ipython3
:tags: [remove-cell, colab-setup]

print("setup")
```

(sec-two)=
## Two

$$
D(P \\,\\|\\, Q) = \\sum_x P(x) \\log \\frac{P(x)}{Q(x)}
$$

\\begin{align}
a &= b \\\\
c &= d
\\end{align}

:::{note}
A note with {term}`support`.
:::

```{admonition} Careful now
Titled.
```

| loss | value |
|---|---:|
| $\\|x\\|$ | {glue:text}`width:.2f` |
| a \\| b | 2 |

- one
  - nested {term}`support`
- two

1. first

   more of first
2. second

```{code-cell} ipython3
x = 1
print(x)
```

## Exercises

:::{exercise} Compute $H$ with {term}`support`
:label: ex-page-1

Do it.
:::

```{code-cell} ipython3
def f():
    raise NotImplementedError
```

```{solution-start} ex-page-1
:class: dropdown
```

Use the formula.

```{code-cell} ipython3
def f():
    return 1
```

And it passes.

```{solution-end}
```

```{exercise} Think
:label: ex-page-2

Why?
```

```{solution} ex-page-2
:class: dropdown

Because {glue:text}`width:.1f`.
```

The end.
"""


def edition(lang: str = "en") -> twin.Edition:
    return twin.Edition(
        lang=lang, book_url=BOOK,
        labels={"sec-two": ("page", "sec-two", "Two"), "page": ("page", "page", "The Page")},
        terms={"support": ("glossary", "term-Support"),
               "information content": ("glossary", "term-Information-content")},
        titles={"page": "The Page", "glossary": "Glossary", "references": "References"},
        numbers={"page": {"exercise": {"ex-page-1": (1,), "ex-page-2": (2,)}}},
        citations={"shannon1948": ("references", "id3", "Shannon", "1948"),
                   "cover2006": ("references", "id1", "Cover and Thomas", "2006"),
                   "mackay2003": ("references", "id2", "MacKay", "2003")},
        exercises={"ex-page-1": ("page", "ex-page-1"), "ex-page-2": ("page", "ex-page-2")},
        glue={"page": {"width": {"text/plain": "7.566431"}, "count": {"text/plain": "12"},
                       "word": {"text/plain": "'mean-seeking'"}}})


def convert(tmp_path, text=PAGE, student=False, lang="en"):
    md = tmp_path / lang / "page.md"
    md.parent.mkdir(exist_ok=True)
    md.write_text(text, encoding="utf-8")
    builder = twin.Twin(config=CONFIG, editions={lang: edition(lang)},
                        titles={"en": "The Book", "ja": "本"})
    return twin.convert(md, lang, builder, student=student)


def markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


def test_code_cells_are_the_pages_in_order_without_outputs(tmp_path):
    nb = convert(tmp_path)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.source for c in code] == ['print("setup")', "x = 1\nprint(x)",
                                        "def f():\n    raise NotImplementedError", "def f():\n    return 1"]
    assert code[0].metadata["tags"] == ["remove-cell", "colab-setup"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)


def test_title_cell_links_the_page_and_the_other_language(tmp_path):
    first = convert(tmp_path).cells[0]
    assert first.source.startswith("# The Page\n")
    assert f"({BOOK}en/page.html)" in first.source
    assert "(https://colab.research.google.com/github/someone/fork/blob/dev/book/ja/page.ipynb)" in first.source
    assert "*The Book*" in first.source


def test_roles_become_values_and_links(tmp_path):
    text = markdown(convert(tmp_path))
    assert "Intro with 7.5664 and 12 and mean-seeking, a" in text
    assert f"[support]({BOOK}en/glossary.html#term-Support)" in text
    assert f"[a custom text]({BOOK}en/glossary.html#term-Information-content)" in text
    assert f"[Two]({BOOK}en/page.html#sec-two) or [that part]({BOOK}en/page.html#sec-two)" in text
    assert f"[Shannon (1948)]({BOOK}en/references.html#id3)" in text
    assert (f"([Cover and Thomas, 2006]({BOOK}en/references.html#id1); "
            f"[MacKay, 2003]({BOOK}en/references.html#id2))") in text
    assert "Math stays: $\\sigma^2$, \\* and &amp; stay escaped." in text
    assert "(page)=" not in text and "(sec-two)=" not in text and "{" + "term}" not in text


def test_math_is_kept_as_written(tmp_path):
    text = markdown(convert(tmp_path))
    assert "$$\nD(P \\,\\|\\, Q) = \\sum_x P(x) \\log \\frac{P(x)}{Q(x)}\n$$" in text
    assert "\\begin{align}\na &= b \\\\\nc &= d\n\\end{align}" in text


def test_admonitions_tables_and_lists(tmp_path):
    text = markdown(convert(tmp_path))
    assert f"> **Note**\n>\n> A note with [support]({BOOK}en/glossary.html#term-Support)." in text
    assert "> **Careful now**\n>\n> Titled." in text
    assert "| loss | value |\n| --- | ---: |\n| $\\|x\\|$ | 7.57 |\n| a \\| b | 2 |" in text
    assert f"- one\n  - nested [support]({BOOK}en/glossary.html#term-Support)\n- two" in text
    assert "1. first\n\n   more of first\n\n2. second" in text


def test_exercises_and_collapsed_solutions(tmp_path):
    nb = convert(tmp_path)
    exercises = [c for c in nb.cells if "exercise" in c.metadata.get("klcourse", {})]
    assert [c.metadata["klcourse"]["exercise"] for c in exercises] == ["ex-page-1", "ex-page-2"]
    assert exercises[0].source.startswith(
        f'<a id="ex-page-1"></a>\n\n### Exercise 1 (Compute $H$ with [support]({BOOK}en/glossary.html#term-Support))'
        "\n\nDo it.")
    solutions = [c for c in nb.cells if "solution" in c.metadata.get("klcourse", {})]
    kinds = [(c.cell_type, c.metadata["klcourse"]["solution"]) for c in solutions]
    assert kinds == [("markdown", "ex-page-1"), ("code", "ex-page-1"), ("markdown", "ex-page-1"),
                     ("markdown", "ex-page-2")]
    assert solutions[0].source == f"<details>\n<summary>Solution to Exercise 1 (Compute $H$ with support)</summary>\n\nUse the formula.\n\n</details>"
    assert solutions[1].metadata["jupyter"] == {"source_hidden": True}
    assert "(Compute $H$ with support) …</summary>" in solutions[2].source and "And it passes." in solutions[2].source
    assert solutions[3].source == "<details>\n<summary>Solution to Exercise 2 (Think)</summary>\n\nBecause 7.6.\n\n</details>"
    assert nb.cells[-1].source == "The end."
    assert nb.metadata["klcourse"] == {"page": "page", "lang": "en", "edition": "reader"}


def test_student_notebook_has_no_solution_and_keeps_the_exercise_cells(tmp_path):
    nb = convert(tmp_path, student=True)
    assert nb.metadata["klcourse"]["edition"] == "student"
    assert not [c for c in nb.cells if "solution" in c.metadata.get("klcourse", {})]
    text = "\n".join(c.source for c in nb.cells)
    assert "Use the formula" not in text and "return 1" not in text and "Because" not in text
    assert "raise NotImplementedError" in text and "<details>" not in text
    assert "[Japanese]" not in text and f"({BOOK}ja/page.html)" in nb.cells[0].source


def test_japanese_words_come_from_the_catalogues(tmp_path):
    nb = convert(tmp_path, lang="ja")
    text = markdown(nb)
    assert "> **注釈**" in text
    assert "### 練習 1 (" in text
    assert "(https://colab.research.google.com/github/someone/fork/blob/dev/book/en/page.ipynb)" in nb.cells[0].source


@pytest.mark.parametrize("snippet, construct", [
    ("Some {abbr}`LR (learning rate)` here.", "role {abbr}`LR (learning rate)`"),
    ("```{margin}\nSide.\n```", "directive {margin}"),
    ("Glued {glue:text}`nowhere:.2f`.", "{glue:text}`nowhere:.2f`"),
    ("A {term}`no such term`.", "{term}`no such term`"),
    ("See {ref}`no-such-label`.", "{ref}`no-such-label`"),
    ("See [the page](other.md).", "relative link (other.md)"),
])
def test_unknown_constructs_fail_with_file_line_and_construct(tmp_path, snippet, construct):
    text = HEADER + "Fine.\n\n" + snippet + "\n"
    with pytest.raises(twin.TwinError) as err:
        convert(tmp_path, text)
    line = HEADER.count("\n") + 3
    assert str(err.value).startswith(f"{tmp_path / 'en' / 'page.md'}:{line}: {construct}")


def test_a_construct_inside_a_directive_is_located_too(tmp_path):
    text = HEADER + ":::{note}\nLine one.\n\nLine {abbr}`two`.\n:::\n"
    with pytest.raises(twin.TwinError, match=r"page\.md:" + str(HEADER.count("\n") + 4) + r": role \{abbr\}"):
        convert(tmp_path, text)


def test_book_url_is_required_and_absolute():
    assert twin.book_url(CONFIG) == BOOK
    with pytest.raises(ValueError, match="repository.book_url"):
        twin.book_url({"repository": {"url": "https://github.com/a/b"}})
    with pytest.raises(ValueError, match="repository.book_url"):
        twin.book_url({"repository": {"book_url": "book/"}})


CHAPTER_PAGES = sorted(p for p in (ROOT / "book").glob("*/*.md") if "kernelspec" in p.read_text(encoding="utf-8")[:400])


@pytest.mark.parametrize("md", CHAPTER_PAGES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_plain_markdown_is_written_back_as_it_renders(md):
    """Every block of a chapter that holds no MyST construct, written back from its tokens,
    renders to the same HTML as the source block: the writer loses nothing of the text
    (escapes, lists, tables, math, emphasis)."""
    parser = twin.markdown_parser()
    lines = md.read_text(encoding="utf-8").split("\n")
    writer = twin.Writer(twin.Context(path=md, page=md.stem, edition=edition()), twin.interface_words("en"))
    checked = 0
    for node in writer.parse("\n".join(lines)).children:
        if not node.map or node.type in ("front_matter", "myst_target", "myst_line_comment"):
            continue
        source = "\n".join(lines[node.map[0]:node.map[1]])
        if twin.myst_constructs(source) or node.type in ("fence", "colon_fence"):
            continue
        written = writer.block(node)
        assert parser.render(written) == parser.render(source), source[:200]
        checked += 1
    assert checked > 20
