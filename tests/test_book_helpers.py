"""Tests of klcourse._book: glue, default_device, set_seed."""

import sys
import types

import numpy as np
import pytest
import torch

import klcourse._book as book
from klcourse import default_device, glue, set_seed


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
