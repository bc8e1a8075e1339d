"""Suites run on the target named by --target (see harness.pytest_plugin)."""
