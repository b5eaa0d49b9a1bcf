"""Observability in the compose stack: Prometheus scrapes, alert rules and the Grafana dashboard.

Every PromQL expression in deploy/prometheus/alerts.yml and deploy/grafana/dashboards/*.json is
parsed (promql-parser), and every metric it names must be one the code really exports (read
from each service's own /metrics, with the apps built as in production but no broker or
database needed) or one of RabbitMQ's built-in exporter listed below. The transcription
real-time factor histogram is checked by running the transcribe handler on real speech.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import promql_parser
import pytest
import yaml
from test_deploy_files import PORTS

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
ALERTS_FILE = PROMETHEUS_DIR / "alerts.yml"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))
STAGES = sorted(PORTS)

# Metrics of RabbitMQ's built-in exporter (plugin rabbitmq_prometheus, port 15692) that the
# dashboard and alerts may use, with the /metrics/detailed family each belongs to. Names and
# labels (vhost, queue) as the plugin documents them (deps/rabbitmq_prometheus/metrics-detailed.md
# in rabbitmq-server) and as RabbitMQ serves them.
RABBITMQ_EXPORTER_METRICS = {
    "rabbitmq_detailed_queue_messages_ready": "queue_coarse_metrics",
    "rabbitmq_detailed_queue_messages_unacked": "queue_coarse_metrics",
    "rabbitmq_detailed_queue_messages": "queue_coarse_metrics",
    "rabbitmq_detailed_queue_consumers": "queue_consumer_count",
}
# Series Prometheus itself writes for every scrape target.
PROMETHEUS_SYNTHETIC = {"up"}
# Grafana's built-in variables, replaced by a duration before parsing.
GRAFANA_VARIABLES = re.compile(r"\$(__rate_interval|__interval|__range)\b|\$\{(__rate_interval|__interval|__range)\}")


# --- helpers ---------------------------------------------------------------------------------


def build_app(stage: str) -> Any:
    if stage == "gateway":
        from clipforge.gateway.app import create_app

        return create_app()
    module = __import__(f"clipforge.{stage}.service", fromlist=["*"])
    return module.build_worker().build_app()


def exposed_names(exposition: str) -> set[str]:
    """Every series name a /metrics page can carry, from its # TYPE lines (present even for a
    labelled metric that has no sample yet)."""
    suffixes = {
        "counter": ("", "_created"),
        "gauge": ("",),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "untyped": ("",),
        "info": ("",),
    }
    names: set[str] = set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names |= {name + suffix for suffix in suffixes[kind]}
    return names


def metric_names(expr: str) -> set[str]:
    names: set[str] = set()

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            assert node.name, f"selector without a metric name in {expr!r}"
            names.add(node.name)
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return names


def selectors(expr: str) -> list[tuple[str, dict[str, tuple[str, str]]]]:
    """(metric, {label: (op, value)}) for every selector of an expression."""
    found: list[tuple[str, dict[str, tuple[str, str]]]] = []

    def visit(node: Any) -> bool:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = {m.name: (str(m.op), m.value) for m in node.matchers.matchers}
            found.append((node.name, matchers))
        return True

    promql_parser.walk(promql_parser.parse(expr), visit)
    return found


def grafana_expr(expr: str) -> str:
    return GRAFANA_VARIABLES.sub("5m", expr)


def alert_rules() -> list[dict[str, Any]]:
    config = yaml.safe_load(ALERTS_FILE.read_text())
    return [rule for group in config["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[tuple[str, str]]:
    exprs = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        for panel in dashboard["panels"]:
            for target in panel.get("targets", []):
                exprs.append((f"{path.name}: {panel['title']}", grafana_expr(target["expr"])))
    return exprs


def all_exprs() -> list[tuple[str, str]]:
    return [(f"alert {rule['alert']}", rule["expr"]) for rule in alert_rules()] + dashboard_exprs()


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def prometheus_config() -> dict[str, Any]:
    return yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())


@pytest.fixture(scope="module")
async def exported() -> dict[str, set[str]]:
    """Series names each service's /metrics can expose, read from the running app objects."""
    names: dict[str, set[str]] = {}
    for stage in STAGES:
        transport = httpx.ASGITransport(app=build_app(stage))
        async with httpx.AsyncClient(transport=transport, base_url="http://metrics") as client:
            response = await client.get("/metrics")
        assert response.status_code == 200, stage
        names[stage] = exposed_names(response.text)
    return names


# --- (a) the compose stack wires Prometheus, RabbitMQ's exporter and Grafana -------------------


