"""klcourse: entropy, KL divergence and fitting one distribution to another.

The tested library behind the bilingual course module. Every public name is
re-exported here, one per line, grouped by topic; the private modules hold the code.
Convention everywhere: ``p`` first, ``q`` second, and ``KL(p ‖ q)``. In fitting, P is the
target and Q the model: forward KL is ``KL(P ‖ Q)``, reverse KL is ``KL(Q ‖ P)``.
"""

# --- entropy and divergences: arrays on the last axis; KL and JS also of two torch distributions ---
from ._discrete import entropy
from ._discrete import cross_entropy
from ._discrete import kl_divergence
from ._discrete import js_divergence
from ._discrete import information_content
from ._discrete import joint_entropy
from ._discrete import conditional_entropy
from ._discrete import mutual_information

# --- targets: the course's distributions --------------------------------------------------
from ._targets import bimodal_target
from ._targets import gaussian_mixture
from ._targets import normal
from ._targets import seed_grid

# --- continuous divergences by quadrature (1-D torch distributions) ------------------------
from ._continuous import Grid
from ._continuous import covering_grid
from ._continuous import covering_interval
from ._continuous import hellinger
from ._continuous import total_variation
from ._continuous import alpha_divergence
from ._continuous import renyi_divergence
from ._continuous import l2_distance_squared
from ._continuous import l1_distance
from ._continuous import cosine_similarity
from ._continuous import wasserstein

# --- prefix codes: entropy as message length (chapter "Entropy") --------------------------
from ._coding import huffman_code
from ._coding import expected_code_length

# --- closed forms: dispatch by type pair, Gaussian formulas -------------------------------
from ._closed_forms import register_closed_form
from ._closed_forms import closed_form
from ._closed_forms import gaussian_kl
from ._closed_forms import gaussian_entropy
from ._closed_forms import mvn_kl
from ._closed_forms import factorized_gaussian_fit
from ._factorized import minimize_factorized_kl

# --- properties of KL: chain rule, data processing, Pinsker, Fisher form, VAE term -------
from ._inequalities import pinsker_bound
from ._inequalities import conditional_kl
from ._inequalities import apply_channel
from ._inequalities import fisher_information
from ._inequalities import diagonal_gaussian_kl
from ._inequalities import estimator_means

# --- Monte Carlo estimators of KL(q ‖ p) from samples of q ---------------------------------
from ._estimators import EstimatorStats
from ._estimators import kl_estimators
from ._estimators import estimator_stats

# --- KL in machine-learning practice: ELBO, KL-regularised RL, distillation -------------------
from ._applications import elbo
from ._applications import tilted_distribution
from ._applications import kl_regularized_objective
from ._applications import estimator_loss_gradients
from ._applications import distillation_loss
from ._applications import distillation_gradient

# --- fitting a Normal model Q to a target P (P target, Q model) -----------------------------
from ._fit import OBJECTIVES
from ._fit import Objective
from ._fit import FitOptions
from ._fit import FitResult
from ._fit import fit_gaussian
from ._fit import objective_value

# --- landscapes over (mu, sigma), local minima, basins of the gradient flow ----------------
from ._landscape import LocalMinimum
from ._landscape import Basins
from ._landscape import landscape
from ._landscape import local_minima
from ._landscape import basins
from ._landscape import BasinBoundary
from ._landscape import basin_boundary

# --- figures in English or Japanese --------------------------------------------------------
from ._plotting import objective_label
from ._plotting import plot_densities
from ._plotting import plot_landscape
from ._plotting import plot_basins
from ._plotting import plot_history

# --- animations as inline SVG with an accessible player ------------------------------------
from ._animation import Animation
from ._animation import animate_fits

# --- book helpers: glue numbers into the prose, bound rounding-level differences, device, seed
from ._book import glue
from ._book import error_bound
from ._book import default_device
from ._book import set_seed

__all__ = [
    # discrete
    "entropy",
    "cross_entropy",
    "kl_divergence",
    "js_divergence",
    "information_content",
    "joint_entropy",
    "conditional_entropy",
    "mutual_information",
    # targets
    "bimodal_target",
    "gaussian_mixture",
    "normal",
    "seed_grid",
    # continuous
    "Grid",
    "covering_grid",
    "covering_interval",
    "hellinger",
    "total_variation",
    "alpha_divergence",
    "renyi_divergence",
    "l2_distance_squared",
    "l1_distance",
    "cosine_similarity",
    "wasserstein",
    # closed forms
    "register_closed_form",
    "closed_form",
    "gaussian_kl",
    "gaussian_entropy",
    "mvn_kl",
    "factorized_gaussian_fit",
    "minimize_factorized_kl",
    # properties of KL
    "pinsker_bound",
    "conditional_kl",
    "apply_channel",
    "fisher_information",
    "diagonal_gaussian_kl",
    "estimator_means",
    # estimators
    "EstimatorStats",
    "kl_estimators",
    "estimator_stats",
    # applications
    "elbo",
    "tilted_distribution",
    "kl_regularized_objective",
    "estimator_loss_gradients",
    "distillation_loss",
    "distillation_gradient",
    # prefix codes
    "huffman_code",
    "expected_code_length",
    # fitting
    "OBJECTIVES",
    "Objective",
    "FitOptions",
    "FitResult",
    "fit_gaussian",
    "objective_value",
    # landscapes
    "LocalMinimum",
    "Basins",
    "landscape",
    "local_minima",
    "basins",
    "BasinBoundary",
    "basin_boundary",
    # figures
    "objective_label",
    "plot_densities",
    "plot_landscape",
    "plot_basins",
    "plot_history",
    # animations
    "Animation",
    "animate_fits",
    # book helpers
    "glue",
    "error_bound",
    "default_device",
    "set_seed",
]
