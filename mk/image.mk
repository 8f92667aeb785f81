# The container image and the GitHub Actions workflows: build, run, stop and push the image
# (`buildc`, `runc`, `stopc`, `push`: Docker where a daemon answers, else Podman; see
# scripts/image/container.sh), and what `make test` checks: the Dockerfile's lint and scan, the
# binary built exactly as the Dockerfile builds it and its static linking, the image built and
# run in Podman (`test-container`, with `make push` rehearsed against a local registry), and
# the workflows' scan and policy.

IMAGE      ?= delay-echo:local
PLATFORM   ?= linux/amd64
CONTAINER  ?= delay-echo
# Where `make push` sends the image: the Terraform output repository_url, e.g.
# 123456789012.dkr.ecr.eu-west-1.amazonaws.com/delay-echo; AWS_REGION defaults to its region.
REPOSITORY_URL ?=
AWS_REGION ?=
# REGISTRY_LOGIN=none: push to a registry that is not ECR without logging in (a local one, or
# one already logged in to).
REGISTRY_LOGIN ?=
# Container engine (auto: Docker where a daemon answers, else Podman) and build path (auto:
# the full multi-stage build where the base image can be pulled, else the offline one).
ENGINE ?= auto
BUILD  ?= auto
# Publish the port on this host address only (e.g. 127.0.0.1); empty: every address.
HOST_IP ?=
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
	HOST_IP='$(HOST_IP)' ENGINE='$(ENGINE)' BUILD='$(BUILD)' PYTHON='$(PYTHON)' \
	VERSION='$(IMAGE_VERSION)' REVISION='$(IMAGE_REVISION)' \
	REPOSITORY_URL='$(REPOSITORY_URL)' AWS_REGION='$(AWS_REGION)' TAG='$(TAG)' \
	REGISTRY_LOGIN='$(REGISTRY_LOGIN)'

# The image tests that read files and run the container script against a stand-in `docker` are
# fast checks; those marked `live` (the static binary, built from source) and `container` (the
# image built and run in Podman) are integration gates. Markers, not file lists: pyproject.toml.

# Podman with --no-install-recommends: runc named (else apt picks crun, which refuses cgroup v1
# hybrid hosts), the CNI plugins (the network stack it depends on) and iptables (their port
# forwarding); uidmap and slirp4netns are what rootless Podman needs (a non-root `make test`;
# only root was tried). docker-registry: the local registry `make push` is rehearsed against.
APT_PACKAGES += shellcheck file binutils curl util-linux \
	podman runc containernetworking-plugins iptables uidmap slirp4netns docker-registry
CHECK_TARGETS += test-image-units
TEST_TARGETS += lint-image lint-workflows
LIVE_TARGETS += test-image test-container
LINT_TARGETS += lint-image lint-workflows

.PHONY: buildc
buildc: ## Build the image, tagged delay-echo:local: Docker or Podman; full build, or offline when the base image cannot be pulled
	$(CONTAINER_ENV) scripts/image/container.sh build

.PHONY: runc
runc: ## Run the image read-only on port 8080 (PORT=..., HOST_IP=...), replacing the previous container; passes DELAY_ECHO_* through
	$(CONTAINER_ENV) scripts/image/container.sh run $(ARGS)

.PHONY: stopc
stopc: ## Stop the container `make runc` started (it drains and exits 0)
	$(CONTAINER_ENV) scripts/image/container.sh stop

.PHONY: push
push: ## Tag the image, push it and print its digest: make push REPOSITORY_URL=<terraform output> [TAG=...] (REGISTRY_LOGIN=none: not ECR)
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
	$(VENV_BIN)/python -m pytest -q -p no:cacheprovider -n 2 -m "not live" tests/image

.PHONY: test-image
test-image: $(VENV)/.stamp image-binary ## The image's binary, built as the Dockerfile builds it: static, under the size budget
	IMAGE_BINARY=$(CURDIR)/$(IMAGE_BINARY) $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "live and not container" tests/image

.PHONY: test-container
test-container: $(VENV)/.stamp ## The image in Podman: offline build of the real Dockerfile, read-only run, health, drain on stop, contents; make push to a local registry
	PYTHON='$(PYTHON)' $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m container tests/image
