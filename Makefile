# PyDialer: `make run` starts the whole suite on embedded engines; `make test` runs every test.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-fast bench lint typecheck install sysdeps clean

$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "PyDialer needs Python 3.11+"'
	@bash scripts/system-deps.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

sysdeps:
	@bash scripts/system-deps.sh

run: install sysdeps
	$(PY) -m core.supervisor

test: install sysdeps
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow and not browser"

bench: install sysdeps
	$(PY) -m bench

lint: install
	$(PY) -m ruff check .

typecheck: install
	$(PY) -m mypy core dialer telephony media analytics app

clean:
	rm -rf var test-artifacts
