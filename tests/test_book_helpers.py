"""Tests of klcourse._book: glue, error_bound, default_device, set_seed."""

import sys
import types

import numpy as np
import pytest
import torch

import klcourse._book as book
from klcourse import default_device, error_bound, glue, set_seed


@pytest.fixture
def fake_myst_nb(monkeypatch):
    """A stand-in myst_nb module that records what glue receives."""
    calls = []
    module = types.ModuleType("myst_nb")
    module.glue = lambda name, value, display=True: calls.append((name, value, display))
    monkeypatch.setitem(sys.modules, "myst_nb", module)
    return calls


@pytest.mark.parametrize(
    "value, expected, kind",
    [
        (np.float64(7.566372975210778), 7.566372975210778, float),
        (np.float32(0.5), 0.5, float),
        (np.int64(12), 12, int),
        (np.bool_(True), True, bool),
        (np.array(2.5), 2.5, float),
        (torch.tensor(57.25, dtype=torch.float64).sqrt(), 57.25**0.5, float),
        (torch.tensor([3]), 3, int),
        (1.25, 1.25, float),
    ],
)
def test_numeric_scalars_become_python_numbers(value, expected, kind):
    out = glue("x", value)
    assert type(out) is kind and out == expected


def test_other_values_pass_through_unchanged():
    table = {"a": 1}
    vector = np.arange(3)
    assert glue("t", table) is table and glue("v", vector) is vector


def test_outside_a_kernel_nothing_is_glued(fake_myst_nb):
    assert not book._in_kernel()  # pytest is not a Jupyter kernel
    assert glue("sigma", np.float64(1.5)) == 1.5
    assert fake_myst_nb == []


def test_inside_a_kernel_myst_nb_receives_a_float(fake_myst_nb, monkeypatch):
    monkeypatch.setattr(book, "_in_kernel", lambda: True)
    assert glue("sigma", np.float64(1.5), display=True) == 1.5
    assert fake_myst_nb == [("sigma", 1.5, True)] and type(fake_myst_nb[0][1]) is float
    glue("n", torch.tensor(7))
    assert fake_myst_nb[-1] == ("n", 7, False)


def test_inside_a_kernel_without_myst_nb_is_harmless(monkeypatch):
    monkeypatch.setattr(book, "_in_kernel", lambda: True)
    monkeypatch.setitem(sys.modules, "myst_nb", None)  # import myst_nb now raises ImportError
    assert glue("sigma", np.float64(2.0)) == 2.0


def test_in_kernel_detects_a_kernel(monkeypatch):
    shell = types.SimpleNamespace(kernel=object())
    monkeypatch.setattr("IPython.get_ipython", lambda: shell)
    assert book._in_kernel()
    monkeypatch.setattr("IPython.get_ipython", lambda: types.SimpleNamespace())  # a terminal IPython
    assert not book._in_kernel()


def test_default_device():
    assert default_device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_set_seed_makes_every_generator_repeat():
    import random

    draws = []
    for _ in range(2):
        assert set_seed(123) == 123
        draws.append((random.random(), np.random.rand(), torch.rand(1).item()))
    assert draws[0] == draws[1]


@pytest.mark.parametrize("seed", [-1, 1.5, "0", True, None])
def test_set_seed_validation(seed):
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer; got"):
        set_seed(seed)


# --- error_bound ------------------------------------------------------------------------------

@pytest.mark.parametrize("error, floor, expected", [
    (0.0, 1e-14, 1e-14),
    (2.2e-16, 1e-14, 1e-14),          # two machines' rounding of one computation ...
    (7.1e-16, 1e-14, 1e-14),          # ... give one bound
    (1e-14, 1e-14, 1e-14),
    (1.01e-14, 1e-14, 1e-13),
    (1e-8, 1e-14, 1e-8),              # an exact power of ten is its own bound
    (1e-7, 1e-14, 1e-7),
    (1.0000001e-8, 1e-14, 1e-7),
    (3e-9, 1e-14, 1e-8),
    (0.5, 1e-14, 1.0),
    (7.1e-15, 1e-13, 1e-13),
])
def test_error_bound_is_the_next_power_of_ten_above_the_floor(error, floor, expected):
    assert error_bound(error, floor=floor) == expected


@pytest.mark.parametrize("error", [torch.tensor(3e-15, dtype=torch.float64), np.float64(3e-15), np.array(3e-15)])
def test_error_bound_takes_scalars_of_every_kind(error):
    assert type(error_bound(error)) is float and error_bound(error) == 1e-14


@pytest.mark.parametrize("error, floor, message", [
    (-1e-16, 1e-14, "error must be a finite non-negative number"),
    (float("nan"), 1e-14, "error must be a finite non-negative number"),
    (float("inf"), 1e-14, "error must be a finite non-negative number"),
    (torch.ones(2), 1e-14, "error must be a real number"),
    ("0.1", 1e-14, "error must be a real number"),
    (1e-16, 0.0, "floor must be a positive finite number"),
    (1e-16, float("inf"), "floor must be a positive finite number"),
])
def test_error_bound_rejects_bad_input_by_name(error, floor, message):
    with pytest.raises(ValueError, match=message):
        error_bound(error, floor=floor)
