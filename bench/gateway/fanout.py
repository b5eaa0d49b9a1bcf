"""Live progress fan-out on one gateway process: latency with many open WebSockets, against a bare
broker hop measured in the same run, and the gateway's memory per open WebSocket.

For each socket count it starts client processes (``fanout_clients.py``) that open that many
WebSockets to one gateway process (``python -m clipforge.gateway``), each following a job
(``--watchers-per-job`` sockets per job; 1 by default, so every event goes to one socket).
Then, at a fixed rate, it publishes progress events:

- baseline: to a plain fanout exchange consumed by a bare aio-pika consumer in a client process
  (publish -> RabbitMQ -> consumer: the hop every progress event makes anyway);
- gateway: to the progress exchange, as the workers do (publish -> RabbitMQ -> gateway's queue ->
  fan-out -> WebSocket -> client).

The two alternate in rounds so both see the same load on the machine, and the whole measurement
is repeated (``--repeats``) with the sockets left open. Clients behave like browsers: they offer
permessage-deflate and send no pings of their own. Latency is receive time minus send time on
the machine's monotonic clock (shared by every process), carried in the event's message. Memory
per socket is the gateway's RSS growth while the sockets opened, divided by their number.
Everything is on loopback: the local RabbitMQ (a fresh virtual host when ``rabbitmqctl``
answers, else ``/`` with a unique prefix, cleaned up) and a SecantusDB server of its own.
Bounded in time by ``--max-seconds`` per socket count.

Usage (from the repository root):
    .venv/bin/python bench/gateway/fanout.py                       # 1,000 then 10,000 sockets
    .venv/bin/python bench/gateway/fanout.py --sockets 1000 --watchers-per-job 1000 --rate 5
Prints a table and writes fanout-results.json next to this file (or --out).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import aio_pika
import httpx

from clipforge.devstack.ports import free_port
from clipforge.devstack.secantus import SecantusServer
from clipforge.gateway.keys import KeyStore
from clipforge.shared.events import JobProgress
from clipforge.shared.jobs import JobStore, connect
from clipforge.shared.models import JobOptions, JobStatus, SourceRef

HERE = Path(__file__).resolve().parent
SOCKETS_PER_CLIENT_PROCESS = 2500
TENANT = "bench"
GOAL_RATIO = 3.0


@dataclass
class Row:
    sockets: int
    repeat: int
    watchers_per_job: int
    compression: str
    connect_seconds: float
    gateway_rss_mb_before: float
    gateway_rss_mb_after: float
    kib_per_socket: float
    events: int
    rate_per_second: float
    baseline_samples: int
    baseline_p50_ms: float
    baseline_p99_ms: float
    gateway_samples: int
    gateway_p50_ms: float
    gateway_p99_ms: float
    gateway_max_ms: float
    p99_ratio: float
    gateway_cpu_percent: float
    sockets_still_open: int
    load_average_before: float
    load_average_after: float


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)] / 1e6 if ordered else float("nan")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    try:
        subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=30)
        return True
    except (subprocess.SubprocessError, OSError):
        return False


class ClientProcess:
    def __init__(self, gateway: str, api_key: str, jobs_file: Path, start: int, count: int, compression: str) -> None:
        self.count = count
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "fanout_clients.py"),
                "--gateway",
                gateway,
                "--api-key",
                api_key,
                "--jobs-file",
                str(jobs_file),
                "--start",
                str(start),
                "--count",
                str(count),
                "--compression",
                compression,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    @property
    def stdin(self) -> IO[str]:
        assert self.process.stdin is not None
        return self.process.stdin

    async def answer(self, timeout: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(self.process.stdout.readline), timeout)
        if not line:
            raise RuntimeError(f"client process exited with {self.process.poll()}")
        return json.loads(line)  # type: ignore[no-any-return]

    async def ask(self, command: dict[str, Any], timeout: float = 60) -> dict[str, Any]:
        self.stdin.write(json.dumps(command) + "\n")
        self.stdin.flush()
        return await self.answer(timeout)

    def stop(self) -> None:
        try:
            self.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.stdin.flush()
            self.process.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


class Publisher:
    """Publishes progress events at a fixed rate, each stamped with its send time."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel) -> None:
        self.channel = channel
        self.seqs: dict[str, int] = {}

    async def run(self, exchange: aio_pika.abc.AbstractExchange, jobs: list[str], rate: float, count: int) -> None:
        started = time.monotonic()
        for index in range(count):
            delay = started + index / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            job_id = jobs[index % len(jobs)]
            seq = self.seqs.get(job_id, 0) + 1
            self.seqs[job_id] = seq
            event = JobProgress(
                job_id=job_id,
                tenant_id=TENANT,
                correlation_id=job_id,
                seq=seq,
                status=JobStatus.TRANSCRIBING,
                stage="transcribe",
                percent=40.0,
                stage_percent=50.0,
                message=f"bench {time.monotonic_ns()}",
                eta_seconds=12.0,
            )
            await exchange.publish(
                aio_pika.Message(event.model_dump_json().encode(), content_type="application/json"),
                routing_key=event.routing_key,
            )


