"""A private RabbitMQ node in its own directory, for tests that stop and restart the broker.

The machine's broker (127.0.0.1:5672) is shared by everyone and must never be restarted. This
starts a second node with its own name, ports, data, logs, config and Erlang cookie, and no
plugins (so no management port clash). Stopping it and starting it again on the same data
directory keeps durable quorum queues and their persistent messages, like a real restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

from clipforge.devstack.ports import free_port

# The Debian wrapper in /usr/sbin switches to the rabbitmq user; the real script runs as anyone.
_SCRIPT_DIRS = (Path("/usr/lib/rabbitmq/bin"),)


def rabbitmq_script(name: str) -> str:
    for directory in _SCRIPT_DIRS:
        candidate = directory / name
        if candidate.exists():
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} not found: install rabbitmq-server (make bootstrap)")
    return found


class RabbitNode:
    """One private RabbitMQ node under ``root``: ``start()``, ``stop()``, ``kill()``, ``restart()``."""

    def __init__(self, root: Path, *, port: int | None = None, dist_port: int | None = None) -> None:
        self.root = root
        self.port = port or free_port()
        self.dist_port = dist_port or free_port()
        self.node_name = f"cf-fault-{uuid.uuid4().hex[:8]}@localhost"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    @property
    def log_path(self) -> Path:
        return self.root / "log" / "console.log"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "HOME": str(self.root),  # the Erlang cookie lives here, shared by server and CLI
                "RABBITMQ_NODENAME": self.node_name,
                "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
                "RABBITMQ_NODE_PORT": str(self.port),
                "RABBITMQ_DIST_PORT": str(self.dist_port),
                "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
                "RABBITMQ_LOG_BASE": str(self.root / "log"),
                "RABBITMQ_PID_FILE": str(self.root / "rabbit.pid"),
                "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
                "RABBITMQ_CONFIG_FILE": str(self.root / "rabbitmq.conf"),
                # Not /etc/rabbitmq/rabbitmq-env.conf, which names the shared node.
                "RABBITMQ_CONF_ENV_FILE": str(self.root / "rabbitmq-env.conf"),
                "ERL_EPMD_ADDRESS": "127.0.0.1",
            }
        )
        return env

    def _write_config(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "log").mkdir(exist_ok=True)
        (self.root / "enabled_plugins").write_text("[].\n")
        (self.root / "rabbitmq-env.conf").write_text("")
        (self.root / "rabbitmq.conf").write_text(f"listeners.tcp.1 = 127.0.0.1:{self.port}\nloopback_users = none\n")

    def ctl(self, *args: str, timeout_seconds: float = 60.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [rabbitmq_script("rabbitmqctl"), "-n", self.node_name, *args],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout_seconds,
            check=False,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout_seconds: float = 90.0) -> RabbitNode:
        self._write_config()
        with self.log_path.open("ab") as log_file:
            self.process = subprocess.Popen(
                [rabbitmq_script("rabbitmq-server")],
                env=self.env(),
                cwd=self.root,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.wait_ready(timeout_seconds)
        return self

    def _amqp_port_open(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                return True
        except OSError:
            return False

    def wait_ready(self, timeout_seconds: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        while not self._amqp_port_open():
            if not self.alive():
                raise RuntimeError(f"RabbitMQ node {self.node_name} exited; see {self.log_path}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"RabbitMQ node {self.node_name} not listening within {timeout_seconds} s")
            time.sleep(0.3)
        result = self.ctl("await_startup", "--timeout", str(int(max(deadline - time.monotonic(), 5))))
        if result.returncode != 0:
            raise RuntimeError(f"RabbitMQ node {self.node_name} did not finish booting: {result.stderr[-500:]}")

    def stop(self, timeout_seconds: float = 60.0) -> None:
        """A clean shutdown (``rabbitmqctl stop``), falling back to killing the node."""
        if not self.alive():
            return
        assert self.process is not None
        self.ctl("stop", timeout_seconds=timeout_seconds)
        try:
            self.process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            self.kill()

    def kill(self) -> None:
        """SIGKILL the node and everything it started."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def restart(self, timeout_seconds: float = 90.0) -> None:
        self.stop()
        self.start(timeout_seconds)

    def __enter__(self) -> RabbitNode:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
