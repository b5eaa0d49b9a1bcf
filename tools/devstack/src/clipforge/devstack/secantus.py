"""SecantusDB, a MongoDB wire-protocol server, run as its own process for local use and tests.

Product code never imports it: services get a plain ``mongodb://`` URL. It runs as a separate
process (GPL-2.0, dev only; in-process it would also starve change streams).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pymongo import MongoClient
from pymongo.errors import PyMongoError

from clipforge.devstack.ports import free_port


def secantus_executable() -> str:
    beside_python = Path(sys.executable).with_name("secantusd-py")
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("secantusd-py")
    if found is None:
        raise RuntimeError("secantusd-py not found: install the dev requirements (make bootstrap)")
    return found


class SecantusServer:
    def __init__(self, storage_path: Path, *, port: int | None = None, log_path: Path | None = None) -> None:
        self.storage_path = storage_path
        self.port = port or free_port()
        self.log_path = log_path or storage_path.parent / "secantus.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}"

    def start(self, timeout_seconds: float = 30.0) -> SecantusServer:
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                secantus_executable(),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--storage-path",
                str(self.storage_path),
            ],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log_file.close()
        self.wait_ready(timeout_seconds)
        return self

    def wait_ready(self, timeout_seconds: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"SecantusDB exited with {self.process.returncode}; see {self.log_path}")
            try:
                with MongoClient(self.url, serverSelectionTimeoutMS=500) as client:
                    client.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.2)
        raise RuntimeError(f"SecantusDB did not answer on {self.url} within {timeout_seconds} s")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> SecantusServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
