"""Figures for the book, in English or Japanese (``lang="en"`` or ``"ja"``).

Used in the chapters on fitting: densities of the target and the fitted models, loss
landscapes with their minima and the paths that reach them, and basin maps. Every label
comes from the one table ``_TEXT``; Japanese is set in IPAexGothic (matplotlib-fontja)
with DejaVu Sans as the fallback, so no glyph is missing in either edition.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.colors import ListedColormap
from matplotlib.ticker import AutoLocator, Formatter, LogFormatterSciNotation, LogLocator
from torch.distributions import Distribution

from ._continuous import _bounds, _log_density

# One table of every string the figures and animations show, by language.
_TEXT = {
    "en": {
        "x": "x",
        "density": "density",
        "target": "target P",
        "model": "model Q",
        "mu": "mean μ",
        "sigma": "standard deviation σ",
        "start": "start",
        "minimum": "local minimum",
        "basin": "minimum {k}: μ = {mu:.2f}, σ = {sigma:.2f}",
        "no_minimum": "no minimum reached",
        "step": "step",
        "path_point": "point along the path",
        "loss": "loss",
        "fit": "{name}: μ = {mu:.2f}, σ = {sigma:.2f}",
        "normal": "N(μ = {mu:.2f}, σ = {sigma:.2f})",
        "log_sigma": "θ = (μ, log σ)",
        "sigma_par": "θ = (μ, σ)",
        "basins_title": "Where the gradient flow ends, {par}",
        "play": "Play",
        "pause": "Pause",
        "frame": "Frame",
        "alt": "Animation: the model density Q (for {names}) moves from its start to its fit while the target P stays fixed.",
        "alt_landscape": " Right: the same paths on the loss landscape over (μ, σ).",
        "objectives": {
            "forward_kl": "forward KL(P‖Q)",
            "reverse_kl": "reverse KL(Q‖P)",
            "js": "Jensen–Shannon divergence",
            "hellinger": "squared Hellinger distance",
            "alpha": "α-divergence",
            "wasserstein": "Wasserstein distance",
            "mse": "integrated squared error ∫(p−q)²",
            "l1": "L1 distance ∫|p−q|",
            "cosine": "cosine similarity",
        },
    },
    "ja": {
        "x": "x",
        "density": "確率密度",
        "target": "目標分布 P",
        "model": "モデル Q",
        "mu": "平均 μ",
        "sigma": "標準偏差 σ",
        "start": "出発点",
        "minimum": "局所最小",
        "basin": "局所最小 {k}：μ = {mu:.2f}, σ = {sigma:.2f}",
        "no_minimum": "局所最小に到達せず",
        "step": "ステップ",
        "path_point": "経路上の点",
        "loss": "損失",
        "fit": "{name}：μ = {mu:.2f}, σ = {sigma:.2f}",
        "normal": "N(μ = {mu:.2f}, σ = {sigma:.2f})",
        "log_sigma": "θ = (μ, log σ)",
        "sigma_par": "θ = (μ, σ)",
        "basins_title": "勾配流の行き着く先（{par}）",
        "play": "再生",
        "pause": "一時停止",
        "frame": "フレーム",
        "alt": "アニメーション：目標分布 P は固定したまま、モデル Q の密度（{names}）が出発点からフィットの終点まで動く様子。",
        "alt_landscape": "右は同じ経路を (μ, σ) 上の損失地形に重ねたもの。",
        "objectives": {
            "forward_kl": "順方向 KL(P‖Q)",
            "reverse_kl": "逆方向 KL(Q‖P)",
            "js": "JSダイバージェンス",
            "hellinger": "ヘリンジャー距離の 2 乗",
            "alpha": "α ダイバージェンス",
            "wasserstein": "ワッサースタイン距離",
            "mse": "積分二乗誤差 ∫(p−q)²",
            "l1": "L1 距離 ∫|p−q|",
            "cosine": "コサイン類似度",
        },
    },
}

_FONTS = {"en": ["DejaVu Sans"], "ja": ["IPAexGothic", "DejaVu Sans"]}
_COLORS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]  # Okabe-Ito
_TARGET_COLOR = "#555555"


def _check_lang(lang):
    """``lang`` is one of the editions."""
    if lang not in _TEXT:
        raise ValueError(f"lang must be 'en' or 'ja'; got {lang!r}")
    return _TEXT[lang]


def _register_japanese_font():
    """Make IPAexGothic known to matplotlib (importing matplotlib_fontja also sets it as the default font: undo that)."""
    saved = matplotlib.rcParams["font.family"]
    import matplotlib_fontja  # noqa: F401  (registers the font with matplotlib's font manager)

    matplotlib.rcParams["font.family"] = saved


@contextlib.contextmanager
def _style(lang):
    """The edition's font while a figure's texts are created (text keeps the font it was created with).

    Only ``font.family`` is saved and restored: ``plt.rc_context`` would also restore the
    backend setting, and in a notebook that closes the inline figures of later cells.
    """
    if lang == "ja":
        _register_japanese_font()
    saved = matplotlib.rcParams["font.family"]
    matplotlib.rcParams["font.family"] = _FONTS[lang]
    try:
        yield
    finally:
        matplotlib.rcParams["font.family"] = saved


def objective_label(objective, lang="en"):
    """The objective's name as the figures print it, in one language.

    Parameters
    ----------
    objective : str
        A key of :data:`OBJECTIVES`.
    lang : {"en", "ja"}
        Edition.

    Returns
    -------
    str

    Examples
    --------
    >>> objective_label("reverse_kl"), objective_label("reverse_kl", "ja")
    ('reverse KL(Q‖P)', '逆方向 KL(Q‖P)')
    >>> print(objective_label("forward_kl", "ja").startswith("順方向"))
    True
    """
    names = _check_lang(lang)["objectives"]
    if objective not in names:
        raise ValueError(f"objective must be one of {', '.join(repr(k) for k in names)}; got {objective!r}")
    return names[objective]


def _model_of(model):
    """(mu, sigma, label key, objective) of a FitResult, a Normal or a (mu, sigma) pair."""
    if hasattr(model, "history") and hasattr(model, "objective"):
        return model.mu, model.sigma, model.objective
    if isinstance(model, torch.distributions.Normal):
        return model.loc.item(), model.scale.item(), None
    if _is_pair(model):
        return float(model[0]), float(model[1]), None
    raise ValueError(f"models must be FitResults, Normals or (mu, sigma) pairs; got {type(model).__name__}")


def _is_pair(model):
    """A (mu, sigma) pair: a sequence (not a string) of two real numbers."""
    return (isinstance(model, Sequence) and not isinstance(model, str) and len(model) == 2
            and all(isinstance(v, numbers.Real) for v in model))


def _as_list(items):
    """One model or result, or any sequence of them (list, tuple, ...), as a list; a (mu, sigma) pair is one model."""
    if isinstance(items, Sequence) and not isinstance(items, str) and not _is_pair(items):
        return list(items)
    return [items]


def _x_range(target, models):
    """x-range showing the target (0.01% tails) and every model (mu ± 4 sigma)."""
    lo, hi = _bounds(target, 1e-4)
    for mu, sigma, _ in models:
        lo, hi = min(lo, mu - 4 * sigma), max(hi, mu + 4 * sigma)
    return lo, hi


def _density_on(dist, x):
    """Density of a torch distribution on numpy points x (float64)."""
    with torch.no_grad():
        return _log_density(dist, torch.as_tensor(x, dtype=torch.float64)).exp().numpy()


def _new_axes(ax, figsize):
    """The given axes, or a new figure's."""
    if ax is None:
        _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax


