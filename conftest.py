"""Every test and doctest leaves the package's global registries as it found them.

``register_closed_form`` (``_closed_forms._REGISTRY``) and the objective registry of the fits
(``_objectives._REGISTRY``, read through ``OBJECTIVES``) are module-level dictionaries: a rule that a
test registers would otherwise change what later tests see.
"""

import pytest

from klcourse import _closed_forms, _objectives


@pytest.fixture(autouse=True)
def _restore_registries():
    saved = [(registry, dict(registry)) for registry in (_closed_forms._REGISTRY, _objectives._REGISTRY)]
    yield
    for registry, contents in saved:
        registry.clear()
        registry.update(contents)
