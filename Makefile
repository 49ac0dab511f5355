# Two entry points, both self-installing on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint unit install bench clean test-deploy test-deploy-faults up docs release

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .

# The suite runs on this many pytest-xdist workers (each its own Airflow home and emulators); 1 = one process.
PYTEST_WORKERS ?= 2
PYTEST_PARALLEL = $(if $(filter 1,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS))

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy toloka_provider
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q $(PYTEST_PARALLEL) --durations=15

demo: $(STAMP)
	$(BIN)/python dags_examples/demo/run_demo.py

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

# A real, distributed Airflow (Postgres, Redis, Celery x2, moto S3, a browser) and the embedded one (Ctrl-C stops).
# Both install what they need (apt + their own venv .deploy/venv); see deploy/run_deploy.py.
test-deploy:
	$(PYTHON) deploy/run_deploy.py test

# The quality-control example on the same kind of stack under Toloka faults, killed workers and restarted
# Postgres / Redis / scheduler: every effect exactly once (deploy/faults.py).
test-deploy-faults:
	$(PYTHON) deploy/faults.py

up:
	$(PYTHON) deploy/run_deploy.py up

clean:
	rm -rf $(VENV) airflow_home .pytest_cache .ruff_cache

# -- Support range (README "Support range") -------------------------------------------------------------
.PHONY: test-matrix test-matrix-oldest test-matrix-newest matrix-install package-check

# test-matrix: the whole suite in side virtualenvs for the oldest supported pair (Python 3.10 + the latest
# Airflow 3.2.x) and the newest (Python 3.13 + the latest Airflow 3.3.x). Each venv is cached under .matrix/
# and rebuilt when pyproject.toml or the matrix constraints change. The provider is installed editable, so
# the venvs test this checkout as it is (no reinstall after a code change) and its entry points are
# registered as a user's install registers them.
# Interpreters: a pyenv-style install (PYENV_ROOT/versions/3.X.*), else python3.X on PATH; override with
# MATRIX_PY310=/path/to/python3.10 (same for 313). Nothing is downloaded.
PYENV_ROOT ?= $(HOME)/.pyenv
matrix_python = $(or $(lastword $(sort $(wildcard $(PYENV_ROOT)/versions/$(1).*/bin/python$(1)))),$(shell command -v python$(1) 2>/dev/null))
MATRIX_PY310 ?= $(call matrix_python,3.10)
MATRIX_PY313 ?= $(call matrix_python,3.13)
MATRIX := .matrix
MATRIX_OLD := $(MATRIX)/py3.10-airflow3.2
MATRIX_NEW := $(MATRIX)/py3.13-airflow3.3
MATRIX_CONSTRAINTS := constraints/matrix-airflow-3.2.txt
# Lean runs (.ci/run must stay well inside CI's time): quiet, no cache, stop at the first failure.
MATRIX_PYTEST ?= -q -p no:cacheprovider -x $(PYTEST_PARALLEL)

# $(1) venv, $(2) interpreter, $(3) Airflow requirement, $(4) more pip arguments. Prints how long it took.
define matrix_install
	@test -n "$(2)" || { echo "test-matrix: no python for $(1): set MATRIX_PY310 / MATRIX_PY313"; exit 1; }
	@start=$$(date +%s); echo "test-matrix: building $(1) with $(2)"; \
	rm -rf $(1) && $(2) -m venv $(1) \
	&& $(1)/bin/python -m pip install -qq --upgrade pip \
	&& $(1)/bin/python -m pip install -qq -e '.[dev]' '$(3)' $(4) \
	&& touch $(1)/.installed \
	&& echo "test-matrix: $(1) installed in $$(( $$(date +%s) - start )) s"
endef

define matrix_run
	@$(1)/bin/python -c "import sys, airflow; print('test-matrix: $(1): Python', sys.version.split()[0], '+ Airflow', airflow.__version__)"
	@start=$$(date +%s); $(1)/bin/python -m pytest $(MATRIX_PYTEST); rc=$$?; \
	echo "test-matrix: $(1): pytest exit $$rc in $$(( $$(date +%s) - start )) s"; exit $$rc
endef

$(MATRIX_OLD)/.installed: pyproject.toml $(MATRIX_CONSTRAINTS)
	$(call matrix_install,$(MATRIX_OLD),$(MATRIX_PY310),apache-airflow~=3.2.0,-c $(MATRIX_CONSTRAINTS))

$(MATRIX_NEW)/.installed: pyproject.toml
	$(call matrix_install,$(MATRIX_NEW),$(MATRIX_PY313),apache-airflow~=3.3.0,)

matrix-install: $(MATRIX_OLD)/.installed $(MATRIX_NEW)/.installed

# One pair each (make -j2 test-matrix runs both at once, on a machine with the cores for it).
test-matrix-oldest: $(MATRIX_OLD)/.installed
	$(call matrix_run,$(MATRIX_OLD))

test-matrix-newest: $(MATRIX_NEW)/.installed
	$(call matrix_run,$(MATRIX_NEW))

test-matrix: test-matrix-oldest test-matrix-newest

