"""Build a chapter's Colab/Binder notebook from the book: plain Jupyter Markdown, live links.

A chapter is written as a MyST Markdown notebook (``book/<lang>/<page>.md``). Its notebook
twin, the one Colab and Binder open, must read as the HTML page does, but Jupyter and Colab
render CommonMark with ``$…$`` math and nothing else: a ``{glue:text}`` role, a ``{term}``
role or an ``{exercise}`` fence would show as raw syntax. This module turns the page into
that notebook:

* the page's code cells, unchanged and in order (set-up cell included), without outputs;
* the Markdown parsed with the very parser MyST uses (``myst_parser``'s markdown-it with the
  book's extensions) and written back from its tokens, with each MyST construct replaced by
  what the page shows: glued values formatted as the page formats them (the values come
  from the executed build), ``{term}``/``{ref}``/``{numref}``/``{doc}``/``{eq}`` as absolute
  links into the published book, ``{cite}`` as "Author (year)" linked to the references
  page, admonitions as titled block quotes, exercises as numbered headings, solutions in a
  collapsed ``<details>`` block (or removed, in the student edition), figures with their
  alt text; math is left exactly as written;
* a first Markdown cell with the chapter's title, a link to the page in the book and one to
  the notebook in the other language.

Numbers, titles, anchors and citation ids are read from the edition's Sphinx build (its
environment pickle and executed notebooks), so every link points at an anchor the build
made and every number is the one the page shows. An unknown role, directive or token
stops the conversion with the file, the line and the construct (``TwinError``).

Why not a notebook builder. ``sphinx-tojupyter`` (0.6.0, the builder QuantEcon uses, run as
``jb build --builder=custom --custom-builder=jupyter``) was tried on this book's chapters
first; ``BUILDER_EVALUATION`` below records what it did. In short, it rebuilds the notebook
from the doctree: our code cells came out as Markdown code blocks (the notebook did not
run), the set-up cell was dropped, links pointed at notebooks that do not exist, and the
exercises and solutions were garbled. A converter on the MyST tokens keeps the cells byte
for byte and lets us decide, and test, what each construct becomes.
"""

from __future__ import annotations

import gettext
import hashlib
import json
import pickle
import sys
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import jupytext
import nbformat
from markdown_it.renderer import RendererHTML
from markdown_it.tree import SyntaxTreeNode
from myst_nb.core.variables import format_plain_text
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

BUILDER_EVALUATION = """\
sphinx-tojupyter 0.6.0, run on the English edition as QuantEcon runs it (sphinx_tojupyter
in extra_extensions, ``jupyter-book build --builder=custom --custom-builder=jupyter``, the
html build's execution cache), chapter entropy.md:

* code: none of the page's 18 code cells became a code cell; each came out as an
  ```ipython3 fence inside a Markdown cell, so the notebook cannot be run at all, and the
  hidden set-up cell (tag remove-cell) that installs the package on Colab was dropped;
* glue: {glue:text} values pasted with the page's format (1.4427) - the one thing it did
  as we need;
* {term}, {ref}, {cite}: links relative to sibling notebooks (glossary.ipynb#term-...,
  references.ipynb#id3) that are not in the repository, so dead on Colab; citations kept
  the page's brackets, "[[Shannon, 1948](references.ipynb#id3)]";
* exercises: "##  (Write your own entropy)Exercise 1" - title before the number, at the
  level of the page's sections; solutions: "## Solution to[ Exercise 1 (...)](#ex-entropy-1)",
  a broken link and no collapsing;
* admonitions: the writer has a visitor for ``note`` only (no ``tip``, ``warning`` or
  titled ``admonition``); math is rewritten (``$ x $``).

Its output would have to be repaired cell by cell, so the twins are written here from
MyST's own tokens instead, with the cells taken from the page as they are."""


# The MyST extensions the book enables (_config.yml, parse.myst_enable_extensions).
EXTENSIONS = ("dollarmath", "amsmath", "colon_fence", "deflist", "substitution")

ADMONITIONS = ("note", "tip", "hint", "important", "warning", "caution", "attention", "danger",
               "error", "seealso")

SOLUTION_TAG = "solution"


class TwinError(ValueError):
    """A construct the converter does not know, with the file and line where it is."""

    def __init__(self, path: Path | str, line: int | None, construct: str, why: str = "not supported"):
        self.path, self.line, self.construct = path, line, construct
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {construct}: {why} in a notebook twin "
                         f"(tools/twin.py knows how to write only the constructs it lists)")


# --- what the build knows ---------------------------------------------------------------

