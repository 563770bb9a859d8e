"""Issue 14: the explorer on the mode-seeking page (book/_static/kl-explorer.js) in Chromium.

Its math is a second implementation of klcourse's, so it is held to it here: the root
element's ``klExplorer.value`` and ``klExplorer.fit`` are called for seeded random targets,
models and starts, and compared with ``klcourse.objective_value`` and ``klcourse.fit_gaussian``
run in the same test (values to 1e-6 relative, fits to the same local minimum to 1e-4).
Where klcourse's grid sum is itself off by more than that (L1, whose integrand has kinks), a
scipy quadrature with the kinks as breakpoints is the reference, and the test says so.

Then the widget: both editions, keyboard, pointer, reduced motion, 400 px, axe, weight, the
Python it offers (run here, it must give the fit the explorer shows), and a scripted drag
whose frame times are printed (``-s``) and written to ``_build/explorer-frames.txt``.
"""

from __future__ import annotations

import json
import math
import re
import statistics

import numpy as np
import pytest

from browser_support import ROOT, SITE, is_own

kc = pytest.importorskip("klcourse")
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.browser

PAGES = [f"{lang}/mode-seeking.html" for lang in ("en", "ja") if (SITE / lang / "mode-seeking.html").exists()]
SHOTS = ROOT / "_build" / "explorer-screenshots"
FRAMES_FILE = ROOT / "_build" / "explorer-frames.txt"
MAX_ADDED_BYTES = 60 * 1024
SMOOTH = ["forward_kl", "reverse_kl", "alpha", "js", "hellinger", "mse", "cosine", "wasserstein"]


def _pages():
    return PAGES or [pytest.param(None, marks=pytest.mark.skip(reason=f"no mode-seeking page in {SITE}"))]


@pytest.fixture
def explorer(new_page, base_url):
    """``explorer(rel, **context_options) -> (page, log)`` with the explorer drawn."""
    def open_(rel="en/mode-seeking.html", **options):
        if rel is None:
            pytest.skip("no built mode-seeking page")
        locale = "ja-JP" if rel.startswith("ja") else "en-US"
        page, log = new_page(locale=locale, **options)
        page.goto(base_url + rel, wait_until="load")
        page.wait_for_function("() => { const r = document.querySelector('.kl-explorer'); "
                               "return r && r.klExplorer && r.querySelector('canvas.kle-land'); }")
        return page, log
    return open_


# --- generated cases ---------------------------------------------------------------------