# test-deploy-oldest: metrics and the pool-closed watcher on a real Airflow 3.2 (SQLite, LocalExecutor, separate
# scheduler, dag-processor, triggerer and api-server, the emulator, a StatsD receiver on 127.0.0.1), in the
# oldest pair's venv (deploy/oldest.py).
.PHONY: test-deploy-oldest
test-deploy-oldest: $(MATRIX_OLD)/.installed
	$(MATRIX_OLD)/bin/python deploy/oldest.py

# package-check: build the sdist and the wheel as a release does (isolated build), run the packaging tests on
# them (contents, metadata, long description, twine check --strict, check-wheel-contents), and show that pip's
# resolver refuses the wheel next to Airflow 3.1 (--dry-run resolves against the package index, installs
# nothing; --ignore-installed: as into a fresh venv).
PACKAGE_DIST := dist/package-check
package-check: $(STAMP)
	rm -rf $(PACKAGE_DIST) dist/package-check.log && mkdir -p dist
	$(BIN)/python -m build --outdir $(PACKAGE_DIST) . > dist/package-check.log 2>&1 \
		|| { tail -40 dist/package-check.log; echo "package-check: FAIL: python -m build"; exit 1; }
	TOLOKA_DIST_DIR=$(PACKAGE_DIST) $(BIN)/python -m pytest -q -p no:cacheprovider tests/test_package_dist.py
	@if $(BIN)/python -m pip install --dry-run --ignore-installed $(PACKAGE_DIST)/*.whl 'apache-airflow==3.1.*' \
		> $(PACKAGE_DIST)/airflow-3.1.log 2>&1; then \
		echo "package-check: FAIL: pip accepted the wheel next to Airflow 3.1"; exit 1; fi
	@grep -q "toloka-airflow-provider .* depends on apache-airflow>=3.2" $(PACKAGE_DIST)/airflow-3.1.log \
		&& grep -q "ResolutionImpossible" $(PACKAGE_DIST)/airflow-3.1.log \
		|| { grep -v "^WARNING: Location" $(PACKAGE_DIST)/airflow-3.1.log | tail -20; \
		     echo "package-check: FAIL: pip failed, but not for the Airflow floor"; exit 1; }
	@echo "package-check: pip refuses the wheel next to Airflow 3.1: $$(grep -o 'toloka-airflow-provider .* depends on apache-airflow>=3.2' $(PACKAGE_DIST)/airflow-3.1.log)"

# -- Documentation and release --------------------------------------------------------------------------
# docs: the site from docs/ into site/ with warnings as errors (broken links, anchors and includes fail), then
# the checks on the built site (>= 12 pages, every public class named) and on the code blocks. The docs extra
# goes into .venv once (its own stamp, so make test's install is untouched).
DOCS_STAMP := $(VENV)/.docs-installed
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	rm -rf site
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet
	TOLOKA_DOCS_SITE=site $(BIN)/python -m pytest -q -p no:cacheprovider tests/docs/test_docs_site.py tests/docs/test_docs_blocks.py
	@echo "docs: site/index.html ($$(find site -name index.html | wc -l) pages)"

# release: the artifacts of package-check (isolated build, twine check --strict, check-wheel-contents, pip refuses
# Airflow 3.1), installed into a fresh venv next to Airflow with constraints, every public module imported there
# (from outside the checkout), and copied to dist/release/. Publishing stays manual (docs/development.md).
# RELEASE_AIRFLOW / RELEASE_CONSTRAINTS: the Airflow and constraints file to install with (default: the oldest
# supported Airflow with constraints/matrix-airflow-3.2.txt; pass Airflow's own constraints file for yours).
RELEASE_DIST := dist/release
RELEASE_VENV := dist/release-venv
RELEASE_AIRFLOW ?= apache-airflow~=3.2.0
RELEASE_CONSTRAINTS ?= $(MATRIX_CONSTRAINTS)
RELEASE_SKIP := toloka_provider.emulator.pytest_plugin
release: package-check
	rm -rf $(RELEASE_VENV) $(RELEASE_DIST) && mkdir -p $(RELEASE_DIST)
	$(PYTHON) -m venv $(RELEASE_VENV)
	$(RELEASE_VENV)/bin/python -m pip install -qq --upgrade pip
	$(RELEASE_VENV)/bin/python -m pip install -qq $(PACKAGE_DIST)/*.whl '$(RELEASE_AIRFLOW)' $(if $(RELEASE_CONSTRAINTS),-c $(RELEASE_CONSTRAINTS))
	cd $(RELEASE_VENV) && bin/python -c "import importlib, pkgutil, toloka_provider as p; \
		names = [m.name for m in pkgutil.walk_packages(p.__path__, 'toloka_provider.') if m.name not in '$(RELEASE_SKIP)'.split()]; \
		[importlib.import_module(n) for n in names]; \
		assert 'site-packages' in p.__file__, p.__file__; \
		print('release: imported toloka_provider', p.__version__, 'and', len(names), 'modules from', p.__file__)"
	cp $(PACKAGE_DIST)/*.whl $(PACKAGE_DIST)/*.tar.gz $(RELEASE_DIST)/
	@echo "release: artifacts (publish by hand: twine upload $(RELEASE_DIST)/*)"
	@ls -l $(RELEASE_DIST)
