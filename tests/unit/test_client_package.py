"""The API models live in one place (``clipforge.api``), which the gateway serves and the client
parses; the client package stays light (no web framework, broker or database driver)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from clipforge import api
from clipforge.gateway import live_messages, problem_docs, schemas
from clipforge.shared import events, models
from clipforge.shared.events import JobProgress
from clipforge.shared.models import JobStatus

ROOT = Path(__file__).resolve().parents[2]
SERVER_SIDE = ("fastapi", "starlette", "faststream", "pymongo", "aio_pika", "clipforge.shared", "clipforge.gateway")


def test_client_imports_nothing_of_the_server_side() -> None:
    probe = (
        "import json, sys; import clipforge.client, clipforge.api; "
        "print(json.dumps(sorted(name for name in sys.modules)))"
    )
    loaded = json.loads(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True).stdout)
    heavy = [name for name in loaded if name.split(".")[0] in SERVER_SIDE or name.startswith(SERVER_SIDE)]
    assert heavy == []
    dependencies = tomllib.loads((ROOT / "tools/client/pyproject.toml").read_text())["project"]["dependencies"]
    assert sorted(dep.split(">")[0].split("=")[0] for dep in dependencies) == ["httpx", "pydantic", "websockets"]


def test_gateway_and_stages_use_the_very_same_models() -> None:
    for name in ("CreateJobRequest", "JobCreated", "JobView", "JobSummary", "JobList", "ClipView", "Stats"):
        assert getattr(schemas, name) is getattr(api, name), name
    for name in ("JobOptions", "JobStatus", "MediaInfo", "Transcript", "TranscriptSummary", "JobError", "Stage"):
        assert getattr(models, name) is getattr(api, name), name
    assert events.Priority is api.Priority
    assert problem_docs.ProblemDetails is api.ProblemDetails
    assert live_messages.ProgressMessage is api.ProgressMessage
    assert live_messages.JobSnapshotMessage is api.JobSnapshotMessage


def test_the_gateways_progress_message_is_what_the_client_parses() -> None:
    event = JobProgress(
        job_id="6742c1f0a9e4b3d2c1f0a9e4",
        tenant_id="default",
        correlation_id="c",
        seq=7,
        status=JobStatus.TRANSCRIBING,
        stage="transcribe",
        percent=40.0,
        stage_percent=50.0,
        message="Transcribed 0:30 of 1:00",
        eta_seconds=10.0,
    )
    wire = live_messages.progress_message(event).model_dump_json(exclude={"cursor"})
    parsed = api.ProgressMessage.model_validate_json(wire)
    assert parsed.seq == 7 and parsed.status is JobStatus.TRANSCRIBING and parsed.job_eta_seconds is not None
    assert set(json.loads(wire)) == set(api.ProgressMessage.model_fields) - {"cursor"}
