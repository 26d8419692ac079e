# IMPPULSE analysis — `make` lists the targets; `make report` is the whole pipeline,
# `make test` the whole check. Both build the project environment (.venv) when missing.

.DEFAULT_GOAL := help
SHELL := /bin/bash
.SECONDEXPANSION:
.DELETE_ON_ERROR:

# Any Python from 3.11 to 3.14 (requirements.lock resolves for each), e.g. PYTHON_SYS=python3.13.
PYTHON_SYS ?= python3
# The environment the pipeline runs in. The project's own .venv is built from requirements.lock;
# any other one (VENV=$CONDA_PREFIX) is the user's: only the project is installed into it.
PROJECT_VENV := .venv
VENV       := $(PROJECT_VENV)
PY         := $(VENV)/bin/python
ENV_STAMP  := $(VENV)/.installed
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
# Languages of the report (not LANG, which is the locale).
REPORT_LANGS ?= en fr
CITY       ?=
# extra JupyterLab options, e.g. LAB_ARGS="--no-browser --port=8888"
LAB_ARGS   ?=

CITIES     := $(basename $(notdir $(wildcard config/cities/*.yml)))
STAMPS     := reports/.stamps
PIPE       := $(PY) -m analysis.running.pipeline
# A notebook step: papermill runs the template for one city (analysis.running.pipeline run).
# Under the lock this is a small client of a warm fork server, which imported papermill,
# ipykernel, pandas, geopandas, matplotlib and the package once: each step's driver and
# kernel are forked from it instead of starting afresh (IMPPULSE_WARM=0: plain runs).
RUN_NB     := $(PY) -m analysis.running.forkserver run
# The report step (manifest, HTML and PDF per language in parallel, dashboard, disclosure
# check), apart from the pipeline module so that running a notebook never imports its stack.
PUBLISH    := $(PY) -m analysis.running.publish
# One pipeline run at a time in a tree: the entry points re-enter make under a lock
# (flock on reports/.stamps/.lock; a second run waits). Under the lock, `prepare` first
# removes temporary files an interrupted run left, and retires every stamp whose inputs
# changed in content (SHA-256 of the step's files: raw data, profile, notebook, the package
# modules that notebook imports, transitively), so reruns follow content, not dates. The
# lock holder also starts the fork server for the run (analysis.running.forkserver).
LOCKED     := $(PIPE) locked --

CLEAN_STAMPS  := $(CITIES:%=$(STAMPS)/%/01-clean)
NBHD_STAMPS   := $(CITIES:%=$(STAMPS)/%/02-neighbourhoods)
IMPACT_STAMPS := $(CITIES:%=$(STAMPS)/%/03-impact)
CROSS_STAMP   := $(STAMPS)/cross-city/04-compare-cities
REPORT_STAMP  := $(STAMPS)/report/report

.PHONY: help
help: ## Show this list of targets
	@echo "IMPPULSE analysis. Usage: make <target>  (JOBS=$(JOBS) parallel jobs)"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

# ------------------------------------------------------------------ environment
# uv installs the same hash-checked lock several times faster than pip. It is itself installed
# from PyPI by pip, at a pinned version whose every file is hash-checked (requirements-bootstrap.txt,
# regenerated with the command at its top). If uv cannot be installed, pip installs the lock.
# Both compile the bytecode at install time (pip by default, uv when asked): with
# PYTHONDONTWRITEBYTECODE set, every process would otherwise compile the imported modules anew.
UV := $(VENV)/bin/uv

$(ENV_STAMP): pyproject.toml requirements.lock requirements-bootstrap.txt
ifeq ($(VENV),$(PROJECT_VENV))
	@echo ">> building the project environment in $(VENV) from requirements.lock (every file hash-checked)"
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	@$(PY) -c 'import sys; v = sys.version_info[:2]; (3, 11) <= v < (3, 15) or sys.exit(f"$(VENV) has Python {v[0]}.{v[1]}; the project supports 3.11 to 3.14: rm -rf $(VENV) && make env PYTHON_SYS=python3.13")'
	@# rfc3987-syntax is optional for jupyter-events and costs ~1.8 s per notebook start
	@if $(PY) -m pip install --quiet --require-hashes -r requirements-bootstrap.txt; then \
	  set -x; \
	  $(UV) pip install --quiet --python $(PY) --require-hashes --compile-bytecode -r requirements.lock && \
	  $(UV) pip install --quiet --python $(PY) --no-deps -e . && \
	  { $(UV) pip uninstall --quiet --python $(PY) rfc3987-syntax >/dev/null 2>&1 || true; }; \
	else \
	  echo ">> uv could not be installed: pip installs requirements.lock (slower)"; set -x; \
	  $(PY) -m pip install --quiet --upgrade pip && \
	  $(PY) -m pip install --quiet --require-hashes -r requirements.lock && \
	  $(PY) -m pip install --quiet --no-deps -e . && \
	  { $(PY) -m pip uninstall --quiet --yes rfc3987-syntax >/dev/null 2>&1 || true; }; \
	fi
else
	@# Not the project's .venv (conda, or an environment the user manages): its packages are
	@# the user's, so install the project alone, never pip packages over them.
	@echo ">> installing the project alone (no dependencies) into $(VENV)"
	$(PY) -m pip install --quiet --no-deps -e .
endif
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (IMPPULSE)" >/dev/null
	@touch $@

.PHONY: env
env: $(ENV_STAMP) ## Build the project environment (.venv) from the pinned dependencies

# ------------------------------------------------------------------ per-city pipeline
# A stamp exists only while its step's recorded input digest matches its inputs' content
# (`analysis.running.pipeline prepare` retires the others), so make needs only the order of the
# steps here; `python -m analysis.running.pipeline deps STEP CITY` lists what a step depends on.
# A failed step withdraws what it and its downstream steps had published (data/interim/withdrawn/).
$(STAMPS)/%/01-clean: | $(ENV_STAMP)
	@$(RUN_NB) 01-clean $*

$(STAMPS)/%/02-neighbourhoods: $(STAMPS)/%/01-clean | $(ENV_STAMP)
	@$(RUN_NB) 02-neighbourhoods $*

$(STAMPS)/%/03-impact: $(STAMPS)/%/01-clean | $(ENV_STAMP)
	@$(RUN_NB) 03-impact $*

$(CROSS_STAMP): $$(wildcard $(STAMPS)/*/03-impact) | $(ENV_STAMP)
	@$(RUN_NB) 04-compare-cities cross-city

$(REPORT_STAMP): $$(wildcard $(STAMPS)/*/0*) | $(ENV_STAMP)
	@$(PUBLISH) report --langs "$(REPORT_LANGS)" --jobs $(JOBS)

.PHONY: cities clean-data neighbourhoods impact cross-city _cities _cross_after_impacts _report _city_report _stamps
_cities: $(NBHD_STAMPS) $(IMPACT_STAMPS)
# The synthesis reads the impact tables only: it starts once every city's impact step is done,
# beside the neighbourhood maps still being drawn. (Its own rule names the impact stamps that
# exist when make starts, so it runs in a make started after them. When a city's impact step
# fails, this is not run, and the next make in _report runs the synthesis without that city.)
_cross_after_impacts: $(IMPACT_STAMPS)
	@$(MAKE) --no-print-directory $(CROSS_STAMP)
# Naming every stamp in a rule keeps them from being "intermediate" files, which make would
# delete after a run and, when missing, not rebuild (a retired 01-clean must rerun).
_stamps: $(CLEAN_STAMPS) $(NBHD_STAMPS) $(IMPACT_STAMPS) $(CROSS_STAMP) $(REPORT_STAMP)
cities: $(ENV_STAMP)
	@$(LOCKED) $(MAKE) --no-print-directory -k -j$(JOBS) _cities

clean-data: $(ENV_STAMP) ## Clean the raw data of every city (or CITY=name)
	@$(LOCKED) $(MAKE) --no-print-directory -k -j$(JOBS) $(if $(CITY),$(STAMPS)/$(CITY)/01-clean,$(CLEAN_STAMPS))

neighbourhoods: $(ENV_STAMP) ## Neighbourhood estimates and maps (or CITY=name)
	@$(LOCKED) $(MAKE) --no-print-directory -k -j$(JOBS) $(if $(CITY),$(STAMPS)/$(CITY)/02-neighbourhoods,$(NBHD_STAMPS))

impact: $(ENV_STAMP) ## Impact estimates per city (or CITY=name)
	@$(LOCKED) $(MAKE) --no-print-directory -k -j$(JOBS) $(if $(CITY),$(STAMPS)/$(CITY)/03-impact,$(IMPACT_STAMPS))

cross-city: $(ENV_STAMP) ## Cross-city synthesis (forest plots, pooled effects, ESS benchmark)
	@$(LOCKED) $(MAKE) --no-print-directory -j$(JOBS) $(CROSS_STAMP)

.PHONY: report
report: $(ENV_STAMP) ## Whole pipeline: every city, the synthesis, reports/report.html (+ .fr, + PDF); CITY="x y": those cities' own reports
ifeq ($(CITY),)
	@$(LOCKED) $(MAKE) --no-print-directory _report
else
	@$(LOCKED) $(MAKE) --no-print-directory _city_report
endif

# A city's own report: its three steps, then reports/cities/<city>/report.<lang>.html (and brief) in the
# languages of its profile, without the other cities or the synthesis.
_city_report:
	@status=0; \
	$(MAKE) --no-print-directory -k -j$(JOBS) $(foreach c,$(CITY),$(STAMPS)/$(c)/02-neighbourhoods $(STAMPS)/$(c)/03-impact) || status=$$?; \
	$(PUBLISH) city-report $(CITY) || status=$$?; \
	exit $$status

_report:
	@status=0; \
	$(MAKE) --no-print-directory -k -j$(JOBS) _cities _cross_after_impacts || status=$$?; \
	$(MAKE) --no-print-directory -j$(JOBS) $(CROSS_STAMP) || status=$$?; \
	$(MAKE) --no-print-directory $(REPORT_STAMP) || status=$$?; \
	$(PIPE) status; \
	exit $$status

# ------------------------------------------------------------------ checks
# Published numbers must not depend on the machine: the statistical tests and the
# impact/synthesis notebooks run a second time under another OpenBLAS kernel (Haswell, where
# the CPU has AVX2 and the machine does not already set OPENBLAS_CORETYPE itself).
ALT_CORETYPE := $(if $(OPENBLAS_CORETYPE),,$(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo Haswell))
NBVAL := -m pytest -q --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env \
  --nbval-cell-timeout=900 -p no:cacheprovider
STAT_TESTS := tests/test_impact.py tests/test_synthesis.py tests/test_estimates.py tests/test_weights.py \
  tests/test_evidence.py tests/test_officers.py
# The tests spread over the cores (pytest-xdist): a file's tests run in order on one worker,
# the files holding slow tests first (tests/conftest.py). (Not --dist loadgroup: with pytest
# 9.2, xdist 3.8.0 ignores xdist_group marks.)
XDIST := -n $(JOBS) --dist loadfile --no-loadscope-reorder

.PHONY: test _test-notebooks _test-stats-other-blas
test: $(ENV_STAMP) ## All tests: unit tests, privacy guard, disclosure check, nbval (twice for the statistics)
	@$(LOCKED) $(MAKE) --no-print-directory -k -j$(JOBS) _cities _cross_after_impacts
	$(PY) -m analysis.inputs.privacy_guard
	$(PY) -m analysis.publishing.disclosure
	@# with the tests that run make on scratch copies: one shared build for all the workers,
	@# then mostly one step at a time each, so they share the cores with the others
	$(PY) -m pytest tests -q $(XDIST)
	@# nbval rewrites the demo outputs that the tests above read: it runs after them, one notebook
	@# at a time (each notebook's cells in one kernel), beside the statistical tests under the
	@# other OpenBLAS kernel, which read no output
	@$(MAKE) --no-print-directory -k -j$(JOBS) --output-sync=target _test-notebooks _test-stats-other-blas

_test-notebooks:
	$(PY) $(NBVAL) notebooks/01-clean.ipynb notebooks/02-neighbourhoods.ipynb \
	  notebooks/03-impact.ipynb notebooks/04-compare-cities.ipynb
ifneq ($(ALT_CORETYPE),)
	OPENBLAS_CORETYPE=$(ALT_CORETYPE) $(PY) $(NBVAL) notebooks/03-impact.ipynb notebooks/04-compare-cities.ipynb
endif

_test-stats-other-blas:
ifneq ($(ALT_CORETYPE),)
	OPENBLAS_CORETYPE=$(ALT_CORETYPE) $(PY) -m pytest -q -p no:cacheprovider $(STAT_TESTS)
endif

.PHONY: notebooks
notebooks: $(ENV_STAMP) ## Re-execute the notebook templates in place on the demo city (refreshes nbval's reference outputs)
	$(PY) -m analysis.running.pipeline refresh-templates

.PHONY: demo-data
demo-data: $(ENV_STAMP) ## Regenerate the synthetic demonstration data in data/raw (seeded, reproducible)
	$(PY) -m analysis.demo.synthetic
	$(PY) -c "from analysis.inputs.privacy_guard import write_demo_checksums; write_demo_checksums()"

.PHONY: boundaries
boundaries: $(ENV_STAMP) ## Download official neighbourhood boundaries into data/external/boundaries (needs internet)
	$(PY) -m analysis.geography.boundaries_cli

.PHONY: lab
lab: $(ENV_STAMP) ## Open JupyterLab on the project kernel (notebooks/explore.ipynb to explore)
	$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/explore.ipynb

.PHONY: hooks
hooks: ## Install the privacy guard as a git pre-commit hook
	@printf '#!/bin/sh\nexec %s -m analysis.inputs.privacy_guard --staged\n' "$(abspath $(PY))" > .git/hooks/pre-commit
	@chmod +x .git/hooks/pre-commit && echo "pre-commit hook installed"

.PHONY: audit-history
audit-history: ## Scan every commit of the git history with the privacy guard's rules (lists path@commit)
	$(PY) -m analysis.inputs.privacy_guard --history

.PHONY: bench
bench: $(ENV_STAMP) ## Run the benchmarks (cleaning throughput, pipeline overhead); prints figures
	$(PY) benchmarks/bench_clean.py
	$(PY) benchmarks/bench_pipeline.py

.PHONY: simulate
simulate: $(ENV_STAMP) ## Monte Carlo study of the DiD and wild cluster bootstrap with few clusters (~5 min)
	$(PY) benchmarks/simulate_did.py

# planned design: make design PILOT=3 COMPARISON=3 PER_CELL=100 [EFFECT=0.5 OUTCOME=trust_police SD= ICC= DEFF=]
PILOT ?= 3
COMPARISON ?= 3
PER_CELL ?= 100
.PHONY: design
design: $(ENV_STAMP) ## Plan an evaluation: minimum detectable effect and power (PILOT= COMPARISON= PER_CELL= EFFECT=)
	$(PY) -m analysis.statistics.planner --pilot $(PILOT) --comparison $(COMPARISON) --per-cell $(PER_CELL) \
	  $(if $(EFFECT),--effect $(EFFECT)) $(if $(OUTCOME),--outcome $(OUTCOME)) \
	  $(if $(SD),--sd $(SD)) $(if $(ICC),--icc $(ICC)) $(if $(DEFF),--deff $(DEFF))

.PHONY: design-check
design-check: $(ENV_STAMP) ## Check the planner's power against the project's estimator (Monte Carlo, a few minutes)
	$(PY) benchmarks/design_check.py

# new city: make new-city CITY=x [NEIGHBOURHOODS=units.csv] [OUT=file]; make check CITY=x
NEIGHBOURHOODS ?=
.PHONY: new-city
new-city: $(ENV_STAMP) ## Draft config/cities/CITY.yml from data/raw/CITY/ (NEIGHBOURHOODS=list.csv, OUT=file optional); TODOs mark guesses
	@test -n "$(CITY)" || { echo "usage: make new-city CITY=<slug> [NEIGHBOURHOODS=units.csv] [OUT=file]" >&2; exit 2; }
	$(PY) -m analysis.inputs.newcity $(CITY) $(if $(NEIGHBOURHOODS),--neighbourhoods $(NEIGHBOURHOODS)) $(if $(OUT),--out $(OUT))

.PHONY: check
check: $(ENV_STAMP) ## Check a profile against its raw files, listing every problem (CITY=name; no pipeline run)
	@test -n "$(CITY)" || { echo "usage: make check CITY=<slug>" >&2; exit 2; }
	$(PY) -m analysis.inputs.check $(CITY)

# questionnaire: make questionnaire [QUESTIONNAIRE_LANGS="en fr it"] [NEIGHBOURHOODS=units.csv]
QUESTIONNAIRE_LANGS ?= en fr es ca it nl lt pt de
.PHONY: questionnaire
questionnaire: $(ENV_STAMP) ## Export the codebook as a printable questionnaire (HTML) and an XLSForm (KoboToolbox/ODK) in reports/questionnaire/
	$(PY) -m analysis.inputs.questionnaire --langs "$(QUESTIONNAIRE_LANGS)" $(if $(NEIGHBOURHOODS),--neighbourhoods $(NEIGHBOURHOODS))

.PHONY: clean
clean: ## Delete everything generated (processed data, reports, stamps); keeps raw data and .venv
	rm -rf data/processed/* reports/notebooks reports/figures reports/tables reports/.stamps reports/withdrawn data/interim/withdrawn \
	  reports/report*.html reports/report*.pdf reports/brief*.html reports/brief*.pdf reports/figures.csv reports/dashboard.html reports/questionnaire \
	  data/interim/embedded data/interim/tables data/interim/report-context

.PHONY: distclean
distclean: clean ## Also delete the environment
	rm -rf $(VENV)
