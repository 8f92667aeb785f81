"""Scripts the Makefile runs; a package so the tests import them by name."""
