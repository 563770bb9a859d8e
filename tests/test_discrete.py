"""Discrete entropy and divergences: scipy reference values, properties, torch behaviour."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from klcourse import (
    conditional_entropy,
    cross_entropy,
    entropy,
    information_content,
    joint_entropy,
    js_divergence,
    kl_divergence,
    mutual_information,
)

RNG = np.random.default_rng(20240601)
LOG2 = math.log(2)


def _random_simplex(shape, zeros=False):
    x = RNG.random(shape)
    if zeros:
        x[RNG.random(shape) < 0.3] = 0.0
        x[..., 0] += 0.1  # keep every row non-empty
    return x / x.sum(-1, keepdims=True)


# ------------------------------------------------------------------ reference values from scipy


@pytest.mark.parametrize("base", [None, 2, math.e, 10])
@pytest.mark.parametrize("k", [1, 2, 5, 17])
def test_entropy_and_kl_match_scipy(base, k):
    for zeros in (False, True):
        p, q = _random_simplex(k, zeros), _random_simplex(k)
        assert entropy(p, base=base) == pytest.approx(stats.entropy(p, base=base), rel=1e-13, abs=1e-15)
        assert kl_divergence(p, q, base=base) == pytest.approx(stats.entropy(p, q, base=base), rel=1e-13, abs=1e-15)


def test_kl_is_the_sum_of_scipy_rel_entr_including_zeros_and_inf():
    p = np.array([0.0, 0.2, 0.3, 0.5, 0.0])
    q = np.array([0.4, 0.0, 0.3, 0.3, 0.0])
    assert kl_divergence(p, q) == np.sum(special.rel_entr(p, q)) == math.inf
    q2 = np.array([0.1, 0.1, 0.3, 0.5, 0.0])
    assert kl_divergence(p, q2) == pytest.approx(np.sum(special.rel_entr(p, q2)), rel=1e-14)


def test_cross_entropy_matches_xlogy():
    p, q = _random_simplex(7, zeros=True), _random_simplex(7)
    assert cross_entropy(p, q) == pytest.approx(-np.sum(special.xlogy(p, q)), rel=1e-13)
    assert cross_entropy(p, q, base=2) == pytest.approx(-np.sum(special.xlogy(p, q)) / LOG2, rel=1e-13)


def test_js_matches_scipy_jensenshannon_squared():
    from scipy.spatial.distance import jensenshannon

    p, q = _random_simplex(6, zeros=True), _random_simplex(6, zeros=True)
    assert js_divergence(p, q) == pytest.approx(jensenshannon(p, q) ** 2, rel=1e-12)
    assert js_divergence(p, q, base=2) == pytest.approx(jensenshannon(p, q, base=2) ** 2, rel=1e-12)


def test_information_content_is_minus_log():
    p = np.array([1.0, 0.5, 0.125, 1e-300, 0.0])
    expected = -np.log(p[:-1])
    got = information_content(p)
    np.testing.assert_allclose(got[:-1], expected, rtol=1e-15)
    assert got[-1] == math.inf
    assert information_content(0.25, base=2) == 2.0
    assert isinstance(information_content(0.5), np.float64)


def test_joint_tables_against_scipy():
    pxy = _random_simplex(12, zeros=True).reshape(3, 4)
    px, py = pxy.sum(1), pxy.sum(0)
    h_xy = stats.entropy(pxy.ravel())
    assert joint_entropy(pxy) == pytest.approx(h_xy, rel=1e-13)
    assert conditional_entropy(pxy) == pytest.approx(h_xy - stats.entropy(px), rel=1e-12)
    assert mutual_information(pxy) == pytest.approx(stats.entropy(pxy.ravel(), np.outer(px, py).ravel()), rel=1e-12)
    assert mutual_information(pxy, base=2) == pytest.approx(
        stats.entropy(px, base=2) + stats.entropy(py, base=2) - stats.entropy(pxy.ravel(), base=2), rel=1e-10
    )


def test_conditional_entropy_conditions_on_axis_minus_2():
    # Y is a function of X (each row has one non-zero): H(Y|X) = 0, while H(X|Y) > 0.
    pxy = np.array([[0.25, 0.0], [0.25, 0.0], [0.0, 0.5]])
    assert conditional_entropy(pxy) == 0.0
    assert conditional_entropy(pxy.T) == pytest.approx(0.5 * LOG2)


def test_known_values():
    assert entropy([0.25] * 4, base=2) == 2.0
    assert entropy([1, 0, 0]) == 0.0  # integers accepted; 0 log 0 = 0
    # a certain outcome has entropy +0.0, not -0.0 (which a page would print as "-0")
    assert math.copysign(1.0, float(entropy([1, 0, 0]))) == 1.0
    assert math.copysign(1.0, float(entropy(torch.tensor([1.0, 0.0]), base=2))) == 1.0
    assert js_divergence([1.0, 0.0], [0.0, 1.0]) == pytest.approx(LOG2, rel=1e-15)
    assert mutual_information([[0.5, 0.0], [0.0, 0.5]], base=2) == 1.0


# ------------------------------------------------------------------ properties with hypothesis


@st.composite
def pairs(draw, zeros=True):
    k = draw(st.integers(1, 8))
    weight = st.floats(0.0 if zeros else 1e-3, 1.0, allow_nan=False)
    p = np.array(draw(st.lists(weight, min_size=k, max_size=k)))
    q = np.array(draw(st.lists(weight, min_size=k, max_size=k)))
    p[0] += 1e-3
    q[-1] += 1e-3
    return p / p.sum(), q / q.sum()


PROPERTY = settings(max_examples=60, derandomize=True, deadline=None)


@PROPERTY
@given(pairs())
def test_kl_of_p_with_itself_is_zero(pq):
    p, _ = pq
    assert kl_divergence(p, p) == 0.0


@PROPERTY
@given(pairs())
def test_kl_is_non_negative(pq):
    p, q = pq
    assert kl_divergence(p, q) >= -1e-15


@PROPERTY
@given(pairs(zeros=False))
def test_cross_entropy_is_entropy_plus_kl(pq):
    p, q = pq
    assert cross_entropy(p, q) == pytest.approx(entropy(p) + kl_divergence(p, q), rel=1e-12, abs=1e-12)


@PROPERTY
@given(pairs())
def test_js_is_symmetric_and_between_0_and_log2(pq):
    p, q = pq
    js = js_divergence(p, q)
    assert js == js_divergence(q, p)
    assert -1e-15 <= js <= LOG2 + 1e-15


@PROPERTY
@given(pairs(zeros=False), st.sampled_from([2, 10, 0.5, 3.7]))
def test_change_of_base_divides_by_log_base(pq, base):
    p, q = pq
    for f, args in ((entropy, (p,)), (kl_divergence, (p, q)), (cross_entropy, (p, q)), (js_divergence, (p, q))):
        assert f(*args, base=base) == pytest.approx(f(*args) / math.log(base), rel=1e-12, abs=1e-15)
    assert entropy(p, base=2) == pytest.approx(entropy(p) / LOG2, rel=1e-12, abs=1e-15)


@PROPERTY
@given(pairs())
def test_pinsker_total_variation_at_most_sqrt_half_kl(pq):
    p, q = pq
    tv = 0.5 * np.abs(p - q).sum()
    assert tv <= math.sqrt(kl_divergence(p, q) / 2) + 1e-12


@PROPERTY
@given(pairs())
def test_entropy_between_0_and_log_k(pq):
    p, _ = pq
    assert -1e-15 <= entropy(p) <= math.log(len(p)) + 1e-12


@PROPERTY
@given(pairs())
def test_mutual_information_zero_for_a_product_non_negative_otherwise(pq):
    p, q = pq
    assert abs(mutual_information(np.outer(p, q))) < 1e-12
    coupled = 0.5 * np.outer(p, q) + 0.5 * np.diag(p)  # Y = X half of the time
    assert mutual_information(coupled) >= -1e-15
    assert conditional_entropy(coupled) <= entropy(coupled.sum(0)) + 1e-12  # conditioning never adds


# ------------------------------------------------------------------ torch in, torch out; batches


def test_numpy_and_list_inputs_give_numpy_float64():
    assert type(entropy([0.5, 0.5])) is np.float64
    assert type(kl_divergence(np.array([0.5, 0.5]), [0.25, 0.75])) is np.float64
    batched = entropy(np.full((2, 3, 4), 0.25))
    assert isinstance(batched, np.ndarray) and batched.dtype == np.float64 and batched.shape == (2, 3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_in_torch_out_same_dtype_with_gradients(dtype):
    logits_p = torch.randn(5, dtype=dtype, generator=torch.Generator().manual_seed(1), requires_grad=True)
    logits_q = torch.randn(5, dtype=dtype, generator=torch.Generator().manual_seed(2), requires_grad=True)
    p, q = logits_p.softmax(-1), logits_q.softmax(-1)
    value = kl_divergence(p, q)
    assert isinstance(value, torch.Tensor) and value.dtype == dtype and value.shape == ()
    value.backward()
    # d KL / d logits_q = q - p for q = softmax(logits_q)
    torch.testing.assert_close(logits_q.grad, (q - p).detach(), rtol=1e-5, atol=1e-6)
    for f in (entropy, lambda p: cross_entropy(p, q), lambda p: js_divergence(p, q)):
        out = f(p)
        assert out.dtype == dtype and out.requires_grad


def test_gradcheck_in_float64():
    a = torch.randn(4, dtype=torch.float64, generator=torch.Generator().manual_seed(3), requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, generator=torch.Generator().manual_seed(4), requires_grad=True)
    for f in (kl_divergence, cross_entropy, js_divergence):
        assert torch.autograd.gradcheck(lambda a, b: f(a.softmax(-1), b.softmax(-1)), (a, b))
    assert torch.autograd.gradcheck(lambda a: entropy(a.softmax(-1)), (a,))
    c = torch.randn(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5), requires_grad=True)
    for f in (joint_entropy, conditional_entropy, mutual_information):
        assert torch.autograd.gradcheck(lambda c: f(c.flatten().softmax(-1).reshape(2, 3)), (c,))


def test_zero_probabilities_give_finite_gradients():
    p = torch.tensor([0.0, 0.25, 0.75], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64, requires_grad=True)
    (entropy(p) + kl_divergence(p, q) + js_divergence(p, q) + cross_entropy(p, q)).backward()
    assert torch.isfinite(p.grad).all() and torch.isfinite(q.grad).all()


def test_batched_inputs_equal_row_by_row_results_and_broadcast():
    p = _random_simplex((3, 4, 6), zeros=True)
    q = _random_simplex((3, 4, 6))
    got = kl_divergence(p, q)
    assert got.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            assert got[i, j] == pytest.approx(stats.entropy(p[i, j], q[i, j]), rel=1e-13, abs=1e-15)
    one_q = q[0, 0]
    np.testing.assert_allclose(kl_divergence(p, one_q), [[stats.entropy(r, one_q) for r in row] for row in p], rtol=1e-13)
    np.testing.assert_allclose(entropy(p), stats.entropy(p, axis=-1), rtol=1e-13)
    tables = _random_simplex((5, 6)).reshape(5, 2, 3)
    np.testing.assert_allclose(joint_entropy(tables), [joint_entropy(t) for t in tables], rtol=1e-14)
    np.testing.assert_allclose(mutual_information(tables), [mutual_information(t) for t in tables], rtol=1e-14)


def test_torch_batched_and_mixed_inputs():
    p = torch.tensor([[0.5, 0.5], [1.0, 0.0]], dtype=torch.float32)
    q = np.array([0.25, 0.75])  # numpy mixed with torch: torch wins
    out = kl_divergence(p, q)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (2,)
    torch.testing.assert_close(out, torch.tensor([stats.entropy([0.5, 0.5], q), math.log(4)], dtype=torch.float32))


# ------------------------------------------------------------------ infinite is an answer


def test_disjoint_support_is_inf_not_nan():
    p, q = [0.5, 0.5, 0.0], [0.0, 0.0, 1.0]
    assert kl_divergence(p, q) == math.inf
    assert kl_divergence(q, p) == math.inf
    assert cross_entropy(p, q) == math.inf
    assert js_divergence(p, q) == pytest.approx(LOG2, rel=1e-15)
    t = kl_divergence(torch.tensor(p), torch.tensor(q))
    assert torch.isinf(t) and not torch.isnan(t)
    batch = kl_divergence(np.array([p, q]), np.array([q, q]))
    assert batch[0] == math.inf and batch[1] == 0.0
