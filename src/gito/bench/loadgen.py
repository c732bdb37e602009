"""An open-loop, fixed-rate HTTP load generator, run as its own process
(`python -m gito.bench.loadgen`).

Open loop: request *i* is due at `start + i / rate` and is sent then, whether or not earlier
requests have been answered. Its latency is measured from that due time, not from the moment
it actually left, so a stalled server (or a stalled generator) shows up as latency instead of
silently lowering the request rate — the "coordinated omission" that closed-loop tools such as
`wrk` or `ab` suffer from. `wrk2` does this too but is not packaged by Debian; this generator
is small enough to audit and reports its own send lag and CPU so its health can be judged.

The HTTP/1.1 client is deliberately lean (asyncio protocol + the `httptools` parser that
uvicorn uses): on a 2-core machine the generator shares the CPU with the server, so every
microsecond it spends is taken from what it measures. httpx was tried first: it costs ~2 ms
of CPU per request and its connection pool scans every queued request on each release, so
under overload the generator, not the server, became the bottleneck.

Protocol with the parent process: one line `measure-start` on stdout when the first measured
request is due, one line `measure-end` when every measured request has finished, then one
line of JSON with the figures (see `LoadReport`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import ssl
import sys
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import cast
from urllib.parse import urlsplit

import httptools
import psutil

# Enough connections for open-loop bursts: if the server stalls, requests due meanwhile are
# sent on new connections (as independent clients would) until this many are open; beyond it
# they wait (FIFO) for a free connection, and that wait counts as latency.
DEFAULT_CONNECTIONS = 256
# A request unanswered after this long (from its due time) is counted as an error
# ("timeout"), so one stuck request cannot hold the run open forever.
DEFAULT_TIMEOUT_S = 10.0


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self) -> None:
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.response: asyncio.Future[int] | None = None
        self.keep_alive = True
        self.closed = False

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport (uvloop's does not subclass asyncio.Transport, so no isinstance).
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    # httptools callbacks
    def on_headers_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()

    def on_message_complete(self) -> None:
        if self.response is not None and not self.response.done():
            self.response.set_result(self.parser.get_status_code())

    def _fail(self, exc: BaseException) -> None:
        if self.response is not None and not self.response.done():
            self.response.set_exception(exc)

    async def request(self, raw: bytes) -> int:
        assert self.transport is not None
        self.response = asyncio.get_running_loop().create_future()
        self.transport.write(raw)
        return await self.response

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class _Pool:
    """Keep-alive connections to one origin, handed out in FIFO order of the requests
    waiting for them (a deque, so a long queue costs nothing per release)."""

    def __init__(self, url: str, max_connections: int) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.ssl = ssl.create_default_context() if parts.scheme == "https" else None
        self.max = max_connections
        self.open = 0
        self.idle: list[_Connection] = []
        # Each waiter gets a connection, or None: "a slot is free, open a new one".
        self.waiters: deque[asyncio.Future[_Connection | None]] = deque()

    async def acquire(self) -> _Connection:
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed:
                return conn
            self.open -= 1
        if self.open >= self.max:
            waiter: asyncio.Future[_Connection | None] = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                conn_or_slot = await waiter
            except asyncio.CancelledError:
                # Timed out while a connection (or a slot) was being handed over: pass it on.
                if waiter.done() and not waiter.cancelled():
                    handed = waiter.result()
                    if handed is None:
                        self._slot_freed()
                    else:
                        self.release(handed, reusable=True)
                raise
            if conn_or_slot is not None:
                return conn_or_slot
        else:
            self.open += 1
        try:
            _, conn = await asyncio.get_running_loop().create_connection(
                _Connection, self.host, self.port, ssl=self.ssl
            )
        except BaseException:
            self._slot_freed()
            raise
        return conn

    def release(self, conn: _Connection, *, reusable: bool) -> None:
        if not reusable or conn.closed:
            conn.close()
            self._slot_freed()
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    def _slot_freed(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the waiter opens a connection in this slot
                return
        self.open -= 1

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def _raw_request(url: str, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass(frozen=True)
class LoadOptions:
    url: str
    rate: float
    duration_s: float
    warmup_s: float = 3.0
    headers: dict[str, str] = field(default_factory=dict)
    connections: int = DEFAULT_CONNECTIONS
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass
class LoadReport:
    target_rate: float
    duration_s: float
    requests: int
    ok: int
    errors: int
    # Status code (or exception name) → count, for every measured request.
    outcomes: dict[str, int]
    achieved_rate: float
    latency_ms: dict[str, float]
    # How late requests left compared with their schedule; large values mean the generator,
    # not the server, was the bottleneck.
    send_lag_ms: dict[str, float]
    loadgen_cpu_percent: float
    wall_s: float

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> LoadReport:
        return cls(**json.loads(text))


PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p99.9", 99.9))


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the value below which `pct`% of samples fall, never an
    interpolation between two samples)."""
    if not sorted_values:
        return math.nan
    # Rounded first: 99.9 / 100 * 1000 is 999.0000000000001 in floating point.
    rank = max(1, math.ceil(round(pct * len(sorted_values) / 100, 9)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarise(values_s: list[float]) -> dict[str, float]:
    """Latency summary in milliseconds from samples in seconds."""
    ordered = sorted(values_s)
    out = {name: round(percentile(ordered, pct) * 1000, 3) for name, pct in PERCENTILES}
    out["max"] = round(ordered[-1] * 1000, 3) if ordered else math.nan
    out["mean"] = round(sum(ordered) / len(ordered) * 1000, 3) if ordered else math.nan
    return out


async def generate(options: LoadOptions, emit: Callable[[str], None] = print) -> LoadReport:
    """Send `warmup_s * rate` unmeasured requests, then `duration_s * rate` measured ones,
    each at its due time."""
    interval = 1.0 / options.rate
    warmup_n = round(options.warmup_s * options.rate)
    measured_n = max(1, round(options.duration_s * options.rate))
    raw = _raw_request(options.url, options.headers)
    pool = _Pool(options.url, options.connections)
    latencies: list[float] = []
    lags: list[float] = []
    outcomes: Counter[str] = Counter()
    last_done = 0.0

    async def exchange() -> str:
        conn = await pool.acquire()
        reusable = False
        try:
            status = await conn.request(raw)
            reusable = conn.keep_alive
            return str(status)
        finally:
            pool.release(conn, reusable=reusable)

    async def one(due: float, measured: bool) -> None:
        nonlocal last_done
        sent = time.perf_counter()
        try:
            # The deadline counts from the due time: a request queued behind a stalled server
            # is as late as one the server holds.
            async with asyncio.timeout_at(_loop_time(due + options.timeout_s)):
                outcome = await exchange()
        except TimeoutError:
            outcome = "timeout"
        except (OSError, httptools.HttpParserError) as exc:
            outcome = type(exc).__name__
        done = time.perf_counter()
        if measured:
            outcomes[outcome] += 1
            latencies.append(done - due)
            lags.append(sent - due)
            if outcome.isdigit():
                last_done = max(last_done, done)

    pending: set[asyncio.Task[None]] = set()
    measured_tasks: list[asyncio.Task[None]] = []
    process = psutil.Process()
    start = time.perf_counter() + 0.05
    first_measured_due = start + warmup_n * interval
    cpu_before = sum(process.cpu_times()[:2])
    for i in range(warmup_n + measured_n):
        due = start + i * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        measured = i >= warmup_n
        if i == warmup_n:
            emit("measure-start")
            cpu_before = sum(process.cpu_times()[:2])
        task = asyncio.create_task(one(due, measured))
        pending.add(task)
        task.add_done_callback(pending.discard)
        if measured:
            measured_tasks.append(task)
    await asyncio.gather(*measured_tasks)
    ended = time.perf_counter()
    emit("measure-end")
    cpu_used = sum(process.cpu_times()[:2]) - cpu_before
    # Warm-up stragglers, if any, are not counted; do not leave them running.
    for task in list(pending):
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    pool.close()

    ok = outcomes.get("200", 0)
    # Answers (any HTTP status) per second; timeouts and connection errors are not answers,
    # so an overloaded server shows a lower achieved rate, not the rate the requests left at.
    answered = sum(n for outcome, n in outcomes.items() if outcome.isdigit())
    span = max(last_done - first_measured_due, 1e-9)
    return LoadReport(
        target_rate=options.rate,
        duration_s=options.duration_s,
        requests=len(latencies),
        ok=ok,
        errors=len(latencies) - ok,
        outcomes=dict(outcomes),
        achieved_rate=round(answered / span, 2),
        latency_ms=summarise(latencies),
        send_lag_ms=summarise(lags),
        loadgen_cpu_percent=round(100 * cpu_used / max(ended - first_measured_due, 1e-9), 1),
        wall_s=round(ended - first_measured_due, 3),
    )


def _loop_time(perf_counter_time: float) -> float:
    """The event loop's clock value at a given `time.perf_counter()` moment."""
    return asyncio.get_running_loop().time() + (perf_counter_time - time.perf_counter())


def run(options: LoadOptions, emit: Callable[[str], None] = print) -> LoadReport:
    """Run `generate` on uvloop when it is installed (it comes with `uvicorn[standard]`): the
    generator's own overhead then disturbs the figures less."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is installed wherever uvicorn[standard] is
        return asyncio.run(generate(options, emit))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(generate(options, emit))


def _parse(argv: Sequence[str]) -> LoadOptions:
    parser = argparse.ArgumentParser(prog="python -m gito.bench.loadgen", description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--rate", type=float, required=True, help="Requests per second.")
    parser.add_argument("--duration", type=float, required=True, help="Measured seconds.")
    parser.add_argument("--warmup", type=float, default=3.0, help="Unmeasured seconds first.")
    parser.add_argument("--connections", type=int, default=DEFAULT_CONNECTIONS)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S)
    parser.add_argument(
        "--header", action="append", default=[], help="`Name: value`; may be repeated."
    )
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.duration <= 0 or args.warmup < 0:
        parser.error("--rate and --duration must be positive, --warmup not negative")
    headers = {}
    for raw in args.header:
        name, _, value = raw.partition(":")
        headers[name.strip()] = value.strip()
    return LoadOptions(
        url=args.url,
        rate=args.rate,
        duration_s=args.duration,
        warmup_s=args.warmup,
        headers=headers,
        connections=args.connections,
        timeout_s=args.timeout,
    )


def main(argv: Sequence[str] | None = None) -> None:
    options = _parse(sys.argv[1:] if argv is None else argv)

    def emit(line: str) -> None:
        print(line, flush=True)

    report = run(options, emit)
    print(report.to_json(), flush=True)


if __name__ == "__main__":
    main()