def _set_title(ax, title):
    """The title where matplotlib's automatic placement puts it above a panel with no tick labels on top (``y=1.0``).

    Set by hand because the automatic placement measures the tick labels again at every draw
    (a constrained layout saved with a tight bounding box draws several times): about a tenth
    of the time it takes to draw the landscape panels.
    """
    ax.set_title(title, y=1.0)


_STAR_SIZE = 14  # points: the stars that mark minima on a landscape or a basin map
# where a basin map's legend may go, in order: the corners, then the middles of the sides
_LEGEND_PLACES = ("upper right", "upper left", "lower left", "lower right", "center right", "center left", "lower center", "upper center")
_LEGEND_GAP = 0.03  # between a legend and the highest curve under it, as a fraction of the axes' height


def plot_densities(target, models, ax=None, lang="en", labels=None, title=None):
    """Plot the target density P and one or more Normal models Q.

    Parameters
    ----------
    target : torch.distributions.Distribution
        P (1-D).
    models : FitResult, Normal, (mu, sigma) or a sequence of them (list, tuple, ...)
        The models Q; a FitResult is labelled with its objective and parameters.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    lang : {"en", "ja"}
        Language of every label.
    labels : list of str, optional
        Legend entries for the models, replacing the automatic ones.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> from klcourse import bimodal_target, plot_densities
    >>> ax = plot_densities(bimodal_target(), [(2.5, 7.566), (-5.0, 1.0)], lang="ja")
    >>> [t.get_text() for t in ax.get_legend().get_texts()][0]
    '目標分布 P'
    >>> print(len(ax.get_lines()) == 3)
    True
    """
    text = _check_lang(lang)
    if not isinstance(target, Distribution):
        raise ValueError(f"target must be a torch distribution; got {type(target).__name__}")
    models = _as_list(models)
    parsed = [_model_of(m) for m in models]
    if labels is not None and len(labels) != len(parsed):
        raise ValueError(f"labels must name each of the {len(parsed)} models; got {len(labels)}")
    with _style(lang):
        ax = _new_axes(ax, (6.4, 3.6))
        lo, hi = _x_range(target, parsed)
        x = np.linspace(lo, hi, 801)
        p = _density_on(target, x)
        ax.fill_between(x, p, color=_TARGET_COLOR, alpha=0.2, linewidth=0)
        ax.plot(x, p, color=_TARGET_COLOR, linewidth=2, label=text["target"])
        tallest = p.copy()  # the highest curve at each x
        for k, (mu, sigma, objective) in enumerate(parsed):
            q = np.exp(-0.5 * ((x - mu) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))
            tallest = np.maximum(tallest, q)
            if labels is not None:
                label = labels[k]
            elif objective is not None:
                label = text["fit"].format(name=objective_label(objective, lang), mu=mu, sigma=sigma)
            else:
                label = text["normal"].format(mu=mu, sigma=sigma)
            ax.plot(x, q, color=_COLORS[k % len(_COLORS)], linewidth=2, label=label)
        ax.set_xlabel(text["x"])
        ax.set_ylabel(text["density"])
        ax.set_ylim(bottom=0)
        _legend_above(ax, x, tallest, frameon=False, fontsize="small")
        if title is not None:
            ax.set_title(title)
        _ticks_in_view(ax)
    return ax


