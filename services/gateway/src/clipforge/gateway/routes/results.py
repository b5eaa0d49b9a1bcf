"""What a job produced: its transcript (JSON, SRT, VTT) and each clip's mp4, thumbnail and
caption sidecars. Files are served with HTTP Range support and their real content types."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, PlainTextResponse, Response

from clipforge.gateway.auth import TenantDep
from clipforge.gateway.problem_docs import problem_doc
from clipforge.gateway.problems import Problem
from clipforge.gateway.routes.jobs import NOT_FOUND, load_job
from clipforge.gateway.state import StateDep, StoreDep
from clipforge.gateway.subtitles import to_srt, to_vtt
from clipforge.shared.media import MediaStore, MediaStoreError
from clipforge.shared.models import Transcript

router = APIRouter(prefix="/v1/jobs/{job_id}", tags=["results"])

CLIP_FILES: dict[str, tuple[str, str, str]] = {
    # route suffix: (clip field, content type, file suffix)
    "": ("media_key", "video/mp4", "mp4"),
    "/thumbnail": ("thumbnail_key", "image/jpeg", "jpg"),
    "/captions.srt": ("srt_key", "application/x-subrip", "srt"),
    "/captions.vtt": ("vtt_key", "text/vtt", "vtt"),
}


@router.get(
    "/transcript",
    responses={
        200: {
            "model": Transcript,
            "content": {"application/x-subrip": {}, "text/vtt": {}},
            "description": "The transcript with word timestamps (JSON), or as subtitles.",
        },
        **problem_doc(
            409,
            "transcript_not_ready",
            "Transcript not ready",
            "Job 6742c1f0a9e4b3d2c1f0a9e4 has no transcript yet (status: transcribing).",
        ),
        **NOT_FOUND,
    },
    summary="The transcript as JSON, SRT or WebVTT",
)
async def get_transcript(
    job_id: str,
    state: StateDep,
    store: StoreDep,
    tenant: TenantDep,
    format: Annotated[Literal["json", "srt", "vtt"], Query()] = "json",
) -> Response:
    job = await load_job(store, job_id, tenant)
    if not job.get("transcript"):
        raise Problem(
            409,
            "transcript_not_ready",
            "Transcript not ready",
            f"Job {job_id} has no transcript yet (status: {job['status']}).",
        )
    raw = await asyncio.to_thread(state.media.path(job["transcript"]["key"]).read_bytes)
    if format == "json":
        return Response(raw, media_type="application/json")
    transcript = Transcript.model_validate_json(raw)
    if format == "srt":
        return PlainTextResponse(to_srt(transcript), media_type="application/x-subrip")
    return PlainTextResponse(to_vtt(transcript), media_type="text/vtt")


def _clip_file(media: MediaStore, job: dict[str, Any], index: int, field: str) -> Any:
    clip = next((clip for clip in job.get("clips") or [] if clip["index"] == index), None)
    if clip is None:
        raise Problem(404, "clip_not_found", "Clip not found", f"Job {job['_id']} has no clip {index}.")
    key = clip.get(field)
    if not key:
        raise Problem(404, "file_not_found", "File not found", f"Clip {index} has no such file.")
    try:
        path = media.path(key)
    except MediaStoreError as exc:
        raise Problem(404, "file_not_found", "File not found", f"Clip {index} has no such file.") from exc
    if not path.is_file():
        raise Problem(410, "file_gone", "File gone", f"This file of clip {index} is no longer stored.")
    return path


FILE_GONE = problem_doc(410, "file_gone", "File gone", "This file of clip 1 is no longer stored.")


def _add_clip_route(suffix: str, field: str, content_type: str, extension: str) -> None:
    async def serve(job_id: str, index: int, state: StateDep, store: StoreDep, tenant: TenantDep) -> FileResponse:
        job = await load_job(store, job_id, tenant)
        path = _clip_file(state.media, job, index, field)
        return FileResponse(path, media_type=content_type, filename=f"{job_id}-clip-{index:02d}.{extension}")

    router.add_api_route(
        f"/clips/{{index}}{suffix}",
        serve,
        methods=["GET"],
        response_class=FileResponse,
        responses={200: {"content": {content_type: {}}}, **NOT_FOUND, **FILE_GONE},
        summary=f"Clip {extension} file" if suffix else "Clip video (mp4)",
        name=f"clip_{extension}",
    )


for _suffix, (_field, _type, _extension) in CLIP_FILES.items():
    _add_clip_route(_suffix, _field, _type, _extension)
