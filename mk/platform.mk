# The local platform (loadtests/localplatform/): HAProxy from Debian in front of delay-echo instances, an
# autoscaler applying a published policy, and k6 driving a profile through it into a run folder.

APT_PACKAGES += haproxy

# RUNTIME=process (each instance a delay-echo process) or container (each a container of $(IMAGE),
# built by buildc, pulled from a registry started for the run). A bad value stops make before it
# builds or starts anything (exit 2); the platform checks it again (same message).
RUNTIME ?= process
PLATFORM_RUNTIMES := process container
ifneq ($(filter platform-local loadtest-local,$(MAKECMDGOALS)),)
ifneq ($(words $(RUNTIME)) $(filter $(PLATFORM_RUNTIMES),$(RUNTIME)),1 $(strip $(RUNTIME)))
$(error RUNTIME='$(RUNTIME)': allowed: process | container)
endif
endif
PLATFORM_BUILD := $(if $(filter container,$(RUNTIME)),buildc,build)

.PHONY: platform-local
platform-local: $(PLATFORM_BUILD) $(VENV)/.stamp ## Rehearse a platform: make platform-local POLICY=knative|hpa|apprunner|schedule [RUNTIME=process|container PROFILE=spike PEAK=… COLD_START=…]
	@test -n "$(POLICY)" || { echo 'give the policy: make platform-local POLICY=apprunner|knative|hpa|schedule (knobs: $(VENV_BIN)/python -m loadtests.localplatform knobs)' >&2; exit 2; }
	K6="$(K6)" RESULTS="$(RESULTS)" PYTHON="$(PYTHON)" DELAY_ECHO_BIN=target/release/delay-echo \
	  RUNTIME="$(RUNTIME)" IMAGE="$(IMAGE)" POLICY="$(POLICY)" $(VENV_BIN)/python -m loadtests.localplatform run

# Policies on synthetic series with known decisions; a short spike on the real platform end to end.
.PHONY: test-platform
test-platform: image-binary $(VENV)/.stamp ## Local-platform tests alone: policy decisions, a platform-local spike end to end, on processes and on containers (make test runs them in check-loadtests and test-loadtests)
	K6="$(abspath $(VENV_BIN))/k6" DELAY_ECHO_BIN="$(CURDIR)/$(SERVICE_BIN)" PYTHON="$(PYTHON)" \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m platform loadtests/tests
