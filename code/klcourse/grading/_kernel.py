"""The kernel a submission runs in: ipykernel under resource limits.

Started by the grader as ``python -m klcourse.grading._kernel -f CONNECTION_FILE``. Before the
kernel starts it caps its own address space (``RLIMIT_AS``, from the environment variable
``KLCOURSE_GRADE_MEMORY`` in bytes), the size of any file it writes (``RLIMIT_FSIZE``) and core
dumps; the limits are inherited by anything the notebook starts. The package is already
imported at this point, so the cap bounds what the learner's code allocates on top of it.
"""

from __future__ import annotations

import os
import resource

FILE_SIZE_LIMIT = 1 << 30  # 1 GiB: no single file written by a submission grows larger


def _cap(kind: int, value: int) -> None:
    """Lower a soft and hard limit (never raise one that is already lower)."""
    soft, hard = resource.getrlimit(kind)
    new = value if hard == resource.RLIM_INFINITY else min(value, hard)
    resource.setrlimit(kind, (new, new))


def main() -> None:
    memory = int(os.environ.pop("KLCOURSE_GRADE_MEMORY", "0") or 0)
    if memory > 0:
        _cap(resource.RLIMIT_AS, memory)
    _cap(resource.RLIMIT_FSIZE, FILE_SIZE_LIMIT)
    _cap(resource.RLIMIT_CORE, 0)
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
