# One entry point for a newcomer: `make run` starts the platform, `make test` runs every check.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
NODE_DIR := .tooling/node
CHP := $(NODE_DIR)/node_modules/.bin/configurable-http-proxy
RUN_DIR ?= .run

.PHONY: venv node test lint unit contract run bench clean

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
	$(BIN)/ruff check src tests bench deploy
	$(BIN)/ruff format --check src tests bench deploy
	$(BIN)/lint-imports

unit: venv
	$(BIN)/pytest tests/unit

contract: venv
	$(BIN)/pytest tests/contract

# Everything: lint, architecture contracts, unit, contract, integration and end-to-end tests.
test: lint node
	$(BIN)/pytest

# The hub listens where user containers on Docker's default bridge can reach it.
DOCKER_GATEWAY ?= $(shell ip -4 -o addr show docker0 2>/dev/null | awk '{print $$4}' | cut -d/ -f1)
HUB_BIND_URL ?= http://$(or $(DOCKER_GATEWAY),127.0.0.1):8081

# Start the platform on its embedded defaults (SQLite under $(RUN_DIR), hub on this machine,
# user servers in Docker). Open http://127.0.0.1:8000 and sign up as the admin (default: admin).
run: venv node
	mkdir -p $(RUN_DIR)
	cd $(RUN_DIR) && STELLARS_CHP=$(abspath $(CHP)) JUPYTERHUB_HUB_BIND_URL=$(HUB_BIND_URL) \
		$(abspath $(BIN))/jupyterhub -f $(abspath deploy/jupyterhub_config.py)

bench: venv
	$(BIN)/python bench/activity.py
	$(BIN)/python bench/docker_stats.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .import_linter_cache
