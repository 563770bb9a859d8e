# The whole workflow. Set-up is two commands: `make book` and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# MathJax in Node typesets the math at build time (book/_ext/prerender_math.py); its version is
# pinned in tools/mathjax/package-lock.json.
MATHJAX := tools/mathjax/node_modules/.package-lock.json
# Test-only JavaScript for the browser tests (tests/browser), fetched from npm into _build/vendor:
# axe-core (accessibility checks) and thebe (stands in for the CDN copy that Live Code loads;
# the registry no longer has sphinx-thebe's thebe 0.8.2, so the tests serve 0.9).
AXE_VERSION := 4.14.1
AXE := _build/vendor/axe-core/axe.min.js
THEBE_VERSION := 0.9.2
THEBE := _build/vendor/thebe/lib/index.js
PORT   ?= 8000
# pip prints one harmless line per local package index it cannot find; keep the log readable
QUIET_PIP := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: help book test test-fast notebooks student bench lock serve clean distclean

help:
	@echo "make book       build both editions into _build/html (creates .venv on first run)"
	@echo "make test       build, then run every test: library, notebooks, book, browser"
	@echo "make test-fast  library tests only (no build, no browser, no notebook grading)"
	@echo "make notebooks  regenerate the Colab notebooks from the pages and the build (and the exercise index)"
	@echo "make student    student edition without solutions into _build/student"
	@echo "make bench      every figure of issue 11: fits, chapter run times, build times, page weight"
	@echo "make lock       refresh constraints.txt (exact versions of the whole toolchain) to the newest releases"
	@echo "make serve      serve _build/html on http://localhost:$(PORT)"
	@echo "make clean      remove _build"

# --- environment -----------------------------------------------------------------------
# Every package is installed at the version constraints.txt pins (`make lock` refreshes the pins).
$(STAMP): requirements.txt constraints.txt code/pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q "pip==$$(sed -n 's/^pip==//p' constraints.txt)" 2>&1 | $(QUIET_PIP)
	$(PY) -m pip install -q -r requirements.txt -c constraints.txt 2>&1 | $(QUIET_PIP)
	$(PY) -m pip install -q -e "code[grade]" -c constraints.txt 2>&1 | $(QUIET_PIP)
	$(PY) -c "import klcourse, torch, jupyter_book" 
	touch $@

# MathJax for Node, exactly as the lock file says; its fonts are served with the site.
$(MATHJAX): tools/mathjax/package.json tools/mathjax/package-lock.json
	npm ci --prefix tools/mathjax --silent --no-audit --no-fund

# --- the book --------------------------------------------------------------------------
book: $(STAMP) $(MATHJAX)
	$(PY) tools/notebooks.py sync
	$(PY) tools/exercises.py write
	$(PY) tools/build_book.py
	$(PY) tools/notebooks.py write

# The Colab notebooks are written from the executed build (its numbers, anchors and
# exercise numbers), so they are the last step of `make book` (cached: quick when nothing changed).
notebooks: book

student: $(STAMP) $(MATHJAX)
	$(PY) tools/build_book.py --student

serve:
	@echo "Serving _build/html on http://localhost:$(PORT)/ (Ctrl-C to stop)"
	$(PY) -m http.server $(PORT) --bind 127.0.0.1 --directory _build/html

# --- checks ----------------------------------------------------------------------------
test: book student $(AXE) $(THEBE)
	$(PY) -m pytest

# npm pack prints the tarball's name; unpack it into its own folder
$(AXE):
	rm -rf _build/vendor/axe-core && mkdir -p _build/vendor/axe-core
	cd _build/vendor && tgz=$$(npm pack --silent axe-core@$(AXE_VERSION)) && tar xzf $$tgz -C axe-core --strip-components=1 && rm $$tgz

$(THEBE):
	rm -rf _build/vendor/thebe && mkdir -p _build/vendor/thebe
	cd _build/vendor && tgz=$$(npm pack --silent thebe@$(THEBE_VERSION)) && tar xzf $$tgz -C thebe --strip-components=1 && rm $$tgz

test-fast: $(STAMP)
	$(PY) -m pytest tests -m "not build and not browser and not slow"

# Every figure of issue 11's table in one run: the fits and chapters (bench_fits.py), then the
# clean build, the student edition and the heaviest page (bench_build.py: it runs `make clean`).
bench: $(STAMP) $(MATHJAX)
	$(PY) code/bench/bench_fits.py
	$(PY) tools/bench_build.py

# Refresh the pins to the newest releases requirements.txt allows, in a throw-away environment:
# constraints.txt, binder/requirements.txt and tools/mathjax/package-lock.json. Then `make test`
# and commit them. (.github/workflows/newest.yml does this every week.)
LOCK_VENV := _build/lock-venv
lock:
	rm -rf $(LOCK_VENV) && python3 -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --upgrade pip 2>&1 | $(QUIET_PIP)
	$(LOCK_VENV)/bin/pip install -q -r requirements.txt 2>&1 | $(QUIET_PIP)
	$(LOCK_VENV)/bin/pip install -q -e "code[grade]" 2>&1 | $(QUIET_PIP)
	$(LOCK_VENV)/bin/pip freeze --all --exclude-editable | $(LOCK_VENV)/bin/python tools/lock.py
	cd tools/mathjax && npm install --package-lock-only --silent --no-audit --no-fund
	rm -rf $(LOCK_VENV)

clean:
	rm -rf _build

distclean: clean
	rm -rf $(VENV) book/_static/mathjax tools/mathjax/node_modules