def test_rabbitmq_exporter_is_enabled_and_scraped(compose, prometheus_config):
    rabbitmq = compose["services"]["rabbitmq"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in rabbitmq["volumes"]}
    plugins_file = ROOT / mounts["/etc/rabbitmq/enabled_plugins"]
    plugins = re.findall(r"[a-z_]+", plugins_file.read_text())
    assert {"rabbitmq_management", "rabbitmq_prometheus"} <= set(plugins)
    assert plugins_file.read_text().strip().endswith("].")  # an Erlang term
    assert "15692" in [str(p) for p in rabbitmq["expose"]]
    assert "ports" not in rabbitmq, "the broker is not published to the host"

    (job,) = [job for job in prometheus_config["scrape_configs"] if job["job_name"] == "rabbitmq"]
    assert job["static_configs"] == [{"targets": ["rabbitmq:15692"]}]
    assert job["metrics_path"] == "/metrics/detailed"
    assert set(job["params"]["family"]) == set(RABBITMQ_EXPORTER_METRICS.values())


def test_prometheus_loads_the_alert_rules(compose, prometheus_config):
    assert prometheus_config["rule_files"] == ["alerts.yml"]
    volumes = [str(v) for v in compose["services"]["prometheus"]["volumes"]]
    assert "./deploy/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in volumes
    jobs = {job["job_name"] for job in prometheus_config["scrape_configs"]}
    assert jobs == {*STAGES, "rabbitmq"}


