# The two commands a new user needs: `make app` and `make test`. Both do all the set-up first.
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE ?= 1
export GRADIO_ANALYTICS_ENABLED := False
# A shuffled order (pytest-randomly), so a test that leans on an earlier one fails. The seed is fixed so that a CI
# failure replays exactly; the order still changes whenever a test is added or removed. PYTEST_ARGS= draws a new
# seed; PYTEST_ARGS="-p no:randomly" runs in file order.
PYTEST_ARGS ?= -p randomly --randomly-seed=4242

.PHONY: setup app test docs docs-serve wheel-smoke lint format templates benchmarks

setup:
	@bash scripts/setup.sh

app: setup
	$(VENV)/bin/fnsft-app $(ARGS)

test: setup
	@bash scripts/setup_browser.sh
	$(VENV)/bin/ruff check fnsft tests benchmarks scripts app.py
	$(VENV)/bin/ruff format --check fnsft tests benchmarks scripts app.py
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet --site-dir $$(mktemp -d)
	$(PY) -m pytest -q -ra $(PYTEST_ARGS)
	@bash scripts/wheel_smoke.sh

docs: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: setup
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

wheel-smoke:
	@bash scripts/wheel_smoke.sh

lint: setup
	$(VENV)/bin/ruff check --fix fnsft tests benchmarks scripts app.py
	$(VENV)/bin/ruff format fnsft tests benchmarks scripts app.py

templates: setup
	$(VENV)/bin/fnsft-build-templates

benchmarks: setup
	$(PY) -m benchmarks $(ARGS)
