"""Tests of klcourse._animation: self-contained, accessible inline SVG animations."""

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

from klcourse import Animation, animate_fits, bimodal_target, fit_gaussian, landscape

P = bimodal_target()
VOID = {"input", "br", "img", "meta", "link", "hr", "area", "base", "col", "embed", "source", "track", "wbr"}


@pytest.fixture(scope="module")
def fits():
    flows = [fit_gaussian(P, o, 0.0, 1.0, parameterization="sigma") for o in ("forward_kl", "mse", "cosine")]
    adam = fit_gaussian(P, "mse", 0.0, 1.0, parameterization="sigma", method="adam", lr=0.1, steps=400)
    return flows + [adam]


@pytest.fixture(scope="module")
def pair(fits):
    mus, sigmas = np.linspace(-10, 15, 41), np.geomspace(0.5, 20, 31)
    with_landscape = animate_fits(P, fits, lang="ja", landscape=(landscape(P, "mse", mus, sigmas), mus, sigmas))
    return with_landscape, animate_fits(P, fits[:2], alt="Two fits.")


class _Structure(HTMLParser):
    """Collects ids, checks that every non-void element is closed in order, and keeps attributes by tag."""

    def __init__(self):
        super().__init__()
        self.stack, self.ids, self.errors, self.tags = [], [], [], []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.append(attrs["id"])
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "id" in attrs:
            self.ids.append(attrs["id"])

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.errors.append(f"unexpected </{tag}>")


def _parse(fragment):
    parser = _Structure()
    parser.feed(fragment)
    parser.close()
    return parser


def test_size_and_self_containment(pair):
    for anim in pair:
        assert isinstance(anim, Animation) and anim._repr_html_() == anim.html
        assert len(anim.html.encode("utf-8")) < 100_000
        assert "base64" not in anim.html and "<img" not in anim.html and "data:" not in anim.html
        assert re.findall(r"(?:src|href)=", anim.html) == []  # nothing loaded from anywhere
        assert re.findall(r"https?://[^\"]*", anim.html) == ["http://www.w3.org/2000/svg"]  # the SVG namespace only


def test_structure_is_valid_html_and_the_svg_is_valid_xml(pair):
    for anim in pair:
        parsed = _parse(anim.html)
        assert parsed.errors == [] and parsed.stack == []
        svg = re.search(r"<svg.*</svg>", anim.html, re.S).group(0)
        root = ET.fromstring(svg)  # raises on malformed XML
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        data = json.loads(re.search(r'<script type="application/json" id="[^"]+">(.*?)</script>', anim.html, re.S).group(1))
        assert data["n"] == max(len(f) for f in data["models"])


def test_accessibility(pair, fits):
    for anim in pair:
        tags = _parse(anim.html).tags
        svg = [a for t, a in tags if t == "svg"][0]
        assert svg["role"] == "img" and svg["aria-label"] == anim.alt and len(anim.alt) > 5
        labels = {a["for"] for t, a in tags if t == "label"}
        slider = [a for t, a in tags if t == "input"][0]
        assert slider["type"] == "range" and slider["id"] in labels
        button = [a for t, a in tags if t == "button"][0]
        assert button["type"] == "button" and button.get("aria-pressed") == "false"
        assert re.search(r"<button[^>]*>[^<]+</button>", anim.html)  # the button has a visible name
    ja, en = pair
    assert "再生" in ja.html and "アニメーション" in ja.alt and en.alt == "Two fits."
    assert "<title>Two fits.</title>" in en.html


def test_ids_are_unique_within_and_across_animations(pair, fits):
    again = animate_fits(P, fits[:2], alt="Two fits.")  # the same data twice on one page
    ids = [i for anim in (*pair, again) for i in _parse(anim.html).ids]
    assert len(ids) == len(set(ids))
    for anim in (*pair, again):  # every id the player looks up exists in its own fragment
        own = set(_parse(anim.html).ids)
        prefix = re.search(r'<figure id="([^"]+)"', anim.html).group(1)
        looked_up = set(re.findall(r'getElementById\("([^"]+)"\)', anim.html))
        assert looked_up and all(i.startswith(prefix) for i in looked_up) and looked_up <= own
        n_models = len(re.findall(r'id="[^"]+-q\d+"', anim.html))
        assert {f"{prefix}-q{i}" for i in range(n_models)} <= own and n_models >= 2


