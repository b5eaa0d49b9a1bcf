"""Client side of the fan-out benchmark: one process holding many WebSockets (started by fanout.py).

It opens one WebSocket per job id given, reads each snapshot, and then times every progress
message: the benchmark writes its send time (``time.monotonic_ns()``, one clock for every
process on the machine) into the event's ``message`` as ``bench <ns>``. It can also consume a
bare broker queue for the baseline. Commands arrive as JSON lines on stdin, answers leave as
JSON lines on stdout:

    {"cmd": "baseline", "amqp_url": ..., "exchange": ...}  -> {"baseline_ready": true}
    {"cmd": "report"}   -> {"latencies_ns": [...], "baseline_ns": [...], "open": n}  (and resets)
    {"cmd": "quit"}
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika
import uvloop
import websockets

MARK = '"message":"bench '


def sent_ns(raw: str | bytes) -> int | None:
    text = raw if isinstance(raw, str) else raw.decode()
    start = text.find(MARK)
    if start < 0:
        return None
    start += len(MARK)
    return int(text[start : text.index('"', start)])


class Clients:
    def __init__(
        self, gateway: str, api_key: str, job_ids: list[str], concurrency: int, compression: str | None
    ) -> None:
        self.gateway = gateway.replace("http://", "ws://")
        self.api_key = api_key
        self.job_ids = job_ids
        self.concurrency = concurrency
        self.compression = compression
        self.sockets: list[websockets.ClientConnection] = []
        self.latencies: list[int] = []
        self.baseline: list[int] = []
        self.failed = 0
        self.readers: list[asyncio.Task[None]] = []

    async def open_all(self) -> None:
        limit = asyncio.Semaphore(self.concurrency)

        async def open_one(job_id: str) -> None:
            url = f"{self.gateway}/v1/jobs/{job_id}/events?api_key={self.api_key}"
            async with limit:
                for _ in range(3):
                    try:
                        socket = await websockets.connect(
                            # Like a browser: no pings of its own (it answers the server's).
                            url,
                            open_timeout=60,
                            compression=self.compression,
                            max_queue=None,
                            ping_interval=None,
                        )
                        await asyncio.wait_for(socket.recv(), 60)  # the snapshot
                        break
                    except (OSError, TimeoutError, websockets.WebSocketException):
                        await asyncio.sleep(0.5)
                else:
                    self.failed += 1
                    return
            self.sockets.append(socket)
            self.readers.append(asyncio.create_task(self.read(socket)))

        await asyncio.gather(*(open_one(job_id) for job_id in self.job_ids))

    async def read(self, socket: websockets.ClientConnection) -> None:
        try:
            async for raw in socket:
                now = time.monotonic_ns()
                sent = sent_ns(raw)
                if sent is not None:
                    self.latencies.append(now - sent)
        except websockets.ConnectionClosed:
            pass

    async def consume_baseline(self, amqp_url: str, exchange_name: str) -> None:
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel()
        exchange = await channel.get_exchange(exchange_name)
        queue = await channel.declare_queue("", exclusive=True, auto_delete=True)
        await queue.bind(exchange)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            now = time.monotonic_ns()
            sent = sent_ns(message.body)
            if sent is not None:
                self.baseline.append(now - sent)

        await queue.consume(on_message, no_ack=True)

    def report(self) -> dict[str, Any]:
        report = {
            "latencies_ns": self.latencies,
            "baseline_ns": self.baseline,
            "open": sum(1 for s in self.sockets if s.close_code is None),
        }
        self.latencies, self.baseline = [], []
        return report


def say(payload: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--jobs-file", required=True)
    parser.add_argument("--start", type=int, required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--compression", choices=["deflate", "none"], default="deflate")
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    job_ids = Path(args.jobs_file).read_text().split()[args.start : args.start + args.count]  # noqa: ASYNC240
    compression = None if args.compression == "none" else args.compression
    clients = Clients(args.gateway, args.api_key, job_ids, args.concurrency, compression)
    started = time.monotonic()
    await clients.open_all()
    say({"ready": len(clients.sockets), "failed": clients.failed, "seconds": round(time.monotonic() - started, 2)})

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "baseline":
            await clients.consume_baseline(command["amqp_url"], command["exchange"])
            say({"baseline_ready": True})
        elif command["cmd"] == "report":
            say(clients.report())
        elif command["cmd"] == "quit":
            break


if __name__ == "__main__":
    uvloop.run(main())
