"""The optional LLM scorer against real HTTP servers on 127.0.0.1 that speak the OpenAI chat
completions protocol: one that answers well, one that fails, one too slow, one that talks
nonsense. The analyze service's handler must record which scorer chose the clips and show a
degraded state whenever a configured scorer fails."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from test_analyze_support import ASTRONOMY, COOKING, SOFTWARE, joined_wav, options, speech_wav, spoken, wav_seconds

from clipforge.analyze.core import analyze
from clipforge.analyze.llm import LLM_WEIGHT, LLMConfig, LLMScorer, LLMUnavailable
from clipforge.analyze.service import AnalyzeSettings, build_worker, choose_highlights
from clipforge.shared.events import HighlightsReady, TranscriptReady
from clipforge.shared.media import MediaStore
from clipforge.shared.models import AnalysisInfo, Highlight, MediaInfo, Stage
from clipforge.shared.worker import StageContext

JOB_ID = "6742a1b2c3d4e5f607182930"


@dataclass
class FakeLLM:
    """What the fake endpoint does, and what it was sent."""

    mode: str  # "good", "error", "slow", "nonsense", "refuse"
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    delay: float = 2.0

    def answer(self, body: dict[str, Any]) -> tuple[int, bytes]:
        if self.mode == "error":
            return 500, b'{"error": {"message": "model crashed"}}'
        if self.mode == "refuse":
            return 401, b'{"error": {"message": "bad key"}}'
        if self.mode == "slow":
            time.sleep(self.delay)
        if self.mode == "nonsense":
            return 200, json.dumps({"choices": [{"message": {"content": "I'd rather not rate these."}}]}).encode()
        clips = json.loads(body["messages"][-1]["content"])["clips"]
        # Prefers the clips the local analysis put last: a re-ranking is visible.
        verdicts = [
            {
                "id": clip["id"],
                "score": 40 + 10 * clip["id"],
                "reason": f"Clip {clip['id']} pays off",
                "title": f"T{clip['id']}",
            }
            for clip in clips
        ]
        content = "Here you go:\n```json\n" + json.dumps({"clips": verdicts}) + "\n```"
        return 200, json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()


@pytest.fixture
def fake_llm(request: pytest.FixtureRequest) -> Iterator[tuple[FakeLLM, str]]:
    """A real HTTP server on 127.0.0.1 (a free port) and its base URL."""
    fake = FakeLLM(mode=request.param)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fake.requests.append({"path": self.path, **body})
            fake.headers.append(dict(self.headers))
            status, payload = fake.answer(body)
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting: that is the point of the slow mode

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def local_highlights(count: int = 3) -> list[Highlight]:
    transcript = spoken(SOFTWARE + COOKING + ASTRONOMY)
    return analyze(transcript, options(max_clips=count, min_clip_seconds=8, max_clip_seconds=20)).highlights(count)


def config(base_url: str, **overrides: Any) -> LLMConfig:
    return LLMConfig.model_validate(
        {"base_url": base_url, "model": "fake-7b", "timeout_seconds": 0.5, "retries": 1, **overrides}
    )


# --- the scorer -----------------------------------------------------------------------------


@pytest.mark.parametrize("fake_llm", ["good"], indirect=True)
async def test_a_working_endpoint_re_scores_and_re_ranks(fake_llm: tuple[FakeLLM, str]) -> None:
    fake, url = fake_llm
    local = local_highlights()
    rescored = await LLMScorer(config(url, api_key="sk-test")).rescore(local)

    [request] = fake.requests
    assert request["path"] == "/v1/chat/completions" and request["model"] == "fake-7b"
    assert fake.headers[0]["Authorization"] == "Bearer sk-test"
    sent = json.loads(request["messages"][-1]["content"])["clips"]
    assert [clip["text"] for clip in sent] == [h.text for h in local]

    # The fake rates clip 3 highest (70), then 2 (60), then 1 (50).
    assert [h.text for h in rescored] == [h.text for h in reversed(local)]
    for position, highlight in zip((3, 2, 1), rescored, strict=True):
        original = local[position - 1]
        llm_score = 40 + 10 * position
        assert highlight.sub_scores["llm"] == llm_score
        assert highlight.score == pytest.approx(LLM_WEIGHT * llm_score + (1 - LLM_WEIGHT) * original.score, abs=0.05)
        assert highlight.title == f"T{position}"
        assert highlight.reason.startswith(f"fake-7b rates it {llm_score}/100: Clip {position} pays off.")
        assert original.reason in highlight.reason
        assert (highlight.start, highlight.end, highlight.keywords) == (original.start, original.end, original.keywords)


@pytest.mark.parametrize(
    ("fake_llm", "problem"),
    [
        ("error", "the endpoint answered HTTP 500 (2 attempts)"),
        ("slow", "no answer within 0.5 s (2 attempts)"),
        ("nonsense", "not the JSON rating that was asked for (2 attempts)"),
    ],
    indirect=["fake_llm"],
)
async def test_failures_are_retried_then_reported(fake_llm: tuple[FakeLLM, str], problem: str) -> None:
    fake, url = fake_llm
    began = time.monotonic()
    with pytest.raises(LLMUnavailable) as caught:
        await LLMScorer(config(url)).rescore(local_highlights())
    assert problem in str(caught.value)
    assert len(fake.requests) == 2  # one try and one retry
    assert time.monotonic() - began < 5.0


@pytest.mark.parametrize("fake_llm", ["refuse"], indirect=True)
async def test_a_refusal_is_not_retried(fake_llm: tuple[FakeLLM, str]) -> None:
    fake, url = fake_llm
    with pytest.raises(LLMUnavailable, match="refused the request with HTTP 401"):
        await LLMScorer(config(url, retries=3)).rescore(local_highlights())
    assert len(fake.requests) == 1


async def test_nobody_listening_is_unavailable() -> None:
    with pytest.raises(LLMUnavailable, match="could not reach the endpoint"):
        await LLMScorer(config("http://127.0.0.1:9/v1", retries=0)).rescore(local_highlights())


# --- the choice the service records ---------------------------------------------------------


async def test_without_an_llm_the_local_scorer_decides() -> None:
    analysis = analyze(spoken(SOFTWARE + COOKING), options(max_clips=2, min_clip_seconds=8, max_clip_seconds=20))
    highlights, info = await choose_highlights(analysis, options(max_clips=2), None)
    assert info == AnalysisInfo(scorer="local", degraded=False, detail=None)
    assert highlights == analysis.highlights(2)


async def test_an_llm_url_without_a_model_is_degraded_not_silent() -> None:
    analysis = analyze(spoken(SOFTWARE + COOKING), options(max_clips=2, min_clip_seconds=8, max_clip_seconds=20))
    settings = AnalyzeSettings(llm_base_url="http://127.0.0.1:9/v1")
    highlights, info = await choose_highlights(analysis, options(max_clips=2), settings.llm_config())
    assert info.degraded and info.scorer == "local"
    assert info.detail == "LLM scorer unavailable: CLIPFORGE_LLM_MODEL is not set"
    assert highlights == analysis.highlights(2)


@pytest.fixture(scope="module")
def staged_job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TranscriptReady]:
    """A job in a media store as transcribe leaves it: audio.wav and transcript.json."""
    from test_analyze_support import timed_transcript

    root = tmp_path_factory.mktemp("media")
    media = MediaStore(root)
    texts = SOFTWARE[:4] + COOKING[:4]
    parts = [speech_wav(text, root / f"part-{i}.wav") for i, text in enumerate(texts)]
    joined_wav(parts, media.prepare(media.key(JOB_ID, "audio.wav")))
    transcript = timed_transcript(texts, [wav_seconds(p) for p in parts])
    transcript_key = media.key(JOB_ID, "transcript.json")
    media.prepare(transcript_key).write_text(transcript.model_dump_json())
    event = TranscriptReady(
        job_id=JOB_ID,
        tenant_id="default",
        correlation_id="c",
        options=options(max_clips=2, min_clip_seconds=8, max_clip_seconds=20),
        media=MediaInfo(
            duration_seconds=transcript.duration_seconds, size_bytes=1, container="wav", has_audio=True, has_video=True
        ),
        video_key=media.key(JOB_ID, "source.mp4"),
        transcript_key=transcript_key,
    )
    return root, event


async def run_handler(
    root: Path, event: TranscriptReady, **settings: Any
) -> tuple[dict[str, Any], HighlightsReady, str]:
    worker = build_worker(AnalyzeSettings(media_root=root, **settings))
    progress: list[tuple[float, str]] = []
    ctx = StageContext(
        stage=Stage.ANALYZE,
        job_id=JOB_ID,
        tenant_id="default",
        attempt=1,
        job={},
        media=MediaStore(root),
        progress=lambda fraction, message: progress.append((fraction, message)),
        log=logging.LoggerAdapter(logging.getLogger("test"), {}),
    )
    outcome = await worker.definition.handler(event, ctx)
    assert progress and all(0.0 <= f <= 1.0 for f, _ in progress)
    assert isinstance(outcome.event, HighlightsReady)
    return outcome.record, outcome.event, outcome.message


async def test_the_service_records_the_local_scorer_with_energy(staged_job: tuple[Path, TranscriptReady]) -> None:
    record, ready, message = await run_handler(*staged_job)
    assert record["analysis"] == {"scorer": "local", "degraded": False, "detail": None}
    assert record["highlights"] == [h.model_dump() for h in ready.highlights]
    assert len(ready.highlights) == 2 and message == "Found 2 highlight(s)"
    for highlight in ready.highlights:
        assert {"energy", "coherence", "hook", "pace", "self_containedness", "keyword_salience"} == set(
            highlight.sub_scores
        )


@pytest.mark.parametrize("fake_llm", ["good"], indirect=True)
async def test_the_service_records_a_working_llm(
    staged_job: tuple[Path, TranscriptReady], fake_llm: tuple[FakeLLM, str]
) -> None:
    fake, url = fake_llm
    record, ready, _ = await run_handler(*staged_job, llm_base_url=url, llm_model="fake-7b", llm_timeout_seconds=5)
    assert record["analysis"] == {"scorer": "llm:fake-7b", "degraded": False, "detail": None}
    assert len(fake.requests) == 1
    # The pool holds twice the clips asked for; the model's favourites are the ones kept.
    pool = json.loads(fake.requests[0]["messages"][-1]["content"])["clips"]
    assert len(pool) > 2 and len(ready.highlights) == 2
    assert [h.sub_scores["llm"] for h in ready.highlights] == [40 + 10 * len(pool), 40 + 10 * (len(pool) - 1)]
    starts = sorted((h.start, h.end) for h in ready.highlights)
    assert starts[0][1] <= starts[1][0]


@pytest.mark.parametrize("fake_llm", ["error", "slow"], indirect=True)
async def test_the_service_shows_a_failing_llm_as_degraded(
    staged_job: tuple[Path, TranscriptReady], fake_llm: tuple[FakeLLM, str]
) -> None:
    _, url = fake_llm
    local_record, local_ready, _ = await run_handler(*staged_job)
    record, ready, message = await run_handler(
        *staged_job, llm_base_url=url, llm_model="fake-7b", llm_timeout_seconds=0.5, llm_retries=1
    )
    analysis = record["analysis"]
    assert analysis["scorer"] == "local" and analysis["degraded"] is True
    assert analysis["detail"].startswith("LLM scorer unavailable: ")
    assert ("HTTP 500" if fake_llm[0].mode == "error" else "no answer within 0.5 s") in analysis["detail"]
    assert "LLM scorer unavailable" in message
    # The local scorer's result, exactly.
    assert record["highlights"] == local_record["highlights"]
    assert ready.highlights == local_ready.highlights
