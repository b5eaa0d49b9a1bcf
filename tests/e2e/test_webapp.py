"""The web app in headless Chromium against all five services: a video uploaded through the
page, its progress bar moved by the live WebSocket to 100 %, a clip played with the transcript
following it, a failure with its reason and a retry, and live progress surviving a gateway
restart. Debian's chromium is driven by Playwright (no browser download). Screenshots go to
test-artifacts/webapp-*.png."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, WebSocket, expect, sync_playwright

from clipforge.client import ClipForge
from clipforge.devstack.httpserve import StaticServer
from clipforge.devstack.samples import SampleVideo
from clipforge.devstack.stack import LocalStack

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
JOB_TIMEOUT_MS = 300_000
STEP_TIMEOUT_MS = 60_000
OPTIONS = {"max_clips": "2", "min_clip_seconds": "5", "max_clip_seconds": "20"}
# Every wait is generous: other test runs share this machine's two cores.
expect.set_options(timeout=STEP_TIMEOUT_MS)

# Records every value the jobs' progress bars show, from before the job exists until the end.
RECORD_PROGRESS = """() => {
  window.__progress = [];
  const seen = (bar) => {
    const row = bar.closest('[data-job-id]');
    if (row) window.__progress.push([row.dataset.jobId, Number(bar.getAttribute('aria-valuenow'))]);
  };
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === 'attributes') seen(record.target);
      for (const node of record.addedNodes ?? []) {
        if (node.querySelectorAll) node.querySelectorAll('[role=progressbar]').forEach(seen);
      }
    }
  }).observe(document.querySelector('.jobs-card'), {
    subtree: true, childList: true, attributes: true, attributeFilter: ['aria-valuenow'],
  });
}"""


def job_of(stack: LocalStack, job_id: str) -> dict[str, Any]:
    """The job as the API shows it, read through the Python client."""
    with ClipForge(stack.gateway_url, stack.api_key) as client:
        return client.get_job(job_id).model_dump(mode="json")


@pytest.fixture(scope="module")
def browser(stack: LocalStack) -> Iterator[Browser]:
    # After the stack: Playwright's sync API keeps an event loop on this thread while it runs,
    # and the stack's set-up calls asyncio.run.
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class Watched:
    """A page with what it did that a test checks: uncaught errors, CSP refusals, WebSockets."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        self.sockets: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))
        page.on("console", self._console)
        page.on("websocket", self._socket)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            self.errors.append(f"CSP: {message.text}")

    def _socket(self, socket: WebSocket) -> None:
        self.sockets.append(socket.url)


@pytest.fixture
def watched(browser: Browser, stack: LocalStack) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    watched = Watched(page)
    try:
        yield watched
    finally:
        context.close()
    assert watched.errors == [], "the page raised errors or the browser refused something"


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"webapp-{name}.png"), full_page=True)


def sign_in(page: Page, stack: LocalStack) -> None:
    page.goto(f"{stack.gateway_url}/")
    expect(page.get_by_role("heading", name="Connect to ClipForge")).to_be_visible()
    page.get_by_role("textbox", name="API key").fill(stack.api_key or "")
    page.get_by_role("button", name="Save key").click()
    expect(page.get_by_role("heading", name="New job")).to_be_visible()
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    page.evaluate(RECORD_PROGRESS)


def set_options(page: Page) -> None:
    page.get_by_label("Max clips").fill(OPTIONS["max_clips"])
    page.get_by_label("Min seconds").fill(OPTIONS["min_clip_seconds"])
    page.get_by_label("Max seconds").fill(OPTIONS["max_clip_seconds"])


def submit_link(page: Page, url: str) -> None:
    page.get_by_role("tab", name="Paste a link").click()
    page.get_by_label("Video link").fill(url)
    set_options(page)
    page.get_by_role("button", name="Create clips").click()


def row_of(page: Page, title: str) -> Any:
    return page.locator("li.job-row", has=page.locator(".job-title", has_text=title)).first


