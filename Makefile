# One entry point for a newcomer: `make run` starts the platform, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_DIR := .tooling/node
CHP := $(NODE_DIR)/node_modules/.bin/configurable-http-proxy
RUN_DIR ?= .run
# uv (the PyPI package, kept in .tooling/uv) installs a virtual environment in seconds where pip
# takes a minute; when it cannot be installed, pip does the work as before.
UV_DIR := .tooling/uv
UV := $(UV_DIR)/bin/uv
UV_STAMP := $(UV_DIR)/.tried-stamp
# uv uses this machine's interpreters only, never one it would download.
export UV_PYTHON_DOWNLOADS := never

.PHONY: venv node test test-compat compat-venvs lint unit contract run lab-early bench clean mutation

venv: $(STAMP)

# Tried once: without uv (no index, an old pip) the environments are installed by pip, and
# `make run` does not try again each time.
$(UV_STAMP):
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install -q --disable-pip-version-check \
		--timeout 30 --retries 2 --target $(UV_DIR) uv \
		|| echo "uv cannot be installed: pip installs the environments"
	mkdir -p $(UV_DIR) && touch $@

# $(call install_env,DIR,PYTHON,REQUIREMENTS): the virtual environment DIR on the interpreter
# PYTHON with REQUIREMENTS installed, by uv when it is there, else by pip. pip is seeded
# either way (`python -m pip` keeps working in the environment).
define install_env
	if test -x $(UV); then \
		{ test -x $(1)/bin/python || $(UV) venv -q --seed --python $(2) $(1); } \
		&& $(UV) pip install -q --python $(1)/bin/python $(3); \
	else \
		{ test -x $(1)/bin/python || $(2) -m venv $(1); } \
		&& $(1)/bin/python -m pip install -q -U pip \
		&& $(1)/bin/python -m pip install -q $(3); \
	fi
endef

# Re-install when the project's dependency list changes.
$(STAMP): pyproject.toml | $(UV_STAMP)
	$(call install_env,$(VENV),$(PYTHON),-e '.[test]')
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

# The suites run side by side (pytest-xdist), one test module per worker at a time so a module's
# hub and labs are its own: most real-stack tests wait on labs, hubs and timers, so three workers
# share two cores well (a 2-core machine: 8 minutes instead of 19). TEST_WORKERS=0: one process.
TEST_WORKERS ?= 3
PYTEST_PARALLEL = -n $(TEST_WORKERS) --dist loadfile

# Everything: lint, architecture contracts, unit, contract, integration and end-to-end tests.
test: lint node
	$(BIN)/pytest $(PYTEST_PARALLEL)

# CI's second pass: the hub tests on the newest JupyterHub 5.x (the main venv has 6.x), and the
# unit suite on the oldest Python the package supports.
JH5_VENV := .venv-jh5
COMMA := ,
PY310_VENV := .venv-py310
# pyenv's shim for python3.10 exists even when no 3.10 is selected, so probe each candidate.
PYTHON310 ?= $(firstword $(foreach candidate,$(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10) \
	$(shell command -v python3.10 2>/dev/null),$(shell $(candidate) -c 'print("$(candidate)")' 2>/dev/null)))

$(JH5_VENV)/.installed-stamp: pyproject.toml | $(UV_STAMP)
	$(call install_env,$(JH5_VENV),$(PYTHON),-e '.[test]' 'jupyterhub>=5$(COMMA)<6')
	touch $@

$(PY310_VENV)/.installed-stamp: pyproject.toml | $(UV_STAMP)
	@test -n "$(PYTHON310)" || { echo "python3.10 not found (pyenv install 3.10)"; exit 1; }
	$(call install_env,$(PY310_VENV),$(PYTHON310),-e '.[test]')
	touch $@

compat-venvs: $(JH5_VENV)/.installed-stamp $(PY310_VENV)/.installed-stamp

test-compat: node compat-venvs
	$(JH5_VENV)/bin/python -c 'import jupyterhub; print("JupyterHub", jupyterhub.__version__)'
	$(JH5_VENV)/bin/pytest $(PYTEST_PARALLEL) -m "hub and not browser and not packaging"
	$(PY310_VENV)/bin/python --version
	$(PY310_VENV)/bin/pytest $(PYTEST_PARALLEL) tests/unit

# Start the platform on its embedded defaults (SQLite under $(RUN_DIR), proxy on 127.0.0.1:8000,
# user servers in Docker with the project's lab image, built offline if needed; local processes
# without Docker). Open http://127.0.0.1:8000 and log in as the admin (default: admin) with the
# password printed on the first start (kept in $(RUN_DIR)/admin-password), or set
# JUPYTERHUB_ADMIN_PASSWORD first. tooling/run.py prints each decision it makes.
# On a first start the lab image builds in the background while the venv and the node tools
# install (its build needs only JupyterHub's version and the Docker client, from a throwaway uv
# environment); tooling/run.py then finds the image, or waits for that build under its lock.
LAB_BUILD_REQUIREMENTS := $(shell sed -n '/^dependencies = \[/,/^\]/s/^ *"\(\(jupyterhub\|docker\)[<>=!~,.0-9 ]*\)",.*/\1/p' pyproject.toml)
lab-early: $(UV_STAMP)
	@if test -x $(UV) && test ! -f $(STAMP) && command -v mmdebstrap >/dev/null; then \
		mkdir -p $(RUN_DIR); \
		echo "[make run] the lab image builds while the tools install ($(RUN_DIR)/lab-build.log)"; \
		$(UV) run -q --no-project --python $(PYTHON) \
			$(foreach requirement,$(LAB_BUILD_REQUIREMENTS),--with '$(requirement)') \
			python -m tooling.images lab >$(RUN_DIR)/lab-build.log 2>&1 & \
	fi

# `exec`: make's child is tooling/run.py itself, which handles Ctrl-C and SIGTERM by stopping
# the hub; a shell in between would die at SIGTERM and leave the hub running on its own.
run: lab-early venv node
	exec env RUN_DIR=$(RUN_DIR) $(BIN)/python -m tooling.run

bench: venv
	$(BIN)/python bench/activity.py
	$(BIN)/python bench/docker_stats.py
	$(BIN)/python bench/restart_reset.py
	$(BIN)/python bench/activity_api.py
	$(BIN)/python bench/broadcast.py
	$(BIN)/python bench/passphrases.py
	$(BIN)/python bench/logins.py
	$(BIN)/python bench/gpu_allocation.py
	$(BIN)/python bench/policies.py
	$(BIN)/python bench/policies.py --skip-resolution --hub-loop-realtime
	$(BIN)/python bench/audit.py
	$(BIN)/python bench/activity_scale.py
	$(BIN)/python bench/docker_scale.py
	$(BIN)/python bench/broadcast.py --servers 200 --bar 1 --concurrency 50 --baseline
	$(BIN)/python bench/broadcast_swarm.py --concurrency 50
	$(BIN)/python bench/swarm_spawn.py
	$(BIN)/python bench/node_sampler.py

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