@dataclass
class Edition:
    """What one edition's Sphinx build knows that a page's Markdown refers to."""

    lang: str
    book_url: str                      # the published book, ending in /
    labels: dict[str, tuple[str, str, str]]   # label -> (docname, anchor, section title)
    terms: dict[str, tuple[str, str]]  # lower-cased glossary term -> (docname, anchor)
    titles: dict[str, str]             # docname -> page title
    numbers: dict[str, dict[str, dict[str, tuple[int, ...]]]]  # docname -> kind -> anchor -> number
    citations: dict[str, tuple[str, str, str, str]]  # bib key -> (docname, anchor, author, year)
    exercises: dict[str, tuple[str, str]]  # exercise label -> (docname, anchor)
    glue: dict[str, dict[str, dict]] = field(default_factory=dict)  # page -> key -> mime bundle

    def url(self, docname: str, anchor: str = "") -> str:
        return f"{self.book_url}{self.lang}/{quote(docname)}.html" + (f"#{anchor}" if anchor else "")


def _pages_of(env) -> dict[str, str]:
    return {doc: title.astext() for doc, title in env.titles.items()}


def _citation_label(entry) -> tuple[str, str]:
    """Author and year of a pybtex entry, as the page's author-year style writes them: one
    surname, two joined by "and", more as "et al."."""
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    last = [" ".join(p.last_names) for p in people]
    if len(last) == 1:
        who = last[0]
    elif len(last) == 2:
        who = f"{last[0]} and {last[1]}"
    elif last:
        who = f"{last[0]} et al."
    else:
        who = entry.fields.get("title", entry.key)
    return who.replace("{", "").replace("}", ""), str(entry.fields.get("year", "n.d."))


def load_edition(work: Path, lang: str, book_url: str) -> Edition:
    """Read one edition's build in ``work`` (``_build/editions/<kind>-<lang>``)."""
    doctrees = work / "_build" / ".doctrees" / "environment.pickle"
    if not doctrees.exists():
        raise FileNotFoundError(f"{doctrees} is missing: build the book first (`make book`)")
    # the pickled environment refers to the book's own Sphinx extensions (the explorer's node)
    ext = str(Path(__file__).resolve().parents[1] / "book" / "_ext")
    if ext not in sys.path:
        sys.path.insert(0, ext)
    with doctrees.open("rb") as f:
        env = pickle.load(f)
    std = env.domaindata["std"]
    labels = {name: (v[0], v[1], str(v[2])) for name, v in std["labels"].items() if v[0]}
    terms = {}
    for (kind, name), (docname, anchor) in std["objects"].items():
        if kind == "term":
            terms[name.lower()] = (docname, anchor)
    numbers = {doc: {kind: dict(m) for kind, m in kinds.items()} for doc, kinds in env.toc_fignumbers.items()}
    citations = {}
    for c in env.domaindata.get("cite", {}).get("citations", []):
        # the entry's anchor is on the page that holds the {bibliography} directive
        citations[c.key] = (c.bibliography_key.docname, c.citation_id, *_citation_label(c.entry))
    # sphinx-exercise keeps its registry in the environment
    exercises = {}
    registry = getattr(env, "sphinx_exercise_registry", {}) or {}
    for label, info in registry.items():
        exercises[label] = (info["docname"], label)
    glue = {}
    for ipynb in (work / "_build" / "jupyter_execute").glob("*.ipynb"):
        # myst-nb keeps each page's glued values next to its executed copy, and pastes them from there
        stored = ipynb.with_suffix(".glue.json")
        glue[ipynb.stem] = ({k: v.get("data", {}) for k, v in json.loads(stored.read_text(encoding="utf-8")).items()}
                            if stored.exists() else glued_values(nbformat.read(ipynb, as_version=4)))
    return Edition(lang=lang, book_url=book_url, labels=labels, terms=terms, titles=_pages_of(env),
                   numbers=numbers, citations=citations, exercises=exercises, glue=glue)


def glued_values(executed: nbformat.NotebookNode) -> dict[str, dict]:
    """Every value a notebook glued (myst-nb's ``glue``), by name: its mime bundle."""
    values = {}
    for cell in executed.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                values[name] = out.get("data", {})
    return values


# --- Markdown written back from MyST tokens ----------------------------------------------

def markdown_parser():
    """The markdown-it parser MyST uses for the book's pages, keeping escapes as written."""
    md = create_md_parser(MdParserConfig(enable_extensions=set(EXTENSIONS)), RendererHTML)
    md.disable("text_join")   # keep each ``\\*`` and ``&amp;`` as its own token, to write it back
    return md