def progress_seen(page: Page, job_id: str) -> list[float]:
    return [value for seen_id, value in page.evaluate("window.__progress") if seen_id == job_id]


def test_upload_progress_clip_playback_and_transcript(
    watched: Watched, stack: LocalStack, speech_video: SampleVideo
) -> None:
    page = watched.page
    sign_in(page, stack)

    page.get_by_role("tab", name="Upload a file").click()
    page.locator("#source-file").set_input_files(str(speech_video.path))
    expect(page.locator(".chosen-name")).to_have_text(speech_video.path.name)
    set_options(page)
    page.get_by_role("button", name="Create clips").click()

    row = row_of(page, speech_video.path.name)
    expect(row).to_be_visible()
    job_id = row.get_attribute("data-job-id")
    assert job_id
    bar = row.get_by_role("progressbar")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=JOB_TIMEOUT_MS)
    expect(row.locator(".badge")).to_have_text("Completed")

    values = progress_seen(page, job_id)
    assert values == sorted(values), f"the bar never goes back: {values}"
    assert any(0 < value < 100 for value in values), f"the bar moved through the stages: {values}"
    assert any("/v1/events" in url for url in watched.sockets), "progress came over the tenant WebSocket"
    screenshot(page, "jobs")

    job = job_of(stack, job_id)
    assert job["status"] == "completed" and job["clips"], job.get("error")
    row.locator("a.job-link").click()
    cards = page.locator(".clip-card")
    expect(cards).to_have_count(len(job["clips"]))
    first = job["clips"][0]
    card = cards.first
    expect(card.locator(".clip-title")).to_have_text(first["title"] or f"Clip {first['index']}")
    expect(card.locator(".clip-reason")).to_have_text(first["reason"])
    expect(card.locator(".score-value")).to_have_text(str(round(first["score"])))
    for label, content_type in (("MP4", "video/mp4"), ("SRT", "application/x-subrip"), ("VTT", "text/vtt")):
        href = card.get_by_role("link", name=label).get_attribute("href")
        assert href
        response = httpx.get(f"{stack.gateway_url}{href}", timeout=30)
        assert response.status_code == 200 and response.headers["content-type"].startswith(content_type), href
    expect(page.locator(".transcript .word").first).to_be_visible()

    video = card.locator("video")
    page.wait_for_function("v => v.readyState >= 1 && v.duration > 0", arg=video.element_handle())
    duration = video.evaluate("v => v.duration")
    assert abs(duration - first["duration_seconds"]) < 1.0
    video.evaluate("v => v.play()")
    page.wait_for_function("v => !v.paused && v.currentTime > 0.5", arg=video.element_handle(), timeout=STEP_TIMEOUT_MS)
    start_time = video.evaluate("v => v.currentTime")
    page.wait_for_function(
        "([v, t]) => v.currentTime > t + 0.5", arg=[video.element_handle(), start_time], timeout=STEP_TIMEOUT_MS
    )
    decoded = video.evaluate("v => [v.error, v.videoWidth, v.getVideoPlaybackQuality().totalVideoFrames]")
    assert decoded[0] is None and decoded[1] == first["width"] and decoded[2] > 0, decoded

    current = page.locator(".transcript .word.is-current")
    expect(current).to_have_count(1)
    first_word = float(current.get_attribute("data-start") or "nan")
    assert first["start"] - 0.1 <= first_word <= first["end"] + 0.1, (first_word, first)
    page.wait_for_function(
        "s => { const w = document.querySelector('.transcript .word.is-current'); return w && w.dataset.start !== s; }",
        arg=current.get_attribute("data-start"),
        timeout=STEP_TIMEOUT_MS,
    )
    video.evaluate("v => v.pause()")
    screenshot(page, "job")


