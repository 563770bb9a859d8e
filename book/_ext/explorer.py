"""The ``kl-explorer`` directive: the interactive fitting explorer of the mode-seeking page.

In a page::

    ```{kl-explorer}
    :objective: reverse_kl
    :mu0: 0
    :sigma0: 1
    ```

writes ``<div class="kl-explorer" lang="…" data-…>`` (the page's language, so the explorer's
labels, help and ARIA names follow it), which ``book/_static/kl-explorer.js`` fills in the
browser: no kernel, no server, nothing from another site. The script and its stylesheet
(``kl-explorer.css``) are added only to pages that hold the directive.
"""

from __future__ import annotations

import html
from typing import Any

from docutils import nodes
from docutils.parsers.rst import directives
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective

OBJECTIVES = ("forward_kl", "reverse_kl", "alpha", "js", "hellinger", "mse", "l1", "cosine", "wasserstein")
NOSCRIPT = {
    "en": "This explorer runs in the browser with JavaScript, which is switched off.",
    "ja": "このエクスプローラーはブラウザーの JavaScript で動きますが、JavaScript が無効になっています。",
}


class kl_explorer(nodes.General, nodes.Element):
    """Where the explorer goes; its attributes become the root element's data-* attributes."""


def _objective(value: str) -> str:
    return directives.choice(value, OBJECTIVES)


class KLExplorer(SphinxDirective):
    has_content = False
    option_spec = {"objective": _objective, "mu0": float, "sigma0": float, "compare": directives.flag}

    def run(self) -> list[nodes.Node]:
        sigma0 = self.options.get("sigma0", 1.0)
        if sigma0 <= 0:
            raise self.error(f"sigma0 must be positive; got {sigma0}")
        node = kl_explorer(objective=self.options.get("objective", "reverse_kl"),
                           mu0=self.options.get("mu0", 0.0), sigma0=sigma0,
                           compare="true" if "compare" in self.options else "false")
        return [node]


def _visit_html(self, node: kl_explorer) -> None:
    lang = "ja" if (self.config.language or "en").startswith("ja") else "en"
    attrs = " ".join(f'data-{key}="{html.escape(str(node[key]))}"'
                     for key in ("objective", "mu0", "sigma0", "compare"))
    self.body.append(f'<div id="kl-explorer" class="kl-explorer" lang="{lang}" {attrs}>'
                     f'<noscript><p>{html.escape(NOSCRIPT[lang])}</p></noscript></div>\n')
    raise nodes.SkipNode


def _skip(self, node: kl_explorer) -> None:
    raise nodes.SkipNode


def _add_assets(app: Sphinx, pagename: str, templatename: str, context: dict[str, Any], doctree) -> None:
    """Load the explorer's script and stylesheet on the pages that hold one, and nowhere else."""
    if doctree is not None and next(iter(doctree.findall(kl_explorer)), None) is not None:
        app.add_css_file("kl-explorer.css")
        app.add_js_file("kl-explorer.js", loading_method="defer")


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_node(kl_explorer, html=(_visit_html, None), latex=(_skip, None), text=(_skip, None),
                 man=(_skip, None), texinfo=(_skip, None))
    app.add_directive("kl-explorer", KLExplorer)
    app.connect("html-page-context", _add_assets)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
