"""``clipforge process``: the whole pipeline in this process, with each stage's own code.

The same functions the services call from their ``service.py`` (ingest → transcribe → analyze →
render), with the same settings (``CLIPFORGE_*``), but no broker, no database and no media
store: intermediate files go to a temporary folder, clips and their sidecars to ``out_dir``.
Long audio is transcribed in one pass (the services split it across processes).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel, Field

from clipforge.analyze.core import analyze
from clipforge.analyze.embeddings import load_embedder
from clipforge.analyze.service import AnalyzeSettings, choose_highlights
from clipforge.api.models import AnalysisInfo, ClipView, JobError, JobOptions, MediaInfo, Stage, TranscriptSummary
from clipforge.client import is_url
from clipforge.ingest.core import ingest, ingest_file
from clipforge.ingest.service import IngestSettings
from clipforge.render.core import clip_bounds, render_clips
from clipforge.render.service import RenderSettings
from clipforge.shared.errors import StageError
from clipforge.shared.models import ProgressCallback
from clipforge.transcribe.core import transcribe
from clipforge.transcribe.service import TranscribeSettings

StageProgress = Callable[[Stage, float, str], None]
RESULT_FILE = "result.json"
TRANSCRIPT_FILE = "transcript.json"


class LocalResult(BaseModel):
    """What ``clipforge process`` made; written to ``<out>/result.json``. Clip URLs are file names
    relative to ``output_dir`` (the clips have the same fields as the API's)."""

    source: str
    output_dir: str
    options: JobOptions
    media: MediaInfo
    transcript: TranscriptSummary
    analysis: AnalysisInfo
    clips: list[ClipView]
    stage_seconds: dict[str, float] = Field(description="Wall time of each stage.")


class LocalFailure(Exception):
    """A stage's work failed: the same stage, code and message a job would end with."""

    def __init__(self, error: JobError) -> None:
        super().__init__(f"{error.stage}: {error.code}: {error.message}")
        self.error = error


async def process(
    source: str | Path, out_dir: Path, options: JobOptions, on_progress: StageProgress, *, keep_work: bool = False
) -> LocalResult:
    """Run every stage on ``source`` (a link or a local file); raises :class:`LocalFailure`."""
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    workdir = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="clipforge-", dir=out_dir if keep_work else None))
    timings: dict[str, float] = {}
    stage = Stage.INGEST
    try:

        def reporter(current: Stage) -> ProgressCallback:
            nonlocal stage
            stage = current
            timings[current.value] = time.monotonic()
            return lambda fraction, message: on_progress(current, fraction * 100.0, message)

        def done(current: Stage, message: str) -> None:
            timings[current.value] = round(time.monotonic() - timings[current.value], 3)
            on_progress(current, 100.0, message)

        config = IngestSettings().ingest_config()
        report = reporter(Stage.INGEST)
        if is_url(source):
            ingested = await ingest(str(source), workdir, config, report)
        else:
            ingested = await ingest_file(Path(source), workdir, config, report)
        media = ingested.media
        done(Stage.INGEST, f"Got {media.duration_seconds:.0f} s of {media.width}x{media.height} video")

        report = reporter(Stage.TRANSCRIBE)
        whisper = TranscribeSettings().whisper_config()
        transcript = await transcribe(ingested.audio_path, whisper, language=options.language, on_progress=report)
        (out_dir / TRANSCRIPT_FILE).write_text(transcript.model_dump_json())
        summary = TranscriptSummary.of(transcript)
        done(Stage.TRANSCRIBE, f"Transcribed {summary.word_count} words")

        report = reporter(Stage.ANALYZE)
        report(0.1, "Looking for self-contained moments")
        embedder = await asyncio.to_thread(load_embedder)
        analysis = await asyncio.to_thread(
            analyze, transcript, options, audio_path=ingested.audio_path, embedder=embedder
        )
        report(0.7, "Scoring the candidates")
        highlights, info = await choose_highlights(analysis, options, AnalyzeSettings().llm_config())
        done(Stage.ANALYZE, f"Found {len(highlights)} highlight(s)")

        report = reporter(Stage.RENDER)
        render_config = RenderSettings().render_config()
        rendered = await render_clips(
            ingested.video_path, highlights, transcript, options, media, out_dir, render_config, report
        )
        done(Stage.RENDER, f"{len(rendered)} clip(s) ready")
    except StageError as error:
        raise LocalFailure(JobError(stage=stage.value, code=error.code, message=error.message)) from None
    finally:
        if not keep_work:
            shutil.rmtree(workdir, ignore_errors=True)

    clips = [
        ClipView(
            index=index,
            start=start,
            end=end,
            duration_seconds=clip.duration_seconds,
            score=highlight.score,
            reason=highlight.reason,
            text=highlight.text,
            title=highlight.title,
            keywords=list(highlight.keywords),
            sub_scores=dict(highlight.sub_scores),
            size_bytes=clip.size_bytes,
            width=clip.width,
            height=clip.height,
            url=clip.path.name,
            thumbnail_url=clip.thumbnail_path.name,
            srt_url=clip.srt_path.name,
            vtt_url=clip.vtt_path.name,
        )
        for index, (highlight, clip) in enumerate(zip(highlights, rendered, strict=True), start=1)
        for start, end in [clip_bounds(highlight, media)]
    ]
    result = LocalResult(
        source=str(source),
        output_dir=str(out_dir),
        options=options,
        media=media,
        transcript=summary,
        analysis=info,
        clips=clips,
        stage_seconds=timings,
    )
    (out_dir / RESULT_FILE).write_text(result.model_dump_json(indent=2))
    return result
