"""The ``clipforge`` command.

Gateway commands find the gateway and the API key in ``--api-url``/``--api-key``, else
``$CLIPFORGE_API_URL``/``$CLIPFORGE_API_KEY``, else the local stack (http://127.0.0.1:8000 and
``.clipforge/dev-api-key``). Heavy modules (the stages, the database) are imported only by the
commands that need them, so ``clipforge jobs list`` starts fast.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from clipforge.api.models import JobOptions, JobStatus, JobView
from clipforge.cli.output import EXIT_CODES_HELP, Exit, emit_json, exit_for_status, fail, reported_errors, stderr
from clipforge.cli.progress import StageBars
from clipforge.cli.render import print_clips, print_job, print_jobs
from clipforge.client import ClipForge, is_url

app = typer.Typer(
    name="clipforge",
    help="ClipForge: long videos in, short captioned highlight clips out.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
jobs_app = typer.Typer(
    help="Jobs on a gateway: list, show, wait, download, cancel, retry, delete.", no_args_is_help=True
)
keys_app = typer.Typer(
    help="API keys, straight in the gateway's database (CLIPFORGE_MONGO_URL, CLIPFORGE_MONGO_DATABASE).",
    no_args_is_help=True,
)
app.add_typer(jobs_app, name="jobs")
app.add_typer(keys_app, name="keys")

# --- shared options ---------------------------------------------------------------------------

Json = Annotated[bool, typer.Option("--json", help="Plain JSON on standard output (errors as JSON on stderr).")]
ApiUrl = Annotated[str | None, typer.Option("--api-url", help="Gateway URL [env CLIPFORGE_API_URL].")]
ApiKey = Annotated[str | None, typer.Option("--api-key", help="API key [env CLIPFORGE_API_KEY].")]
JobId = Annotated[str, typer.Argument(help="The job id.")]
Source = Annotated[str, typer.Argument(help="A video link (http/https) or a local video file.")]
MaxClips = Annotated[int | None, typer.Option("--max-clips", help="At most this many clips (1-20; default 5).")]
MinSeconds = Annotated[float | None, typer.Option("--min-seconds", help="Shortest clip (default 15).")]
MaxSeconds = Annotated[float | None, typer.Option("--max-seconds", help="Longest clip (default 60).")]
Aspect = Annotated[str | None, typer.Option("--aspect", help="original, 9:16, 1:1 or 16:9.")]
CaptionStyle = Annotated[str | None, typer.Option("--caption-style", help="bold, clean or karaoke.")]
Captions = Annotated[bool, typer.Option("--captions/--no-captions", help="Burn word-level captions in.")]
Language = Annotated[str | None, typer.Option("--language", help="Spoken language (ISO code); detected if omitted.")]
Timeout = Annotated[float | None, typer.Option("--timeout", help="Give up waiting after this many seconds (exit 6).")]
Download = Annotated[
    Path | None, typer.Option("--download", help="When the job completes, save its clips and sidecars here.")
]


def _options(
    max_clips: int | None,
    min_seconds: float | None,
    max_seconds: float | None,
    aspect: str | None,
    caption_style: str | None,
    captions: bool,
    language: str | None,
) -> dict[str, Any]:
    """Only what was given: the gateway's defaults apply to the rest."""
    values: dict[str, Any] = {
        "max_clips": max_clips,
        "min_clip_seconds": min_seconds,
        "max_clip_seconds": max_seconds,
        "aspect": aspect,
        "caption_style": caption_style,
        "language": language,
    }
    chosen = {key: value for key, value in values.items() if value is not None}
    if not captions:
        chosen["captions"] = False
    return chosen


def _follow(client: ClipForge, job_id: str, timeout: float | None, *, bars: bool) -> JobView:
    with StageBars(stderr, enabled=bars) as progress:
        return client.wait(job_id, timeout=timeout, on_message=progress.show)


