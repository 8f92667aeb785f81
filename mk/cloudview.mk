# The platform's own view of a cloud run (issue 21 points 4 and 5): `make platform-view` reads the
# service's per-instance log streams and CloudWatch metrics for a run's window into the run
# folder's platform.jsonl and renders its report again. See loadtests/cloudview/README.md.

# The service: App Runner by its ARN (terraform -chdir=infra output -raw service_arn), or ECS
# Express Mode by CLUSTER, SERVICE and its awslogs group LOG_GROUP. RUN (mk/loadtest.mk) defaults
# to the latest run. Every other setting passes through the environment (CLOUDVIEW_MARGIN,
# CLOUDVIEW_PERIOD, CLOUDVIEW_RETRIES, CLOUDVIEW_RETRY_BASE, AWS_REGION, AWS_PROFILE, …).
SERVICE_ARN ?=
CLUSTER     ?=
SERVICE     ?=
LOG_GROUP   ?=

CLOUDVIEW := $(VENV_BIN)/delay-echo-cloudview

CHECK_TARGETS += check-cloudview
TEST_TARGETS += test-cloudview

.PHONY: platform-view
platform-view: $(VENV)/.stamp ## The cloud's view of a run into its platform.jsonl and report: RUN=loadtests/results/<run> SERVICE_ARN=<App Runner ARN> (ECS Express: CLUSTER= SERVICE= LOG_GROUP=)
	@test -n "$(RUN)" || { echo 'give the run folder: make platform-view RUN=loadtests/results/<run> SERVICE_ARN=…' >&2; exit 2; }
	$(CLOUDVIEW) --run '$(RUN)' $(if $(SERVICE_ARN),--service-arn '$(SERVICE_ARN)') \
	  $(if $(CLUSTER),--cluster '$(CLUSTER)') $(if $(SERVICE),--service '$(SERVICE)') \
	  $(if $(LOG_GROUP),--log-group '$(LOG_GROUP)')

# The tests that need no endpoint: naming the service, record lines, backoff, events, refusals.
.PHONY: check-cloudview
check-cloudview: $(VENV)/.stamp ## platform-view checks without an AWS endpoint: ARNs, record lines, backoff, events, the CLI's refusals
	$(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m "not live" loadtests/cloudview/tests

# moto in server mode (in the test process, on an ephemeral 127.0.0.1 port): no service binary,
# no timing asserted, so it runs in the tools lane beside the builds.
.PHONY: test-cloudview
test-cloudview: $(VENV)/.stamp ## platform-view against moto's AWS API server: known streams and points to events and supply series, no streams, throttling, a missing log group, permission or credentials, an ECS service
	$(VENV_BIN)/python -m pytest -q -p no:cacheprovider -m live loadtests/cloudview/tests