_OPTION = re.compile(r"^:(?P<key>[\w-]+):(?:\s+(?P<value>.*))?$")


def directive_parts(node: SyntaxTreeNode) -> tuple[str, str, dict[str, str], str, int]:
    """(name, argument, options, body, body's first line) of a ```{name} fence."""
    name, _, argument = node.info.strip()[1:].partition("}")
    lines = node.content.split("\n")
    options, i = {}, 0
    if lines and lines[0].strip() == "---":
        end = lines.index("---", 1)
        import yaml
        options = {k: str(v) for k, v in (yaml.safe_load("\n".join(lines[1:end])) or {}).items()}
        i = end + 1
    else:
        while i < len(lines) and (m := _OPTION.match(lines[i].strip())):
            options[m["key"]] = (m["value"] or "").strip()
            i += 1
    rest = "\n".join(lines[i:])
    body = rest.strip("\n")
    skipped = len(rest) - len(rest.lstrip("\n"))     # blank lines before the body
    return name.strip(), argument.strip(), options, body, (node.map[0] + 2 + i + skipped if node.map else 0)


def _fence_for(text: str, char: str = "`") -> str:
    longest = max((len(m) for m in re.findall(re.escape(char) + "+", text)), default=0)
    return char * max(3, longest + 1)


def _escape_link_text(text: str) -> str:
    return text.replace("[", r"\[").replace("]", r"\]")


@dataclass
class Context:
    """Where a piece of Markdown sits: for error messages and for links."""

    path: Path
    page: str
    edition: Edition
    line_offset: int = 0
    in_table: bool = False


