"""Job creation latency through the gateway against a bare database insert plus confirmed publish.

Both sides run with the same number of concurrent clients (50 by default) in the same run:

- gateway: ``POST /v1/jobs`` over loopback HTTP (httpx, one keep-alive connection per client) to a
  gateway process (``python -m clipforge.gateway``), which authenticates the API key, counts the
  tenant's rate limit, stores the job and publishes ``job.requested`` with a broker confirm;
- baseline: the same job document inserted with PyMongo's async API and the same
  ``JobRequested`` published persistent, mandatory and confirmed (FastStream/aio-pika, a channel
  with publisher confirms, as the gateway does), from this process: the work a job creation
  cannot avoid, without HTTP, authentication or rate limiting.

Phases alternate (baseline, gateway, gateway, baseline, ...) so drift of the database or broker
hits both sides alike; every phase starts with the work queue purged. The database is a
SecantusDB server of its own (or ``--mongo-url``); the broker the local RabbitMQ, under a unique
topology prefix that is deleted afterwards.

Usage (from the repository root):
    .venv/bin/python bench/gateway/create_latency.py --rounds 3     # closed loop: 50 clients, 3 x 1500 a side
    .venv/bin/python bench/gateway/create_latency.py --rate 60 --requests 1200 --out /tmp/paced.json  # paced
Prints a table (with the CPU each process spent per request) and writes create-latency-results.json
next to this file (or --out). The machine's load average is recorded: other work on the same
cores moves the figures a lot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aio_pika
import httpx
from faststream.rabbit import Channel, RabbitBroker

from clipforge.devstack.ports import free_port
from clipforge.devstack.rabbit import delete_topology
from clipforge.devstack.secantus import SecantusServer
from clipforge.gateway.keys import KeyStore
from clipforge.shared.events import JobRequested, new_event_id
from clipforge.shared.jobs import JobStore, connect, new_job_id, utc_now
from clipforge.shared.models import JobOptions, JobStatus, SourceRef, Stage, StageStatus
from clipforge.shared.topology import Topology

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TENANT = "bench"
VIDEO_URL = "https://example.com/videos/talk.mp4"
GOAL_P50_RATIO = 1.5


@dataclass
class Side:
    name: str
    requests: int
    errors: int
    seconds: float
    throughput_per_second: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rabbit_pid() -> int | None:
    found = subprocess.run(["pgrep", "-f", "beam.smp.*rabbit"], capture_output=True, text=True).stdout.split()
    return int(found[0]) if found else None


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))] * 1000


def summarise(name: str, latencies: list[float], errors: int, seconds: float) -> Side:
    return Side(
        name=name,
        requests=len(latencies),
        errors=errors,
        seconds=round(seconds, 2),
        throughput_per_second=round(len(latencies) / seconds, 1),
        p50_ms=round(percentile(latencies, 0.50), 2),
        p90_ms=round(percentile(latencies, 0.90), 2),
        p99_ms=round(percentile(latencies, 0.99), 2),
        max_ms=round(max(latencies) * 1000, 2),
    )


async def run_clients(
    clients: int, requests: int, operation: Callable[[int], Awaitable[bool]], rate: float = 0.0
) -> tuple[list[float], int, float]:
    """``clients`` concurrent clients sharing ``requests`` operations; the latency of each successful one.

    With ``rate`` 0 each client sends its next request as soon as the last one is answered (closed
    loop: the clients keep the system saturated, so latency is mostly queueing). With a rate, request
    ``i`` is due at ``i / rate`` seconds and sent by the client ``i % clients`` (open loop, paced);
    its latency counts from when it was due, so a system that falls behind is not flattered.
    """
    latencies: list[float] = []
    errors = 0
    remaining = iter(range(requests))
    started = time.perf_counter()

    async def client(number: int) -> None:
        nonlocal errors
        for index in remaining if rate == 0 else range(number, requests, clients):
            due = started + index / rate if rate else time.perf_counter()
            if rate:
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
            ok = await operation(number)
            if ok:
                latencies.append(time.perf_counter() - due)
            else:
                errors += 1

    await asyncio.gather(*(client(number) for number in range(clients)))
    return latencies, errors, time.perf_counter() - started


# --- the two sides ----------------------------------------------------------------------------


def job_document(job_id: str) -> dict[str, Any]:
    """What ``JobStore.create`` inserts for a new job."""
    now = utc_now()
    return {
        "_id": job_id,
        "tenant_id": TENANT,
        "source": SourceRef(url=VIDEO_URL).model_dump(),
        "options": JobOptions().model_dump(),
        "status": JobStatus.QUEUED.value,
        "progress": 0.0,
        "message": "Waiting for a worker",
        "stage": "queued",
        "seq": 0,
        "stages": {stage.value: {"status": StageStatus.PENDING.value, "attempt": 0} for stage in Stage},
        "media": None,
        "transcript": None,
        "highlights": [],
        "clips": [],
        "error": None,
        "priority": "interactive",
        "retries": 0,
        "created_at": now,
        "updated_at": now,
        "finished_at": None,
        "version": 0,
    }


class Baseline:
    """Insert the job, publish job.requested with a confirm: nothing else."""

    def __init__(self, store: JobStore, amqp_url: str, topology: Topology) -> None:
        self.jobs = store.jobs
        self.topology = topology
        self.broker = RabbitBroker(amqp_url, default_channel=Channel(publisher_confirms=True, on_return_raises=True))

    async def start(self) -> None:
        await self.broker.connect()

    async def stop(self) -> None:
        await self.broker.stop()

    async def create(self, _client: int) -> bool:
        job_id = new_job_id()
        await self.jobs.insert_one(job_document(job_id))
        event = JobRequested(
            job_id=job_id,
            tenant_id=TENANT,
            correlation_id=new_event_id(),
            source=SourceRef(url=VIDEO_URL),
            options=JobOptions(),
        )
        await self.broker.publish(
            event.model_dump(mode="json"),
            exchange=self.topology.pipeline,
            routing_key=event.topic,
            persist=True,
            mandatory=True,
            message_id=event.event_id,
            correlation_id=event.correlation_id,
            content_type="application/json",
            timeout=10.0,
        )
        return True


class GatewayClients:
    def __init__(self, url: str, api_key: str, clients: int) -> None:
        headers = {"Authorization": f"Bearer {api_key}"}
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self.clients = [httpx.AsyncClient(base_url=url, headers=headers, limits=limits) for _ in range(clients)]

    async def create(self, client: int) -> bool:
        response = await self.clients[client].post("/v1/jobs", json={"url": VIDEO_URL})
        return response.status_code == 202

    async def close(self) -> None:
        await asyncio.gather(*(client.aclose() for client in self.clients))


# --- infrastructure ---------------------------------------------------------------------------


def start_gateway(command: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    log = log_path.open("ab")
    try:
        return subprocess.Popen(
            [sys.executable, *command.split()],
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            start_new_session=True,
        )
    finally:
        log.close()


async def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"the gateway exited with {process.returncode}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError("the gateway did not become ready")


async def purge(amqp_url: str, topology: Topology) -> None:
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        for queue, _ in topology.bindings():
            declared = await channel.declare_queue(queue.name, passive=True)
            await declared.purge()
    finally:
        await connection.close()


async def benchmark(
    args: argparse.Namespace, mongo_url: str, database_pid: int | None, workdir: Path
) -> dict[str, Any]:
    prefix = f"bench{uuid.uuid4().hex[:10]}"
    database = f"clipforge_bench_{uuid.uuid4().hex[:8]}"
    topology = Topology(prefix)
    mongo = connect(mongo_url)
    store = JobStore(mongo[database])
    await store.ensure_indexes()
    api_key = (await KeyStore(store.db).create(TENANT, "bench")).api_key
    port = free_port()
    env = {
        "CLIPFORGE_AMQP_URL": args.amqp_url,
        "CLIPFORGE_MONGO_URL": mongo_url,
        "CLIPFORGE_MONGO_DATABASE": database,
        "CLIPFORGE_TOPOLOGY_PREFIX": prefix,
        "CLIPFORGE_HTTP_HOST": "127.0.0.1",
        "CLIPFORGE_HTTP_PORT": str(port),
        "CLIPFORGE_MEDIA_ROOT": str(workdir / "media"),
        "CLIPFORGE_LOG_LEVEL": "WARNING",
        # The limiter stays on (its database write is part of every creation) but never refuses here.
        "CLIPFORGE_JOB_RATE_LIMIT": str(args.rate_limit),
    }
    gateway = start_gateway(args.gateway_command, env, workdir / "gateway.log")
    load_before = os.getloadavg()
    baseline = Baseline(store, args.amqp_url, topology)
    url = f"http://127.0.0.1:{port}"
    clients = GatewayClients(url, api_key, args.clients)
    samples: dict[str, list[float]] = {"baseline": [], "gateway": []}
    errors = {"baseline": 0, "gateway": 0}
    seconds = {"baseline": 0.0, "gateway": 0.0}
    cpu: dict[str, dict[str, float]] = {"baseline": {}, "gateway": {}}
    processes = {"gateway": gateway.pid, "database": database_pid, "broker": rabbit_pid(), "bench": os.getpid()}
    try:
        await wait_ready(url, gateway)
        await baseline.start()
        operations = {"baseline": baseline.create, "gateway": clients.create}
        for side in ("baseline", "gateway"):  # warm-up: connections, caches, JIT-free but still
            await run_clients(args.clients, args.warmup, operations[side])
        order = [
            side
            for round_ in range(args.rounds)
            for side in (("baseline", "gateway"), ("gateway", "baseline"))[round_ % 2]
        ]
        for side in order:
            await purge(args.amqp_url, topology)
            before = {name: cpu_seconds(pid) for name, pid in processes.items() if pid}
            latencies, failed, elapsed = await run_clients(args.clients, args.requests, operations[side], args.rate)
            for name, used in before.items():
                cpu[side][name] = cpu[side].get(name, 0.0) + cpu_seconds(processes[name]) - used  # type: ignore[arg-type]
            samples[side] += latencies
            errors[side] += failed
            seconds[side] += elapsed
            p50 = percentile(latencies, 0.5)
            print(f"  {side:8s} {len(latencies):5d} ok {failed:3d} failed  p50 {p50:7.2f} ms", flush=True)
    finally:
        await clients.close()
        await baseline.stop()
        gateway.terminate()
        try:
            gateway.wait(30)
        except subprocess.TimeoutExpired:
            gateway.kill()
        await mongo.drop_database(database)
        await mongo.close()
        delete_topology(args.amqp_url, prefix)
    sides = {side: summarise(side, samples[side], errors[side], seconds[side]) for side in samples}
    return {
        "benchmark": "job creation latency",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            # Other work on the machine competes for the same cores: read the figures with this in mind.
            "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        },
        "gateway_command": args.gateway_command,
        "clients": args.clients,
        "requests_per_phase": args.requests,
        "rounds": args.rounds,
        "rate_limit_per_window": args.rate_limit,
        "offered_rate_per_second": args.rate or "closed loop",
        "baseline": asdict(sides["baseline"]),
        "gateway": asdict(sides["gateway"]),
        # CPU milliseconds each process spent per request (the machine has few cores: this is the budget).
        "cpu_ms_per_request": {
            side: {name: round(1000 * used / max(1, len(samples[side])), 2) for name, used in cpu[side].items()}
            for side in cpu
        },
        "p50_ratio": round(sides["gateway"].p50_ms / sides["baseline"].p50_ms, 2),
        "p99_ratio": round(sides["gateway"].p99_ms / sides["baseline"].p99_ms, 2),
        "goal_p50_ratio": GOAL_P50_RATIO,
    }


def print_table(result: dict[str, Any]) -> None:
    mode = (
        "closed loop"
        if not isinstance(result["offered_rate_per_second"], float)
        else (f"paced at {result['offered_rate_per_second']:g}/s")
    )
    load = result["machine"]["load_average_1min_before_after"]
    print(
        f"\njob creation, {result['clients']} concurrent clients ({mode}), "
        f"{result['gateway']['requests']} requests a side, "
        f"load average {load[0]} -> {load[1]} on {result['machine']['cpus']} CPUs"
    )
    print(f"{'side':10s} {'p50 ms':>8s} {'p90 ms':>8s} {'p99 ms':>8s} {'max ms':>8s} {'per s':>8s} {'errors':>6s}")
    for side in ("baseline", "gateway"):
        row = result[side]
        print(
            f"{side:10s} {row['p50_ms']:8.2f} {row['p90_ms']:8.2f} {row['p99_ms']:8.2f} {row['max_ms']:8.2f} "
            f"{row['throughput_per_second']:8.1f} {row['errors']:6d}"
        )
    verdict = "meets" if result["p50_ratio"] <= result["goal_p50_ratio"] else "misses"
    goal = result["goal_p50_ratio"]
    print(f"gateway / baseline: p50 {result['p50_ratio']}x ({verdict} the {goal}x goal), p99 {result['p99_ratio']}x")
    for side, used in result["cpu_ms_per_request"].items():
        print(f"CPU ms per request, {side}: " + ", ".join(f"{name} {ms}" for name, ms in used.items()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1500, help="requests per phase and side")
    parser.add_argument("--rounds", type=int, default=2, help="each round runs one phase of each side")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="requests per second, paced (0: each client as fast as answered)"
    )
    parser.add_argument("--rate-limit", type=int, default=1_000_000, help="CLIPFORGE_JOB_RATE_LIMIT of the gateway")
    parser.add_argument(
        "--amqp-url", default=os.environ.get("CLIPFORGE_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    parser.add_argument("--mongo-url", default=None, help="a MongoDB to use instead of a fresh SecantusDB")
    parser.add_argument(
        "--gateway-command",
        default="-m clipforge.gateway",
        help="what the gateway process runs after the Python executable (to compare variants of the gateway)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "create-latency-results.json")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="clipforge-bench-") as tmp:
        workdir = Path(tmp)
        server = (
            None if args.mongo_url else SecantusServer(workdir / "mongo", log_path=workdir / "secantus.log").start()
        )
        try:
            mongo_url = args.mongo_url or server.url  # type: ignore[union-attr]
            database_pid = server.process.pid if server and server.process else None
            result = asyncio.run(benchmark(args, mongo_url, database_pid, workdir))
        finally:
            if server is not None:
                server.stop()
    print_table(result)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