def _legend_above(ax, x, tallest, **legend_options):
    """A legend in the upper corner that needs the least room above the curves, and that room on the y-axis.

    matplotlib's ``loc="best"`` counts the points a legend would cover; where tall curves reach
    both upper corners it picks one anyway, and the legend's text ran over a peak (mode-seeking's
    first figure). Here the legend is measured where it stands (upper left or right) and the top
    of the y-axis is raised until every curve under the legend's width stays below it.
    """
    legend = ax.legend(loc="upper right", **legend_options)
    box, frame = legend.get_window_extent(), ax.get_window_extent()  # with the figure's own renderer, on any backend
    # laid out later, the axes only grow, so these fractions err on the side of more room
    width = min((box.width + 2 * (frame.x1 - box.x1)) / frame.width, 1.0)
    below = (box.y0 - frame.y0) / frame.height - _LEGEND_GAP  # fraction of the height left under the legend
    lo, hi = ax.get_xlim()
    span = width * (hi - lo)
    needed = {}
    for loc, under in (("upper right", x >= hi - span), ("upper left", x <= lo + span)):
        needed[loc] = tallest[under].max() / below if under.any() and below > 0 else 0.0
    loc = min(needed, key=needed.get)
    legend.set_loc(loc)
    if needed[loc] > ax.get_ylim()[1]:
        ax.set_ylim(top=needed[loc])
    return legend


