"""Small helpers for the book's notebooks: glue numbers into the prose, bound rounding-level
differences, pick a device, seed.

Used in every chapter: each number a sentence quotes is computed in a cell and passed to
:func:`glue`, so the prose can never drift from the code.
"""

from __future__ import annotations

import math
import numbers
import random

import numpy as np
import torch


def _in_kernel() -> bool:
    """True inside a running Jupyter kernel (IPython's ``get_ipython().kernel`` exists)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _plain_scalar(value):
    """Turn numpy / torch scalars into Python ``float`` (or ``int``/``bool``); leave the rest as is."""
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value[()]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    return value


def glue(name, value, display=False):
    """Store ``value`` under ``name`` for the book's ``{glue}`` roles; harmless elsewhere.

    Parameters
    ----------
    name : str
        The key the chapter's prose refers to with myst-nb's ``{glue:text}`` role.
    value : object
        What to store. Numeric scalars (Python, numpy or one-element torch tensors) are
        converted first: floating values to ``float``, integers to ``int``, booleans to
        ``bool``, because numpy 2 scalars display as ``np.float64(7.56)`` and would not
        format in the text.
    display : bool, default False
        Also show the value in the cell's output (``myst_nb.glue``'s own ``display``).

    Returns
    -------
    object
        The (converted) value, so ``x = glue("x", compute())`` reads naturally.

    Notes
    -----
    ``myst_nb.glue`` is called only when myst-nb is importable *and* the code runs inside a
    Jupyter kernel (that is, while the book is being executed). In a plain script, a test
    or a doctest nothing is stored and nothing is printed.

    Examples
    --------
    >>> import numpy as np, torch
    >>> glue("sigma_opt", np.sqrt(np.float64(57.25)))
    7.566372975210778
    >>> type(glue("n_steps", torch.tensor(12)))
    <class 'int'>
    >>> glue("sigma_opt", torch.tensor(57.25, dtype=torch.float64).sqrt()) == float(np.sqrt(57.25))
    True
    """
    value = _plain_scalar(value)
    if _in_kernel():
        try:
            from myst_nb import glue as myst_glue
        except ImportError:
            return value
        myst_glue(name, value, display=display)
    return value


def error_bound(error, floor=1e-14):
    """A bound on a rounding-level difference that reads the same on every machine.

    Two CPUs (or a CPU and a GPU) may round the same float64 computation differently in the
    last bits: a difference of 2e-16 on one machine is 7e-16 on another. A sentence that quotes
    such a difference should quote a bound instead, or the page changes with the machine that
    built it. This returns the smallest power of ten at or above ``error``, and at least
    ``floor``; pick ``floor`` ten times or more above the rounding level of the computation.

    Parameters
    ----------
    error : float or one-element tensor or array
        A non-negative difference (its absolute value is not taken for you).
    floor : float, default 1e-14
        The smallest bound returned; positive.

    Returns
    -------
    float
        ``max(floor, 10 ** ceil(log10(error)))``; ``floor`` when ``error`` is 0.

    Raises
    ------
    ValueError
        If ``error`` is negative or not finite, or ``floor`` is not positive and finite.

    Examples
    --------
    >>> error_bound(2.2e-16), error_bound(7e-16), error_bound(0.0)
    (1e-14, 1e-14, 1e-14)
    >>> error_bound(3e-9)
    1e-08
    >>> error_bound(7.1e-15, floor=1e-13)
    1e-13
    """
    value = _plain_scalar(error)
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise ValueError(f"error must be a real number (a float or a one-element tensor or array); got {error!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"error must be a finite non-negative number; got {value!r}")
    if isinstance(floor, bool) or not isinstance(floor, numbers.Real) or not math.isfinite(floor) or floor <= 0:
        raise ValueError(f"floor must be a positive finite number; got {floor!r}")
    if value <= floor:
        return float(floor)
    exponent = math.ceil(math.log10(value))
    if 10.0 ** (exponent - 1) >= value:     # log10 rounded a power of ten up by one
        exponent -= 1
    return float(10.0 ** exponent)


def default_device():
    """The device the book's cells should use: ``"cuda"`` when a GPU is available, else ``"cpu"``.

    Returns
    -------
    str
        ``"cuda"`` or ``"cpu"``.

    Examples
    --------
    >>> import torch
    >>> default_device() == ("cuda" if torch.cuda.is_available() else "cpu")
    True
    """
    return "cuda" if torch.cuda.is_available() else "cpu"


def set_seed(seed):
    """Seed Python's, numpy's and torch's global random generators with one number.

    Parameters
    ----------
    seed : int
        A non-negative integer.

    Returns
    -------
    int
        The seed, so a cell can glue it into the text.

    Raises
    ------
    ValueError
        If ``seed`` is not a non-negative integer.

    Examples
    --------
    >>> import torch
    >>> _ = set_seed(0); a = torch.rand(3)
    >>> _ = set_seed(0); b = torch.rand(3)
    >>> bool(torch.equal(a, b))
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer; got {seed!r}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return seed
