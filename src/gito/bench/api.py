"""`gito bench api`: latency of the device list under a fixed request rate.

The parts, each its own process so they do not share a CPU-bound event loop:

1. a database: `DATABASE_URL`'s server (a scratch database is created there and dropped
   afterwards, so no real data is touched), or an embedded PostgreSQL in a temp dir;
2. the API: `gito api` as a subprocess on a free port, exactly as production starts it;
3. the load: `python -m gito.bench.loadgen`, open-loop at the target rate (see that module).

CPU of the server process tree, of the database backends serving the benchmark and of the
generator is sampled over the measured window, because on a 2-core machine they compete."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from gito.bench import free_port, seed
from gito.bench.loadgen import LoadReport
from gito.config import Settings
from gito.db.engine import async_url

# How long `gito api` may take to answer its health check before the benchmark gives up.
SERVER_START_TIMEOUT_S = 60.0
# Above this much CPU (in % of one core) used by processes outside the benchmark, the run is
# flagged: the figures then say more about the neighbours than about Gito.
NOISY_MACHINE_PERCENT = 25.0
# CPU of the API and database processes is sampled this often during the measured window.
CPU_SAMPLE_INTERVAL_S = 0.5


@dataclass
class CpuSample:
    """CPU seconds (user + system) of a set of processes, so that processes which exit
    between two samples do not make the difference negative."""

    seconds: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, processes: list[psutil.Process]) -> CpuSample:
        sample = cls()
        for proc in processes:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                sample.seconds[proc.pid] = times.user + times.system
        return sample


class CpuTracker:
    """CPU seconds used by the API process tree and the database backends during a window.

    Sampled every `CPU_SAMPLE_INTERVAL_S`, not only at both ends: a backend that exits inside
    the window (the pool closes overflow connections when they are returned) still counts
    what it had used at its last sample instead of vanishing from the sum."""

    def __init__(self, server_pid: int | None, database_name: str | None) -> None:
        self.server_pid = server_pid
        self.database_name = database_name
        self.baseline: dict[int, float] = {}
        self.latest: dict[int, float] = {}
        self.server_pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cpu-tracker", daemon=True)
        self._result: tuple[float, float] | None = None

    def _sample(self, *, initial: bool = False) -> None:
        server = process_tree(self.server_pid) if self.server_pid else []
        self.server_pids.update(p.pid for p in server)
        backends = database_backends(self.database_name) if self.database_name else []
        for pid, seconds in CpuSample.of(server + backends).seconds.items():
            if initial:
                self.baseline[pid] = seconds
            self.latest[pid] = max(self.latest.get(pid, 0.0), seconds)

    def _run(self) -> None:
        while not self._stop.wait(CPU_SAMPLE_INTERVAL_S):
            self._sample()

    def start(self) -> None:
        self._sample(initial=True)
        self._thread.start()

    def stop(self) -> tuple[float, float]:
        """(API seconds, database seconds) used since `start`."""
        if self._result is None:
            self._stop.set()
            self._thread.join()
            self._sample()
            used = {p: max(0.0, s - self.baseline.get(p, 0.0)) for p, s in self.latest.items()}
            server = sum(v for pid, v in used.items() if pid in self.server_pids)
            self._result = (server, sum(used.values()) - server)
        return self._result


def process_tree(pid: int) -> list[psutil.Process]:
    """A process and all its descendants (uvicorn's supervisor and its workers)."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def database_backends(database: str) -> list[psutil.Process]:
    """PostgreSQL backends connected to `database`, found by their process title
    (`postgres: [<cluster>:] <user> <database> <client> <state>`)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        title = " ".join(proc.info.get("cmdline") or []).split()
        if title[:1] == ["postgres:"] and database in title[1:4]:
            found.append(proc)
    return found


class ApiServer:
    """`gito api` in a subprocess, on a free loopback port, against `database_url`."""

    def __init__(self, database_url: str, *, jwt_secret: str, workers: int, workdir: Path) -> None:
        self.database_url = database_url
        self.jwt_secret = jwt_secret
        self.workers = workers
        self.port = free_port()
        self.log_path = workdir / "api.log"
        self.data_dir = workdir / "data"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def __enter__(self) -> ApiServer:
        env = {
            **os.environ,
            "DATABASE_URL": self.database_url,
            "JWT_SECRET_KEY": self.jwt_secret,
            "GITO_DATA_DIR": str(self.data_dir),
        }
        command = [sys.executable, "-m", "gito.cli", "api", "--port", str(self.port)]
        command += ["--workers", str(self.workers)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
                command, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gito api exited at start:\n{self.log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"gito api did not become healthy:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __exit__(self, *_: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)


@dataclass
class ApiBenchResult:
    load: LoadReport
    devices: int
    workers: int
    server_cpu_percent: float | None
    database_cpu_percent: float | None
    machine_cpu_percent: float | None
    # Machine CPU not explained by the API, its database backends or the generator: other
    # work on the same machine, which makes a run's figures worse than the code deserves.
    others_cpu_percent: float | None
    cpu_count: int
    database: str
    rate_limit_storage: str
    path: str
    profile: str | None = None


def run_load(
    url: str,
    *,
    token: str,
    rate: float,
    duration_s: float,
    warmup_s: float,
    server_pid: int | None = None,
    database_name: str | None = None,
    profile_path: Path | None = None,
) -> tuple[LoadReport, dict[str, float | None]]:
    """Run the generator process and sample CPU between its `measure-start` and
    `measure-end` lines."""
    command = [
        sys.executable,
        "-m",
        "gito.bench.loadgen",
        url,
        "--rate",
        str(rate),
        "--duration",
        str(duration_s),
        "--warmup",
        str(warmup_s),
        "--header",
        f"Authorization: Bearer {token}",
    ]
    proc = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    tracker: CpuTracker | None = None
    machine_before = psutil.cpu_times()
    started = time.perf_counter()
    cpu: dict[str, float | None] = {"server": None, "database": None, "machine": None}
    profiler: subprocess.Popen[bytes] | None = None
    report: LoadReport | None = None
    try:
        for line in proc.stdout:
            line = line.strip()
            if line == "measure-start":
                tracker = CpuTracker(server_pid, database_name)
                tracker.start()
                machine_before = psutil.cpu_times()
                started = time.perf_counter()
                if profile_path and server_pid:
                    profiler = _start_profiler(server_pid, profile_path, duration_s)
            elif line == "measure-end" and tracker is not None:
                wall = time.perf_counter() - started
                server_used, db_used = tracker.stop()
                if server_pid:
                    cpu["server"] = round(100 * server_used / wall, 1)
                if database_name:
                    cpu["database"] = round(100 * db_used / wall, 1)
                cpu["machine"] = round(_busy_percent(machine_before, psutil.cpu_times()), 1)
            elif line.startswith("{"):
                report = LoadReport.from_json(line)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if tracker is not None:
            tracker.stop()
        if profiler is not None:
            profiler.wait(timeout=60)
    if report is None or proc.returncode != 0:
        stderr = proc.stderr.read() if proc.stderr else ""
        raise RuntimeError(f"load generator failed (exit {proc.returncode}):\n{stderr}")
    return report, cpu


def _busy_percent(before: Any, after: Any) -> float:
    """Share of all cores' time not idle between two `psutil.cpu_times()` samples, as a
    percentage of one core (200% = both cores of a 2-core machine busy)."""
    idle = (after.idle + getattr(after, "iowait", 0.0)) - (
        before.idle + getattr(before, "iowait", 0.0)
    )
    total = sum(after) - sum(before)
    if total <= 0:
        return 0.0
    return float(100 * (total - idle) / total * (psutil.cpu_count() or 1))


def _start_profiler(pid: int, path: Path, duration_s: float) -> subprocess.Popen[bytes]:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        raise RuntimeError("--profile needs py-spy (pip install py-spy)")
    fmt = "speedscope" if path.suffix == ".json" else "raw"
    return subprocess.Popen(  # noqa: S603 (py-spy from PATH or the venv)
        [
            py_spy,
            "record",
            "--pid",
            str(pid),
            "--subprocesses",
            "--duration",
            str(max(1, int(duration_s))),
            "--rate",
            "250",
            "--format",
            fmt,
            "--output",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def measure(
    database_url: str,
    *,
    devices: int,
    rate: float,
    duration_s: float,
    warmup_s: float,
    workers: int = 1,
    settings: Settings | None = None,
    profile_path: Path | None = None,
    per_page: int = 50,
) -> ApiBenchResult:
    """Seed a bench tenant into the (already migrated) database, start `gito api` on it and
    drive the device list at `rate`."""
    jwt_secret = secrets.token_urlsafe(48)
    settings = (settings or Settings(_env_file=None)).model_copy(
        update={"jwt_secret_key": jwt_secret}
    )
    tenant = asyncio.run(seed.seed_tenant(database_url, settings, devices=devices))
    database_name = make_url(database_url).database
    path = tenant.devices_path(per_page)
    with (
        tempfile.TemporaryDirectory(prefix="gito-bench-api-") as workdir,
        ApiServer(
            database_url, jwt_secret=jwt_secret, workers=workers, workdir=Path(workdir)
        ) as server,
    ):
        load, cpu = run_load(
            server.url + path,
            token=tenant.admin_token,
            rate=rate,
            duration_s=duration_s,
            warmup_s=warmup_s,
            server_pid=server.pid,
            database_name=database_name,
            profile_path=profile_path,
        )
    return ApiBenchResult(
        load=load,
        devices=devices,
        workers=workers,
        server_cpu_percent=cpu["server"],
        database_cpu_percent=cpu["database"],
        machine_cpu_percent=cpu["machine"],
        others_cpu_percent=_others(cpu, load),
        cpu_count=psutil.cpu_count() or 1,
        database=_describe_url(database_url),
        rate_limit_storage="redis" if os.environ.get("REDIS_URL") else "memory",
        path="GET " + path.replace(str(tenant.tenant_id), "{t}"),
        profile=str(profile_path) if profile_path else None,
    )


def _others(cpu: dict[str, float | None], load: LoadReport) -> float | None:
    if cpu["machine"] is None:
        return None
    ours = (cpu["server"] or 0) + (cpu["database"] or 0) + load.loadgen_cpu_percent
    return round(max(0.0, cpu["machine"] - ours), 1)


def _describe_url(url: str) -> str:
    parsed = make_url(url)
    host = parsed.host or str(parsed.query.get("host") or "a local socket")
    return f"PostgreSQL at {host}"


@contextlib.contextmanager
def scratch_database(server_url: str | None) -> Iterator[str]:
    """A migrated, empty database for one run: on `server_url`'s server (created and dropped
    here), or in an embedded PostgreSQL in a temp dir when no server is given."""
    from gito.db import migrations

    if server_url is None:
        from gito.embedded.postgres import EmbeddedPostgres

        with tempfile.TemporaryDirectory(prefix="gito-bench-pg-") as tmp:
            embedded = EmbeddedPostgres(Path(tmp))
            url = embedded.start()
            try:
                migrations.upgrade(url)
                yield url
            finally:
                embedded.stop()
        return

    name = f"gito_bench_{secrets.token_hex(6)}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server_url).set(database=name).render_as_string(False)
        migrations.upgrade(url)
        yield url
    finally:
        asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(server_url: str, sql: str) -> None:
    """CREATE/DROP DATABASE, which cannot run inside a transaction block."""
    engine = create_async_engine(async_url(server_url), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


def render(result: ApiBenchResult) -> Any:
    """The figures as a rich table (what `gito bench api` prints)."""
    from rich.table import Table

    load = result.load
    lat = load.latency_ms

    def pct(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.0f}% of one core"

    table = Table(title=f"{result.path}  ({result.devices:,} devices in the tenant)")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("target rate", f"{load.target_rate:g} req/s"),
        ("achieved rate", f"{load.achieved_rate:.1f} req/s"),
        ("requests (measured)", f"{load.requests:,} in {load.duration_s:g} s"),
        ("errors (non-200)", f"{load.errors:,}" + _outcomes(load)),
        ("latency p50", f"{lat['p50']:.2f} ms"),
        ("latency p90", f"{lat['p90']:.2f} ms"),
        ("latency p99", f"{lat['p99']:.2f} ms"),
        ("latency p99.9", f"{lat['p99.9']:.2f} ms"),
        ("latency max", f"{lat['max']:.2f} ms"),
        (
            "generator send lag p99 / max",
            f"{load.send_lag_ms['p99']:.2f} / {load.send_lag_ms['max']:.2f} ms",
        ),
        (f"API CPU ({result.workers} worker(s))", pct(result.server_cpu_percent)),
        ("PostgreSQL backends CPU", pct(result.database_cpu_percent)),
        ("load generator CPU", pct(load.loadgen_cpu_percent)),
        ("machine CPU busy", pct(result.machine_cpu_percent) + f" ({result.cpu_count} cores)"),
        ("  of which other processes", pct(result.others_cpu_percent)),
        ("database", result.database),
        ("rate-limit storage", result.rate_limit_storage),
    ]
    if result.profile:
        rows.append(("py-spy profile", result.profile))
    for name, value in rows:
        table.add_row(name, value)
    if (result.others_cpu_percent or 0) > NOISY_MACHINE_PERCENT:
        table.caption = (
            "[yellow]other processes used the CPU during the run: these figures are worse "
            "than on a quiet machine[/yellow]"
        )
    return table


def _outcomes(load: LoadReport) -> str:
    others = {k: v for k, v in load.outcomes.items() if k != "200"}
    return f"  ({', '.join(f'{k}: {v}' for k, v in sorted(others.items()))})" if others else ""


def render_external(load: LoadReport, cpu: dict[str, float | None], target: str) -> Any:
    """Figures for `--url` runs (no server or database CPU: those processes are not ours)."""
    result = ApiBenchResult(
        load=load,
        devices=0,
        workers=0,
        server_cpu_percent=None,
        database_cpu_percent=None,
        machine_cpu_percent=cpu.get("machine"),
        others_cpu_percent=None,
        cpu_count=psutil.cpu_count() or 1,
        database="not ours",
        rate_limit_storage="unknown",
        path="GET " + target,
    )
    table = render(result)
    table.title = f"GET {target}"
    return table
