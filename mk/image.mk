# The container image and the GitHub Actions workflows: build, run and push the image
# (`buildc`, `runc`, `push`, needing Docker), and the checks `make test` runs without a Docker
# engine: the Dockerfile's lint and scan, the binary built exactly as the Dockerfile builds it,
# its static linking, a run of it the way the image runs it (scripts/image/sandbox.sh), and the
# workflows' scan and policy.

IMAGE      ?= delay-echo:local
PLATFORM   ?= linux/amd64
CONTAINER  ?= delay-echo
# Where `make push` sends the image: the Terraform output repository_url, e.g.
# 123456789012.dkr.ecr.eu-west-1.amazonaws.com/delay-echo; AWS_REGION defaults to its region.
REPOSITORY_URL ?=
AWS_REGION ?=
IMAGE_VERSION  ?= $(shell sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
IMAGE_REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# Pushed tag: the commit, so an immutable-tag repository never sees the same tag twice.
TAG        ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)

# The binary `make test` checks: built by scripts/image/build-static.sh from a copy of the
# Docker build context (.dockerignore applied), exactly as the Dockerfile's builder stage does.
IMAGE_CONTEXT := target/image/context
IMAGE_BINARY  := target/image/delay-echo
IMAGE_SCRIPTS := $(wildcard scripts/image/*.sh)
WORKFLOWS     := .github/workflows

CONTAINER_ENV = IMAGE='$(IMAGE)' PLATFORM='$(PLATFORM)' CONTAINER='$(CONTAINER)' PORT='$(PORT)' \
	VERSION='$(IMAGE_VERSION)' REVISION='$(IMAGE_REVISION)' \
	REPOSITORY_URL='$(REPOSITORY_URL)' AWS_REGION='$(AWS_REGION)' TAG='$(TAG)'

# The image tests that read files and run the container script against a stand-in `docker`
# (fast); those that need the static binary (built from source) are the integration gate.
IMAGE_UNIT_TESTS   := $(addprefix tests/image/,test_context.py test_dockerfile.py test_workflows.py test_container_script.py)
IMAGE_BINARY_TESTS := $(addprefix tests/image/,test_static.py test_sandbox.py)

APT_PACKAGES += bubblewrap shellcheck file binutils curl util-linux
CHECK_TARGETS += test-image-units
TEST_TARGETS += lint-image lint-workflows
LIVE_TARGETS += test-image
LINT_TARGETS += lint-image lint-workflows

.PHONY: buildc
buildc: ## Build the image (linux/amd64; PLATFORM=linux/arm64 to override; plain docker build without buildx), tagged delay-echo:local
	$(CONTAINER_ENV) scripts/image/container.sh build

.PHONY: runc
runc: ## Run the image on port 8080 (PORT=...), replacing the previous container; passes DELAY_ECHO_* through
	$(CONTAINER_ENV) scripts/image/container.sh run $(ARGS)

.PHONY: push
push: ## Tag the image and push it to ECR: make push REPOSITORY_URL=<terraform output> [TAG=...]
	$(CONTAINER_ENV) scripts/image/container.sh push

.PHONY: image-binary
image-binary: ## Build the image's static binary as the Dockerfile does, into target/image/
	$(PYTHON) scripts/image/context.py stage $(IMAGE_CONTEXT)
	cd $(IMAGE_CONTEXT) && CARGO_TARGET_DIR=$(CURDIR)/target/image/cargo \
	  ./scripts/image/build-static.sh build $(CURDIR)/$(IMAGE_BINARY)
	@echo "size: $$(stat -c %s $(IMAGE_BINARY)) bytes"

.PHONY: lint-image
lint-image: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp ## hadolint and checkov on the Dockerfile, shellcheck on the image scripts
	$(VENV_BIN)/hadolint Dockerfile
	$(CHECKOV) --quiet --compact --skip-download --framework dockerfile -f Dockerfile
	shellcheck $(IMAGE_SCRIPTS)

.PHONY: lint-workflows
lint-workflows: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp ## zizmor (offline) and checkov on the GitHub Actions workflows
	$(VENV_BIN)/zizmor --offline --no-progress .github
	$(CHECKOV) --quiet --compact --skip-download --framework github_actions -d $(WORKFLOWS)

.PHONY: test-image-units
test-image-units: $(VENV)/.stamp ## Image checks without a build: build context, Dockerfile, workflows, buildc/runc/push on a stand-in docker
	@stray="$(filter-out $(IMAGE_UNIT_TESTS) $(IMAGE_BINARY_TESTS),$(wildcard tests/image/test_*.py))"; \
	  [ -z "$$stray" ] || { echo "mk/image.mk: put $$stray in IMAGE_UNIT_TESTS or IMAGE_BINARY_TESTS" >&2; exit 1; }
	$(VENV_BIN)/python -m pytest -q -p no:cacheprovider $(IMAGE_UNIT_TESTS)

.PHONY: test-image
test-image: $(VENV)/.stamp image-binary ## The image contract without Docker: the static binary and a sandboxed run of it
	IMAGE_BINARY=$(CURDIR)/$(IMAGE_BINARY) $(VENV_BIN)/python -m pytest -q -p no:cacheprovider $(IMAGE_BINARY_TESTS)
