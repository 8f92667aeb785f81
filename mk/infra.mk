# Infrastructure (infra/ for AWS, infra/cloudrun/ for Google Cloud Run): the staged apply and
# destroy, and the offline checks of the Terraform (provider-schema check, conventions, checkov)
# that run in `make test` without terraform, provider binaries or cloud access.

TERRAFORM ?= terraform
AWS       ?= aws
INFRA_DIR := infra
CLOUDRUN_DIR := $(INFRA_DIR)/cloudrun
TF_MODULES := $(INFRA_DIR) $(CLOUDRUN_DIR)
# The pinned provider wheels the schema check reads (downloaded with hashes, never installed).
PROVIDER_SCHEMAS := .tools/provider-schemas
PROVIDER_PINS    := $(INFRA_DIR)/tests/requirements-providers.txt
# The checkers: a package (infra/tfcheck), as deploy/k8scheck is; each module is a command.
TFCHECK := $(VENV_BIN)/python -m infra.tfcheck

APT_PACKAGES += python3-venv
TEST_TARGETS += test-infra
LINT_TARGETS += lint-infra

.PHONY: test-infra
test-infra: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp $(PROVIDER_SCHEMAS)/.stamp ## Terraform checks offline: provider schemas, references, variables, checkov, staged apply (with broken fixtures)
	CHECKOV=$(abspath $(CHECKOV)) SCHEMA_DIR=$(abspath $(PROVIDER_SCHEMAS)) $(VENV_BIN)/python -m pytest -q -p no:cacheprovider $(INFRA_DIR)/tests

# Download once (about 138 MB), parse once into a JSON cache beside the wheels; re-runs reuse both.
$(PROVIDER_SCHEMAS)/.stamp: $(PROVIDER_PINS) | $(VENV)/.stamp
	@mkdir -p $(PROVIDER_SCHEMAS)
	$(VENV_BIN)/pip download -q --disable-pip-version-check --no-deps --require-hashes --only-binary=:all: -d $(PROVIDER_SCHEMAS) -r $(PROVIDER_PINS)
	$(TFCHECK).provider_schema $(PROVIDER_SCHEMAS)/cdktn_provider_*.whl
	touch $@

.PHONY: infra-schemas
infra-schemas: $(PROVIDER_SCHEMAS)/.stamp ## Download the pinned provider schemas (cdktn wheels, hash-checked) the schema check reads

.PHONY: infra-schema
infra-schema: $(VENV)/.stamp $(PROVIDER_SCHEMAS)/.stamp ## Check infra/ and infra/cloudrun against the providers' schemas (DIR=folder checks another)
	$(TFCHECK).schemacheck --schemas $(PROVIDER_SCHEMAS) $(or $(DIR),$(TF_MODULES))

.PHONY: lint-infra
lint-infra: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp $(PROVIDER_SCHEMAS)/.stamp ## Terraform: fmt (when terraform is installed), schema, conventions and checkov on infra/ and infra/cloudrun
	@if command -v $(TERRAFORM) >/dev/null 2>&1; then \
	  $(TERRAFORM) fmt -check -recursive $(INFRA_DIR) && echo "terraform fmt: $(INFRA_DIR) is formatted"; \
	else echo "lint-infra: $(TERRAFORM) not on PATH; skipping terraform fmt -check"; fi
	$(TFCHECK).schemacheck --schemas $(PROVIDER_SCHEMAS) $(TF_MODULES)
	for d in $(TF_MODULES); do $(TFCHECK).conventions $$d; done
	$(TFCHECK).checkov_gate --checkov $(CHECKOV) --skip-path tests/ --skip-path cloudrun/ --var-file $(INFRA_DIR)/tests/fixtures/records-on-regions.tfvars $(INFRA_DIR)
	$(TFCHECK).checkov_gate --checkov $(CHECKOV) $(CLOUDRUN_DIR)

.PHONY: infra-validate
infra-validate: ## terraform fmt -check and validate of both modules (needs terraform and the providers; no cloud access)
	$(TERRAFORM) fmt -check -recursive $(INFRA_DIR)
	for d in $(TF_MODULES); do $(TERRAFORM) -chdir=$$d init -backend=false -input=false && $(TERRAFORM) -chdir=$$d validate; done

.PHONY: infra
infra: ## Empty account to running service: bootstrap apply, image push, service apply (AUTO_APPROVE=1, TF_ARGS=...)
	TERRAFORM=$(TERRAFORM) AWS=$(AWS) MAKE="$(MAKE)" $(INFRA_DIR)/scripts/up.sh

.PHONY: infra-destroy
infra-destroy: ## Inverse of make infra: service first, then repository and roles (DELETE_IMAGES=1 to drop images)
	TERRAFORM=$(TERRAFORM) AWS=$(AWS) $(INFRA_DIR)/scripts/down.sh
