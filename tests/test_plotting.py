"""Tests of klcourse._plotting: bilingual figures with every glyph present."""

import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib import font_manager  # noqa: E402

from klcourse import (  # noqa: E402
    basins,
    bimodal_target,
    fit_gaussian,
    landscape,
    objective_label,
    plot_basins,
    plot_densities,
    plot_history,
    plot_landscape,
)
from klcourse._plotting import _TEXT, _style  # noqa: E402

P = bimodal_target()


@pytest.fixture(scope="module")
def figures_inputs():
    fits = [fit_gaussian(P, o, 0.0, 1.0, parameterization="sigma") for o in ("forward_kl", "reverse_kl", "mse", "cosine")]
    mus, sigmas = np.linspace(-10, 15, 21), np.geomspace(0.5, 20, 15)
    L = landscape(P, "mse", mus, sigmas)
    b = basins(P, "mse", np.linspace(-4, 9, 5), [1.0, 3.0], parameterization="sigma")
    return fits, (L, mus, sigmas), b


def _draw_all(lang, inputs):
    fits, (L, mus, sigmas), b = inputs
    axes = [
        plot_densities(P, fits, lang=lang),
        plot_landscape(L, mus, sigmas, minima=[(-5.0, 1.96), (10.0, 1.96)], paths=fits[2:3], lang=lang, objective="mse"),
        plot_basins(b, lang=lang, paths=True),
        plot_history(fits, lang=lang),
    ]
    for ax in axes:
        ax.figure.canvas.draw()  # Agg renders every text now: missing glyphs warn here
    return axes


def _texts(ax):
    fig = ax.figure
    return [t for t in fig.findobj(matplotlib.text.Text) if t.get_text()]


