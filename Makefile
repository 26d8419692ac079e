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
PKG_SRC    := $(wildcard src/analysis/*.py) $(wildcard src/analysis/templates/*) $(wildcard src/analysis/locale/*)
STAMPS     := reports/.stamps
RUN_NB     := $(PY) -m analysis.pipeline run

CLEAN_STAMPS  := $(CITIES:%=$(STAMPS)/%/01-clean)
NBHD_STAMPS   := $(CITIES:%=$(STAMPS)/%/02-neighbourhoods)
IMPACT_STAMPS := $(CITIES:%=$(STAMPS)/%/03-impact)
CROSS_STAMP   := $(STAMPS)/cross-city/04-compare-cities
REPORT_STAMP  := $(STAMPS)/report

.PHONY: help
help: ## Show this list of targets
	@echo "IMPPULSE analysis. Usage: make <target>  (JOBS=$(JOBS) parallel jobs)"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}'

# ------------------------------------------------------------------ environment
$(ENV_STAMP): pyproject.toml requirements.lock
ifeq ($(VENV),$(PROJECT_VENV))
	@echo ">> building the project environment in $(VENV) from requirements.lock (every file hash-checked)"
	@test -x $(PY) || $(PYTHON_SYS) -m venv $(VENV)
	@$(PY) -c 'import sys; v = sys.version_info[:2]; (3, 11) <= v < (3, 15) or sys.exit(f"$(VENV) has Python {v[0]}.{v[1]}; the project supports 3.11 to 3.14: rm -rf $(VENV) && make env PYTHON_SYS=python3.13")'
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	@# rfc3987-syntax is optional for jupyter-events and costs ~1.8 s per notebook start
	-@$(PY) -m pip uninstall --quiet --yes rfc3987-syntax >/dev/null 2>&1
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
# Each step reruns only when its inputs change: the city profile, its raw files,
# the package code, the notebook template or the previous step.
$(STAMPS)/%/01-clean: config/cities/%.yml $$(wildcard data/raw/%/*) notebooks/01-clean.ipynb $(PKG_SRC) | $(ENV_STAMP)
	@$(RUN_NB) 01-clean $*

$(STAMPS)/%/02-neighbourhoods: $(STAMPS)/%/01-clean notebooks/02-neighbourhoods.ipynb $$(wildcard data/external/boundaries/%.*) | $(ENV_STAMP)
	@$(RUN_NB) 02-neighbourhoods $*

$(STAMPS)/%/03-impact: $(STAMPS)/%/01-clean notebooks/03-impact.ipynb | $(ENV_STAMP)
	@$(RUN_NB) 03-impact $*

$(CROSS_STAMP): $$(wildcard $(STAMPS)/*/03-impact) notebooks/04-compare-cities.ipynb $(PKG_SRC) | $(ENV_STAMP)
	@$(RUN_NB) 04-compare-cities cross-city

$(REPORT_STAMP): $$(wildcard $(STAMPS)/*/0*) reports/narrative.md reports/narrative.fr.md $(PKG_SRC) | $(ENV_STAMP)
	@$(PY) -m analysis.pipeline report --langs "$(REPORT_LANGS)"
	@mkdir -p $(@D) && touch $@

.PHONY: cities clean-data neighbourhoods impact cross-city
cities: $(NBHD_STAMPS) $(IMPACT_STAMPS)

clean-data: $(if $(CITY),$(STAMPS)/$(CITY)/01-clean,$(CLEAN_STAMPS)) ## Clean the raw data of every city (or CITY=name)

neighbourhoods: $(if $(CITY),$(STAMPS)/$(CITY)/02-neighbourhoods,$(NBHD_STAMPS)) ## Neighbourhood estimates and maps (or CITY=name)

impact: $(if $(CITY),$(STAMPS)/$(CITY)/03-impact,$(IMPACT_STAMPS)) ## Impact estimates per city (or CITY=name)

cross-city: $(CROSS_STAMP) ## Cross-city synthesis (forest plots, pooled effects, ESS benchmark)

.PHONY: report
report: $(ENV_STAMP) ## Whole pipeline on the data in data/raw: every city, the synthesis, reports/report.html (+ .fr, + PDF)
	@status=0; \
	$(MAKE) --no-print-directory -k -j$(JOBS) cities || status=$$?; \
	$(MAKE) --no-print-directory -j$(JOBS) $(CROSS_STAMP) || status=$$?; \
	$(MAKE) --no-print-directory $(REPORT_STAMP) || status=$$?; \
	$(PY) -m analysis.pipeline status; \
	exit $$status

# ------------------------------------------------------------------ checks
.PHONY: test
test: $(ENV_STAMP) ## All tests: unit tests, privacy guard, then nbval on the notebook templates
	@$(MAKE) --no-print-directory -k -j$(JOBS) cities
	@$(MAKE) --no-print-directory -j$(JOBS) $(CROSS_STAMP)
	$(PY) -m analysis.privacy_guard
	$(PY) -m pytest tests -q
	$(PY) -m pytest -q --nbval --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-current-env --nbval-cell-timeout=900 \
	  -p no:cacheprovider notebooks/01-clean.ipynb notebooks/02-neighbourhoods.ipynb \
	  notebooks/03-impact.ipynb notebooks/04-compare-cities.ipynb

.PHONY: notebooks
notebooks: $(ENV_STAMP) ## Re-execute the notebook templates in place on the demo city (refreshes nbval's reference outputs)
	$(PY) -m analysis.pipeline refresh-templates

.PHONY: demo-data
demo-data: $(ENV_STAMP) ## Regenerate the synthetic demonstration data in data/raw (seeded, reproducible)
	$(PY) -m analysis.synthetic
	$(PY) -c "from analysis.privacy_guard import write_demo_checksums; write_demo_checksums()"

.PHONY: boundaries
boundaries: $(ENV_STAMP) ## Download official neighbourhood boundaries into data/external/boundaries (needs internet)
	$(PY) -m analysis.boundaries_cli

.PHONY: lab
lab: $(ENV_STAMP) ## Open JupyterLab on the project kernel (notebooks/explore.ipynb to explore)
	$(VENV)/bin/jupyter lab --notebook-dir=. $(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS) notebooks/explore.ipynb

.PHONY: hooks
hooks: ## Install the privacy guard as a git pre-commit hook
	@printf '#!/bin/sh\nexec %s -m analysis.privacy_guard --staged\n' "$(abspath $(PY))" > .git/hooks/pre-commit
	@chmod +x .git/hooks/pre-commit && echo "pre-commit hook installed"

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
	$(PY) -m analysis.planner --pilot $(PILOT) --comparison $(COMPARISON) --per-cell $(PER_CELL) \
	  $(if $(EFFECT),--effect $(EFFECT)) $(if $(OUTCOME),--outcome $(OUTCOME)) \
	  $(if $(SD),--sd $(SD)) $(if $(ICC),--icc $(ICC)) $(if $(DEFF),--deff $(DEFF))

.PHONY: design-check
design-check: $(ENV_STAMP) ## Check the planner's power against the project's estimator (Monte Carlo, a few minutes)
	$(PY) benchmarks/design_check.py

.PHONY: clean
clean: ## Delete everything generated (processed data, reports, stamps); keeps raw data and .venv
	rm -rf data/processed/* reports/notebooks reports/figures reports/tables reports/.stamps \
	  reports/report*.html reports/report*.pdf reports/figures.csv

.PHONY: distclean
distclean: clean ## Also delete the environment
	rm -rf $(VENV)
