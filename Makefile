# Two entry points, both self-installing on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit install bench clean test-deploy up

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy toloka_provider
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/python dags_examples/demo/run_demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# A real, distributed Airflow (Postgres, Redis, Celery x2, moto S3, a browser) and the embedded one (Ctrl-C stops).
# Both install what they need (apt + their own venv .deploy/venv); see deploy/run_deploy.py.
test-deploy:
	$(PYTHON) deploy/run_deploy.py test

up:
	$(PYTHON) deploy/run_deploy.py up

clean:
	rm -rf $(VENV) airflow_home .pytest_cache .ruff_cache
