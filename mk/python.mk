# The Python parts as one tree: ruff (format and lint) over all of it and mypy on the packages,
# configured in pyproject.toml; and Terraform's own formatter when terraform is installed.

# The typed packages: mypy runs on each (the rest of the tree gets ruff only).
MYPY_PACKAGES ?= loadtests/core loadtests/analysis loadtests/locust loadtests/platform bench

CHECK_TARGETS += lint-python
LINT_TARGETS  += lint-python lint-terraform

.PHONY: lint-python
lint-python: $(VENV)/.stamp ## ruff format --check and ruff check over the Python tree, mypy on $(MYPY_PACKAGES)
	$(VENV_BIN)/ruff format --check .
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/mypy $(MYPY_PACKAGES)

# Every .tf under infra/ but the test fixtures, some of which are broken on purpose.
TF_FILES = $(shell find $(INFRA_DIR) -name '*.tf' -not -path '$(INFRA_DIR)/tests/*' | sort)

.PHONY: lint-terraform
lint-terraform: ## terraform fmt -check on infra/ (skipped, with a message, when terraform is not installed)
	@if command -v $(firstword $(TERRAFORM)) >/dev/null 2>&1; then \
	  echo "$(TERRAFORM) fmt -check $(INFRA_DIR)/**.tf (test fixtures left out)"; \
	  $(TERRAFORM) fmt -check $(TF_FILES) || { echo "lint-terraform: the files listed above are not formatted; 'terraform fmt FILE' formats one" >&2; exit 1; }; \
	else \
	  echo "lint-terraform: skipped, '$(TERRAFORM)' is not on PATH (https://developer.hashicorp.com/terraform/install)"; \
	fi
