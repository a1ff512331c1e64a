# afterhours — `make help` lists the targets.
SHELL := /bin/bash
PY310 := $(shell pyenv prefix 3.10.13 2>/dev/null)/bin/python3.10
VENV := .venv
BIN := $(VENV)/bin
export RASA_TELEMETRY_ENABLED := false
export UV_PYTHON_DOWNLOADS := never
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: help setup lock up model train demo run test test-fast lint validate rasa-test heldout evaluate clean chromium nginx

help: ## show this help
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

setup: $(BIN)/afterhours ## install uv and the environment (Python 3.10) from requirements.lock

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (as on these machines) every start
# would otherwise compile Rasa's and TensorFlow's sources again (rasa run ready 17.7 -> 7.1 s).
$(BIN)/afterhours: requirements.lock pyproject.toml
	@command -v uv >/dev/null || python3 -m pip install --quiet uv
	@test -x "$(PY310)" || { echo "Python 3.10 not found (pyenv prefix 3.10.13)"; exit 1; }
	uv venv --quiet --allow-existing -p "$(PY310)" $(VENV)
	uv pip install --quiet --compile-bytecode -p $(BIN)/python -r requirements.lock
	uv pip install --quiet -p $(BIN)/python --no-deps -e .
	@touch $@

lock: ## re-resolve requirements.lock from pyproject.toml (exact pins, no addresses)
	uv pip compile --quiet -p "$(PY310)" pyproject.toml --extra dev -o requirements.lock

model: setup ## train the model if models/ has none
	@ls models/*.tar.gz >/dev/null 2>&1 || $(BIN)/afterhours train

train: setup ## train the model (always)
	$(BIN)/afterhours train --force

demo: model ## replay the shipped night through the real pipeline
	$(BIN)/afterhours demo

up: demo ## set up, train if needed, show the demo night, then run the product (Ctrl-C stops)
	$(BIN)/afterhours desk first-account
	$(BIN)/afterhours run

run: model ## run the Rasa server, the action server and the scheduler
	$(BIN)/afterhours run

# Debian's chromium drives the desk's browser tests (Playwright, executable_path=/usr/bin/chromium).
CHROMIUM := /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium: ## install Debian's chromium for the desk's browser tests, if it is missing
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }

# The shipped reverse proxy (deploy/nginx/afterhours.conf) is tested with Debian's nginx.
NGINX := /usr/sbin/nginx

nginx: ## install Debian's nginx for the reverse-proxy test, if it is missing
	@test -x $(NGINX) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y nginx-light; }

# The gates run first, in this order, and stop the run: lint (ruff, mypy), then Rasa's own check
# of domain, data and config, then the tests.
test: setup chromium nginx lint validate ## ruff, mypy, rasa data validate, then the whole suite (what CI runs)
	$(BIN)/pytest -q

test-fast: setup ## the suite without the slow (model-training) tests
	$(BIN)/pytest -q -m "not slow"

heldout: model ## replay the held-out set and print the quality report
	$(BIN)/python -m tests.heldout.evaluate --set tests/heldout --set tests/heldout_night

# The model of the data as it is now (Rasa's training cache makes an unchanged config and data
# quick), scored against the shipped reference figures; exit 1 when it is worse (what CI runs).
EVAL_MODEL_DIR ?= var/evaluate/model
evaluate: setup ## train the current data, score it against benchmarks/reference.json (exit 1 if worse)
	$(BIN)/afterhours train --out $(EVAL_MODEL_DIR) --name candidate
	$(BIN)/afterhours evaluate --model $(EVAL_MODEL_DIR)/candidate.tar.gz --reference benchmarks/reference.json

lint: setup ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/mypy afterhours bot actions handoff desk

validate: setup ## rasa data validate --fail-on-warnings (domain.yml, data/, config.yml)
	$(BIN)/rasa data validate --fail-on-warnings

# Rasa's conversation tests (tests/test_stories.yml), end to end: the model's NLU reads each message
# and must find the story's intent, then the policies must predict its actions. The night brand's
# desk is (almost) never open, so the result does not depend on the time it runs at.
# RASA_TEST_MODEL=file skips the training (the suite passes the model its slow tests trained:
# tests/test_rasa_test.py).
RASA_TEST_MODEL ?=
RASA_TEST_OUT ?= var/rasa-test
rasa-test: $(if $(RASA_TEST_MODEL),,model) ## rasa test on tests/test_stories.yml (RASA_TEST_MODEL=, else models/)
	AFTERHOURS_BRAND=afterhours/bench/brand_night.yml $(BIN)/rasa test core --e2e --fail-on-prediction-errors \
		--no-plot --stories tests/test_stories.yml --out $(RASA_TEST_OUT) --model $(or $(RASA_TEST_MODEL),models)

clean: ## remove runtime data (var/) and trained models
	rm -rf var models
