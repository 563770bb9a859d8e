"""Time a chapter's "Run all" from a fresh kernel and collect what it glues (used by bench_fits.py).

The chapter's MyST source is read with jupytext and executed cell by cell with nbclient in its
own folder, as the book's build does. The clock starts once the kernel is up (a reader presses
"Run all" in a running, fresh kernel) and stops after the last cell.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def run_chapter(path, timeout=1800):
    """Execute the chapter at ``path``: (seconds for all cells, [seconds per code cell], {glue name: text/plain})."""
    import jupytext
    from nbclient import NotebookClient

    path = Path(path).resolve()
    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    cells = []
    with client.setup_kernel():
        t0 = time.perf_counter()
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            c0 = time.perf_counter()
            client.execute_cell(cell, index)
            cells.append(time.perf_counter() - c0)
        total = time.perf_counter() - t0
    glued = {}
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            name = out.get("metadata", {}).get("scrapbook", {}).get("name")
            if name is not None:  # myst-nb stores the value under a prefixed mime type
                glued[name] = next((v for k, v in out.get("data", {}).items() if k.endswith("text/plain")), None)
    return total, cells, glued


if __name__ == "__main__":  # python chapters.py book/en/mode-seeking.md [out.json]
    total, cells, glued = run_chapter(sys.argv[1])
    print(f"{sys.argv[1]}: {total:.2f} s; slowest cells {sorted(cells, reverse=True)[:3]}")
    if len(sys.argv) > 2:
        Path(sys.argv[2]).write_text(json.dumps(dict(total=total, cells=cells, glued=glued), indent=1))
