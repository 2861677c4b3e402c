# One entry point for a newcomer: `make run` starts the platform, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_DIR := .tooling/node
CHP := $(NODE_DIR)/node_modules/.bin/configurable-http-proxy
RUN_DIR ?= .run

.PHONY: venv node test test-compat lint unit contract run bench clean mutation

venv: $(STAMP)

# Re-install when the project's dependency list changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q -U pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# configurable-http-proxy (and playwright-core for browser tests), from npm, kept in the repo.
node: $(CHP)

$(CHP):
	mkdir -p $(NODE_DIR)
	cd $(NODE_DIR) && { test -f package.json || npm init -y >/dev/null; } \
		&& npm install --silent --no-audit --no-fund configurable-http-proxy@^5 playwright-core@^1

lint: venv
	$(BIN)/ruff check src tests bench deploy tooling
	$(BIN)/ruff format --check src tests bench deploy tooling
	$(BIN)/lint-imports
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit

contract: venv
	$(BIN)/pytest tests/contract

# Everything: lint, architecture contracts, unit, contract, integration and end-to-end tests.
test: lint node
	$(BIN)/pytest

# CI's second pass: the hub tests on the newest JupyterHub 5.x (the main venv has 6.x), and the
# unit suite on the oldest Python the package supports.
JH5_VENV := .venv-jh5
PY310_VENV := .venv-py310
# pyenv's shim for python3.10 exists even when no 3.10 is selected, so probe each candidate.
PYTHON310 ?= $(firstword $(foreach candidate,$(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) \
	$(shell command -v python3.10 2>/dev/null),$(shell $(candidate) -c 'print("$(candidate)")' 2>/dev/null)))

$(JH5_VENV)/.installed-stamp: pyproject.toml
	test -x $(JH5_VENV)/bin/python || $(PYTHON) -m venv $(JH5_VENV)
	$(JH5_VENV)/bin/python -m pip install -q -U pip
	$(JH5_VENV)/bin/python -m pip install -q -e '.[test]' 'jupyterhub>=5,<6'
	touch $@

$(PY310_VENV)/.installed-stamp: pyproject.toml
	@test -n "$(PYTHON310)" || { echo "python3.10 not found (pyenv install 3.10)"; exit 1; }
	test -x $(PY310_VENV)/bin/python || $(PYTHON310) -m venv $(PY310_VENV)
	$(PY310_VENV)/bin/python -m pip install -q -U pip
	$(PY310_VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

test-compat: node $(JH5_VENV)/.installed-stamp $(PY310_VENV)/.installed-stamp
	$(JH5_VENV)/bin/python -c 'import jupyterhub; print("JupyterHub", jupyterhub.__version__)'
	$(JH5_VENV)/bin/pytest -m "hub and not browser and not packaging"
	$(PY310_VENV)/bin/python --version
	$(PY310_VENV)/bin/pytest tests/unit

# Start the platform on its embedded defaults (SQLite under $(RUN_DIR), proxy on 127.0.0.1:8000,
# user servers in Docker with the project's lab image, built offline if needed; local processes
# without Docker). Open http://127.0.0.1:8000 and sign up as the admin (default: admin), or set
# JUPYTERHUB_ADMIN_PASSWORD first. tooling/run.py prints each decision it makes.
run: venv node
	RUN_DIR=$(RUN_DIR) $(BIN)/python -m tooling.run

bench: venv
	$(BIN)/python bench/activity.py
	$(BIN)/python bench/docker_stats.py
	$(BIN)/python bench/restart_reset.py
	$(BIN)/python bench/activity_api.py
	$(BIN)/python bench/broadcast.py
	$(BIN)/python bench/passphrases.py
	$(BIN)/python bench/logins.py

# Mutation testing of the domain with mutmut (slow, never part of `make test`): every mutant of
# src/stellars/domain is run against tests/unit. Results and survivors: docs/mutation.md.
MUTATION_JOBS ?= $(shell nproc 2>/dev/null || echo 2)

mutation: venv
	$(BIN)/python -m pip install -q -e '.[dev]'
	STELLARS_HYPOTHESIS_PROFILE=mutation $(BIN)/mutmut run --max-children $(MUTATION_JOBS)
	$(BIN)/mutmut results

clean:
	rm -rf $(VENV) $(JH5_VENV) $(PY310_VENV) .pytest_cache .ruff_cache .hypothesis \
		.import_linter_cache .mypy_cache .artifacts
