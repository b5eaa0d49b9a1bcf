"""Structured logs and Prometheus metrics shared by every service."""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_STAGE_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, carrying job_id/tenant_id when the record has them."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in ("service", "job_id", "tenant_id", "stage", "correlation_id", "code"):
            value = getattr(record, field, None)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(service: str, *, level: str = "INFO", json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(f"%(asctime)s {service} %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    old_factory = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = old_factory(*args, **kwargs)
        record.service = service
        return record

    logging.setLogRecordFactory(factory)


@dataclass(frozen=True)
class StageMetrics:
    duration: Histogram
    failures: Counter
    in_flight: Gauge
    processed: Counter

    @classmethod
    def register(cls, registry: CollectorRegistry) -> StageMetrics:
        return cls(
            duration=Histogram(
                "clipforge_stage_duration_seconds",
                "Time a stage spent on one job, by outcome.",
                ["stage", "outcome"],
                buckets=_STAGE_BUCKETS,
                registry=registry,
            ),
            failures=Counter(
                "clipforge_stage_failures_total",
                "Jobs a stage ended as failed, by error code.",
                ["stage", "code"],
                registry=registry,
            ),
            in_flight=Gauge(
                "clipforge_stage_in_flight",
                "Jobs a stage is working on right now.",
                ["stage"],
                registry=registry,
            ),
            processed=Counter(
                "clipforge_stage_messages_total",
                "Messages a stage handled, by what happened to them.",
                ["stage", "result"],
                registry=registry,
            ),
        )
