"""What the fault tests share: a watched pipeline (jobs read straight from the database, the
gateway's answers counted), the clip ledger of a job, and the tally each fault reports."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

from clipforge.devstack.stack import LocalStack

Document = dict[str, Any]

TERMINAL = {"completed", "failed", "cancelled"}
JOB_DEADLINE_SECONDS = 300.0  # a loaded 2-core machine; a healthy job takes well under a minute
POLL_SECONDS = 0.05
REPORT_PATH = Path(__file__).resolve().parents[2] / "test-artifacts" / "faults.json"
# Short clips of the short speech video: whisper and ffmpeg stay quick.
OPTIONS = {"max_clips": 2, "min_clip_seconds": 4, "max_clip_seconds": 10}
COMMAND = ".venv/bin/python -m pytest tests/faults"
COUNTED = ("runs", "jobs", "jobs_lost", "duplicate_clips", "server_errors", "unavailable_answers")
NOTES_KEPT = 10


@dataclass
class ClipLedger:
    """One job's clips three ways: what analysis selected, what the job lists, what is on disk."""

    job_id: str
    selected: int
    on_job: int
    files: int

    @property
    def duplicates(self) -> int:
        """Clips beyond the selection, counted on the job and in the store."""
        return max(self.on_job - self.selected, 0) + max(self.files - self.selected, 0)

    @property
    def exact(self) -> bool:
        return self.selected >= 1 and self.on_job == self.selected == self.files


@dataclass
class FaultTally:
    """The figures the README's reliability table shows for one fault."""

    fault: str
    runs: int = 0
    jobs: int = 0
    jobs_lost: int = 0
    duplicate_clips: int = 0
    server_errors: int = 0  # 5xx answers other than the intended 503 of an outage
    unavailable_answers: int = 0  # the intended 503 problem details while a dependency is down
    notes: list[str] = field(default_factory=list)

    def add_jobs(self, outcomes: dict[str, Document], ledgers: Iterable[ClipLedger]) -> None:
        self.jobs += len(outcomes)
        self.jobs_lost += sum(1 for job in outcomes.values() if job.get("status") != "completed")
        self.duplicate_clips += sum(ledger.duplicates for ledger in ledgers)

    def save(self, path: Path = REPORT_PATH) -> None:
        """Add this run to the JSON report (one entry per fault, summed over every recorded run of
        this checkout: ``rm`` the file to start over), which the README's reliability table quotes."""
        path.parent.mkdir(parents=True, exist_ok=True)
        report: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
        entry = report.get(self.fault) or {name: 0 for name in COUNTED}
        for name in COUNTED:
            entry[name] = int(entry.get(name, 0)) + int(getattr(self, name))
        entry["notes"] = [*entry.get("notes", []), *self.notes][-NOTES_KEPT:]
        entry["command"] = COMMAND
        entry["last_run_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        report[self.fault] = entry
        path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


class WatchedPipeline:
    """A running stack seen from outside: the gateway as a client, the job documents directly."""

    def __init__(self, stack: LocalStack, mongo_url: str, database: str) -> None:
        assert stack.api_key is not None
        self.stack = stack
        self.mongo = MongoClient(mongo_url, serverSelectionTimeoutMS=2000, tz_aware=True)
        self.jobs = self.mongo[database]["jobs"]
        self.http = httpx.Client(
            base_url=stack.gateway_url, headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=30
        )
        self.server_errors = 0
        self.unavailable_answers = 0

    def close(self) -> None:
        self.http.close()
        self.mongo.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A gateway call; every 5xx answer is counted, the intended 503 outage answers apart."""
        response = self.http.request(method, path, **kwargs)
        if response.status_code >= 500:
            body = response.json() if "json" in response.headers.get("content-type", "") else {}
            if response.status_code == 503 and body.get("code") == "database_unavailable":
                self.unavailable_answers += 1
            else:
                self.server_errors += 1
        return response

    def submit(self, url: str, options: dict[str, Any]) -> str:
        response = self.request("POST", "/v1/jobs", json={"url": url, "options": options})
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def job_document(self, job_id: str) -> Document:
        document = self.jobs.find_one({"_id": job_id})
        assert document is not None, f"job {job_id} is not in the database"
        return document

    def wait_for(
        self,
        job_ids: list[str],
        condition: Callable[[Document], bool],
        what: str,
        *,
        too_late: Callable[[Document], bool] | None = None,
        timeout: float = JOB_DEADLINE_SECONDS,
    ) -> Document | None:
        """The first of these jobs whose document meets ``condition``, read as it changes;
        None once every job is ``too_late`` (past the point the caller waits for)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            documents = list(self.jobs.find({"_id": {"$in": job_ids}}))
            for document in documents:
                if condition(document):
                    return document
            if too_late is not None and len(documents) == len(job_ids) and all(map(too_late, documents)):
                return None
            time.sleep(POLL_SECONDS)
        raise AssertionError(f"no job of {job_ids} was {what} within {timeout} s")

    def wait_ended(self, job_ids: list[str], timeout: float = JOB_DEADLINE_SECONDS) -> dict[str, Document]:
        """Each job as the gateway shows it once it has ended, or as it is when the time is up."""
        deadline = time.monotonic() + timeout
        views: dict[str, Document] = {}
        pending = list(job_ids)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                try:
                    response = self.request("GET", f"/v1/jobs/{job_id}")
                except httpx.HTTPError:
                    continue  # the gateway itself is restarting; ask again
                if response.status_code == 200:
                    views[job_id] = response.json()
                    if views[job_id]["status"] in TERMINAL:
                        pending.remove(job_id)
            if pending:
                time.sleep(0.5)
        return views

    def clip_ledger(self, job_id: str) -> ClipLedger:
        document = self.job_document(job_id)
        clips_dir = self.stack.media_root / "jobs" / job_id / "clips"
        files = len(list(clips_dir.glob("*.mp4"))) if clips_dir.is_dir() else 0
        return ClipLedger(
            job_id=job_id,
            selected=len(document.get("highlights") or []),
            on_job=len(document.get("clips") or []),
            files=files,
        )