def _path_of(path):
    """(mu, sigma) columns of a FitResult's history or of an array [T, >= 2]."""
    rows = np.asarray(path.history if hasattr(path, "history") else path, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] < 2 or len(rows) == 0:
        raise ValueError(f"paths must be FitResults or arrays of shape [T, >= 2]; got shape {rows.shape}")
    return rows[:, 0], rows[:, 1]


def _is_geometric(values):
    """Whether positive values are evenly spaced in log (a log axis suits them)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 3 or np.any(values <= 0):
        return False
    ratios = values[1:] / values[:-1]
    return bool(np.allclose(ratios, ratios[0], rtol=1e-6) and abs(ratios[0] - 1) > 1e-9)


def _inside(locs, vmin, vmax, log=False):
    """Which tick locations lie in the view [vmin, vmax] (in log scale for a log axis).

    The margin, a millionth of the span, is wider than the 1e-10 that matplotlib allows, so
    every tick that matplotlib would draw is kept.
    """
    locs, ends = np.asarray(locs, dtype=np.float64), np.sort([vmin, vmax])
    if log:
        with np.errstate(divide="ignore", invalid="ignore"):
            locs, ends = np.log(locs), np.log(ends)
    margin = 1e-6 * (ends[1] - ends[0])
    return (locs >= ends[0] - margin) & (locs <= ends[1] + margin)


class _InViewLocator(AutoLocator):
    """matplotlib's locator of a linear axis, less the ticks outside the view.

    The axis makes a Tick (three lines and two texts) for every location, updates all of
    them at each layout pass and draw, and draws only those in the view. The labels stay the
    same: the formatter takes its offset and exponent from the ticks in the view, and its
    decimals from the step, which two neighbouring ticks show as well as all of them (with
    fewer than two in the view, every tick is kept).
    """

    def tick_values(self, vmin, vmax):
        locs = super().tick_values(vmin, vmax)
        inside = _inside(locs, vmin, vmax)
        return locs[inside] if inside.sum() >= 2 else locs


class _InViewLogLocator(LogLocator):
    """matplotlib's locator of a log axis (major or, with ``subs="auto"``, minor), less the ticks outside the view."""

    def tick_values(self, vmin, vmax):
        locs = super().tick_values(vmin, vmax)
        if min(vmin, vmax) <= 0:  # matplotlib puts such a view's ticks from the smallest positive datum on
            return locs
        return locs[_inside(locs, vmin, vmax, log=True)]


class _LogMinorFormatter(LogFormatterSciNotation):
    """matplotlib's minor tick labels of a log axis, switched off while all of them are empty.

    While the view holds two or more powers of ten, matplotlib labels only those, yet it
    measures the empty label of every minor tick at each layout pass and draw. The labels
    come back as soon as a view (a zoom, new limits) gives any of them a text.
    """

    _hidden = False

    def format_ticks(self, values):
        labels = super().format_ticks(values)
        if self._hidden == any(labels):
            self._hidden = not self._hidden
            self.axis.set_tick_params(which="minor", label1On=not self._hidden)
        return labels


