# Infrastructure (infra/): the staged apply and destroy, and the offline checks of the Terraform
# (HCL parse, reference check, checkov) that run in `make test` without terraform or AWS access.

TERRAFORM ?= terraform
AWS       ?= aws
INFRA_DIR := infra

APT_PACKAGES += python3-venv
TEST_TARGETS += test-infra
LINT_TARGETS += lint-infra

.PHONY: test-infra
test-infra: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp ## Terraform checks offline: parse, references, variables, checkov, staged apply (with broken fixtures)
	CHECKOV=$(abspath $(CHECKOV)) $(VENV_BIN)/python -m pytest -q -p no:cacheprovider $(INFRA_DIR)/tests

.PHONY: lint-infra
lint-infra: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp ## Terraform: reference check and checkov gate on infra/ only
	$(VENV_BIN)/python $(INFRA_DIR)/tests/tfcheck.py $(INFRA_DIR)
	$(VENV_BIN)/python $(INFRA_DIR)/tests/checkov_gate.py --checkov $(CHECKOV) --skip-path tests/ $(INFRA_DIR)

.PHONY: infra-validate
infra-validate: ## terraform fmt -check and validate (needs terraform; no AWS access)
	$(TERRAFORM) -chdir=$(INFRA_DIR) fmt -check -recursive
	$(TERRAFORM) -chdir=$(INFRA_DIR) init -backend=false -input=false
	$(TERRAFORM) -chdir=$(INFRA_DIR) validate

.PHONY: infra
infra: ## Empty account to running service: bootstrap apply, image push, service apply (AUTO_APPROVE=1, TF_ARGS=...)
	TERRAFORM=$(TERRAFORM) AWS=$(AWS) MAKE="$(MAKE)" $(INFRA_DIR)/scripts/up.sh

.PHONY: infra-destroy
infra-destroy: ## Inverse of make infra: service first, then repository and roles (DELETE_IMAGES=1 to drop images)
	TERRAFORM=$(TERRAFORM) AWS=$(AWS) $(INFRA_DIR)/scripts/down.sh