def _conclude(client: ClipForge, job: JobView, download: Path | None, as_json: bool) -> None:
    """Save the clips if asked, print the job, and exit with its status's code."""
    if download is not None and job.status is JobStatus.COMPLETED:
        paths = client.download_clips(job, download, thumbnails=True, captions=True)
        if not as_json:
            stderr.print(f"saved {len(paths)} file(s) to {download}/")
    if as_json:
        emit_json(job)
    else:
        print_job(job)
    raise typer.Exit(int(exit_for_status(job.status)))


# --- local ----------------------------------------------------------------------------------


@app.command()
def process(
    source: Source,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for clips, result.json, transcript.json.")] = Path(
        "clips"
    ),
    max_clips: MaxClips = None,
    min_seconds: MinSeconds = None,
    max_seconds: MaxSeconds = None,
    aspect: Aspect = None,
    caption_style: CaptionStyle = None,
    captions: Captions = True,
    language: Language = None,
    keep_work: Annotated[bool, typer.Option(help="Keep the downloaded video and audio in OUT.")] = False,
    json_output: Json = False,
) -> None:
    """Run the whole pipeline here, in one process (no gateway, broker or database)."""
    try:
        options = JobOptions.model_validate(
            _options(max_clips, min_seconds, max_seconds, aspect, caption_style, captions, language)
        )
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'options'}: {e['msg']}" for e in error.errors())
        raise fail(Exit.USAGE, f"invalid options: {problems}", as_json=json_output, code="validation_error") from None
    if not is_url(source) and not Path(source).is_file():
        raise fail(Exit.USAGE, f"no such file: {source}", as_json=json_output, code="no_such_file")

    from clipforge.cli.local import LocalFailure
    from clipforge.cli.local import process as run_locally

    try:
        with StageBars(stderr, enabled=not json_output) as bars:
            result = asyncio.run(
                run_locally(
                    source, out, options, lambda stage, percent, message: bars.update(stage.value, percent, message),
                    keep_work=keep_work,
                )
            )
    except LocalFailure as failure:
        error = failure.error
        raise fail(
            Exit.JOB_FAILED,
            f"{error.stage} failed: {error.message} ({error.code})",
            as_json=json_output,
            stage=error.stage,
            code=error.code,
            detail=error.message,
        ) from None
    except KeyboardInterrupt:
        raise typer.Exit(int(Exit.INTERRUPTED)) from None
    if json_output:
        emit_json(result)
        return
    timings = ", ".join(f"{stage} {seconds:.1f} s" for stage, seconds in result.stage_seconds.items())
    stderr.print(f"{result.transcript.word_count} words; {timings}")
    print_clips(result.clips, base=out)


# --- a gateway --------------------------------------------------------------------------------


@app.command()
def submit(
    source: Source,
    max_clips: MaxClips = None,
    min_seconds: MinSeconds = None,
    max_seconds: MaxSeconds = None,
    aspect: Aspect = None,
    caption_style: CaptionStyle = None,
    captions: Captions = True,
    language: Language = None,
    priority: Annotated[str, typer.Option(help="interactive or batch.")] = "interactive",
    callback_url: Annotated[str | None, typer.Option(help="Receives signed completion/failure webhooks.")] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Show live progress until the job ends.")] = False,
    download: Download = None,
    timeout: Timeout = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    json_output: Json = False,
) -> None:
    """Start a job on a gateway from a link or a file; prints its id (or follows it with --follow)."""
    options = _options(max_clips, min_seconds, max_seconds, aspect, caption_style, captions, language)
    if not is_url(source) and not Path(source).is_file():
        raise fail(Exit.USAGE, f"no such file: {source}", as_json=json_output, code="no_such_file")
    with reported_errors(json_output), ClipForge(api_url, api_key) as client:
        created = client.create(source, options=options, priority=priority, callback_url=callback_url)  # type: ignore[arg-type]
        if not follow and download is None:
            if json_output:
                emit_json(created)
            else:
                print(created.id)
            return
        if not json_output:
            stderr.print(f"job {created.id} submitted")
        _conclude(client, _follow(client, created.id, timeout, bars=not json_output), download, json_output)


