"""What the REST API accepts and returns.

The models live in ``clipforge.api`` (package clipforge-client) so that the gateway and its
clients share one definition; this module keeps the names the gateway code imports.
"""

from __future__ import annotations

from clipforge.api.models import (
    MAX_URL_LENGTH,
    ClipView,
    CreateJobRequest,
    HighlightView,
    JobCreated,
    JobLinks,
    JobList,
    JobSummary,
    JobView,
    QueueDepth,
    StageView,
    Stats,
    WebhookAttemptView,
    check_http_url,
)

__all__ = [
    "MAX_URL_LENGTH",
    "ClipView",
    "CreateJobRequest",
    "HighlightView",
    "JobCreated",
    "JobLinks",
    "JobList",
    "JobSummary",
    "JobView",
    "QueueDepth",
    "StageView",
    "Stats",
    "WebhookAttemptView",
    "check_http_url",
]