class _LevelFormatter(Formatter):
    """Labels of a colour bar's contour levels: each to at least 3 significant digits, more until no two are alike.

    The levels of a landscape sit at quantiles of its values, so they can span 1 to 1,500 with
    several between 1 and 3; matplotlib's default gives every label the same decimals (here none),
    which printed 1.7 and 2.4 both as "2". Integer digits are never rounded away (1484, not
    1.48e+03); a value below 1e-3 is written in powers of ten.
    """

    def __call__(self, x, pos=None):
        return self.format_ticks([x])[0]

    def format_ticks(self, values):
        for digits in range(3, 16):
            labels = [self._label(v, digits) for v in values]
            if len(set(labels)) == len(labels):
                break
        return labels

    @staticmethod
    def _label(v, digits):
        if v == 0 or not np.isfinite(v):
            return f"{v:g}"
        if abs(v) < 1e-3:
            return f"{v:.{digits - 1}e}"
        exponent = int(f"{abs(v):.{digits - 1}e}".split("e")[1])  # of v rounded to the digits (0.9999994 → 1.00)
        return f"{v:.{max(0, digits - 1 - exponent)}f}"


def _ticks_in_view(ax):
    """matplotlib's default ticks on each axis of ``ax``, less those it makes and never draws.

    Only the scale's own locators and formatter, untouched since the scale was set, are
    replaced, by the same ones (see the classes above): the figure looks the same and is
    drawn faster.
    """
    for axis in (ax.xaxis, ax.yaxis):
        default = axis.isDefault_majloc and axis.isDefault_minloc and axis.isDefault_minfmt
        major, minor_format = type(axis.get_major_locator()), type(axis.get_minor_formatter())
        if default and axis.get_scale() == "linear" and major is AutoLocator:
            axis.set_major_locator(_InViewLocator())
        elif default and axis.get_scale() == "log" and major is LogLocator and minor_format is LogFormatterSciNotation:
            base = axis.get_transform().base
            axis.set_major_locator(_InViewLogLocator(base))
            axis.set_minor_locator(_InViewLogLocator(base, subs="auto"))
            axis.set_minor_formatter(_LogMinorFormatter(base, labelOnlyBase=False))


def _parameter_plane(ax, sigmas, text):
    """Axes of the (mu, sigma) plane: labelled, sigma on a log axis when the sigmas are geometric."""
    if _is_geometric(sigmas):
        ax.set_yscale("log")
    _ticks_in_view(ax)
    ax.set_xlabel(text["mu"])
    ax.set_ylabel(text["sigma"])


