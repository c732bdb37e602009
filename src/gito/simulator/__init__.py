"""`gito simulate` and `gito up --demo`: a fleet of simulated sensors that registers through
the REST API and reports through the MQTT broker with its own device credentials, exactly as
real devices do — so it exercises the whole platform, not a shortcut into the database."""

from gito.simulator.runner import (
    DEMO_DEVICES,
    DEMO_RATE,
    Simulation,
    SimulationSummary,
    run_demo,
    run_simulation,
)

__all__ = [
    "DEMO_DEVICES",
    "DEMO_RATE",
    "Simulation",
    "SimulationSummary",
    "run_demo",
    "run_simulation",
]
