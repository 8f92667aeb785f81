# Campaigns (loadtests/campaign): K runs of N configurations in a seeded random order, each a
# normal run folder, then medians with intervals, differences with intervals and verdicts.

SERVICE_LANE_GATES += campaign-smoke

CAMPAIGN_RUN := K6="$(K6)" RESULTS="$(RESULTS)" DELAY_ECHO_BIN="$(CURDIR)/target/release/delay-echo" \
	$(VENV_BIN)/python -m loadtests.campaign

.PHONY: campaign
campaign: build $(VENV)/.stamp ## Run a campaign: make campaign CAMPAIGN=loadtests/campaigns/policies.toml (RESUME=<folder> continues one)
	@if [ -n "$(RESUME)" ]; then $(CAMPAIGN_RUN) resume --resume "$(RESUME)"; \
	elif [ -n "$(CAMPAIGN)" ]; then $(CAMPAIGN_RUN) run --campaign "$(CAMPAIGN)"; \
	else echo 'give a campaign file: make campaign CAMPAIGN=loadtests/campaigns/policies.toml (or RESUME=<folder>)' >&2; exit 2; fi

.PHONY: campaign-report
campaign-report: $(VENV)/.stamp ## (Re)write a campaign folder's report: make campaign-report FOLDER=<folder>
	@test -n "$(FOLDER)" || { echo 'give the folder: make campaign-report FOLDER=loadtests/results/campaign-…' >&2; exit 2; }
	$(VENV_BIN)/python -m loadtests.campaign report "$(FOLDER)"

# Two configurations × two tiny runs on the local platform, through the command a user runs. It
# asserts that every run is kept and reported, no timing: it runs the dev binary (Makefile).
.PHONY: campaign-smoke
campaign-smoke: dev-binary $(VENV)/.stamp ## Campaign end to end: 2 configurations × 2 tiny runs on the local platform (about 1 min)
	K6="$(abspath $(VENV_BIN))/k6" DELAY_ECHO_BIN="$(CURDIR)/$(DEV_BIN)" \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider loadtests/campaign/tests/test_smoke.py

# The ground truth: a known 10 s between two schedules is found, two identical ones are not told
# apart, and campaign.html renders in a headless Chromium (installed here, not by make deps).
.PHONY: test-campaign
test-campaign: image-binary $(VENV)/.stamp ## Campaign ground truth: known-10s.toml (3 × 3 runs, about 6 min) and its report in headless Chromium
	$(MAKE) --no-print-directory deps APT_PACKAGES=chromium-headless-shell
	K6="$(abspath $(VENV_BIN))/k6" DELAY_ECHO_BIN="$(CURDIR)/$(SERVICE_BIN)" \
	  $(VENV_BIN)/python -m pytest -q -p no:cacheprovider loadtests/campaign/tests/test_ground_truth.py