def test_japanese_figures_render_every_glyph(figures_inputs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        axes = _draw_all("ja", figures_inputs)
    missing = [str(w.message) for w in caught if "missing from" in str(w.message)]
    assert missing == []
    japanese = [t for ax in axes for t in _texts(ax) if any("\u3040" <= c <= "\u9fff" for c in t.get_text())]
    assert len(japanese) >= 8  # axis labels, legends, titles in Japanese
    for t in japanese:  # set in the Japanese font, not in a fallback that lacks kana and kanji
        assert font_manager.findfont(t.get_fontproperties()).endswith("ipaexg.ttf")
    plt.close("all")


def test_english_figures_are_in_english(figures_inputs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        axes = _draw_all("en", figures_inputs)
    assert [str(w.message) for w in caught if "missing from" in str(w.message)] == []
    assert axes[0].get_xlabel() == "x" and axes[0].get_ylabel() == "density"
    assert axes[1].get_xlabel() == "mean μ" and axes[1].get_ylabel() == "standard deviation σ"
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert legend[0] == "target P" and legend[1] == "forward KL(P‖Q): μ = 2.50, σ = 7.57"
    assert all(not any("\u3040" <= c <= "\u9fff" for c in t.get_text()) for ax in axes for t in _texts(ax))
    plt.close("all")


def test_plotting_leaves_the_global_font_alone(figures_inputs):
    before = list(matplotlib.rcParams["font.family"])
    _draw_all("ja", figures_inputs)
    assert list(matplotlib.rcParams["font.family"]) == before
    plt.close("all")


def test_translations_cover_the_same_keys():
    assert _TEXT["en"].keys() == _TEXT["ja"].keys()
    assert _TEXT["en"]["objectives"].keys() == _TEXT["ja"]["objectives"].keys()
    from klcourse import OBJECTIVES

    assert set(_TEXT["en"]["objectives"]) == set(OBJECTIVES)
    assert objective_label("mse", "ja") == "積分二乗誤差 ∫(p−q)²"


def test_landscape_figure_marks_minima_and_paths(figures_inputs):
    fits, (L, mus, sigmas), _ = figures_inputs
    ax = plot_landscape(L, mus, sigmas, minima=[(-5.0, 1.96)], paths=[fits[2]])
    star = [line for line in ax.get_lines() if line.get_marker() == "*"][0]
    assert star.get_xdata().tolist() == [-5.0] and star.get_ydata().tolist() == [1.96]
    path = ax.get_lines()[0]
    assert np.allclose(path.get_xdata(), fits[2].history[:, 0]) and ax.get_yscale() == "log"
    plt.close("all")


def test_colour_bar_labels_tell_every_level_apart():
    # a forward-KL landscape: its levels run from 1.3 to about 1,500 with several below 3, which
    # matplotlib's default labels gave the same decimals (none): 1.7 and 2.4 both printed as "2"
    mus, sigmas = np.linspace(-12.0, 17.0, 30), np.geomspace(0.3, 20.0, 25)
    L = landscape(P, "forward_kl", mus, sigmas)
    ax = plot_landscape(L, mus, sigmas, objective="forward_kl", levels=16)
    ax.figure.canvas.draw()
    bar = ax.figure.axes[-1]
    ticks = bar.get_yticks()
    labels = [t.get_text() for t in bar.get_yticklabels()]
    assert len(ticks) >= 5 and len(set(labels)) == len(labels), labels
    # each label is its level to 3 significant digits at least; integer digits are kept whole
    assert np.allclose([float(t) for t in labels], ticks, rtol=5e-3), (labels, ticks)
    assert ticks.max() > 1000 and "e" not in labels[-1]
    plt.close("all")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_colour_bar_is_labelled_unless_the_title_names_the_objective(figures_inputs, lang):
    # in the grid of eight landscapes the cosine bar's label, pushed right by labels such as
    # 1.78e-11, stood beside the forward-KL panel and read as that panel's axis label
    _, (L, mus, sigmas), _ = figures_inputs
    name = objective_label("cosine", lang)
    bars = {}
    for title in (None, name, "another title"):
        ax = plot_landscape(L, mus, sigmas, lang=lang, objective="cosine", title=title)
        bars[title] = ax.figure.axes[-1].get_ylabel()
    assert bars == {None: name, name: "", "another title": name}
    plt.close("all")


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_density_legend_stays_above_the_curves(lang):
    # mode-seeking's first figure: peaks at both ends of the x-axis; matplotlib's loc="best"
    # put the legend at the upper right and its text ran over the right-hand peak
    fits = [fit_gaussian(P, "forward_kl", 0.0, 1.0)] + [fit_gaussian(P, "reverse_kl", m, 1.0) for m in (0.0, 5.0)]
    ax = plot_densities(P, fits, lang=lang)
    ax.figure.canvas.draw()  # laid out as the notebook shows it
    box = ax.get_legend().get_window_extent()
    for line in ax.get_lines():
        xy = ax.transData.transform(line.get_xydata())
        under = (xy[:, 0] >= box.x0) & (xy[:, 0] <= box.x1)
        assert xy[under, 1].max() < box.y0, line.get_label()
    plt.close("all")


def test_basin_legend_keeps_clear_of_the_stars():
    # reverse KL's basin map: loc="best" counts a star's centre, not its size, and half covered
    # the wide minimum's star (2.5, 6.15), whose centre lay just below the legend
    mus, sigmas = np.linspace(-10.0, 15.0, 15), np.geomspace(0.5, 16.0, 12)
    b = basins(P, "reverse_kl", mus, sigmas)
    fig, ax = plt.subplots(figsize=(4.6, 3.4), dpi=80, layout="constrained")
    plot_basins(b, ax=ax)
    fig.canvas.draw()
    box = ax.get_legend().get_window_extent()
    radius = (7.5 + 2) * fig.dpi / 72  # a 14-point star's tips and edge, and 2 points of the map between them and the legend
    for m in b.minima:
        x, y = ax.transData.transform((m.mu, m.sigma))
        assert not (box.x0 - radius < x < box.x1 + radius and box.y0 - radius < y < box.y1 + radius), (m.mu, m.sigma)
    plt.close("all")


def test_level_labels_add_digits_until_they_differ():
    from klcourse._plotting import _LevelFormatter

    labels = _LevelFormatter().format_ticks
    assert labels([0.99999943, 1.35018086, 1484.3]) == ["1.00", "1.35", "1484"]
    assert labels([1.9996, 2.0004]) == ["1.9996", "2.0004"]
    assert labels([1.78e-11, 3.2011e-4, 0.0292097]) == ["1.78e-11", "3.20e-04", "0.0292"]
    assert labels([0.0, 0.5]) == ["0", "0.500"]


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: plot_densities(P, (0.0, 1.0), lang="fr"), r"lang must be 'en' or 'ja'; got 'fr'"),
        (lambda: plot_densities("P", (0.0, 1.0)), r"target must be a torch distribution; got str"),
        (lambda: plot_densities(P, [(0.0, 1.0)], labels=["a", "b"]), r"labels must name each of the 1 models; got 2"),
        (lambda: plot_densities(P, ["x"]), r"models must be FitResults, Normals or \(mu, sigma\) pairs; got str"),
        (lambda: plot_landscape(np.zeros((2, 3)), [0, 1], [1, 2]), r"L must have shape \[len\(sigmas\), len\(mus\)\] = \(2, 2\); got \(2, 3\)"),
        (lambda: plot_landscape(np.full((2, 2), np.nan), [0, 1], [1, 2]), r"L must contain finite values; got none"),
        (lambda: plot_landscape(np.zeros((2, 2)), [0, 1], [1, 2], paths=[np.zeros(3)]), r"paths must be FitResults or arrays of shape \[T, >= 2\]"),
        (lambda: objective_label("kl"), r"objective must be one of 'forward_kl'"),
    ],
)
def test_validation_messages(call, message):
    with pytest.raises(ValueError, match=message):
        call()
    plt.close("all")


