"""Animations of fits as self-contained inline SVG with a tiny player (no GIFs, no images, no CDN).

Used in the chapters on fitting, in place of the seed notebook's GIFs (2.4 MB for four made
by an external ImageMagick binary). The data are the curves' parameters only: each frame is
(mu, sigma) of every model, and the browser draws N(mu, sigma²) on the same x-grid as the
static target curve, so an animation weighs a few tens of kB. The SVG is an image with alt
text (``role="img"`` and ``aria-label``); the play button and the frame slider are labelled
controls; all ids carry a unique prefix so that several animations can share a page.
"""

from __future__ import annotations

import hashlib
import html
import itertools
import json
import math

import numpy as np
from torch.distributions import Distribution

from ._plotting import (
    _COLORS,
    _TARGET_COLOR,
    _as_list,
    _check_lang,
    _density_on,
    _is_geometric,
    _model_of,
    _path_of,
    _x_range,
    objective_label,
)

_WIDTH, _HEIGHT = 640, 300  # one panel, in SVG user units
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 40, 12, 12, 34
_POINTS = 241  # x-grid of the curves
_COUNTER = itertools.count()
_MAX_BYTES = 100_000

# The player: reads its data, draws frame k, wires the button and the slider.
# Placeholders __ID__ are replaced by the animation's unique id prefix.
_PLAYER_JS = """
(function () {
  var root = document.getElementById("__ID__");
  if (!root) { return; }
  var data = JSON.parse(document.getElementById("__ID__-data").textContent);
  var curves = data.models.map(function (_, i) { return document.getElementById("__ID__-q" + i); });
  var dots = data.models.map(function (_, i) { return document.getElementById("__ID__-dot" + i); });
  var slider = document.getElementById("__ID__-slider");
  var button = document.getElementById("__ID__-play");
  var status = document.getElementById("__ID__-status");
  var timer = null;
  function density(x, mu, sigma) {
    var z = (x - mu) / sigma;
    return Math.exp(-0.5 * z * z) / (sigma * 2.5066282746310002);
  }
  function draw(k) {
    data.models.forEach(function (frames, i) {
      var f = frames[Math.min(k, frames.length - 1)];
      var d = "";
      for (var j = 0; j < data.x.length; j++) {
        var y = data.y0 - data.ys * density(data.x[j], f[0], f[1]);
        d += (j ? "L" : "M") + data.px[j] + " " + Math.max(y, data.ymin).toFixed(1);
      }
      curves[i].setAttribute("d", d);
      if (dots[i]) {
        dots[i].setAttribute("cx", (data.lx0 + data.lxs * f[0]).toFixed(1));
        var s = data.llog ? Math.log(f[1]) : f[1];
        dots[i].setAttribute("cy", (data.ly0 - data.lys * s).toFixed(1));
      }
    });
    slider.value = String(k);
    status.textContent = data.label + " " + (k + 1) + " / " + data.n;
  }
  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    button.textContent = data.play;
    button.setAttribute("aria-pressed", "false");
  }
  function play() {
    var k = Number(slider.value);
    if (k >= data.n - 1) { k = 0; draw(0); }
    button.textContent = data.pause;
    button.setAttribute("aria-pressed", "true");
    timer = setInterval(function () {
      k += 1;
      draw(Math.min(k, data.n - 1));
      if (k >= data.n - 1) { stop(); }
    }, 1000 / data.fps);
  }
  button.addEventListener("click", function () { if (timer === null) { play(); } else { stop(); } });
  slider.addEventListener("input", function () { stop(); draw(Number(slider.value)); });
  draw(data.n - 1);
})();
"""