async def prepare_database(mongo_url: str, database: str, job_count: int) -> tuple[str, list[str]]:
    client = connect(mongo_url)
    try:
        store = JobStore(client[database])
        await store.ensure_indexes()
        keys = KeyStore(client[database])
        api_key = (await keys.create(TENANT, "fan-out benchmark")).api_key
        job_ids: list[str] = []
        for start in range(0, job_count, 200):
            created = await asyncio.gather(
                *(
                    store.create(
                        tenant_id=TENANT, source=SourceRef(url="http://127.0.0.1:9/v.mp4"), options=JobOptions()
                    )
                    for _ in range(start, min(job_count, start + 200))
                )
            )
            job_ids += [job["_id"] for job in created]
        return api_key, job_ids
    finally:
        await client.close()


def start_gateway(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as log_file:
        return subprocess.Popen(
            command,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"gateway exited with {process.returncode}")
            try:
                if (await client.get(f"{url}/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError("gateway not ready")


@dataclass
class Opened:
    """The sockets of one socket count, open, and what it took."""

    sockets: int
    clients: list[ClientProcess]
    watched: list[str]
    connect_seconds: float
    rss_before: float
    rss_after: float
    seqs: dict[str, int] = field(default_factory=dict)  # last published per job: no gaps across repeats


async def open_sockets(
    args: argparse.Namespace,
    sockets: int,
    gateway_pid: int,
    gateway_url: str,
    api_key: str,
    job_ids: list[str],
    jobs_file: Path,
) -> Opened:
    watched = job_ids[: max(1, sockets // args.watchers_per_job)]
    lines = "\n".join(watched[i // args.watchers_per_job] for i in range(sockets))
    await asyncio.to_thread(jobs_file.write_text, lines)
    rss_before = rss_mb(gateway_pid)
    started = time.monotonic()
    per_process = math.ceil(sockets / math.ceil(sockets / SOCKETS_PER_CLIENT_PROCESS))
    clients = [
        ClientProcess(gateway_url, api_key, jobs_file, start, min(per_process, sockets - start), args.compression)
        for start in range(0, sockets, per_process)
    ]
    try:
        readiness = [await client.answer(timeout=args.max_seconds) for client in clients]
        failed = sum(r["failed"] for r in readiness)
        if failed:
            raise RuntimeError(f"{failed} sockets could not be opened")
    except BaseException:
        for client in clients:
            client.stop()
        raise
    connect_seconds = time.monotonic() - started
    await asyncio.sleep(3)  # let the gateway settle before reading its memory
    return Opened(sockets, clients, watched, connect_seconds, rss_before, rss_mb(gateway_pid))


async def measure(
    args: argparse.Namespace,
    opened: Opened,
    repeat: int,
    gateway_pid: int,
    channel: aio_pika.abc.AbstractChannel,
    amqp_url: str,
    prefix: str,
) -> Row:
    clients, watched = opened.clients, opened.watched
    per_round = max(1, int(args.rate * args.seconds) // args.rounds)
    baseline_exchange = await channel.declare_exchange(
        f"{prefix}.bench-baseline", aio_pika.ExchangeType.FANOUT, auto_delete=True
    )
    if repeat == 0:
        await clients[0].ask({"cmd": "baseline", "amqp_url": amqp_url, "exchange": baseline_exchange.name})
    progress_exchange = await channel.get_exchange(f"{prefix}.progress")
    # Rounds alternate between the two paths so both see the same load on the machine.
    baseline_publisher, gateway_publisher = Publisher(channel), Publisher(channel)
    gateway_publisher.seqs = opened.seqs
    load_before = os.getloadavg()[0]
    cpu_busy, wall_busy = 0.0, 0.0
    for _ in range(args.rounds):
        await baseline_publisher.run(baseline_exchange, watched, args.rate, per_round)
        await asyncio.sleep(0.5)
        cpu_before, wall_before = cpu_seconds(gateway_pid), time.monotonic()
        await gateway_publisher.run(progress_exchange, watched, args.rate, per_round)
        await asyncio.sleep(0.5)
        cpu_busy += cpu_seconds(gateway_pid) - cpu_before
        wall_busy += time.monotonic() - wall_before
    await asyncio.sleep(1.5)
    reports = [await client.ask({"cmd": "report"}) for client in clients]
    baseline = reports[0]["baseline_ns"]
    latencies = [value for report in reports for value in report["latencies_ns"]]
    baseline_p99, gateway_p99 = percentile(baseline, 0.99), percentile(latencies, 0.99)
    return Row(
        sockets=opened.sockets,
        repeat=repeat + 1,
        watchers_per_job=args.watchers_per_job,
        compression=args.compression,
        connect_seconds=round(opened.connect_seconds, 1),
        gateway_rss_mb_before=round(opened.rss_before, 1),
        gateway_rss_mb_after=round(opened.rss_after, 1),
        kib_per_socket=round((opened.rss_after - opened.rss_before) * 1024 / opened.sockets, 1),
        events=per_round * args.rounds,
        rate_per_second=args.rate,
        baseline_samples=len(baseline),
        baseline_p50_ms=round(percentile(baseline, 0.5), 3),
        baseline_p99_ms=round(baseline_p99, 3),
        gateway_samples=len(latencies),
        gateway_p50_ms=round(percentile(latencies, 0.5), 3),
        gateway_p99_ms=round(gateway_p99, 3),
        gateway_max_ms=round(max(latencies) / 1e6, 3) if latencies else float("nan"),
        p99_ratio=round(gateway_p99 / baseline_p99, 2) if baseline_p99 else float("nan"),
        gateway_cpu_percent=round(100 * cpu_busy / wall_busy, 1),
        sockets_still_open=sum(report["open"] for report in reports),
        load_average_before=round(load_before, 2),
        load_average_after=round(os.getloadavg()[0], 2),
    )


def summarise(rows: list[Row]) -> list[dict[str, Any]]:
    summary = []
    for sockets in sorted({row.sockets for row in rows}):
        mine = [row for row in rows if row.sockets == sockets]
        summary.append(
            {
                "sockets": sockets,
                "repeats": len(mine),
                "median_gateway_p50_ms": round(statistics.median(row.gateway_p50_ms for row in mine), 3),
                "median_gateway_p99_ms": round(statistics.median(row.gateway_p99_ms for row in mine), 3),
                "median_baseline_p99_ms": round(statistics.median(row.baseline_p99_ms for row in mine), 3),
                "median_p99_ratio": round(statistics.median(row.p99_ratio for row in mine), 2),
                "repeats_within_goal": sum(row.p99_ratio <= GOAL_RATIO for row in mine),
                "kib_per_socket": mine[0].kib_per_socket,
            }
        )
    return summary


def print_table(rows: list[Row], summary: list[dict[str, Any]]) -> None:
    header = (
        f"{'sockets':>8} {'rep':>3} {'per job':>7} {'connect s':>9} {'KiB/socket':>10} {'events':>7} "
        f"{'bare p50':>9} {'bare p99':>9} {'gw p50':>8} {'gw p99':>8} {'gw max':>8} {'p99 ratio':>9} "
        f"{'gw CPU':>7} {'load':>5}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        print(
            f"{row.sockets:>8} {row.repeat:>3} {row.watchers_per_job:>7} {row.connect_seconds:>9.1f} "
            f"{row.kib_per_socket:>10.1f} {row.gateway_samples:>7} {row.baseline_p50_ms:>7.2f}ms "
            f"{row.baseline_p99_ms:>7.2f}ms {row.gateway_p50_ms:>6.2f}ms {row.gateway_p99_ms:>6.2f}ms "
            f"{row.gateway_max_ms:>6.1f}ms {row.p99_ratio:>8.2f}x {row.gateway_cpu_percent:>6.1f}% "
            f"{row.load_average_before:>5.1f}"
        )
    print()
    for item in summary:
        print(
            f"{item['sockets']:>6} sockets: median p99 {item['median_gateway_p99_ms']} ms against "
            f"{item['median_baseline_p99_ms']} ms bare = {item['median_p99_ratio']}x "
            f"(goal <= {GOAL_RATIO}x met in {item['repeats_within_goal']}/{item['repeats']}); "
            f"{item['kib_per_socket']} KiB per socket"
        )


async def run(args: argparse.Namespace) -> dict[str, Any]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by the gateway and clients
    needed = max(args.sockets) + 1000
    if hard < needed:
        raise SystemExit(f"the open-file limit is {hard}; {needed} are needed for {max(args.sockets)} sockets")

    scratch = Path(tempfile.mkdtemp(prefix="clipforge-bench-fanout-"))
    prefix, database = f"benchfan{uuid.uuid4().hex[:8]}", f"bench_fanout_{uuid.uuid4().hex[:8]}"
    vhost = f"clipforge-bench-{uuid.uuid4().hex[:8]}"
    if (
        args.amqp_url is None
        and rabbitmqctl("add_vhost", vhost)
        and rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
    ):
        amqp_url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    else:
        vhost, amqp_url = "", args.amqp_url or "amqp://guest:guest@127.0.0.1:5672/"
    secantus = None
    mongo_url = args.mongo_url
    if mongo_url is None:
        secantus = SecantusServer(scratch / "mongo", log_path=scratch / "secantus.log").start()
        mongo_url = secantus.url
    gateway: subprocess.Popen[bytes] | None = None
    connection = await aio_pika.connect(amqp_url)
    rows: list[Row] = []
    try:
        api_key, job_ids = await prepare_database(mongo_url, database, max(args.sockets))
        port = free_port()
        env = {
            **os.environ,
            "CLIPFORGE_AMQP_URL": amqp_url,
            "CLIPFORGE_MONGO_URL": mongo_url,
            "CLIPFORGE_MONGO_DATABASE": database,
            "CLIPFORGE_TOPOLOGY_PREFIX": prefix,
            "CLIPFORGE_HTTP_HOST": "127.0.0.1",
            "CLIPFORGE_HTTP_PORT": str(port),
            "CLIPFORGE_MEDIA_ROOT": str(scratch / "media"),
            "CLIPFORGE_LOG_LEVEL": "WARNING",
        }
        gateway = start_gateway(args.gateway_command, env, scratch / "gateway.log")
        gateway_url = f"http://127.0.0.1:{port}"
        await wait_ready(gateway_url, gateway, 60)
        channel = await connection.channel()
        for sockets in args.sockets:
            opened = await asyncio.wait_for(
                open_sockets(args, sockets, gateway.pid, gateway_url, api_key, job_ids, scratch / "jobs.txt"),
                args.max_seconds,
            )
            try:
                for repeat in range(args.repeats):
                    row = await asyncio.wait_for(
                        measure(args, opened, repeat, gateway.pid, channel, amqp_url, prefix), args.max_seconds
                    )
                    rows.append(row)
                    print(
                        f"{sockets} sockets, repeat {repeat + 1}: gateway p99 {row.gateway_p99_ms} ms, "
                        f"bare p99 {row.baseline_p99_ms} ms",
                        flush=True,
                    )
            finally:
                for client in opened.clients:
                    client.stop()
            await asyncio.sleep(3)  # closed sockets drain before the next count
    finally:
        if gateway is not None:
            os.killpg(gateway.pid, signal.SIGTERM)
            try:
                gateway.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(gateway.pid, signal.SIGKILL)
        await cleanup(connection, prefix, bool(vhost))
        if vhost:
            rabbitmqctl("delete_vhost", vhost)
        if secantus is not None:
            secantus.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "benchmark": "gateway live progress fan-out",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "gateway_command": args.gateway_command,
        "rows": [asdict(row) for row in rows],
        "summary": summarise(rows),
    }


async def cleanup(connection: aio_pika.abc.AbstractConnection, prefix: str, own_vhost: bool) -> None:
    """Remove what the gateway declared on a shared virtual host."""
    if not own_vhost:
        channel = await connection.channel()
        names = ["ingest", "transcribe", "analyze", "render"]
        for queue in [*names, *(f"{name}.batch" for name in names), "gateway", "dead"]:
            await channel.queue_delete(f"{prefix}.{queue}")
        for exchange in ("pipeline", "progress", "control", "dead"):
            await channel.exchange_delete(f"{prefix}.{exchange}")
    await connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sockets", default="1000,10000", help="socket counts, measured in turn")
    parser.add_argument("--watchers-per-job", type=int, default=1, help="sockets following each job")
    parser.add_argument("--rate", type=float, default=200.0, help="events published per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per path and socket count")
    parser.add_argument(
        "--compression",
        choices=["deflate", "none"],
        default="deflate",
        help="clients offer permessage-deflate, as browsers do (the gateway accepts it)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="measurements per socket count (sockets stay open)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations between the bare hop and the gateway")
    parser.add_argument("--max-seconds", type=float, default=600.0, help="time limit per socket count")
    parser.add_argument("--amqp-url", default=None, help="default: a fresh virtual host on the local RabbitMQ")
    parser.add_argument("--mongo-url", default=None, help="default: a SecantusDB server of its own")
    parser.add_argument(
        "--gateway-command",
        type=shlex.split,
        default=[sys.executable, "-m", "clipforge.gateway"],
        help="how to start the gateway (to compare a variant)",
    )
    parser.add_argument("--out", type=Path, default=HERE / "fanout-results.json")
    args = parser.parse_args()
    args.sockets = [int(value) for value in args.sockets.split(",")]
    result = asyncio.run(run(args))
    print()
    print_table([Row(**row) for row in result["rows"]], result["summary"])
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