def test_any_sequence_of_models_and_results(figures_inputs):
    from klcourse._plotting import _as_list

    fits = figures_inputs[0]
    as_tuple, as_list = plot_densities(P, tuple(fits[:2])), plot_densities(P, list(fits[:2]))
    assert len(as_tuple.get_lines()) == len(as_list.get_lines()) == 3  # the target and two models
    assert len(plot_densities(P, (0.0, 1.0)).get_lines()) == 2  # a (mu, sigma) pair is one model
    assert len(plot_densities(P, ((0.0, 1.0), (2.0, 3.0))).get_lines()) == 3
    assert len(plot_history(tuple(fits)).get_lines()) == len(plot_history(fits).get_lines()) == len(fits)
    assert _as_list(fits[0]) == [fits[0]] and _as_list(tuple(fits)) == list(fits)  # animate_fits uses the same rule
    plt.close("all")


def test_japanese_labels_use_the_books_terms():
    ja = _TEXT["ja"]
    assert ja["start"] == "出発点" and "初期値" not in ja["alt"] and "最適解" not in ja["alt"]
    assert ja["objectives"]["js"] == "JSダイバージェンス"
    assert ja["objectives"]["hellinger"] == "ヘリンジャー距離の 2 乗"
    assert all("、" not in ja[key] for key in ("normal", "fit", "basin"))  # 「, 」 inside formulas


def test_every_figure_shows_in_a_notebook(monkeypatch):
    """Each call's figure is displayed inline, the first and the later ones, in both languages."""
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel inherits the environment: let it choose inline

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in (
        "import klcourse as kc\nP = kc.bimodal_target()\nf = kc.fit_gaussian(P, 'forward_kl')\n"
        "kc.plot_densities(P, [f]);",
        "kc.plot_densities(P, [f], lang='ja');",
        "kc.plot_densities(P, [f]);",
    )]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    for cell in nb.cells:
        assert any("image/png" in out.get("data", {}) for out in cell.outputs), cell.source