_NODE_HARNESS = r"""
const vm = require("vm");
const pages = JSON.parse(require("fs").readFileSync(0, "utf8"));
const elements = {};
const timers = [];
function element(id, text) {
  return { id, textContent: text || "", value: "0", attributes: {}, listeners: {},
    setAttribute(k, v) { this.attributes[k] = String(v); },
    addEventListener(type, f) { (this.listeners[type] = this.listeners[type] || []).push(f); },
    fire(type) { (this.listeners[type] || []).forEach((f) => f({ type })); } };
}
for (const page of pages) for (const [id, text] of page.ids) elements[id] = element(id, text);
const context = {
  JSON, Math, Number, String,
  document: { getElementById: (id) => elements[id] || null },
  setInterval: (f) => { timers.push(f); return timers.length; },
  clearInterval: (t) => { timers[t - 1] = null; },
};
vm.createContext(context);
for (const page of pages) vm.runInContext(page.script, context);
const out = {};
for (const page of pages) {
  const p = page.prefix;
  const slider = elements[p + "-slider"], button = elements[p + "-play"];
  const before = elements[p + "-q0"].attributes.d;
  slider.value = "0"; slider.fire("input");
  const atZero = elements[p + "-q0"].attributes.d;
  button.fire("click");
  const pressed = button.attributes["aria-pressed"];
  for (let k = 0; k < 1000; k++) timers.forEach((f) => f && f());
  out[p] = { moved: before !== atZero, pressed, after: button.attributes["aria-pressed"],
    status: elements[p + "-status"].textContent, end: elements[p + "-q0"].attributes.d === before,
    dot: elements[p + "-dot0"] ? elements[p + "-dot0"].attributes.cx : null };
}
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node to run the player")
def test_player_runs_without_errors_with_two_animations_on_a_page(pair):
    pages = []
    for anim in pair:
        parsed = _parse(anim.html)
        data = re.search(r'<script type="application/json" id="([^"]+)">(.*?)</script>', anim.html, re.S)
        ids = [[i, data.group(2) if i == data.group(1) else ""] for i in parsed.ids]
        script = re.findall(r"<script>(.*?)</script>", anim.html, re.S)[0]
        pages.append({"ids": ids, "script": script, "prefix": re.search(r'<figure id="([^"]+)"', anim.html).group(1)})
    run = subprocess.run(["node", "-e", _NODE_HARNESS], input=json.dumps(pages), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    for page, anim in zip(pages, pair):
        r = result[page["prefix"]]
        n = json.loads(re.search(r'<script type="application/json"[^>]*>(.*?)</script>', anim.html, re.S).group(1))["n"]
        assert r["moved"] and r["pressed"] == "true" and r["after"] == "false" and r["end"]
        assert r["status"].endswith(f"{n} / {n}")
    assert result[pages[0]["prefix"]]["dot"] is not None and result[pages[1]["prefix"]]["dot"] is None


def test_an_animation_over_100_kb_is_refused(fits):
    with pytest.raises(ValueError, match=r"results must be smaller: the animation would weigh \d+ bytes, over 100 kB"):
        animate_fits(P, [fits[3]] * 40)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(results=[]), r"results must be one FitResult or a non-empty list of FitResults"),
        (dict(lang="de"), r"lang must be 'en' or 'ja'; got 'de'"),
        (dict(fps=0), r"fps must be an integer from 1 to 60; got 0"),
        (dict(labels=["a", "b"]), r"labels must name each of the 1 results; got 2"),
        (dict(landscape=np.zeros((2, 2))), r"landscape must be a tuple \(L, mus, sigmas\)"),
        (dict(landscape=(np.zeros((2, 3)), [0, 1], [1, 2])), r"landscape L must have shape \[len\(sigmas\), len\(mus\)\]"),
        (dict(target=(0.0, 1.0)), r"target must be a torch distribution; got tuple"),
    ],
)
def test_validation_messages(fits, kwargs, message):
    args = dict(target=P, results=fits[0])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        animate_fits(args.pop("target"), args.pop("results"), **args)
