"""The end-of-run summary as a table for the terminal."""

from __future__ import annotations

from rich.table import Table

from gito.simulator.runner import SimulationSummary


def render_summary(summary: SimulationSummary) -> Table:
    s = summary
    table = Table(title="Simulation summary", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("tenant", str(s.tenant_id) if s.tenant_id else "-"),
        ("devices (created / reused)", f"{s.devices} ({s.created} / {s.reused})"),
        ("connected", f"{s.connected} over MQTT {'5' if s.mqtt5 else '3.1.1'}"),
        ("seconds", f"{s.elapsed_s:.1f}"),
        ("published", f"{s.published:,} ({s.published_per_s:.1f}/s)"),
        ("acknowledged", f"{s.acknowledged:,} ({s.acknowledged_per_s:.1f}/s)"),
        ("unacknowledged at the end", f"{s.unacknowledged:,}"),
        ("dropped by the broker", f"{s.dropped:,}"),
        ("readings not sent: offline / silent", f"{s.offline_readings:,} / {s.silent_readings:,}"),
        ("commands received / answered", f"{s.commands:,} / {s.responses:,}"),
        ("reconnects / failed connects", f"{s.reconnects:,} / {s.connect_failures:,}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table
