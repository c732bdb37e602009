"""Benchmarks that print figures (`gito bench ...`). They are commands, not timed tests: a
figure depends on the machine, so it is measured and written down, never asserted in CI."""

import socket


def free_port() -> int:
    """A TCP port free on the loopback interface right now (for servers a bench starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