def test_failed_job_shows_its_reason_and_retry_completes_it(
    watched: Watched, stack: LocalStack, media_server: StaticServer, speech_video: SampleVideo
) -> None:
    page = watched.page
    sign_in(page, stack)
    name = f"later-{uuid.uuid4().hex[:8]}.mp4"  # not there yet: the download fails with a 404
    submit_link(page, f"{media_server.base_url}/{name}")

    row = row_of(page, name)
    expect(row.locator(".badge")).to_have_text("Failed", timeout=JOB_TIMEOUT_MS)
    job_id = row.get_attribute("data-job-id") or ""
    error = job_of(stack, job_id)["error"]
    assert error["stage"] == "ingest" and error["code"] == "source_unreachable", error
    expect(row.locator(".job-message")).to_contain_text(error["message"])
    expect(row.get_by_role("button", name="Retry")).to_be_visible()

    row.locator("a.job-link").click()
    failure = page.locator(".failure-card")
    expect(failure).to_be_visible()
    expect(failure.locator(".failure-title")).to_have_text("Failed while downloading the video")
    expect(failure.locator(".failure-message")).to_have_text(error["message"])
    expect(failure.locator(".error-code")).to_have_text(error["code"])
    expect(page.locator(".step-failed")).to_contain_text("Download")
    screenshot(page, "failed")

    shutil.copyfile(speech_video.path, speech_video.path.parent / name)
    failure.get_by_role("button", name="Retry job").click()
    expect(page.locator(".job-header .badge")).to_have_text("Completed", timeout=JOB_TIMEOUT_MS)
    expect(page.locator(".clip-card").first).to_be_visible()
    job = job_of(stack, job_id)
    assert job["status"] == "completed" and job["retries"] == 1 and job["error"] is None


DROP_A_FILE = """() => {
  const data = new DataTransfer();
  data.items.add(new File(['meeting notes, not a video'], 'notes.mp4', { type: 'video/mp4' }));
  const card = document.querySelector('form.submit-card');
  for (const type of ['dragenter', 'dragover', 'drop']) {
    card.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
  }
}"""


def test_a_dropped_file_that_is_not_a_video_shows_the_gateways_reason(watched: Watched, stack: LocalStack) -> None:
    page = watched.page
    sign_in(page, stack)
    page.evaluate(DROP_A_FILE)
    expect(page.get_by_role("tab", name="Upload a file")).to_have_attribute("aria-selected", "true")
    expect(page.locator(".chosen-name")).to_have_text("notes.mp4")
    page.get_by_role("button", name="Create clips").click()
    problem = page.locator(".form-error")
    expect(problem).to_contain_text("Not a video")
    expect(problem).to_contain_text("not a video or audio file")
    expect(page.locator(".job-title", has_text="notes.mp4")).to_have_count(0)


def test_live_progress_catches_up_after_the_gateway_restarts(
    watched: Watched, stack: LocalStack, media_server: StaticServer, speech_video: SampleVideo
) -> None:
    page = watched.page
    sign_in(page, stack)
    page.evaluate("window.__samePage = true")
    name = f"restart-{uuid.uuid4().hex[:8]}.mp4"
    shutil.copyfile(speech_video.path, speech_video.path.parent / name)
    submit_link(page, f"{media_server.base_url}/{name}")
    row = row_of(page, name)
    expect(row).to_be_visible()
    job_id = row.get_attribute("data-job-id") or ""
    sockets_before = len(watched.sockets)

    stack.stop_service("gateway")
    expect(page.locator("#connection")).to_have_attribute("data-state", "reconnecting")
    stack.start_service("gateway")
    stack.wait_ready(120)

    expect(page.locator("#connection")).to_have_attribute("data-state", "live", timeout=STEP_TIMEOUT_MS)
    expect(row.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100", timeout=JOB_TIMEOUT_MS)
    expect(row.locator(".badge")).to_have_text("Completed")
    assert page.evaluate("window.__samePage") is True, "caught up without reloading the page"
    resumed = watched.sockets[sockets_before:]
    assert resumed and all("cursor=" in url for url in resumed), resumed
    values = progress_seen(page, job_id)
    assert values == sorted(values), f"the bar never goes back: {values}"
    assert job_of(stack, job_id)["status"] == "completed"
    screenshot(page, "after-restart")
