"""The lab's shared contracts, each written once: the load plan (`plan`). Consumers (the analysis,
the locust runner, the platform, the studies) import these instead of re-reading k6's files
themselves."""