def _png(fig):
    """The figure as the notebook's inline backend renders it (tight bounding box): an RGBA array."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", bbox_inches="tight", dpi=60)
    plt.close(fig)
    return np.asarray(Image.open(buffer))


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_titles_sit_where_matplotlib_would_place_them(figures_inputs, lang):
    # plot_landscape and plot_basins fix the title's height instead of letting matplotlib measure
    # the tick labels at every draw: the figure must come out pixel for pixel the same
    _, (L, mus, sigmas), b = figures_inputs
    title = objective_label("mse", lang)
    drawn = {}
    for how in ("given", "automatic"):
        with _style(lang):  # the axes' title texts keep the font they are created with
            fig, axes = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
        plot_landscape(L, mus, sigmas, ax=axes[0], lang=lang, objective="mse", title=title)  # (then its bar has no label)
        plot_basins(b, ax=axes[1], lang=lang, title=title if how == "given" else None)
        if how == "automatic":
            for ax in axes:
                ax._autotitlepos = True  # matplotlib's own placement, as before
                with _style(lang):
                    ax.set_title(title)
        drawn[how] = _png(fig)
    assert axes[1].get_title() == title
    assert drawn["given"].shape == drawn["automatic"].shape and np.array_equal(drawn["given"], drawn["automatic"])


def _matplotlib_ticks(ax):
    """Give the axes matplotlib's default locators and formatters again (setting a scale resets them)."""
    ax.set_xscale(ax.get_xscale())
    ax.set_yscale(ax.get_yscale())


@pytest.mark.parametrize("case", ["landscape", "landscape zoomed", "basins", "densities", "history"])
def test_ticks_are_matplotlibs_less_the_ones_it_would_not_draw(figures_inputs, case):
    # the plots leave out the ticks outside the view and the minor labels of a log axis while
    # all of them are empty, so that matplotlib makes and measures fewer of them at every
    # layout pass and draw: the figure must come out pixel for pixel as with matplotlib's ticks
    fits, _, b = figures_inputs
    mus, sigmas = np.linspace(-12, 17, 30), np.geomspace(0.3, 20, 25)   # view not on round numbers
    L = landscape(P, "mse", mus, sigmas)
    drawn, axes = {}, {}
    for how in ("ours", "matplotlib"):
        fig, ax = plt.subplots(figsize=(5, 3.5), layout="constrained")
        if case.startswith("landscape"):
            plot_landscape(L, mus, sigmas, minima=[(-5.0, 1.0)], paths=fits[:1], ax=ax, objective="mse")
        elif case == "basins":
            plot_basins(b, ax=ax)
        elif case == "densities":
            plot_densities(P, fits, ax=ax)
        else:
            plot_history(fits, ax=ax)
        if how == "matplotlib":
            _matplotlib_ticks(ax)
        if case == "landscape zoomed":  # within one decade matplotlib labels the minor ticks: they must come back
            fig.canvas.draw()
            ax.set_ylim(1.5, 4.5)
        drawn[how], axes[how] = _png(fig), ax
    assert drawn["ours"].shape == drawn["matplotlib"].shape and np.array_equal(drawn["ours"], drawn["matplotlib"])
    ours = axes["ours"]
    for axis, (lo, hi) in ((ours.xaxis, ours.get_xlim()), (ours.yaxis, ours.get_ylim())):
        for minor in (False, True):
            locs, margin = axis.get_ticklocs(minor=minor), 1e-6 * (hi - lo)
            assert np.all((locs >= lo - margin) & (locs <= hi + margin)), (case, minor, locs)
    if case == "landscape":
        assert ours.yaxis.get_ticklocs(minor=True).size and not ours.get_yticklabels(minor=True)
    if case == "landscape zoomed":
        assert [t.get_text() for t in ours.get_yticklabels(minor=True) if t.get_text()]
