// Typesets TeX as MathJax's CommonHTML (CHTML) at build time, for book/_ext/prerender_math.py.
//
// stdin:  {"em": 16, "ex": 9, "pages": [{"fontURL": "...", "math": [{"tex": "...", "display": false}, ...]}, ...]}
// stdout: {"pages": [{"html": ["<mjx-container ...>", ...], "css": "...", "errors": ["...", ...]}, ...]}
//
// Each page gets its own MathJax document, so its stylesheet holds the rules for the characters
// that page uses, as the browser's MathJax would have written them. The assistive MathML is
// kept (an <mjx-assistive-mml> in each container): screen readers read it, as they did before.
"use strict";

const {mathjax} = require("mathjax-full/js/mathjax.js");
const {TeX} = require("mathjax-full/js/input/tex.js");
const {CHTML} = require("mathjax-full/js/output/chtml.js");
const {liteAdaptor} = require("mathjax-full/js/adaptors/liteAdaptor.js");
const {RegisterHTMLHandler} = require("mathjax-full/js/handlers/html.js");
const {AssistiveMmlHandler} = require("mathjax-full/js/a11y/assistive-mml.js");
const {AllPackages} = require("mathjax-full/js/input/tex/AllPackages.js");

// The TeX packages the browser's tex-mml-chtml.js has (base, ams, newcommand, configmacros) or
// loads on first use (autoload: braket, cancel, color, mathtools, ...). Left out: noerrors and
// noundefined, which would show a broken formula instead of failing the build, and textmacros
// (with textcomp), which the browser does not load and which changes how \text{} is read.
const LEFT_OUT = new Set(["noerrors", "noundefined", "textmacros", "textcomp", "tagformat"]);
const PACKAGES = AllPackages.filter((name) => !LEFT_OUT.has(name));

const adaptor = liteAdaptor();
AssistiveMmlHandler(RegisterHTMLHandler(adaptor));

// Attributes that say nothing in an HTML page, left out to keep pages light: the MathML
// namespace (the HTML parser puts <math> in it), IE's "unselectable" (the CSS has user-select),
// and the container's style when it is the one every container has.
function compact(node, containerStyle) {
  if (adaptor.getAttribute(node, "style") === containerStyle) adaptor.removeAttribute(node, "style");
  for (const child of adaptor.childNodes(node)) {
    if (adaptor.kind(child) !== "mjx-assistive-mml") continue;
    adaptor.removeAttribute(child, "unselectable");
    for (const math of adaptor.childNodes(child)) {
      if (adaptor.kind(math) === "math") adaptor.removeAttribute(math, "xmlns");
    }
  }
}

function typesetPage(page, request) {
  const errors = [];
  const tex = new TeX({
    packages: PACKAGES,
    formatError: (jax, err) => { errors.push(err.message); return jax.formatError(err); },
  });
  const chtml = new CHTML({fontURL: page.fontURL});
  const doc = mathjax.document("", {InputJax: tex, OutputJax: chtml});
  // what the browser's MathJax does with matchFontHeight: scale to the text's x-height
  const scale = Math.max(chtml.options.minScale, request.ex / request.em / chtml.font.params.x_height);
  // Every container gets the same style (the scale, and the position the assistive MathML is
  // placed against): written once in the page's CSS instead of in each of its formulas.
  const containerStyle = `font-size: ${(100 * scale).toFixed(1)}%; position: relative;`;
  // A page repeats many formulas ($P$, $Q$, $D(P\|Q)$): each is typeset once and its HTML reused
  const done = new Map();
  const html = page.math.map(({tex: source, display}, i) => {
    const key = (display ? "D" : "I") + source;
    if (done.has(key)) return done.get(key);
    const before = errors.length;
    const node = doc.convert(source, {display, em: request.em, ex: request.ex, scale, containerWidth: 80 * request.em});
    if (errors.length > before) errors[errors.length - 1] = `formula ${i + 1} (${source.slice(0, 80)}): ${errors[errors.length - 1]}`;
    compact(node, containerStyle);
    // A display formula wider than the column scrolls sideways, so a keyboard must reach it (the
    // browser's MathJax made every formula focusable for its menu; axe scrollable-region-focusable)
    if (display) adaptor.setAttribute(node, "tabindex", "0");
    // MathJax's own TeX class of each MathML element (for its round trips; no reader uses it), and
    // the assistive MathML's display="inline" (its CSS styles only display="block")
    const result = adaptor.outerHTML(node).replace(/ data-mjx-texclass="[A-Z]+"/g, "")
      .replace('<mjx-assistive-mml display="inline">', "<mjx-assistive-mml>");
    done.set(key, result);
    return result;
  });
  const css = adaptor.textContent(chtml.styleSheet(doc)) + `\nmjx-container[jax="CHTML"] {${containerStyle}}\n`;
  return {html, css, errors};
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  const request = JSON.parse(input);
  const pages = request.pages.map((page) => typesetPage(page, request));
  process.stdout.write(JSON.stringify({pages}));
});
