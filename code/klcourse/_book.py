"""Small helpers for the book's notebooks: glue numbers into the prose, pick a device, seed.

Used in every chapter: each number a sentence quotes is computed in a cell and passed to
:func:`glue`, so the prose can never drift from the code.
"""

from __future__ import annotations

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