class Writer:
    """Writes MyST tokens back as plain Jupyter Markdown (CommonMark, GFM tables, $ math)."""

    def __init__(self, ctx: Context, words: dict[str, str]):
        self.ctx, self.words = ctx, words
        self.md = markdown_parser()

    # errors point at the .md file's line
    line: int | None = None   # the line being written, for inline tokens (which carry no map)

    def fail(self, node: SyntaxTreeNode | None, construct: str, why: str = "not supported"):
        line = node.map[0] + 1 + self.ctx.line_offset if node is not None and node.map else self.line
        raise TwinError(self.ctx.path, line, construct, why)

    def parse(self, text: str) -> SyntaxTreeNode:
        return SyntaxTreeNode(self.md.parse(text))

    def text(self, markdown: str, line_offset: int) -> str:
        """Write a whole piece of MyST Markdown (a directive's body) as plain Markdown."""
        saved = self.ctx.line_offset
        self.ctx.line_offset = line_offset
        try:
            return self.blocks(self.parse(markdown).children)
        finally:
            self.ctx.line_offset = saved

    # --- blocks
    def blocks(self, nodes: list[SyntaxTreeNode], tight: bool = False) -> str:
        out = [b for b in (self.block(n) for n in nodes) if b is not None]
        return ("\n" if tight else "\n\n").join(out)

    def block(self, node: SyntaxTreeNode) -> str | None:
        t = node.type
        if node.map:
            self.line = node.map[0] + 1 + self.ctx.line_offset
        if t == "paragraph":
            return self.inline(node.children[0]) if node.children else ""
        if t == "heading":
            return "#" * int(node.tag[1]) + " " + self.inline(node.children[0])
        if t in ("bullet_list", "ordered_list"):
            return self.list(node)
        if t == "blockquote":
            return _prefix(self.blocks(node.children), "> ")
        if t == "fence":
            if node.info.strip().startswith("{"):
                return self.directive(node)
            fence = _fence_for(node.content)
            return f"{fence}{node.info}\n{node.content}{fence}"
        if t == "colon_fence":
            if node.info.strip().startswith("{"):
                return self.directive(node)
            return self.text(node.content, node.map[0] + 1 + self.ctx.line_offset)
        if t == "code_block":
            return _prefix(node.content.rstrip("\n"), "    ")
        if t in ("math_block", "math_block_label"):
            math = f"$$\n{node.content.strip(chr(10))}\n$$"
            if t == "math_block_label":
                self.fail(node, f"labelled equation $$ … $$ ({node.info})",
                          "Jupyter cannot number it as the page does")
            return math
        if t == "amsmath":
            return node.content
        if t == "table":
            return self.table(node)
        if t == "hr":
            return "---"
        if t == "html_block":
            return node.content.rstrip("\n")
        if t in ("myst_target", "myst_line_comment", "front_matter"):
            return None
        if t == "dl":
            return self.deflist(node)
        self.fail(node, f"Markdown block {t!r}")

    def list(self, node: SyntaxTreeNode) -> str:
        items = []
        start = int(node.attrs.get("start", 1)) if node.type == "ordered_list" else None
        for k, item in enumerate(node.children):
            tight = all(c.hidden for c in item.children if c.type == "paragraph")
            body = self.blocks(item.children, tight=tight) if item.children else ""
            marker = f"{start + k}{item.markup or '.'} " if start is not None else f"{item.markup or '-'} "
            pad = " " * len(marker)
            lines = body.split("\n")
            items.append(marker + lines[0] + "".join("\n" + (pad + l if l else "") for l in lines[1:]))
        tight = all(c.hidden for item in node.children for c in item.children if c.type == "paragraph")
        return ("\n" if tight else "\n\n").join(items)

    def table(self, node: SyntaxTreeNode) -> str:
        rows, aligns = [], []
        saved, self.ctx.in_table = self.ctx.in_table, True
        try:
            for section in node.children:
                for tr in section.children:
                    cells = [self.inline(c.children[0]) if c.children else "" for c in tr.children]
                    rows.append("| " + " | ".join(cells) + " |")
                    if section.type == "thead":
                        aligns = [(c.attrs.get("style") or "") for c in tr.children]
                        rule = []
                        for a in aligns:
                            rule.append(":---:" if "center" in a else "---:" if "right" in a
                                        else ":---" if "left" in a else "---")
                        rows.append("| " + " | ".join(rule) + " |")
        finally:
            self.ctx.in_table = saved
        return "\n".join(rows)

    def deflist(self, node: SyntaxTreeNode) -> str:
        out = []
        for child in node.children:
            if child.type == "dt":
                out.append(f"**{self.inline(child.children[0])}**")
            else:
                out.append(_prefix(self.blocks(child.children), "> "))
        return "\n\n".join(out)

    # --- inline
    def inline(self, node: SyntaxTreeNode) -> str:
        out = []
        for child in node.children:
            out.append(self.span(child))
            if self.line is not None:   # follow the source's lines, for error messages
                self.line += (child.type in ("softbreak", "hardbreak")) + child.content.count("\n")
        return "".join(out)

    def span(self, node: SyntaxTreeNode) -> str:
        t = node.type
        if t == "text":
            return node.content.replace("|", r"\|") if self.ctx.in_table else node.content
        if t == "text_special":
            return node.markup or node.content
        if t == "softbreak":
            return "\n"
        if t == "hardbreak":
            return "\\\n"
        if t == "code_inline":
            return f"{node.markup}{node.content}{node.markup}"
        if t in ("em", "strong"):
            return f"{node.markup}{self.inline(node)}{node.markup}"
        if t == "link":
            href = node.attrs.get("href", "")
            if not re.match(r"^[a-z]+:", href) and not href.startswith("#"):
                self.fail(node, f"relative link ({href})", "a notebook opened on Colab cannot follow it")
            title = node.attrs.get("title")
            return f"[{self.inline(node)}]({href}" + (f' "{title}"' if title else "") + ")"
        if t == "image":
            src = node.attrs.get("src", "")
            if not re.match(r"^[a-z]+:", src):
                self.fail(node, f"relative image ({src})", "a notebook opened on Colab cannot load it")
            return f"![{node.content}]({src})"
        if t == "math_inline":
            math = node.content.replace("|", r"\|") if self.ctx.in_table else node.content
            return f"${math}$"
        if t == "math_inline_double":
            return f"$${node.content}$$"
        if t == "html_inline":
            return node.content
        if t == "myst_role":
            return self.role(node)
        self.fail(node, f"Markdown inline {t!r}")

    # --- roles
    def role(self, node: SyntaxTreeNode) -> str:
        name, content = node.meta["name"], node.content
        ed, ctx = self.ctx.edition, self.ctx
        explicit, target = _split_target(content)
        if name in ("glue:text", "glue", "glue:"):
            key, _, spec = content.rpartition(":") if name == "glue:text" and ":" in content else (content, "", "")
            if "::" in key:
                self.fail(node, f"{{{name}}}`{content}`", "glue from another page")
            value = ed.glue.get(ctx.page, {}).get(key)
            if value is None or "text/plain" not in value:
                self.fail(node, f"{{{name}}}`{content}`",
                          "no such glued value in the executed page (rebuild the book)")
            return format_plain_text(value["text/plain"], spec) if name == "glue:text" else value["text/plain"]
        if name == "glue:md":
            value = ed.glue.get(ctx.page, {}).get(content, {})
            if "text/markdown" not in value:
                self.fail(node, f"{{{name}}}`{content}`", "no such glued Markdown in the executed page")
            return value["text/markdown"]
        if name == "term":
            entry = ed.terms.get(target.lower())
            if entry is None:
                self.fail(node, f"{{term}}`{content}`", "no such glossary entry")
            return f"[{_escape_link_text(explicit or target)}]({ed.url(*entry)})"
        if name == "ref":
            entry = ed.labels.get(target)
            if entry is None:
                self.fail(node, f"{{ref}}`{content}`", "no such label")
            docname, anchor, title = entry
            return f"[{_escape_link_text(explicit or title)}]({ed.url(docname, anchor)})"
        if name == "doc":
            docname = target.removesuffix(".md").lstrip("/")
            if docname not in ed.titles:
                self.fail(node, f"{{doc}}`{content}`", "no such page")
            return f"[{_escape_link_text(explicit or ed.titles[docname])}]({ed.url(docname)})"
        if name in ("numref", "eq"):
            return self.numbered(node, name, explicit, target)
        if name.startswith("cite"):
            return self.cite(node, name, content)
        if name == "math":
            return f"${content}$"
        if name in ("sub", "sup"):
            return f"<{name}>{content}</{name}>"
        self.fail(node, f"role {{{name}}}`{content}`")

    def numbered(self, node, name, explicit, target) -> str:
        ed = self.ctx.edition
        if name == "eq":
            self.fail(node, f"{{eq}}`{target}`", "numbered equations are not written in twins")
        entry = ed.labels.get(target)
        if entry is None:
            self.fail(node, f"{{numref}}`{target}`", "no such label")
        docname, anchor, _ = entry
        for kind, numbers in ed.numbers.get(docname, {}).items():
            if anchor in numbers:
                number = ".".join(map(str, numbers[anchor]))
                text = (explicit or self.words.get(f"numref-{kind}", "%s")).replace("%s", number)
                return f"[{_escape_link_text(text)}]({ed.url(docname, anchor)})"
        self.fail(node, f"{{numref}}`{target}`", "the label has no number")

    def cite(self, node, name, content) -> str:
        ed = self.ctx.edition
        parts = []
        for key in (k.strip() for k in content.split(",")):
            if key not in ed.citations:
                self.fail(node, f"{{{name}}}`{content}`", f"no bibliography entry {key!r}")
            docname, anchor, who, year = ed.citations[key]
            url = ed.url(docname, anchor)
            if name in ("cite:t", "cite:ts"):
                parts.append(f"[{who} ({year})]({url})")
            elif name in ("cite:p", "cite:ps", "cite"):
                parts.append(f"[{who}, {year}]({url})")
            elif name == "cite:year":
                parts.append(f"[{year}]({url})")
            elif name == "cite:author":
                parts.append(f"[{who}]({url})")
            else:
                self.fail(node, f"{{{name}}}`{content}`")
        if name in ("cite:p", "cite:ps", "cite"):
            return "(" + "; ".join(parts) + ")"
        return ", ".join(parts)

    # --- directives (other than the exercise machinery, which Converter handles)
    def directive(self, node: SyntaxTreeNode) -> str:
        name, argument, options, body, line = directive_parts(node)
        body_md = lambda: self.text(body, line - 1 + self.ctx.line_offset)  # noqa: E731
        if name in ADMONITIONS or name == "admonition":
            title = argument if name == "admonition" else self.words.get(name, name.title())
            if name != "admonition" and argument:
                body = f"{argument}\n\n{body}"
            inner = body_md()
            return _prefix(f"**{title}**\n\n{inner}" if inner else f"**{title}**", "> ")
        if name in ("figure", "image"):
            src = argument
            if not re.match(r"^[a-z]+:", src):
                src = f"{self.ctx.edition.book_url}{self.ctx.edition.lang}/_images/{Path(src).name}"
            alt = options.get("alt", "")
            out = f"![{_escape_link_text(alt)}]({src})"
            if name == "figure" and body:
                out += "\n\n*" + body_md() + "*"      # the caption, under the image
            return out
        if name == "math":
            return f"$$\n{body}\n$$"
        if name == "kl-explorer":
            # the explorer is JavaScript on the HTML page (book/_ext/explorer.py); a notebook
            # cannot run it, so the twin says where it lives and what replaces it here
            url = self.ctx.edition.url(self.ctx.page, "kl-explorer")
            return _prefix(EXPLORER_NOTE[self.ctx.edition.lang].format(url=url), "> ")
        if name in ("code-block", "code", "sourcecode"):
            fence = _fence_for(body)
            return f"{fence}{argument}\n{body}\n{fence}"
        self.fail(node, f"directive {{{name}}}")