@jobs_app.command("list")
def jobs_list(
    status: Annotated[list[str] | None, typer.Option("--status", help="Only jobs in this state (repeatable).")] = None,
    limit: Annotated[int, typer.Option(help="Jobs per page (1-200).")] = 20,
    cursor: Annotated[str | None, typer.Option(help="next_cursor of the previous page.")] = None,
    all_pages: Annotated[bool, typer.Option("--all", help="Every matching job, all pages.")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    json_output: Json = False,
) -> None:
    """The tenant's jobs, newest first."""
    from clipforge.api.models import JobList

    with reported_errors(json_output), ClipForge(api_url, api_key) as client:
        if all_pages:
            page = JobList(items=list(client.iter_jobs(status=status, page_size=max(limit, 50))), next_cursor=None)
        else:
            page = client.list_jobs(status=status, limit=limit, cursor=cursor)
    if json_output:
        emit_json(page)
    else:
        print_jobs(page)


@jobs_app.command("show")
def jobs_show(job_id: JobId, api_url: ApiUrl = None, api_key: ApiKey = None, json_output: Json = False) -> None:
    """A job with its stages, clips and error."""
    with reported_errors(json_output), ClipForge(api_url, api_key) as client:
        job = client.get_job(job_id)
    if json_output:
        emit_json(job)
    else:
        print_job(job)


@jobs_app.command("wait")
def jobs_wait(
    job_id: JobId,
    download: Download = None,
    timeout: Timeout = None,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    json_output: Json = False,
) -> None:
    """Follow a job live until it ends; the exit code says how it ended."""
    with reported_errors(json_output), ClipForge(api_url, api_key) as client:
        _conclude(client, _follow(client, job_id, timeout, bars=not json_output), download, json_output)


@jobs_app.command("download")
def jobs_download(
    job_id: JobId,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to save into.")] = Path("."),
    thumbnails: Annotated[bool, typer.Option(help="Also each clip's JPEG thumbnail.")] = False,
    captions: Annotated[bool, typer.Option(help="Also each clip's SRT and VTT captions.")] = False,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
    json_output: Json = False,
) -> None:
    """Save a job's clips."""
    with reported_errors(json_output), ClipForge(api_url, api_key) as client:
        paths = client.download_clips(job_id, out, thumbnails=thumbnails, captions=captions)
    if json_output:
        emit_json([str(path) for path in paths])
    else:
        for path in paths:
            print(path)


def _change(action: str, job_id: str, api_url: str | None, api_key: str | None, json_output: bool) -> None:
    with reported_errors(json_output), ClipForge(api_url, api_key) as client:
        job = client.cancel_job(job_id) if action == "cancel" else client.retry_job(job_id)
    if json_output:
        emit_json(job)
    else:
        print(f"{job.id} {job.status.value}")


@jobs_app.command("cancel")
def jobs_cancel(job_id: JobId, api_url: ApiUrl = None, api_key: ApiKey = None, json_output: Json = False) -> None:
    """Stop a running job (exit 3 if it has already ended)."""
    _change("cancel", job_id, api_url, api_key, json_output)


@jobs_app.command("retry")
def jobs_retry(job_id: JobId, api_url: ApiUrl = None, api_key: ApiKey = None, json_output: Json = False) -> None:
    """Start a failed job again from the stage that failed."""
    _change("retry", job_id, api_url, api_key, json_output)


@jobs_app.command("delete")
def jobs_delete(job_id: JobId, api_url: ApiUrl = None, api_key: ApiKey = None, json_output: Json = False) -> None:
    """Delete a job, its events and its media (cancelling it first if it runs)."""
    with reported_errors(json_output), ClipForge(api_url, api_key) as client:
        client.delete_job(job_id)
    if json_output:
        emit_json({"id": job_id, "deleted": True})
    else:
        print(f"{job_id} deleted")


# --- keys -------------------------------------------------------------------------------------


def _keys(json_output: bool, work: Any) -> Any:
    from pymongo.errors import PyMongoError

    try:
        return asyncio.run(work)
    except PyMongoError as error:
        raise fail(Exit.UNREACHABLE, f"database: {error}", as_json=json_output, code="database_unavailable") from None
    except ValueError as error:
        raise fail(Exit.USAGE, str(error), as_json=json_output, code="validation_error") from None


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="The tenant the key acts for.")],
    name: Annotated[str, typer.Option(help="A label for people.")] = "",
    json_output: Json = False,
) -> None:
    """Create a key; it is printed once and stored only hashed."""
    from clipforge.gateway.keys_cli import key_store

    async def create() -> Any:
        async with key_store() as store:
            return await store.create(tenant, name)

    issued = _keys(json_output, create())
    if json_output:
        emit_json({"key_id": issued.key_id, "tenant_id": issued.tenant_id, "name": name, "api_key": issued.api_key})
    else:
        stderr.print(f"API key for tenant {issued.tenant_id} (id {issued.key_id}); it is shown only this once:")
        print(issued.api_key)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (cf_<id>_...).")], json_output: Json = False
) -> None:
    """Revoke a key at once (exit 3 when there is no such active key)."""
    from clipforge.gateway.keys_cli import key_store

    async def revoke() -> bool:
        async with key_store() as store:
            return await store.revoke(key_id)

    if not _keys(json_output, revoke()):
        raise fail(Exit.API_ERROR, f"no active key {key_id}", as_json=json_output, code="key_not_found")
    if json_output:
        emit_json({"key_id": key_id, "revoked": True})
    else:
        print(f"revoked {key_id}")


