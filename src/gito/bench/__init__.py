"""Benchmarks that print figures (`gito bench ...`). They are commands, not timed tests: a
figure depends on the machine, so it is measured and written down, never asserted in CI."""
