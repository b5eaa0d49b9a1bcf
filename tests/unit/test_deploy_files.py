"""Static checks of the container deployment: Dockerfiles, docker-compose.yml, Prometheus config.

No Docker engine is needed: the compose file is validated offline by ``docker-compose config``
(installed by scripts/bootstrap.sh) and everything else is parsed as text, YAML or TOML.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_FILE = ROOT / "deploy" / "prometheus" / "prometheus.yml"

PORTS = {"gateway": 8000, "ingest": 8101, "transcribe": 8102, "analyze": 8103, "render": 8104}
STAGES = sorted(PORTS)
MEDIA_ROOT = "/data/media"
NON_ROOT_UID = "10001"

# Debian packages each runtime image may install; everything else stays on the slim base.
APT_PACKAGES = {
    "gateway": {"ffmpeg"},  # ffprobe for upload checks
    "ingest": {"ffmpeg"},
    "transcribe": set(),
    "analyze": set(),
    "render": {"ffmpeg", "fonts-dejavu-core"},
}

# Heavy dependencies that belong to exactly one service (and never to the shared package).
HEAVY_OWNERS = {"faster-whisper": "transcribe", "yt-dlp": "ingest", "fastapi": "gateway"}


# --- helpers ---------------------------------------------------------------------------------


def dockerfile_path(stage: str) -> Path:
    return ROOT / "services" / stage / "Dockerfile"


def dockerfile_instructions(stage: str, path: Path | None = None) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with comments dropped and continuation lines joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (path or dockerfile_path(stage)).read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    assert not pending, f"{stage}: Dockerfile ends inside a continued line"
    return instructions


def runtime_stage(stage: str, path: Path | None = None) -> list[tuple[str, str]]:
    """The instructions of the last build stage: what the shipped image is made of."""
    instructions = dockerfile_instructions(stage, path)
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    return instructions[last_from:]


def env_of(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in instructions:
        if keyword != "ENV":
            continue
        for token in shlex.split(args):
            name, sep, value = token.partition("=")
            assert sep, f"use the ENV NAME=value form: {args!r}"
            env[name] = value
    return env


def healthcheck_port(instructions: list[tuple[str, str]]) -> int:
    checks = [args for keyword, args in instructions if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, "exactly one HEALTHCHECK in the runtime stage"
    match = re.search(r"http://127\.0\.0\.1:(\d+)/healthz", checks[0])
    assert match, f"HEALTHCHECK must probe http://127.0.0.1:<port>/healthz: {checks[0]!r}"
    assert "urllib" in checks[0], "HEALTHCHECK uses python's urllib (no curl in slim images)"
    return int(match.group(1))


def dependency_names(pyproject: Path) -> set[str]:
    data = tomllib.loads(pyproject.read_text())
    names = set()
    for requirement in data["project"].get("dependencies", []):
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
        assert match, f"{pyproject}: unreadable requirement {requirement!r}"
        names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def prometheus_targets() -> dict[str, set[str]]:
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())
    targets: dict[str, set[str]] = {}
    for job in config["scrape_configs"]:
        if job["job_name"] in PORTS:  # RabbitMQ's exporter has paths of its own
            assert job.get("metrics_path", "/metrics") == "/metrics", job["job_name"]
        for static in job["static_configs"]:
            for target in static["targets"]:
                host, _, port = target.rpartition(":")
                targets.setdefault(host, set()).add(port)
    return targets


# --- (a) the compose file is valid ---------------------------------------------------------


def test_compose_config_validates_offline():
    tool = shutil.which("docker-compose")
    assert tool, "docker-compose is missing: run scripts/bootstrap.sh (make bootstrap)"
    result = subprocess.run(
        [tool, "-f", str(COMPOSE_FILE), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr or result.stdout


# --- (b) the compose services ----------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_compose_service_is_wired(compose, stage):
    services = compose["services"]
    assert stage in services, f"docker-compose.yml has no service {stage!r}"
    service = services[stage]

    build = service["build"]
    assert build["context"] == "."
    assert build["dockerfile"] == f"services/{stage}/Dockerfile"
    assert (ROOT / build["context"] / build["dockerfile"]).is_file()

    volumes = service["volumes"]
    assert any(str(v).split(":")[:2] == ["media", MEDIA_ROOT] for v in volumes), volumes

    depends_on = service["depends_on"]
    for dependency in ("rabbitmq", "mongodb"):
        assert depends_on[dependency]["condition"] == "service_healthy", dependency
    assert depends_on["media-init"]["condition"] == "service_completed_successfully"

    env = service["environment"]
    assert env["CLIPFORGE_AMQP_URL"] == "amqp://guest:guest@rabbitmq:5672/"
    assert env["CLIPFORGE_MONGO_URL"] == "mongodb://mongodb:27017"
    assert env["CLIPFORGE_MEDIA_ROOT"] == MEDIA_ROOT
    assert service["restart"] == "unless-stopped"


def test_compose_infrastructure(compose):
    services = compose["services"]
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")
    assert "rabbitmq-diagnostics" in services["rabbitmq"]["healthcheck"]["test"]
    assert services["mongodb"]["image"].startswith("mongo:")
    assert "mongosh" in services["mongodb"]["healthcheck"]["test"]
    assert "media" in compose["volumes"]

    init = services["media-init"]
    assert f"{NON_ROOT_UID}:{NON_ROOT_UID}" in init["command"] and MEDIA_ROOT in init["command"]
    assert any(str(v).startswith(f"media:{MEDIA_ROOT}") for v in init["volumes"])

    prometheus = services["prometheus"]
    assert prometheus["image"].startswith("prom/prometheus")
    assert "9090:9090" in prometheus["ports"]
    assert any("deploy/prometheus/prometheus.yml" in str(v) for v in prometheus["volumes"])


# --- (c) the Dockerfiles -----------------------------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_dockerfile_is_slim_and_non_root(stage):
    instructions = dockerfile_instructions(stage)
    bases = [args.split()[0] for keyword, args in instructions if keyword == "FROM"]
    assert len(bases) >= 2, "multi-stage: a builder and a runtime stage"
    assert all(base.startswith("python:3.11") and "-slim" in base for base in bases), bases

    runtime = runtime_stage(stage)
    users = [args for keyword, args in runtime if keyword == "USER"]
    assert users, "the runtime stage must switch to a non-root USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert users[-1] == NON_ROOT_UID

    cmds = [args for keyword, args in runtime if keyword == "CMD"]
    assert cmds and json.loads(cmds[-1]) == ["python", "-m", f"clipforge.{stage}"]
    assert ("WORKDIR", "/app") in runtime

    env = env_of(runtime)
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["CLIPFORGE_HTTP_HOST"] == "0.0.0.0"
    assert env["CLIPFORGE_MEDIA_ROOT"] == MEDIA_ROOT

    # The builder installs this stage non-editable into /opt/venv; the runtime copies the venv.
    pip_runs = [args for keyword, args in instructions if keyword == "RUN" and "pip install" in args]
    assert any("./shared" in run and f"./services/{stage}" in run for run in pip_runs), pip_runs
    assert not any(re.search(r"(^|\s)(-e|--editable)\s", run) for run in pip_runs)
    assert not any("requirements/dev.txt" in args for _, args in instructions)
    assert any(k == "COPY" and "--from=builder" in a and "/opt/venv" in a for k, a in runtime)


@pytest.mark.parametrize("stage", STAGES)
def test_dockerfile_installs_only_the_debian_packages_it_needs(stage):
    installed: set[str] = set()
    for keyword, args in runtime_stage(stage):
        if keyword != "RUN":
            continue
        for command in re.split(r"&&|;", args):
            words = command.split()
            if words[:2] == ["apt-get", "install"]:
                installed |= {w for w in words[2:] if not w.startswith("-")}
    assert installed == APT_PACKAGES[stage]


def test_no_secantus_in_any_image_input():
    checked = []
    for base in (ROOT / "services", ROOT / "shared"):
        for path in base.rglob("*"):
            name = path.name.lower()
            if not path.is_file():
                continue
            if (
                name.startswith("dockerfile")
                or name == "pyproject.toml"
                or (name.startswith("requirements") and name.endswith(".txt"))
            ):
                checked.append(path)
                assert "secantus" not in path.read_text().lower(), path
    checked.append(COMPOSE_FILE)
    assert "secantus" not in COMPOSE_FILE.read_text().lower()
    assert len([p for p in checked if p.name == "Dockerfile"]) == len(STAGES)


# --- (d) heavy dependencies stay with their own service --------------------------------------


def test_heavy_dependencies_belong_to_one_service():
    deps = {stage: dependency_names(ROOT / "services" / stage / "pyproject.toml") for stage in STAGES}
    shared = dependency_names(ROOT / "shared" / "pyproject.toml")
    for stage in STAGES:
        assert "clipforge-shared" in deps[stage], stage
    for package, owner in HEAVY_OWNERS.items():
        holders = sorted(stage for stage in STAGES if package in deps[stage])
        assert holders == [owner], f"{package} is a dependency of {holders}, expected only {owner}"
        assert package not in shared, f"{package} must not be a dependency of clipforge-shared"
    assert not any("secantus" in name for names in [*deps.values(), shared] for name in names)


# --- (e) one port per service, everywhere --------------------------------------------------


@pytest.mark.parametrize("stage", STAGES)
def test_ports_agree(compose, prometheus_targets, stage):
    runtime = runtime_stage(stage)
    port = PORTS[stage]

    assert int(env_of(runtime)["CLIPFORGE_HTTP_PORT"]) == port
    exposed = [int(p.split("/")[0]) for k, a in runtime if k == "EXPOSE" for p in a.split()]
    assert exposed == [port]
    assert healthcheck_port(runtime) == port

    service = compose["services"][stage]
    container_ports = {int(str(p).split(":")[-1].split("/")[0]) for p in service.get("ports", [])}
    container_ports |= {int(str(p).split("/")[0]) for p in service.get("expose", [])}
    assert container_ports == {port}, container_ports
    if stage == "gateway":
        assert service["ports"] == [f"{port}:{port}"]
    else:
        assert "ports" not in service, "only the gateway is published to the host"

    assert prometheus_targets.get(stage) == {str(port)}