def _targets(seed, n):
    """n mixtures of 1 to 4 components, on the explorer's own steps (weights 0.01, means 0.1, widths 0.05)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 5))
        w = np.maximum(np.round(rng.dirichlet(np.full(k, 2.0)), 2), 0.05)
        w[-1] = round(1 - w[:-1].sum(), 2)
        if w[-1] <= 0:
            w = np.full(k, round(1 / k, 2)); w[-1] = round(1 - w[:-1].sum(), 2)
        out.append({"weights": [float(x) for x in w],
                    "means": [float(x) for x in np.round(rng.uniform(-8, 12, k), 1)],
                    "sigmas": [float(x) for x in np.round(rng.uniform(0.4, 3.0, k) / 0.05) * 0.05]})
    return out


def _target(spec):
    return kc.gaussian_mixture(spec["weights"], spec["means"], spec["sigmas"])


def _alpha_kw(spec):
    return {"alpha": spec["alpha"]} if spec["objective"] == "alpha" else {}


def _density(spec, x):
    w, m, s = (np.asarray(spec[k])[:, None] for k in ("weights", "means", "sigmas"))
    return (w * np.exp(-0.5 * ((x - m) / s) ** 2) / (s * math.sqrt(2 * math.pi))).sum(0)


def _l1_reference(spec, mu, sigma):
    """∫|p - q| by scipy.integrate.quad between the points where p = q (found by brentq)."""
    from scipy.integrate import quad
    from scipy.optimize import brentq

    q = lambda x: math.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    d = lambda x: float(_density(spec, np.array([x]))[0]) - q(x)
    lo = min([mu - 12 * sigma] + [m - 12 * s for m, s in zip(spec["means"], spec["sigmas"])])
    hi = max([mu + 12 * sigma] + [m + 12 * s for m, s in zip(spec["means"], spec["sigmas"])])
    xs = np.linspace(lo, hi, 40001)
    dx = _density(spec, xs) - np.exp(-0.5 * ((xs - mu) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))
    roots = [brentq(d, xs[i], xs[i + 1], xtol=1e-14) for i in np.nonzero(np.sign(dx[:-1]) * np.sign(dx[1:]) < 0)[0]]
    edges = [lo] + roots + [hi]
    return sum(quad(lambda x: abs(d(x)), a, b, epsabs=1e-14, epsrel=1e-13, limit=200)[0]
               for a, b in zip(edges[:-1], edges[1:]))


def _js_values(page, specs):
    return page.evaluate("(specs) => { const x = document.querySelector('.kl-explorer').klExplorer; "
                         "return specs.map((s) => x.value(s)); }", specs)


def _js_fits(page, specs):
    return page.evaluate("(specs) => { const x = document.querySelector('.kl-explorer').klExplorer; "
                         "return specs.map((s) => x.fit(s)); }", specs)


# --- numbers that agree with the package -------------------------------------------------

def test_values_agree_with_klcourse(explorer):
    page, log = explorer(PAGES[0] if PAGES else None)
    rng = np.random.default_rng(14)
    specs = []
    for target in _targets(1, 6):
        for objective in SMOOTH + ["l1"]:
            mu, sigma = float(rng.uniform(-10, 15)), float(math.exp(rng.uniform(math.log(0.3), math.log(15))))
            specs.append({**target, "objective": objective, "alpha": float(rng.choice([0.2, 0.5, 0.8])),
                          "mu": mu, "sigma": sigma})
    got = _js_values(page, specs)
    bad = []
    for spec, value in zip(specs, got):
        if spec["objective"] == "l1":
            # klcourse's grid sum of |p - q| errs by ~1e-5 relative at the kinks; a quadrature
            # split where p = q is the reference (and klcourse is checked to be near it)
            ref = _l1_reference(spec, spec["mu"], spec["sigma"])
            pkg = kc.objective_value(_target(spec), "l1", spec["mu"], spec["sigma"]).item()
            assert abs(pkg - ref) <= 1e-4 * ref, (spec, pkg, ref)
        else:
            ref = kc.objective_value(_target(spec), spec["objective"], spec["mu"], spec["sigma"], **_alpha_kw(spec)).item()
        if not abs(value - ref) <= 1e-6 * abs(ref) + 1e-15:
            bad.append(f"{spec['objective']} at mu={spec['mu']:.4f}, sigma={spec['sigma']:.4f}, target={spec['weights']}, "
                       f"{spec['means']}, {spec['sigmas']}: explorer {value!r}, reference {ref!r}")
    assert not bad, f"{len(bad)} of {len(specs)} values differ by more than 1e-6 relative:\n  " + "\n  ".join(bad)
    assert not log.errors, log.errors


@pytest.mark.parametrize("parameterization", ["log_sigma", "sigma"])
def test_fits_end_at_the_same_local_minimum(explorer, parameterization):
    page, log = explorer(PAGES[0] if PAGES else None)
    rng = np.random.default_rng(41 if parameterization == "log_sigma" else 42)
    specs = [{"weights": [0.5, 0.5], "means": [-5.0, 10.0], "sigmas": [1.0, 1.0], "objective": o, "alpha": 0.5,
              "parameterization": parameterization, "mu0": 0.0, "sigma0": 1.0} for o in ("forward_kl", "reverse_kl")]
    for target, objective in zip(_targets(7 if parameterization == "log_sigma" else 8, len(SMOOTH)), SMOOTH):
        specs.append({**target, "objective": objective, "alpha": float(rng.choice([0.25, 0.5, 0.75])),
                      "parameterization": parameterization, "mu0": float(np.round(rng.uniform(-8, 12), 2)),
                      "sigma0": float(np.round(math.exp(rng.uniform(math.log(0.5), math.log(6))), 2))})
    got = _js_fits(page, specs)
    bad = []
    for spec, fit in zip(specs, got):
        ref = kc.fit_gaussian(_target(spec), spec["objective"], spec["mu0"], spec["sigma0"],
                              parameterization=parameterization, **_alpha_kw(spec))
        assert ref.is_minimum, spec
        if not (abs(fit["mu"] - ref.mu) <= 1e-4 * max(1.0, abs(ref.mu)) and abs(fit["sigma"] - ref.sigma) <= 1e-4 * ref.sigma
                and abs(fit["loss"] - ref.loss) <= 1e-6 * max(1.0, abs(ref.loss))):
            bad.append(f"{spec}: explorer {fit}, klcourse mu={ref.mu!r}, sigma={ref.sigma!r}, loss={ref.loss!r}")
    assert not bad, f"{len(bad)} of {len(specs)} fits differ:\n  " + "\n  ".join(bad)
    assert not log.errors, log.errors


def test_l1_fit_ends_at_the_reference_minimum(explorer):
    """klcourse's L1 flow stops near, not at, the minimum (its grid sum has kinks); the
    explorer's L1 is smooth in (mu, sigma), so its fit is compared with scipy's minimum of the
    quadrature reference, started from where klcourse stopped."""
    from scipy.optimize import minimize

    page, log = explorer(PAGES[0] if PAGES else None)
    specs = [{"weights": [0.5, 0.5], "means": [-5.0, 10.0], "sigmas": [1.0, 1.0], "objective": "l1",
              "parameterization": "log_sigma", "mu0": 0.0, "sigma0": 1.0},
             {**_targets(3, 1)[0], "objective": "l1", "parameterization": "log_sigma", "mu0": 1.0, "sigma0": 2.0}]
    for spec, fit in zip(specs, _js_fits(page, specs)):
        pkg = kc.fit_gaussian(_target(spec), "l1", spec["mu0"], spec["sigma0"])
        ref = minimize(lambda t: _l1_reference(spec, t[0], math.exp(t[1])), [pkg.mu, math.log(pkg.sigma)],
                       method="Nelder-Mead", options={"xatol": 1e-8, "fatol": 1e-13, "maxiter": 2000})
        assert abs(pkg.mu - ref.x[0]) < 0.05 and abs(math.log(pkg.sigma) - ref.x[1]) < 0.05, (spec, pkg, ref.x)
        assert abs(fit["mu"] - ref.x[0]) <= 1e-4 * max(1, abs(ref.x[0])), (spec, fit, ref.x)
        assert abs(fit["sigma"] - math.exp(ref.x[1])) <= 1e-4 * math.exp(ref.x[1]), (spec, fit, ref.x)
    assert not log.errors, log.errors


def test_bad_input_is_an_error_not_nan(explorer):
    page, _ = explorer(PAGES[0] if PAGES else None)
    messages = page.evaluate("""() => { const x = document.querySelector('.kl-explorer').klExplorer;
      const t = {weights: [1], means: [0], sigmas: [1]};
      return [{...t, objective: 'nope', mu: 0, sigma: 1}, {...t, objective: 'mse', mu: 0, sigma: -1},
              {...t, objective: 'alpha', mu: 0, sigma: 1}, {weights: [1], means: [0], sigmas: [0], objective: 'mse', mu: 0, sigma: 1}]
        .map((s) => { try { return 'no error: ' + x.value(s); } catch (e) { return e.message; } }); }""")
    assert re.search(r"objective must be one of .*got nope", messages[0]), messages
    assert "sigma positive" in messages[1] and "alpha must lie between 0 and 1" in messages[2], messages
    assert "sigmas positive" in messages[3], messages


# --- the widget ----------------------------------------------------------------------------

def _readout(page):
    return page.locator(".kl-explorer .kle-readout").inner_text()


def _ends(page):
    """(mu, sigma) now shown for each landscape, from the readout."""
    return [(float(m), float(s)) for m, s in re.findall(r"μ = (-?[\d.]+), σ = ([\d.]+)", _readout(page))]


@pytest.mark.parametrize("rel", _pages())
def test_first_state_is_the_chapter_figure(explorer, rel):
    page, log = explorer(rel, reduced_motion="reduce")
    lang = rel.split("/")[0]
    root = page.locator(".kl-explorer")
    assert root.get_attribute("lang") == lang
    code = root.locator(".kle-code").inner_text()
    assert "kc.gaussian_mixture([0.5, 0.5], [-5.0, 10.0], [1.0, 1.0])" in code
    assert 'kc.fit_gaussian(P, "reverse_kl", mu0=0.0, sigma0=1.0, parameterization="log_sigma")' in code
    (fm, fs), (rm, rs) = _ends(page)
    assert abs(fm - 2.5) < 1e-3 and abs(fs - math.sqrt(57.25)) < 1e-3, _readout(page)   # moment matching
    assert abs(rm + 5) < 1e-3 and abs(rs - 1) < 1e-3, _readout(page)                       # the left mode
    assert re.search(r"local minima: 3\)|局所最小は 3 個", _readout(page)), _readout(page)   # reverse KL's three minima
    words = {"en": ["forward KL", "reverse KL", "Reset", "Copy as Python", "Add a component"],
             "ja": ["順方向KL", "逆方向KL", "リセット", "Python としてコピー", "成分を加える", "局所最小", "出発点"]}[lang]
    text = root.inner_text() + " ".join(root.locator("[aria-label]").evaluate_all("els => els.map(e => e.getAttribute('aria-label'))"))
    missing = [w for w in words if w not in text]
    assert not missing, f"{rel}: the explorer lacks {missing}"
    if lang == "ja":
        assert "損失地形" in text and "出発点" in text
    assert not log.errors, log.errors


def test_copied_python_reproduces_the_fit(explorer):
    page, log = explorer(PAGES[0] if PAGES else None, reduced_motion="reduce")
    land = page.locator(".kl-explorer canvas.kle-land").first
    land.focus()
    for key in ["ArrowRight"] * 4 + ["ArrowUp"]:   # start (2, 1.3): sigma0 grows by 1.25, to 2 digits
        land.press(key)
    page.locator(".kl-explorer input[id$='-w0']").fill("0.3")
    page.locator(".kl-explorer input[id$='-w0']").dispatch_event("change")
    code = page.locator(".kl-explorer .kle-code").inner_text()
    assert "mu0=2.0, sigma0=1.3" in code and "[0.3, 0.7]" in code, code
    scope = {}
    exec(code.replace("print(", "(lambda *a: None)("), scope)   # what a reader pastes into a notebook
    for (mu, sigma), fit in zip(_ends(page), (scope["forward"], scope["reverse"])):
        assert abs(mu - fit.mu) < 1e-4 * max(1, abs(fit.mu)) and abs(sigma - fit.sigma) < 1e-4 * fit.sigma, (_readout(page), fit)
    assert not log.errors, log.errors


def test_keyboard_moves_the_start_and_the_target(explorer):
    page, log = explorer(PAGES[0] if PAGES else None)
    root = page.locator(".kl-explorer")
    dens = root.locator("canvas.kle-dens")
    dens.focus()
    assert page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle") != "none"   # visible focus
    for key in ["2", "ArrowLeft", "ArrowLeft", "ArrowDown", "-"]:
        dens.press(key)
    assert root.locator("input[id$='-m1']").input_value() == "9"
    assert root.locator("input[id$='-w1']").input_value() == "0.45"
    assert root.locator("input[id$='-s1']").input_value() == "0.8"
    land = root.locator("canvas.kle-land").nth(1)
    land.focus()
    land.press("ArrowLeft")
    assert "mu0=-0.5, sigma0=1.0" in root.locator(".kle-code").inner_text()
    # the readout follows the flow from the start to its end
    page.wait_for_function("() => !document.querySelector('.kl-explorer .kle-readout').innerText.includes('μ = -0.5000, σ = 1.0000')")
    # every control is reachable by Tab
    tabbable = root.locator("select, input, button, canvas, pre").evaluate_all(
        "els => els.filter(e => !e.disabled && e.tabIndex >= 0).length")
    assert tabbable >= 12
    assert not log.errors, log.errors


def test_reduced_motion_jumps_to_the_end(explorer):
    page, _ = explorer(PAGES[0] if PAGES else None, reduced_motion="reduce")
    land = page.locator(".kl-explorer canvas.kle-land").nth(1)
    land.focus()
    land.press("ArrowRight")   # start (0.5, 1): reverse KL goes to the left mode
    (rm, rs) = _ends(page)[1]
    assert abs(rm + 5) < 1e-3 and abs(rs - 1) < 1e-3, _readout(page)


def test_pointer_sets_the_start_and_edits_the_target(explorer):
    page, log = explorer(PAGES[0] if PAGES else None, reduced_motion="reduce")
    root = page.locator(".kl-explorer")
    root.locator("input[type=checkbox]").uncheck()
    root.locator("select").select_option("mse")
    land = root.locator("canvas.kle-land")
    assert land.count() == 1
    box = land.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.3)
    code = root.locator(".kle-code").inner_text()
    assert '"mse"' in code and "mu0=0.0," not in code, code
    root.locator("button", has_text=re.compile("Add a component|成分を加える")).click()
    assert root.locator(".kle-comp").count() == 3
    weights = [float(root.locator(f"input[id$='-w{k}']").input_value()) for k in range(3)]
    assert abs(sum(weights) - 1) < 1e-9, weights
    root.locator("button", has_text=re.compile("^Reset$|^リセット$")).click()
    assert root.locator(".kle-comp").count() == 2 and root.locator("canvas.kle-land").count() == 2
    assert not log.errors, log.errors


@pytest.mark.parametrize("rel", _pages())
@pytest.mark.parametrize("width", [1280, 400])
def test_usable_at_width_and_screenshot(explorer, rel, width):
    page, log = explorer(rel)
    page.set_viewport_size({"width": width, "height": 900})
    page.wait_for_timeout(1500)   # the flow's animation
    root = page.locator(".kl-explorer")
    root.scroll_into_view_if_needed()
    overflow = root.evaluate("""r => { const b = r.getBoundingClientRect();
      return [...r.querySelectorAll('*')].filter(e => { const c = e.getBoundingClientRect();
        return c.width && (c.right > b.right + 1 || c.left < b.left - 1); }).map(e => e.tagName + '.' + e.className); }""")
    assert not overflow, f"{rel} at {width}px: cut off: {overflow}"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= width + 1
    SHOTS.mkdir(parents=True, exist_ok=True)
    root.screenshot(path=str(SHOTS / f"{rel.split('/')[0]}-{width}.png"))
    assert not log.errors, log.errors


@pytest.mark.parametrize("rel", _pages())
def test_explorer_accessibility_and_requests(explorer, axe_available, rel):
    from browser_support import AXE_JS

    page, log = explorer(rel)
    root = page.locator(".kl-explorer")
    root.locator("canvas.kle-dens").focus()
    root.locator("canvas.kle-dens").press("ArrowRight")
    root.locator("input[type=checkbox]").uncheck()
    root.locator("select").select_option("alpha")
    page.add_script_tag(content=AXE_JS.read_text(encoding="utf-8"))
    found = page.evaluate("""() => axe.run(document.querySelector('.kl-explorer'), {resultTypes: ['violations']})
      .then(r => r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))})))""")
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    assert not bad, f"{rel}: {bad}"
    urls = [r.url for r in log.requests]
    foreign = [u for u in urls if not is_own(u, page.url)]
    assert not foreign, foreign
    assert not log.errors, log.errors


def test_assets_load_only_on_the_explorer_page_and_weigh_little(site):
    pages = sorted(p for p in site.rglob("*.html") if "_static" not in p.parts)
    with_script = {p.relative_to(site).as_posix() for p in pages if "kl-explorer.js" in p.read_text(encoding="utf-8")}
    assert with_script == set(PAGES), with_script
    added = sum((site / lang / "_static" / name).stat().st_size for lang in ("en",) for name in ("kl-explorer.js", "kl-explorer.css"))
    html = (site / PAGES[0]).read_text(encoding="utf-8") if PAGES else ""
    block = re.search(r'<div class="kl-explorer".*?</div>', html, re.S)
    added += len(block.group(0).encode()) if block else 0
    print(f"\nexplorer: {added / 1024:.1f} KiB added to its page (script, stylesheet, root element)")
    assert added <= MAX_ADDED_BYTES, f"the explorer adds {added / 1024:.1f} KiB (limit {MAX_ADDED_BYTES // 1024} KiB)"


def test_scripted_drag_frame_times(explorer):
    """Drag the right peak across the plot, one pointer move per animation frame, and record
    the time between frames: the landscapes, minima and flows are recomputed on each."""
    page, log = explorer(PAGES[0] if PAGES else None)
    page.wait_for_timeout(1500)
    dens = page.locator(".kl-explorer canvas.kle-dens")
    dens.scroll_into_view_if_needed()
    box = dens.bounding_box()
    # the right peak's handle: x = 10 on the axis [-15, 20] between the paddings (42 px, 8 px);
    # its height is the tallest peak, drawn at 1/1.2 of the plot's height (top padding 8, bottom 28)
    x0 = box["x"] + 42 + (10 + 15) / 35 * (box["width"] - 50)
    y = box["y"] + (box["height"] - 28) - (box["height"] - 36) / 1.2
    page.evaluate("""() => { window.__frames = []; const tick = (t) => { window.__frames.push(t);
      if (window.__frames.length < 100000) window.__raf = requestAnimationFrame(tick); }; requestAnimationFrame(tick); }""")
    page.mouse.move(x0, y)
    page.mouse.down()
    t0 = page.evaluate("() => performance.now()")
    for i in range(1, 41):
        page.mouse.move(x0 - i * (box["width"] * 0.2) / 40, y)
        page.evaluate("() => new Promise((r) => requestAnimationFrame(() => r()))")
    t1 = page.evaluate("() => performance.now()")
    page.mouse.up()
    frames = page.evaluate(f"() => {{ cancelAnimationFrame(window.__raf); return window.__frames.filter((t) => t >= {t0} && t <= {t1}); }}")
    gaps = np.diff(frames)
    slow = int((gaps > 50).sum())
    line = (f"scripted drag of a peak over 40 moves: {len(gaps)} frames in {t1 - t0:.0f} ms, median {statistics.median(gaps):.1f} ms, "
            f"p90 {np.percentile(gaps, 90):.1f} ms, max {gaps.max():.1f} ms, {slow} over 50 ms")
    print("\n" + line)
    FRAMES_FILE.parent.mkdir(parents=True, exist_ok=True)
    FRAMES_FILE.write_text(line + "\n" + json.dumps([round(g, 1) for g in gaps]) + "\n", encoding="utf-8")
    assert float(page.locator(".kl-explorer input[id$='-m1']").input_value()) < 9.0   # the drag moved the peak
    assert statistics.median(gaps) <= 50, line
    assert not log.errors, log.errors