def test_grafana_is_provisioned(compose):
    grafana = compose["services"]["grafana"]
    assert grafana["image"].startswith("grafana/grafana:")
    assert grafana["ports"] == ["3000:3000"]
    mounts = {str(v).split(":")[1]: str(v).split(":")[0] for v in grafana["volumes"]}
    assert (ROOT / mounts["/etc/grafana/provisioning"]).resolve() == (GRAFANA_DIR / "provisioning").resolve()
    dashboards_mount = next(target for target, source in mounts.items() if source == "./deploy/grafana/dashboards")

    datasources = yaml.safe_load((GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (datasource,) = datasources["datasources"]
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]

    providers = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "clipforge.yml").read_text())
    (provider,) = providers["providers"]
    assert provider["options"]["path"] == dashboards_mount
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert home.startswith(dashboards_mount + "/") and (GRAFANA_DIR / "dashboards" / Path(home).name).is_file()

    assert DASHBOARDS
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        assert dashboard["uid"] and dashboard["title"]
        ids = [panel["id"] for panel in dashboard["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: panel ids repeat"
        for panel in dashboard["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
            assert panel["targets"], panel["title"]
            for target in panel["targets"]:
                assert target["datasource"]["uid"] == datasource["uid"]


# --- (b) alert rules and dashboard expressions are valid and name real metrics ------------------


@pytest.mark.parametrize("where, expr", all_exprs(), ids=[where for where, _ in all_exprs()])
def test_expression_parses(where, expr):
    try:
        promql_parser.parse(expr)
    except ValueError as error:
        pytest.fail(f"{where}: not valid PromQL: {error}\n{expr}")


def test_every_metric_used_is_exported(exported):
    from_code = set().union(*exported.values())
    documented = set(RABBITMQ_EXPORTER_METRICS) | PROMETHEUS_SYNTHETIC
    missing = {}
    for where, expr in all_exprs():
        for name in metric_names(expr) - from_code - documented:
            missing.setdefault(name, []).append(where)
    assert not missing, f"metrics no service exports: {missing}"


def test_the_metrics_are_exported_by_the_right_services(exported):
    assert "clipforge_jobs_finished_total" in exported["gateway"]
    assert "clipforge_gateway_websockets" in exported["gateway"]
    assert "clipforge_transcription_realtime_factor_bucket" in exported["transcribe"]
    for stage in STAGES:
        if stage == "gateway":
            continue
        for name in (
            "clipforge_stage_duration_seconds_bucket",
            "clipforge_stage_failures_total",
            "clipforge_stage_in_flight",
            "clipforge_stage_messages_total",
        ):
            assert name in exported[stage], (stage, name)


def test_dashboard_shows_what_operators_need():
    exprs = [expr for _, expr in dashboard_exprs()]
    used = set().union(*(metric_names(expr) for expr in exprs))
    assert {
        "clipforge_jobs_finished_total",  # jobs by status
        "clipforge_stage_duration_seconds_bucket",  # stage durations
        "rabbitmq_detailed_queue_messages_ready",  # queue depth
        "rabbitmq_detailed_queue_messages_unacked",
        "clipforge_stage_in_flight",  # in-flight work
        "clipforge_stage_failures_total",  # failures by stage and code
        "clipforge_transcription_realtime_factor_bucket",  # real-time factor
        "clipforge_gateway_websockets",  # WebSocket connections
    } <= used
    quantiles = {
        match.group(1)
        for expr in exprs
        if "clipforge_stage_duration_seconds_bucket" in expr
        for match in [re.match(r"histogram_quantile\((0\.\d+),", expr)]
        if match
    }
    assert quantiles == {"0.5", "0.95"}
    failures = next(expr for expr in exprs if "clipforge_stage_failures_total" in expr)
    assert re.search(r"by \((stage, code|code, stage)\)", failures)


def test_alerts_cover_stuck_queues_failure_spikes_and_down_services():
    rules = {rule["alert"]: rule for rule in alert_rules()}
    assert {"ClipForgeQueueStuck", "ClipForgeFailureSpike", "ClipForgeServiceDown"} <= set(rules)
    for rule in rules.values():
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])

    stuck = rules["ClipForgeQueueStuck"]["expr"]
    assert {"rabbitmq_detailed_queue_messages_ready", "clipforge_stage_messages_total"} <= metric_names(stuck)
    assert "[10m]" in stuck
    spike = rules["ClipForgeFailureSpike"]["expr"]
    assert "clipforge_stage_failures_total" in metric_names(spike)
    down = rules["ClipForgeServiceDown"]["expr"]
    ((name, matchers),) = selectors(down)
    assert name == "up"
    op, pattern = matchers["job"]
    assert op.endswith("Re"), op
    assert re.fullmatch(pattern, "rabbitmq") and all(re.fullmatch(pattern, stage) for stage in STAGES)


def test_queue_selectors_match_every_work_queue_of_the_topology():
    """The queue regexes in alerts and dashboard select every stage's work queue(s), by the names
    the code declares, and nothing else (not the gateway's, not the dead-letter queue)."""
    from clipforge.shared.topology import STAGE_INPUT, Topology

    topology = Topology("clipforge")
    inputs = {event.routing_key for event in STAGE_INPUT.values()}
    pairs = topology.bindings()
    work = {q.name for q, key in pairs if any(key == rk or key.endswith(f".{rk}") for rk in inputs)}
    others = {q.name for q, _ in pairs} - work | {topology.dead_queue.name}
    assert work and others
    patterns = {
        value
        for _, expr in all_exprs()
        for name, matchers in selectors(expr)
        if name in RABBITMQ_EXPORTER_METRICS
        for label, (op, value) in matchers.items()
        if label == "queue"
    }
    assert patterns
    for pattern in patterns:
        assert {name for name in work if re.fullmatch(pattern, name)} == work, pattern
        assert not {name for name in others if re.fullmatch(pattern, name)}, pattern


# --- (c) the transcription real-time factor is really observed -----------------------------------


async def test_transcribe_observes_its_real_time_factor(tmp_path):
    """Run the transcribe stage's handler (as the worker would) on generated speech and read the
    histogram back from the worker's registry."""
    from clipforge.devstack import samples
    from clipforge.shared.events import MediaReady
    from clipforge.shared.media import MediaStore
    from clipforge.shared.models import ignore_progress
    from clipforge.transcribe.service import TranscribeSettings, build_worker

    media = MediaStore(tmp_path / "media")
    job_id = "0123456789abcdef01234567"
    audio_key = media.key(job_id, "audio.wav")
    samples.speak("Every change goes through the same automated tests.", media.prepare(audio_key))
    audio_seconds = samples.probe_duration(media.path(audio_key))

    worker = build_worker(TranscribeSettings(media_root=tmp_path / "media"))
    event = MediaReady.model_validate(
        {
            "job_id": job_id,
            "tenant_id": "default",
            "correlation_id": "c0ffee",
            "options": {},
            "media": {
                "duration_seconds": audio_seconds,
                "size_bytes": 1,
                "container": "wav",
                "has_audio": True,
                "has_video": False,
            },
            "video_key": audio_key,
            "audio_key": audio_key,
        }
    )
    context = SimpleNamespace(job_id=job_id, tenant_id="default", media=media, progress=ignore_progress)
    await worker.definition.handler(event, context)  # type: ignore[arg-type]

    labels = {"device": "cpu"}
    count = worker.registry.get_sample_value("clipforge_transcription_realtime_factor_count", labels)
    total = worker.registry.get_sample_value("clipforge_transcription_realtime_factor_sum", labels)
    assert count == 1
    assert total is not None and 0 < total < 5, total  # tiny.en on a CPU: well under real time