EXPLORER_NOTE = {
    "en": ("**Interactive explorer.** The explorer runs in your browser on [this page of the book]"
           "({url}), with no kernel. Here, `kc.fit_gaussian` does the same fits."),
    "ja": ("**インタラクティブな探索ツール**　探索ツールは[本の同じページ]({url})でブラウザだけで動く"
           "（カーネル不要）。このノートブックでは `kc.fit_gaussian` で同じフィットを計算できる。"),
}


def _prefix(text: str, prefix: str) -> str:
    return "\n".join((prefix + line).rstrip() if line else prefix.rstrip() for line in text.split("\n"))


def _split_target(content: str) -> tuple[str, str]:
    """``text <target>`` -> ("text", "target"); ``target`` -> ("", "target")."""
    m = re.match(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", content, flags=re.S)
    if m:
        return m["text"].strip(), m["target"].strip()
    return "", content.strip()


# --- interface words, as the page's language writes them ---------------------------------

def interface_words(lang: str) -> dict[str, str]:
    """Admonition titles and the exercise/solution words of the HTML page, in its language."""
    import sphinx
    import sphinx_exercise

    def catalogue(domain: str, localedir: Path):
        return gettext.translation(domain, localedir=str(localedir), languages=[lang], fallback=True).gettext

    sph = catalogue("sphinx", Path(sphinx.__file__).parent / "locale")
    ex = catalogue("exercise", Path(sphinx_exercise.__file__).parent / "translations" / "locales")
    titles = {"note": "Note", "tip": "Tip", "hint": "Hint", "important": "Important", "warning": "Warning",
              "caution": "Caution", "attention": "Attention", "danger": "Danger", "error": "Error",
              "seealso": "See also"}
    words = {k: sph(v) for k, v in titles.items()}
    words["exercise"] = ex("Exercise")
    words["solution"] = ex("Solution to")
    words["numref-figure"] = sph("Fig. %s")
    words["numref-table"] = sph("Table %s")
    words["numref-code-block"] = sph("Listing %s")
    words["numref-exercise"] = ex("Exercise") + " %s"
    return words


# --- the notebook ------------------------------------------------------------------------

def colab_url(config: dict, path: str) -> str:
    """Colab's address of a notebook committed on the configured repository and branch."""
    repo = config["repository"]
    owner_name = re.sub(r"^https?://github\.com/", "", repo["url"].rstrip("/")).removesuffix(".git")
    return f"https://colab.research.google.com/github/{owner_name}/blob/{repo.get('branch', 'main')}/{path}"


def book_url(config: dict) -> str:
    """The published book's address (``repository.book_url`` in _config.yml), ending in /."""
    url = config["repository"].get("book_url")
    if not url or not re.match(r"^https?://", url):
        raise ValueError("_config.yml: repository.book_url must be the published book's http(s) address")
    return url.rstrip("/") + "/"


TITLE_CELL = {
    "en": ("This notebook is the chapter [{title}]({page}) of the book *{book}*: the same text and code, "
           "to run here from the top.\n\n"
           "{other_label}: [{other_open}]({other})"),
    "ja": ("このノートブックは本『{book}』の章[「{title}」]({page})です。本文もコードもページと同じです。"
           "上のセルから順に実行してください。\n\n"
           "{other_label}: [{other_open}]({other})"),
}
OTHER = {  # the link to the other edition's notebook, written in that edition's language
    "en": ("English", "Open this notebook in English"),
    "ja": ("日本語", "このノートブックを日本語で開く"),
}
STUDENT_OTHER = {
    "en": ("English", "This chapter in the English edition of the book"),
    "ja": ("日本語", "日本語版の本のこの章"),
}


@dataclass
class Twin:
    """What ``convert`` needs besides the page: the build it reads and the book it links to."""

    config: dict
    editions: dict[str, Edition]       # lang -> the edition's build
    titles: dict[str, str]             # lang -> the book's title


def convert(md: Path, lang: str, twin: Twin, student: bool = False, display_path: str | None = None
            ) -> nbformat.NotebookNode:
    """The notebook a reader (or, with ``student``, a student) opens for one chapter."""
    page = md.stem
    ed = twin.editions[lang]
    path = display_path or str(md)
    text = md.read_text(encoding="utf-8")
    source_nb = jupytext.reads(text, fmt="md:myst")
    code_cells = [c for c in source_nb.cells if c.cell_type == "code"]
    words = interface_words(lang)
    writer = Writer(Context(path=path, page=page, edition=ed), words)
    tree = writer.parse(text)

    cells: list[nbformat.NotebookNode] = []
    pending: list[str] = []
    gated: dict = {}          # the open {solution-start}: label, parts written so far
    title: str | None = None
    k = 0

    exercise_titles: dict[str, str] = {}

    def number_of(label: str, node) -> str:
        docname, anchor = ed.exercises.get(label, (page, label))
        numbers = ed.numbers.get(docname, {}).get("exercise", {})
        if anchor not in numbers:
            writer.fail(node, f"exercise {label}", "the build gave it no number")
        return ".".join(map(str, numbers[anchor]))

    def flush():
        body = "\n\n".join(p for p in pending if p.strip())
        pending.clear()
        if not body:
            return
        if gated:
            if student:
                return
            summary = f"{words['solution']} {words['exercise']} {gated['number']}{gated['title']}"
            if gated["parts"]:
                summary += " …"
            gated["parts"] += 1
            cells.append(solution_cell(summary, body, gated["label"]))
        else:
            cells.append(nbformat.v4.new_markdown_cell(body))

    for node in tree.children:
        info = node.info.strip() if node.type in ("fence", "colon_fence") else ""
        name = info[1:].partition("}")[0] if info.startswith("{") else None
        if node.type == "heading" and node.tag == "h1" and title is None:
            title = writer.inline(node.children[0])
            continue
        if node.type == "myst_block_break":
            flush()
            continue
        if name == "code-cell":
            flush()
            if k >= len(code_cells):
                writer.fail(node, "{code-cell}", "jupytext found fewer code cells")
            cell = code_cells[k]
            k += 1
            if gated:
                if student:
                    continue
                cell = _copy_code(cell)
                cell.metadata.setdefault("klcourse", {})["solution"] = gated["label"]
                cell.metadata["jupyter"] = {"source_hidden": True}
            cells.append(_copy_code(cell))
            caption = figure_caption(cell, page, ed, writer, words, node)
            if caption is not None and not (gated and student):
                cells.append(caption)
            continue
        if name == "exercise":
            flush()
            _, argument, options, body, line = directive_parts(node)
            label = options.get("label")
            if not label:
                writer.fail(node, "{exercise} without :label:", "the notebook's anchor needs it")
            number = number_of(label, node)
            heading = f"{words['exercise']} {number}"
            if argument:
                exercise_titles[label] = f" ({writer.text(argument, node.map[0])})"
                heading += exercise_titles[label]
            inner = writer.text(body, line - 1)
            cell = nbformat.v4.new_markdown_cell(f'<a id="{label}"></a>\n\n### {heading}\n\n{inner}'.rstrip())
            cell.metadata["klcourse"] = {"exercise": label}
            cells.append(cell)
            continue
        if name in ("solution", "solution-start"):
            flush()
            _, argument, options, body, line = directive_parts(node)
            label = argument.split()[0] if argument else ""
            if not label:
                writer.fail(node, f"{{{name}}} without the exercise's label")
            if name == "solution-start":
                gated = {"label": label, "number": number_of(label, node), "parts": 0,
                         "title": exercise_titles.get(label, "")}
                continue
            if not student:
                summary = (f"{words['solution']} {words['exercise']} {number_of(label, node)}"
                           f"{exercise_titles.get(label, '')}")
                cells.append(solution_cell(summary, writer.text(body, line - 1), label))
            continue
        if name == "solution-end":
            flush()
            gated = {}
            continue
        rendered = writer.block(node)
        if rendered is not None:
            pending.append(rendered)
    flush()
    if gated:
        raise TwinError(path, None, "{solution-start}", "no {solution-end} closes it")
    if k != len(code_cells):
        raise TwinError(path, None, "{code-cell}", f"{len(code_cells)} code cells, {k} fences")
    if title is None:
        raise TwinError(path, None, "the page's title", "a chapter starts with a '# Title' heading")

    cells.insert(0, title_cell(page, lang, title, twin, student))
    nb = nbformat.v4.new_notebook()
    nb.metadata = {
        "kernelspec": dict(source_nb.metadata.get("kernelspec", {})),
        "language_info": {"name": "python"},
        "klcourse": {"page": page, "lang": lang, "edition": "student" if student else "reader"},
    }
    nb.cells = cells
    _stable_ids(nb)
    return nb


def figure_caption(cell, page: str, ed: Edition, writer: Writer, words: dict[str, str], node
                   ) -> nbformat.NotebookNode | None:
    """The caption the page prints under a code cell's figure (myst-nb's ``mystnb.figure``),
    numbered as on the page, as a Markdown cell after the cell that draws it."""
    figure = cell.metadata.get("mystnb", {}).get("figure")
    if not figure or not figure.get("caption"):
        return None
    name = figure.get("name", "")
    number = ed.numbers.get(page, {}).get("figure", {}).get(name)
    if number is None:
        writer.fail(node, f"figure {name or '(no name)'}", "the build gave it no number")
    label = words["numref-figure"].replace("%s", ".".join(map(str, number)))
    caption = writer.text(str(figure["caption"]), node.map[0])
    out = nbformat.v4.new_markdown_cell(f"**{label}** {caption}")
    out.metadata["klcourse"] = {"figure": name}
    return out


def summary_html(markdown: str) -> str:
    """A one-line piece of Markdown as the HTML that a ``<summary>`` needs (Jupyter does not
    read Markdown inside an HTML block): links keep their text, math stays ``$…$``."""
    import html

    out = []
    for token in markdown_parser().parseInline(markdown)[0].children:
        t = token.type
        if t in ("text", "text_special"):
            out.append(html.escape(token.content, quote=False))
        elif t == "math_inline":
            out.append("$" + html.escape(token.content, quote=False) + "$")
        elif t == "code_inline":
            out.append(f"<code>{html.escape(token.content, quote=False)}</code>")
        elif t in ("em_open", "em_close", "strong_open", "strong_close"):
            out.append(f"<{'/' if t.endswith('close') else ''}{token.tag}>")
        elif t == "softbreak":
            out.append(" ")
    return "".join(out)


def solution_cell(summary: str, body: str, label: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_markdown_cell(
        f"<details>\n<summary>{summary_html(summary)}</summary>\n\n{body}\n\n</details>")
    cell.metadata["klcourse"] = {"solution": label}
    return cell


def title_cell(page: str, lang: str, title: str, twin: Twin, student: bool) -> nbformat.NotebookNode:
    ed = twin.editions[lang]
    other = next(l for l in twin.editions if l != lang) if len(twin.editions) > 1 else None
    other = other or next((l for l in OTHER if l != lang))
    if student:
        # the student notebooks sit beside the student edition, not on Colab: link the book's page
        label, text = STUDENT_OTHER[other]
        other_url = f"{ed.book_url}{other}/{page}.html"
    else:
        label, text = OTHER[other]
        other_url = colab_url(twin.config, f"book/{other}/{page}.ipynb")
    body = TITLE_CELL[lang].format(title=title, page=ed.url(page), book=twin.titles[lang],
                                   other_label=label, other_open=text, other=other_url)
    return nbformat.v4.new_markdown_cell(f"# {title}\n\n{body}")


def _copy_code(cell) -> nbformat.NotebookNode:
    out = nbformat.v4.new_code_cell(cell.source, metadata=dict(cell.metadata))
    out.outputs, out.execution_count = [], None
    return out


def _stable_ids(nb: nbformat.NotebookNode) -> None:
    """Cell ids from the cell's content, so that an unchanged page gives an unchanged twin."""
    seen: dict[str, int] = {}
    for cell in nb.cells:
        digest = hashlib.sha1(f"{cell.cell_type}\n{cell.source}".encode()).hexdigest()[:10]
        seen[digest] = seen.get(digest, 0) + 1
        cell.id = digest if seen[digest] == 1 else f"{digest}-{seen[digest]}"


# --- what a reader of the notebook must never see ---------------------------------------

_MYST_TOKENS = {"myst_role": "role", "myst_target": "target (label)=", "myst_line_comment": "% comment",
                "myst_block_break": "+++ break", "math_block_label": "labelled $$ equation",
                "substitution_inline": "{{ substitution }}", "substitution_block": "{{ substitution }}"}
_RAW_ROLE = re.compile(r"\{[a-z][\w:+-]*\}`")


def myst_constructs(markdown: str) -> list[str]:
    """MyST constructs in a piece of Markdown, found by MyST's own parser: roles, targets,
    comments, ``{directive}`` fences, labelled equations, substitutions; and, inside raw
    HTML blocks (which Jupyter shows as they are), anything that looks like a role."""
    found = []
    for token in markdown_parser().parse(markdown):
        for t in [token, *(token.children or [])]:
            if t.type in _MYST_TOKENS:
                found.append(f"{_MYST_TOKENS[t.type]}: {t.meta.get('name', '')}{t.content[:40]!r}")
            elif t.type in ("fence", "colon_fence") and t.info.strip().startswith("{"):
                found.append(f"directive: {t.info.strip()}")
            elif t.type in ("html_block", "html_inline"):
                found += [f"raw role in HTML: {m.group(0)}" for m in _RAW_ROLE.finditer(t.content)]
    return found