def plot_landscape(L, mus, sigmas, minima=None, paths=None, ax=None, lang="en", objective=None, levels=24, title=None):
    """Filled contours of a loss landscape over (mu, sigma), with minima and optimisation paths.

    Parameters
    ----------
    L : array_like, shape [len(sigmas), len(mus)]
        Values, e.g. from :func:`landscape`.
    mus, sigmas : array_like, 1-D
        The mesh. Log-spaced sigmas get a logarithmic axis.
    minima : list of LocalMinimum or (mu, sigma, ...) tuples, optional
        Marked with stars.
    paths : list of FitResult or arrays [T, >= 2], optional
        Drawn as lines from a circle (start) to a cross (end).
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    lang : {"en", "ja"}
        Language of every label.
    objective : str, optional
        Names the colour bar (a key of :data:`OBJECTIVES`); default "loss". The bar has no
        label when ``title`` is that name already.
    levels : int, default 24
        Contour levels, placed at quantiles of L so that valleys and plateaus both show.
    title : str, optional
        Title of the panel, at a fixed height just above it (where matplotlib would put it,
        without measuring the tick labels again at every draw).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import bimodal_target, landscape, plot_landscape
    >>> mus, sigmas = np.linspace(-10, 15, 26), np.geomspace(0.5, 20, 21)
    >>> L = landscape(bimodal_target(), "mse", mus, sigmas)
    >>> ax = plot_landscape(L, mus, sigmas, minima=[(-5.0, 1.96), (10.0, 1.96)], objective="mse")
    >>> print(ax.get_yscale() == "log", ax.get_xlabel() == "mean μ")
    True True
    """
    text = _check_lang(lang)
    L = np.asarray(L, dtype=np.float64)
    mus, sigmas = np.asarray(mus, dtype=np.float64), np.asarray(sigmas, dtype=np.float64)
    if L.shape != (len(sigmas), len(mus)):
        raise ValueError(f"L must have shape [len(sigmas), len(mus)] = {(len(sigmas), len(mus))}; got {L.shape}")
    finite = L[np.isfinite(L)]
    if finite.size == 0:
        raise ValueError("L must contain finite values; got none")
    with _style(lang):
        ax = _new_axes(ax, (6.4, 4.4))
        bounds = np.unique(np.quantile(finite, np.linspace(0, 1, levels + 1)))
        if len(bounds) < 2:
            bounds = np.array([finite.min() - 0.5, finite.min() + 0.5])
        filled = ax.contourf(mus, sigmas, np.where(np.isfinite(L), L, finite.max()), levels=bounds, cmap="viridis")
        bar = ax.figure.colorbar(filled, ax=ax, format=_LevelFormatter())
        label = objective_label(objective, lang) if objective is not None else text["loss"]
        if label != title:  # said once: in a grid of panels a second label, beside the next panel, read as its axis label
            bar.set_label(label)
        for k, path in enumerate(paths or []):
            m, s = _path_of(path)
            color = _COLORS[(k + 1) % len(_COLORS)]
            ax.plot(m, s, color=color, linewidth=1.8)
            ax.plot(m[:1], s[:1], "o", color=color, markeredgecolor="white", label=text["start"] if k == 0 else None)
            ax.plot(m[-1:], s[-1:], "X", color=color, markeredgecolor="white", markersize=8)
        if minima:
            ax.plot([m[0] for m in minima], [m[1] for m in minima], "*", color="white", markeredgecolor="black",
                    markersize=_STAR_SIZE, label=text["minimum"], linestyle="none")  # fmt: skip
        _parameter_plane(ax, sigmas, text)
        ax.set_xlim(mus.min(), mus.max())
        ax.set_ylim(sigmas.min(), sigmas.max())
        if minima or paths:
            ax.legend(loc="lower left", fontsize="small", framealpha=0.8)
        if title is not None:
            _set_title(ax, title)
    return ax


def plot_basins(basins, ax=None, lang="en", paths=False, title=None):
    """Colour each start by the minimum its gradient flow reaches (the output of :func:`basins`).

    Parameters
    ----------
    basins : Basins
        From :func:`basins`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    lang : {"en", "ja"}
        Language of every label.
    paths : bool, default False
        Also draw every start's path.
    title : str, optional
        Title of the panel; default "Where the gradient flow ends, θ = (μ, σ)" (or log σ).

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from klcourse import basins, bimodal_target, plot_basins
    >>> b = basins(bimodal_target(), "mse", np.linspace(-4, 9, 6), [1.0, 3.0], parameterization="sigma")
    >>> ax = plot_basins(b, lang="ja")
    >>> print(ax.get_title() == "勾配流の行き着く先（θ = (μ, σ)）")
    True
    """
    text = _check_lang(lang)
    labels = np.asarray(basins.labels)
    n = len(basins.minima)
    colors = ["#BBBBBB"] + [_COLORS[k % len(_COLORS)] for k in range(max(n, 1))]
    with _style(lang):
        ax = _new_axes(ax, (6.4, 4.4))
        ax.pcolormesh(basins.mu_starts, basins.sigma_starts, labels + 1, cmap=ListedColormap(colors),
                      vmin=-0.5, vmax=len(colors) - 0.5, shading="nearest", alpha=0.6)  # fmt: skip
        if paths:
            # one collection for all paths: drawn at once, and left out of the vertices that
            # legend(loc="best") searches (with every path as a line that search took seconds)
            segments = [np.column_stack(_path_of(fit)) for row in basins.results for fit in row]
            ax.add_collection(LineCollection(segments, colors="black", linewidths=0.6, alpha=0.5))
        for k, m in enumerate(basins.minima):
            ax.plot([m.mu], [m.sigma], "*", color=colors[k + 1], markeredgecolor="black", markersize=_STAR_SIZE,
                    label=text["basin"].format(k=k, mu=m.mu, sigma=m.sigma), linestyle="none")  # fmt: skip
        if np.any(labels < 0):
            ax.plot([], [], "s", color=colors[0], label=text["no_minimum"], linestyle="none")
        _parameter_plane(ax, basins.sigma_starts, text)
        par = text["log_sigma"] if basins.parameterization == "log_sigma" else text["sigma_par"]
        _set_title(ax, text["basins_title"].format(par=par) if title is None else title)
        _legend_clear_of_stars(ax, [(m.mu, m.sigma) for m in basins.minima], fontsize="small", framealpha=0.8)
    return ax


