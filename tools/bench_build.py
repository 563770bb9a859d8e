"""The build figures of issue 11, measured in one run (``make bench`` runs this after the fits):

* a clean build of both editions: ``make clean`` then ``make book`` (the virtual environment and
  MathJax for Node present), wall and CPU seconds, and where the time went: the two editions'
  Sphinx builds run side by side, each executing its chapters (seconds per chapter, from the
  build's log) and then writing its pages; the steps of ``make book`` before and after them
  (set-up cells, exercise index, Colab notebooks) run alone;
* ``make student`` right after it;
* the heaviest page on a cold load, in KiB, from the browser suite's page-weight walk
  (``tests/browser``, the same definition the test checks: response bodies, lazy images loaded).

CPU seconds are user + system time of everything the command ran; with the load average they
say how much of the wall time was this build's own work on a busy machine.

    python tools/bench_build.py            # all three
    python tools/bench_build.py --no-clean # keep _build: skip the clean build
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import build_book  # noqa: E402  (tools/build_book.py)

GOALS = {"clean build (make clean; make book)": 30.0, "make student after make book": 15.0}
PAGE_GOAL_KIB = 1_500
WEIGHTS = ROOT / "_build" / "page-weights.txt"


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd`` in the repository; return (wall seconds, CPU seconds of it and its children,
    its output)."""
    before = os.times()
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.perf_counter() - start
    after = os.times()
    if done.returncode != 0:
        print(done.stdout[-4000:], file=sys.stderr)
        raise SystemExit(f"bench_build: {' '.join(cmd)} failed")
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, done.stdout


# what `make book` and `make student` do before and after the editions' Sphinx builds
OUTSIDE_STEPS = {"html": "set-up cells, exercise index, Colab notebooks, copying the pages",
                 "student": "removing the solutions, reusing the reader edition's outputs, copying the pages"}
BUILT = re.compile(r"^\[(\w+)\] built in ([0-9.]+) s", re.M)


def breakdown(output: str, wall: float, kind: str = "html") -> list[str]:
    """Where a build's wall time went: each edition's Sphinx build (its chapters' execution,
    page by page, and the rest), and the steps of the make target outside those builds."""
    editions = {lang: float(seconds) for lang, seconds in BUILT.findall(output)}
    if not editions:
        return []
    lines = []
    for lang, seconds in editions.items():
        executed = build_book.executed_seconds(
            (ROOT / "_build" / "editions" / f"{kind}-{lang}" / "build.log").read_text(encoding="utf-8"))
        pages = ", ".join(f"{page} {t:.1f}" for page, t in sorted(executed.items(), key=lambda kv: -kv[1]))
        run = sum(executed.values())
        lines.append(f"  [{lang}] Sphinx build {seconds:6.1f} s = executing {run:5.1f} s"
                     f"{' (' + pages + ')' if pages else ''} + the rest {seconds - run:5.1f} s")
    steps = OUTSIDE_STEPS[kind]
    lines.append(f"  outside the Sphinx builds (run alone): {wall - max(editions.values()):5.1f} s ({steps})")
    return lines


def heaviest_page() -> tuple[str, float]:
    """Run the browser suite's page-weight walk; return the heaviest page and its KiB."""
    WEIGHTS.unlink(missing_ok=True)
    subprocess.run([sys.executable, "-m", "pytest", "tests/browser", "-k", "test_page_weight", "-q",
                    "-p", "no:cacheprovider"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not WEIGHTS.exists():
        raise SystemExit("bench_build: the page-weight walk wrote no table (is Chromium installed?)")
    row = next(line for line in WEIGHTS.read_text(encoding="utf-8").splitlines()[3:] if line.strip())
    page, *_, total = row.split()
    return page, float(total.replace(",", ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-clean", action="store_true", help="do not run the clean build")
    args = parser.parse_args(argv)
    make = ["make", "--no-print-directory"]
    rows, details = [], {}
    load = os.getloadavg()[0]
    if not args.no_clean:
        subprocess.run([*make, "clean"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        name = "clean build (make clean; make book)"
        wall, cpu, output = timed([*make, "book"])
        rows.append((name, wall, cpu))
        details[name] = breakdown(output, wall)
    name = "make student after make book"
    wall, cpu, output = timed([*make, "student"])
    rows.append((name, wall, cpu))
    details[name] = breakdown(output, wall, kind="student")
    page, kib = heaviest_page()
    load_after = os.getloadavg()[0]

    print(f"\nBuild figures (load average {load:.1f} at the start, {load_after:.1f} at the end, "
          f"{os.cpu_count()} cores)")
    print(f"{'figure':<40} {'wall s':>8} {'CPU s':>8} {'goal':>10}")
    for name, wall, cpu in rows:
        print(f"{name:<40} {wall:8.1f} {cpu:8.1f} {'<= ' + format(GOALS[name], '.0f') + ' s':>10}")
        for line in details.get(name, []):
            print(line)
    print(f"{'heaviest page, cold load: ' + page:<40} {kib:8,.0f} KiB {'':>3} {'<= ' + format(PAGE_GOAL_KIB, ',') + ' KiB':>10}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
