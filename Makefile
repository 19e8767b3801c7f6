# pipeshield: `make demo` and `make test` work on a fresh machine with only Python installed.
# Each target is fast to re-run: the venv is rebuilt only when pyproject.toml changes.

PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check
# torch: the CPU wheel of exactly this version is on local disk; any other version downloads gigabytes.
TORCH  := torch==2.13.0
DEMO_DIR ?= pipeshield-demo

.PHONY: install install-test browser demo test test-slow bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)" >&2; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade "pip>=24" "setuptools>=77" wheel
	$(PIP) install -q $(TORCH)
	$(PIP) install -q --no-build-isolation -e .
	touch $@

install-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) install -q --no-build-isolation -e ".[test]"
	touch $@

# The HTML report test renders in headless Chromium (Debian's package). Installed where missing
# and possible (root with apt-get); elsewhere the browser test skips, except on CI where it fails.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the HTML report test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will skip (or fail on CI)"; \
	  else echo "note: chromium not installed; the browser test will skip (or fail on CI)"; fi; }

demo: install
	$(BIN)/pipeshield demo $(DEMO_DIR)

test: install-test browser
	$(BIN)/python -m pytest -q

test-slow: install-test
	$(BIN)/python -m pytest -q -m slow

bench: install-test
	$(BIN)/python bench/cold_start.py

clean:
	rm -rf $(VENV) pipeshield-demo pipeshield-report .pytest_cache