def _legend_clear_of_stars(ax, stars, **legend_options):
    """The legend in the first place, corners first, that keeps clear of every star; else matplotlib's "best".

    ``loc="best"`` counts the centres of markers under a legend, not their size: a star whose centre
    lay just outside the legend's box was half covered by it (the reverse-KL basin map).
    """
    legend = ax.legend(**legend_options)
    clear = _STAR_SIZE * ax.figure.dpi / 72  # pixels from a star's centre: its radius, and as much again
    ax.get_xlim(), ax.get_ylim()  # brings the view limits up to date (autoscaling is lazy), and so transData
    centres = ax.transData.transform(np.asarray(stars, dtype=np.float64).reshape(-1, 2))  # [k, 2] pixels
    for loc in _LEGEND_PLACES:
        legend.set_loc(loc)
        box = legend.get_window_extent()
        near_x = (centres[:, 0] > box.x0 - clear) & (centres[:, 0] < box.x1 + clear)
        near_y = (centres[:, 1] > box.y0 - clear) & (centres[:, 1] < box.y1 + clear)
        if not (near_x & near_y).any():
            return legend
    legend.set_loc("best")
    return legend


def plot_history(results, ax=None, lang="en", labels=None):
    """Loss along each fit's recorded path (what the seed notebook plotted against epochs).

    Parameters
    ----------
    results : FitResult or a sequence of FitResult (list, tuple, ...)
        Fits with their ``history``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; default a new figure.
    lang : {"en", "ja"}
        Language of every label.
    labels : list of str, optional
        Legend entries, replacing the objective names.

    Returns
    -------
    matplotlib.axes.Axes

    Notes
    -----
    For ``"adam"`` and ``"gd"`` the x-axis is the optimiser step (the history is an even
    subsample of the steps); for ``"flow"`` it is the index of the point along the path.

    Examples
    --------
    >>> from klcourse import bimodal_target, fit_gaussian, plot_history
    >>> fit = fit_gaussian(bimodal_target(), "forward_kl", 0.0, 1.0, method="adam", lr=0.05, steps=300)
    >>> ax = plot_history(fit)
    >>> print(ax.get_lines()[0].get_xdata()[-1] == 300, ax.get_xlabel())
    True step
    """
    text = _check_lang(lang)
    results = _as_list(results)
    if labels is not None and len(labels) != len(results):
        raise ValueError(f"labels must name each of the {len(results)} results; got {len(labels)}")
    with _style(lang):
        ax = _new_axes(ax, (6.4, 3.6))
        for k, fit in enumerate(results):
            rows = np.asarray(fit.history)
            flow = fit.method == "flow"
            x = np.arange(len(rows)) if flow else np.linspace(0, fit.steps, len(rows)).round()
            label = labels[k] if labels is not None else objective_label(fit.objective, lang)
            ax.plot(x, rows[:, 2], color=_COLORS[k % len(_COLORS)], linewidth=2, label=label)
        ax.set_xlabel(text["path_point"] if all(f.method == "flow" for f in results) else text["step"])
        ax.set_ylabel(text["loss"])
        ax.legend(frameon=False, fontsize="small")
        _ticks_in_view(ax)
    return ax
