"""Campaigns: K repetitions of N configurations in a seeded, randomised order, and the statistics
that turn their runs into medians, intervals and verdicts (stats.py)."""
