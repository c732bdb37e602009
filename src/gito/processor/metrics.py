"""Prometheus metrics of the ingest path (processor and HTTP ingest share them)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_RECEIVED = Counter(
    "gito_ingest_messages_received_total", "Telemetry messages received", ["transport"]
)
MESSAGES_STORED = Counter(
    "gito_ingest_messages_stored_total", "Telemetry messages durably stored", ["transport"]
)
MESSAGES_REJECTED = Counter(
    "gito_ingest_messages_rejected_total", "Telemetry messages rejected", ["reason"]
)
ROWS_STORED = Counter("gito_ingest_rows_stored_total", "Telemetry rows inserted or merged")
BATCH_SECONDS = Histogram(
    "gito_ingest_batch_seconds",
    "Time to write one batch",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "gito_ingest_batch_messages",
    "Messages per batch",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000),
)
BATCH_RETRIES = Counter("gito_ingest_batch_retries_total", "Batch writes retried after an error")
PENDING = Gauge("gito_ingest_pending_messages", "Messages received but not yet committed")
COMMAND_RESPONSES = Counter(
    "gito_command_responses_total", "Command responses received from devices"
)
