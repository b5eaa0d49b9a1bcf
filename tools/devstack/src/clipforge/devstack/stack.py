"""All five services as local processes against the local RabbitMQ, with SecantusDB started as
the MongoDB server when no MongoDB URL is configured. Used by ``make up``, ``make demo`` and the
end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from clipforge.devstack.ports import free_port
from clipforge.devstack.secantus import SecantusServer
from clipforge.gateway.keys import KeyStore
from clipforge.shared.jobs import connect

DEV_TENANT = "default"

SERVICES: tuple[str, ...] = ("ingest", "transcribe", "analyze", "render", "gateway")
DEFAULT_PORTS: dict[str, int] = {"gateway": 8000, "ingest": 8101, "transcribe": 8102, "analyze": 8103, "render": 8104}


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.process.poll() is None


LOCAL_SOURCE_NETWORKS = '["127.0.0.0/8"]'


@dataclass
class LocalStack:
    state_dir: Path
    mongo_url: str | None = None
    amqp_url: str | None = None
    topology_prefix: str | None = None
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    extra_env: dict[str, str] = field(default_factory=dict)
    secantus: SecantusServer | None = None
    services: dict[str, ServiceProcess] = field(default_factory=dict)
    api_key: str | None = None

    @classmethod
    def with_free_ports(cls, state_dir: Path, **kwargs: object) -> LocalStack:
        return cls(state_dir, ports={name: free_port() for name in SERVICES}, **kwargs)  # type: ignore[arg-type]

    @property
    def media_root(self) -> Path:
        return self.state_dir / "media"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['gateway']}"

    def service_env(self, name: str) -> dict[str, str]:
        env = dict(os.environ)
        # The local stack serves its sample videos from 127.0.0.1; every other non-public address
        # stays refused (see clipforge.shared.urlsafety). An explicit setting wins.
        env.setdefault("CLIPFORGE_ALLOWED_SOURCE_NETWORKS", LOCAL_SOURCE_NETWORKS)
        env.update(
            {
                "CLIPFORGE_MEDIA_ROOT": str(self.media_root),
                "CLIPFORGE_HTTP_HOST": "127.0.0.1",
                "CLIPFORGE_HTTP_PORT": str(self.ports[name]),
                "CLIPFORGE_MONGO_URL": self.resolved_mongo_url,
            }
        )
        if self.amqp_url:
            env["CLIPFORGE_AMQP_URL"] = self.amqp_url
        if self.topology_prefix:
            env["CLIPFORGE_TOPOLOGY_PREFIX"] = self.topology_prefix
        env.update(self.extra_env)
        return env

    @property
    def resolved_mongo_url(self) -> str:
        if self.mongo_url:
            return self.mongo_url
        if self.secantus is None:
            raise RuntimeError("the stack is not started")
        return self.secantus.url

    def start(self, timeout_seconds: float = 120.0) -> LocalStack:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.media_root.mkdir(parents=True, exist_ok=True)
        if not self.mongo_url:
            self.secantus = SecantusServer(self.state_dir / "mongo", log_path=self.state_dir / "logs" / "secantus.log")
            self.secantus.start()
        for name in SERVICES:
            self.start_service(name)
        self.wait_ready(timeout_seconds)
        self.api_key = self.ensure_api_key()
        return self

    @property
    def api_key_path(self) -> Path:
        return self.state_dir / "dev-api-key"

    @property
    def database_name(self) -> str:
        return self.extra_env.get("CLIPFORGE_MONGO_DATABASE") or os.environ.get("CLIPFORGE_MONGO_DATABASE", "clipforge")

    def ensure_api_key(self) -> str:
        """The development key in ``dev-api-key``, created (once) when missing or unknown to the database."""

        async def check_or_create() -> str:
            client = connect(self.resolved_mongo_url)
            try:
                keys = KeyStore(client[self.database_name])
                if self.api_key_path.exists():
                    existing = self.api_key_path.read_text().strip()
                    if await keys.tenant_for(existing) is not None:
                        return existing
                issued = await keys.create(DEV_TENANT, "development key made by the local stack")
                self.api_key_path.write_text(issued.api_key + "\n")
                self.api_key_path.chmod(0o600)
                return issued.api_key
            finally:
                await client.close()

        return asyncio.run(check_or_create())

    def start_service(self, name: str) -> ServiceProcess:
        log_path = self.state_dir / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log_file:
            process = subprocess.Popen(
                [sys.executable, "-m", f"clipforge.{name}"],
                env=self.service_env(name),
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        service = ServiceProcess(name, self.ports[name], log_path, process)
        self.services[name] = service
        return service

    def wait_ready(self, timeout_seconds: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_seconds
        pending = set(self.services)
        with httpx.Client(timeout=2.0) as client:
            while pending:
                for name in sorted(pending):
                    service = self.services[name]
                    if not service.alive():
                        raise RuntimeError(f"{name} exited with {service.process.returncode}; see {service.log_path}")
                    try:
                        if client.get(f"{service.base_url}/readyz").status_code == 200:
                            pending.discard(name)
                    except httpx.HTTPError:
                        pass
                if pending and time.monotonic() > deadline:
                    raise RuntimeError(f"not ready after {timeout_seconds} s: {sorted(pending)}")
                if pending:
                    time.sleep(0.3)

    def stop_service(self, name: str, *, sig: int = signal.SIGTERM, timeout_seconds: float = 40.0) -> None:
        service = self.services.get(name)
        if service is None or not service.alive():
            return
        os.killpg(service.process.pid, sig)
        try:
            service.process.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()

    def stop(self) -> None:
        for name in reversed(SERVICES):
            self.stop_service(name)
        if self.secantus is not None:
            self.secantus.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
