# The Python parts as one tree: ruff (format and lint) and mypy over all of it, each run once and
# configured in pyproject.toml (mypy's `files` say what it covers); and Terraform's own formatter
# when terraform is installed.

CHECK_TARGETS += lint-python
LINT_TARGETS  += lint-python lint-terraform

.PHONY: lint-python
lint-python: $(VENV)/.stamp ## ruff format --check, ruff check and mypy over the Python tree, tests included
	$(VENV_BIN)/ruff format --check .
	$(VENV_BIN)/ruff check .
	$(VENV_BIN)/mypy

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
