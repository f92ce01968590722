# The two commands of the README. Everything they need is installed here, into .venv, from the package index.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
PYTEST_ARGS ?=
# One test process per core (pytest-xdist); each has its own databases, cloned from its own template.
PYTEST_WORKERS ?= -n auto --dist worksteal

CHROMIUM ?= /usr/bin/chromium

.PHONY: run test install browser clean

run: $(STAMP)
	$(BIN)/ventanilla serve --host $(HOST) --port $(PORT)

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_WORKERS) $(PYTEST_ARGS)

install: $(STAMP) browser

# The browser tests drive Debian's Chromium (never a downloaded browser). Installed here when we are root on a
# machine with apt-get; otherwise those tests fail and say how to install it.
browser:
	@test -x $(CHROMIUM) || { \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			echo "installing Chromium for the browser tests (apt-get install chromium)"; \
			(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
				|| echo "warning: could not install chromium; the browser tests will fail"; \
		else \
			echo "warning: $(CHROMIUM) is missing and cannot be installed here (needs root and apt-get);" \
				"the browser tests will fail until Chromium is installed"; \
		fi; \
	}

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Ventanilla needs Python 3.11 or newer on PATH"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,ocr]'
	touch $@

clean:
	rm -rf $(VENV) .pytest_cache