class Animation:
    """An animation as HTML: shown by Jupyter and myst-nb through ``_repr_html_``.

    Attributes
    ----------
    html : str
        The self-contained fragment: a ``<figure>`` with the SVG, the controls, the data
        (JSON) and the player script.
    alt : str
        The alternative text (the SVG's ``aria-label``).

    Examples
    --------
    >>> anim = Animation("<figure>…</figure>", "An example.")
    >>> print(anim._repr_html_() == anim.html)
    True
    """

    def __init__(self, html_text, alt):
        self.html = html_text
        self.alt = alt

    def _repr_html_(self):
        return self.html

    def save(self, path):
        """Write a standalone HTML page holding the animation; returns the path."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(self.alt)}</title></head>'
                    f"<body>\n{self.html}\n</body></html>\n")  # fmt: skip
        return path


def _fmt(v):
    """A number with 5 significant digits for the JSON data."""
    return float(f"{v:.5g}")


def _contours(L, mus, ys, levels, xmap, ymap):
    """SVG path data of contour lines of L (rows ys, columns mus) at the given levels."""
    import contourpy

    gen = contourpy.contour_generator(x=mus, y=ys, z=np.where(np.isfinite(L), L, np.nanmax(L[np.isfinite(L)])))
    out = []
    for level in levels:
        for line in gen.lines(level):
            if len(line) < 2:
                continue
            pts = " ".join(f"{xmap(a):.1f} {ymap(b):.1f}" for a, b in line[:: max(1, len(line) // 80)])
            out.append("M" + pts)
    return out


def animate_fits(target, results, lang="en", alt=None, landscape=None, labels=None, fps=20):
    """Animate the model density of each fit along its path, next to the fixed target.

    Parameters
    ----------
    target : torch.distributions.Distribution
        The target P (drawn once).
    results : FitResult or a sequence of FitResult (list, tuple, ...)
        Fits with their ``history``; each becomes one moving curve.
    lang : {"en", "ja"}
        Language of the labels, buttons and default alt text.
    alt : str, optional
        Alternative text for screen readers; a description is generated if omitted.
    landscape : tuple (L, mus, sigmas), optional
        A landscape (as from :func:`landscape`) to draw beside the curves, with each path and
        a dot that moves along it.
    labels : list of str, optional
        Legend entries, replacing the objective names.
    fps : int, default 20
        Frames per second when playing.

    Returns
    -------
    Animation
        Displayed inline by Jupyter / myst-nb; ``.html`` holds the fragment.

    Notes
    -----
    The fragment is one ``<figure>``: an ``<svg role="img" aria-label=...>`` whose curves start
    at the final frame (so the figure is meaningful without JavaScript), a play/pause button
    and a range slider with labels, a ``<script type="application/json">`` with the frames,
    and a short script that redraws the curves. Ids are prefixed with a per-animation token.
    The result must stay under 100 kB.

    Examples
    --------
    >>> from klcourse import animate_fits, bimodal_target, fit_gaussian
    >>> fits = [fit_gaussian(bimodal_target(), o, 0.0, 1.0) for o in ("forward_kl", "reverse_kl")]
    >>> anim = animate_fits(bimodal_target(), fits)
    >>> print(len(anim.html.encode()) < 100_000, 'role="img"' in anim.html, "base64" in anim.html)
    True True False
    """
    text = _check_lang(lang)
    if not isinstance(target, Distribution):
        raise ValueError(f"target must be a torch distribution; got {type(target).__name__}")
    results = _as_list(results)
    if not results or not all(hasattr(r, "history") and hasattr(r, "objective") for r in results):
        raise ValueError("results must be one FitResult or a non-empty list of FitResults")
    if labels is not None and len(labels) != len(results):
        raise ValueError(f"labels must name each of the {len(results)} results; got {len(labels)}")
    if isinstance(fps, bool) or not isinstance(fps, int) or not 1 <= fps <= 60:
        raise ValueError(f"fps must be an integer from 1 to 60; got {fps!r}")
    names = labels if labels is not None else [objective_label(r.objective, lang) for r in results]
    if alt is None:
        alt = text["alt"].format(names=", ".join(names) if lang == "en" else "、".join(names))
        if landscape is not None:
            alt += text["alt_landscape"]
    uid = f"klanim-{hashlib.sha1(repr([r.history.tobytes() for r in results]).encode()).hexdigest()[:8]}-{next(_COUNTER)}"

    # --- density panel: x-grid, target, y scale -------------------------------------------
    frames = [[(_fmt(m), _fmt(s)) for m, s in zip(*_path_of(r))] for r in results]
    n = max(len(f) for f in frames)
    lo, hi = _x_range(target, [_model_of(r) for r in results])
    x = np.linspace(lo, hi, _POINTS)
    p = _density_on(target, x)
    peak = max([p.max()] + [1 / (r.sigma * math.sqrt(2 * math.pi)) for r in results])
    x0, x1 = _PAD_LEFT, _WIDTH - _PAD_RIGHT
    y0, ytop = _HEIGHT - _PAD_BOTTOM, _PAD_TOP
    xs = (x1 - x0) / (hi - lo)
    ys = (y0 - ytop) / (1.15 * peak)
    px = [round(x0 + xs * (v - lo), 1) for v in x]
    target_d = "M" + "L".join(f"{a} {y0 - ys * b:.1f}" for a, b in zip(px, p))

    def final_curve(r):
        q = np.exp(-0.5 * ((x - r.mu) / r.sigma) ** 2) / (r.sigma * math.sqrt(2 * math.pi))
        return "M" + "L".join(f"{a} {max(y0 - ys * b, ytop - 4):.1f}" for a, b in zip(px, q))

    width = _WIDTH * (2 if landscape is not None else 1)
    svg = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{uid}-svg" viewBox="0 0 {width} {_HEIGHT}" role="img" '
        f'aria-label="{html.escape(alt)}" style="width:100%;max-width:{width}px;height:auto;font-family:sans-serif;font-size:12px">',
        f"<title>{html.escape(alt)}</title>",
        f'<defs><clipPath id="{uid}-clip"><rect x="{x0}" y="{ytop - 4}" width="{x1 - x0}" height="{y0 - ytop + 4}"/></clipPath></defs>',
        f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="#333"/>',
    ]
    for tick in _ticks(lo, hi):
        tx = x0 + xs * (tick - lo)
        svg.append(f'<line x1="{tx:.1f}" y1="{y0}" x2="{tx:.1f}" y2="{y0 + 4}" stroke="#333"/>'
                   f'<text x="{tx:.1f}" y="{y0 + 16}" text-anchor="middle">{tick:g}</text>')  # fmt: skip
    svg.append(f'<text x="{(x0 + x1) / 2}" y="{_HEIGHT - 4}" text-anchor="middle">{html.escape(text["x"])}</text>')
    svg.append(f'<text transform="translate(12 {(y0 + ytop) / 2}) rotate(-90)" text-anchor="middle">{html.escape(text["density"])}</text>')
    svg.append(f'<path d="{target_d}" fill="{_TARGET_COLOR}" fill-opacity="0.2" stroke="{_TARGET_COLOR}" stroke-width="2"/>')
    for i, r in enumerate(results):
        svg.append(f'<path id="{uid}-q{i}" d="{final_curve(r)}" fill="none" stroke="{_COLORS[i % len(_COLORS)]}" '
                   f'stroke-width="2" clip-path="url(#{uid}-clip)"/>')  # fmt: skip
    legend = [(text["target"], _TARGET_COLOR)] + [(name, _COLORS[i % len(_COLORS)]) for i, name in enumerate(names)]
    for k, (name, color) in enumerate(legend):
        ly = ytop + 8 + 16 * k
        svg.append(f'<line x1="{x1 - 190}" y1="{ly}" x2="{x1 - 170}" y2="{ly}" stroke="{color}" stroke-width="3"/>'
                   f'<text x="{x1 - 164}" y="{ly + 4}">{html.escape(name)}</text>')  # fmt: skip

    data = {"x": [_fmt(v) for v in x], "px": px, "y0": y0, "ys": _fmt(ys), "ymin": ytop - 4, "n": n, "fps": fps,
            "models": frames, "play": text["play"], "pause": text["pause"], "label": text["frame"]}  # fmt: skip

    # --- landscape panel ---------------------------------------------------------------------
    if landscape is not None:
        svg_l, lmap = _landscape_panel(landscape, results, uid, text)
        svg += svg_l
        data.update(lmap)
    svg.append("</svg>")

    controls = (
        f'<div style="display:flex;gap:0.6em;align-items:center;flex-wrap:wrap">'
        f'<button type="button" id="{uid}-play" aria-pressed="false" aria-controls="{uid}-svg">{html.escape(text["play"])}</button>'
        f'<label for="{uid}-slider">{html.escape(text["frame"])}</label>'
        f'<input type="range" id="{uid}-slider" min="0" max="{n - 1}" step="1" value="{n - 1}" aria-controls="{uid}-svg">'
        f'<output id="{uid}-status" for="{uid}-slider" aria-live="off">{html.escape(text["frame"])} {n} / {n}</output>'
        f"</div>"
    )
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("</", "<\\/")
    fragment = (
        f'<figure id="{uid}" class="klcourse-animation" style="margin:1em 0">\n'
        + "\n".join(svg)
        + f"\n{controls}\n"
        + f'<script type="application/json" id="{uid}-data">{payload}</script>\n'
        + f"<script>{_PLAYER_JS.replace('__ID__', uid)}</script>\n</figure>"
    )
    size = len(fragment.encode("utf-8"))
    if size > _MAX_BYTES:
        raise ValueError(f"results must be smaller: the animation would weigh {size} bytes, over 100 kB")
    return Animation(fragment, alt)


def _ticks(lo, hi, count=6):
    """Round tick values inside [lo, hi]."""
    step = 10 ** math.floor(math.log10((hi - lo) / count))
    for mult in (1, 2, 5, 10):
        if (hi - lo) / (step * mult) <= count:
            step *= mult
            break
    return [t for t in np.arange(math.ceil(lo / step) * step, hi + 1e-9, step) if lo <= t <= hi]


def _landscape_panel(landscape, results, uid, text):
    """SVG of the landscape's contour lines, each path and a moving dot; and the map from (mu, sigma) to the panel."""
    try:
        L, mus, sigmas = landscape
    except (TypeError, ValueError) as exc:
        raise ValueError("landscape must be a tuple (L, mus, sigmas)") from exc
    L = np.asarray(L, dtype=np.float64)
    mus, sigmas = np.asarray(mus, dtype=np.float64), np.asarray(sigmas, dtype=np.float64)
    if L.shape != (len(sigmas), len(mus)):
        raise ValueError(f"landscape L must have shape [len(sigmas), len(mus)] = {(len(sigmas), len(mus))}; got {L.shape}")
    log = _is_geometric(sigmas)
    ys = np.log(sigmas) if log else sigmas
    ox = _WIDTH
    x0, x1 = ox + _PAD_LEFT + 10, ox + _WIDTH - _PAD_RIGHT
    y0, ytop = _HEIGHT - _PAD_BOTTOM, _PAD_TOP
    lxs = (x1 - x0) / (mus.max() - mus.min())
    lys = (y0 - ytop) / (ys.max() - ys.min())
    lx0 = x0 - lxs * mus.min()
    ly0 = y0 + lys * ys.min()
    xmap = lambda m: lx0 + lxs * m
    ymap = lambda s: ly0 - lys * s
    finite = L[np.isfinite(L)]
    levels = np.unique(np.quantile(finite, np.linspace(0.02, 0.98, 14)))
    out = [f'<rect x="{x0}" y="{ytop}" width="{x1 - x0:.1f}" height="{y0 - ytop}" fill="#f7f7f7" stroke="#333"/>']
    out.append(f'<clipPath id="{uid}-lclip"><rect x="{x0}" y="{ytop}" width="{x1 - x0:.1f}" height="{y0 - ytop}"/></clipPath>')
    paths = _contours(L, mus, ys, levels, xmap, ymap)
    out.append(f'<path d="{" ".join(paths)}" fill="none" stroke="#999" stroke-width="0.8" clip-path="url(#{uid}-lclip)"/>')
    for i, r in enumerate(results):
        m, s = _path_of(r)
        sy = np.log(s) if log else s
        pts = "L".join(f"{xmap(a):.1f} {ymap(b):.1f}" for a, b in zip(m, sy))
        color = _COLORS[i % len(_COLORS)]
        out.append(f'<path d="M{pts}" fill="none" stroke="{color}" stroke-width="1.5" stroke-opacity="0.6" clip-path="url(#{uid}-lclip)"/>')
        out.append(f'<circle id="{uid}-dot{i}" cx="{xmap(m[-1]):.1f}" cy="{ymap(sy[-1]):.1f}" r="5" fill="{color}" stroke="white"/>')
    for tick in _ticks(mus.min(), mus.max()):
        out.append(f'<text x="{xmap(tick):.1f}" y="{y0 + 16}" text-anchor="middle">{tick:g}</text>')
    sig_ticks = [t for t in (0.1, 0.3, 1, 3, 10, 30, 100) if sigmas.min() <= t <= sigmas.max()] if log else _ticks(sigmas.min(), sigmas.max())
    for tick in sig_ticks:
        ty = ymap(math.log(tick) if log else tick)
        out.append(f'<text x="{x0 - 4}" y="{ty + 4:.1f}" text-anchor="end">{tick:g}</text>')
    out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{_HEIGHT - 4}" text-anchor="middle">{html.escape(text["mu"])}</text>')
    out.append(f'<text transform="translate({ox + 12} {(y0 + ytop) / 2}) rotate(-90)" text-anchor="middle">{html.escape(text["sigma"])}</text>')
    lmap = {"lx0": _fmt(lx0), "lxs": _fmt(lxs), "ly0": _fmt(ly0), "lys": _fmt(lys), "llog": log}
    return out, lmap
