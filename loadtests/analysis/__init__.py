"""Analysis of delay-echo load-test runs: per-second series, headline numbers, plots and reports.

`python -m loadtests.analysis report RUN_DIR [RUN_DIR…]` and `… compare RUN_A RUN_B`; see
loadtests/README.md for what each plot and number means.
"""