@keys_app.command("list")
def keys_list(
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's keys.")] = None, json_output: Json = False
) -> None:
    """Every key (never its secret)."""
    from clipforge.gateway.keys_cli import key_store

    async def listing() -> list[dict[str, Any]]:
        async with key_store() as store:
            return await store.list(tenant)

    keys = [
        {
            "key_id": key["_id"],
            "tenant_id": key["tenant_id"],
            "name": key.get("name", ""),
            "active": not key.get("revoked_at"),
            "created_at": key["created_at"].isoformat(),
        }
        for key in _keys(json_output, listing())
    ]
    if json_output:
        emit_json(keys)
        return
    for key in keys:
        state = "active" if key["active"] else "revoked"
        print(f"{key['key_id']}  {key['tenant_id']:<20} {state:<8} {key['name']}")


# --- the local stack and agents ---------------------------------------------------------------

StateDir = Annotated[
    Path | None, typer.Option("--state-dir", help="Where media, logs and the dev key live [default .clipforge].")
]


def _state_dir(state_dir: Path | None) -> Path:
    from clipforge.devstack.__main__ import DEFAULT_STATE_DIR

    return (state_dir or DEFAULT_STATE_DIR).resolve()


@app.command()
def up(state_dir: StateDir = None, json_output: Json = False) -> None:
    """Start the local stack (SecantusDB and the five services) until Ctrl-C; gateway on :8000.

    With --json, one line once ready: {"gateway_url", "api_key", "mongo_url", "state_dir"}."""
    from clipforge.devstack.__main__ import run_up

    raise typer.Exit(run_up(_state_dir(state_dir), json_output=json_output))


@app.command()
def demo(state_dir: StateDir = None, json_output: Json = False) -> None:
    """Submit a generated talk video to the local stack (started if needed) and print the clips
    (--json: the finished job). Exit 1 when the job does not complete."""
    from clipforge.devstack.demo import run_demo

    raise typer.Exit(run_demo(_state_dir(state_dir), json_output=json_output))


@app.command()
def mcp(
    transport: Annotated[str, typer.Option(help="stdio, or streamable-http for remote agents.")] = "stdio",
    host: Annotated[str, typer.Option(help="streamable-http: address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="streamable-http: port to listen on.")] = 8765,
    api_url: ApiUrl = None,
    api_key: ApiKey = None,
) -> None:
    """Serve the MCP tools (create_job, job_status, list_clips, list_jobs) for agents."""
    from clipforge.mcp.server import serve

    serve(transport, host=host, port=port, api_url=api_url, api_key=api_key)


def main() -> int:
    try:
        app()
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    return 0
