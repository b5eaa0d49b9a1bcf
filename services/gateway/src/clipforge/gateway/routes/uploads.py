"""Starting a job from an uploaded file.

The multipart body is parsed as it streams in and the file part written straight to the media
store, so an upload is never held whole in memory. What the file is gets decided by ffprobe,
not by its name or content type.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from io import BufferedWriter
from pathlib import Path

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from python_multipart.multipart import MultipartParser, parse_options_header

from clipforge.gateway.auth import TenantDep
from clipforge.gateway.problems import Problem
from clipforge.gateway.ratelimit import RATE_LIMITED, JobCreationLimit
from clipforge.gateway.routes.jobs import start_job
from clipforge.gateway.schemas import JobCreated, check_http_url
from clipforge.gateway.state import StateDep
from clipforge.shared.events import Priority
from clipforge.shared.jobs import new_job_id
from clipforge.shared.models import JobOptions, SourceRef
from clipforge.shared.probe import ffprobe, stream_types

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

UPLOAD_PATH = "/v1/jobs/upload"
UPLOAD_NAME = "source.upload"
MAX_FIELD_BYTES = 64 * 1024


class UploadFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    options: JobOptions = Field(default_factory=JobOptions)
    priority: Priority = "interactive"
    callback_url: str | None = None

    @field_validator("callback_url")
    @classmethod
    def _http_callback(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)


class TooLarge(Exception):
    pass


class _MultipartSink:
    """Callbacks for python-multipart: the ``file`` part goes to disk, other parts to memory."""

    def __init__(self, target: Path, max_bytes: int) -> None:
        self.target = target
        self.max_bytes = max_bytes
        self.file_bytes = 0
        self.filename: str | None = None
        self.fields: dict[str, bytes] = {}
        self.pending: list[bytes] = []
        self._header_field = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: setattr(self, "_header_field", data[start:end].lower()),
            "on_header_value": self._header_value,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }

    def _part_begin(self) -> None:
        self._headers, self._name, self._is_file = {}, None, False

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._headers[self._header_field] = self._headers.get(self._header_field, b"") + data[start:end]

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        self._name = params.get(b"name", b"").decode("utf-8", "replace")
        self._is_file = self._name == "file"
        if self._is_file:
            self.filename = params.get(b"filename", b"upload").decode("utf-8", "replace")[:255]

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._is_file:
            self.file_bytes += len(chunk)
            if self.file_bytes > self.max_bytes:
                raise TooLarge
            self.pending.append(chunk)
        elif self._name:
            value = self.fields.get(self._name, b"") + chunk
            if len(value) > MAX_FIELD_BYTES:
                raise Problem(422, "field_too_large", "Field too large", f"The field {self._name!r} is too long.")
            self.fields[self._name] = value

    def take_pending(self) -> bytes:
        data, self.pending = b"".join(self.pending), []
        return data


def _parse_fields(raw: dict[str, bytes]) -> UploadFields:
    values: dict[str, object] = {}
    for name in ("priority", "callback_url"):
        if name in raw:
            values[name] = raw[name].decode("utf-8", "replace")
    if "options" in raw:
        try:
            values["options"] = json.loads(raw["options"])
        except (ValueError, RecursionError) as exc:  # not JSON, or nested deeper than the parser goes
            raise Problem(
                422,
                "validation_error",
                "Invalid request",
                "options must be a JSON object.",
                errors=[{"field": "options", "message": "not valid JSON"}],
            ) from exc
    unknown = set(raw) - {"file", "options", "priority", "callback_url"}
    if unknown:
        values.update({name: raw[name].decode("utf-8", "replace") for name in unknown})
    try:
        return UploadFields.model_validate(values)
    except ValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        fields = ", ".join(error["field"] for error in errors)
        raise Problem(
            422, "validation_error", "Invalid request", f"Check these fields: {fields}.", errors=errors
        ) from exc


def _write(out: BufferedWriter, digest: hashlib._Hash, data: bytes) -> None:
    digest.update(data)
    out.write(data)


async def _receive(request: Request, sink: _MultipartSink, out: BufferedWriter, digest: hashlib._Hash) -> None:
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise Problem(
            415,
            "multipart_required",
            "Unsupported upload encoding",
            "Send the video as multipart/form-data with the file in a part named 'file'.",
        )
    parser = MultipartParser(boundary, sink.callbacks())  # type: ignore[arg-type]
    async for chunk in request.stream():
        parser.write(chunk)
        if sink.pending:
            await asyncio.to_thread(_write, out, digest, sink.take_pending())
    parser.finalize()


@router.post(
    "/upload",
    status_code=202,
    response_model=JobCreated,
    summary="Create a job from an uploaded video (multipart/form-data)",
    dependencies=[JobCreationLimit],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "options": {"type": "string", "description": "JobOptions as JSON"},
                            "priority": {"type": "string", "enum": ["interactive", "batch"]},
                            "callback_url": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
    responses={
        413: {"description": "The file is larger than the limit."},
        415: {"description": "The file is not audio/video media."},
        422: {"description": "Media without sound or without picture, or invalid fields."},
        **RATE_LIMITED,
    },
)
async def upload_job(request: Request, state: StateDep, tenant: TenantDep) -> JobCreated:
    declared = request.headers.get("content-length")
    limit = state.settings.max_upload_bytes
    if declared and declared.isdigit() and int(declared) > limit + MAX_FIELD_BYTES * 4:
        raise _too_large(limit)
    job_id = new_job_id()
    key = state.media.key(job_id, UPLOAD_NAME)
    target = state.media.prepare(key)
    sink = _MultipartSink(target, limit)
    digest = hashlib.sha256()  # while it streams: the source cache knows an upload by its bytes
    try:
        with target.open("wb") as out:
            try:
                await _receive(request, sink, out, digest)
            except TooLarge:
                raise _too_large(limit) from None
        if sink.filename is None or sink.file_bytes == 0:
            raise Problem(
                422,
                "file_missing",
                "No file",
                "Attach the video in a part named 'file'.",
                errors=[{"field": "file", "message": "missing or empty"}],
            )
        fields = _parse_fields(sink.fields)
        await _check_media(target)
    except BaseException:
        await asyncio.to_thread(state.media.delete_job, job_id)
        raise
    source = SourceRef(kind="upload", media_key=key, filename=sink.filename, sha256=digest.hexdigest())
    extra = {"callback_url": fields.callback_url} if fields.callback_url else None
    return await start_job(state, tenant, source, fields.options, fields.priority, job_id=job_id, extra=extra)


def _too_large(limit: int) -> Problem:
    return Problem(
        413,
        "upload_too_large",
        "File too large",
        f"Uploads are limited to {limit / 1024**2:.0f} MB. Send a shorter or smaller video.",
    )


async def _check_media(path: Path) -> None:
    info = await ffprobe(path)
    kinds = stream_types(info) if info else set()
    if not kinds & {"video", "audio"}:
        raise Problem(
            415,
            "not_media",
            "Not a video",
            "The uploaded file is not a video or audio file we can read.",
        )
    if "audio" not in kinds:
        raise Problem(
            422,
            "no_audio_stream",
            "Video without sound",
            "The uploaded video has no sound track; highlights are found from what is said.",
        )
    if "video" not in kinds:
        # Clips are video: a sound-only file would fail at ingest, so say so now.
        raise Problem(
            422,
            "no_video_stream",
            "Sound without picture",
            "The uploaded file has sound but no picture; upload a video file.",
        )
