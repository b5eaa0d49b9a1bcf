"""Hostile request bodies against the real gateway, RabbitMQ and SecantusDB: every one is answered
with a 4xx problem document naming what is wrong, never a 5xx, and creates no job."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import pytest_asyncio
from support import serve_gateway

from clipforge.shared.jobs import JobStore
from clipforge.shared.settings import Settings

pytestmark = pytest.mark.integration

GOOD = {"url": "https://example.com/talk.mp4"}


@pytest_asyncio.fixture
async def client(settings: Settings, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    # The production default: no non-public source network is allowed.
    async with (
        serve_gateway(settings, allowed_source_networks=[]) as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {api_key}"}) as http,
    ):
        yield http


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["code"] and body["detail"]
    return body


def fields(body: dict[str, Any]) -> set[str]:
    return {error["field"] for error in body.get("errors", [])}


async def post_raw(client: httpx.AsyncClient, content: bytes | str) -> httpx.Response:
    return await client.post("/v1/jobs", content=content, headers={"content-type": "application/json"})


async def no_jobs(store: JobStore) -> None:
    assert await store.list_jobs("default", limit=10) == []


# --- URLs ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("file:///etc/passwd", "unsupported_url_scheme"),
        ("ftp://example.com/talk.mp4", "unsupported_url_scheme"),
        ("javascript:alert(document.cookie)", "unsupported_url_scheme"),
        ("data:video/mp4;base64,AAAAIGZ0eXBpc29t", "unsupported_url_scheme"),
        ("https://admin:hunter2@example.com/talk.mp4", "url_credentials_forbidden"),
        ("http://169.254.169.254/latest/meta-data/iam/security-credentials/", "source_address_forbidden"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "source_address_forbidden"),
        ("http://metadata.google.internal/computeMetadata/v1/", "source_address_forbidden"),
        ("http://127.0.0.1:15672/api/overview", "source_address_forbidden"),
        ("http://localhost:27017/", "source_address_forbidden"),
        ("http://[::1]/talk.mp4", "source_address_forbidden"),
        ("http://2130706433/talk.mp4", "source_address_forbidden"),
        ("http://10.0.0.8/talk.mp4", "source_address_forbidden"),
        ("http://192.168.0.1/talk.mp4", "source_address_forbidden"),
        ("http://0.0.0.0:8000/talk.mp4", "source_address_forbidden"),
        ("http://example.com/\u0000talk.mp4", "invalid_url"),
        ("http://example.com/talk.mp4\r\nHost: evil", "invalid_url"),
    ],
)
async def test_unsafe_urls_are_422_with_a_stable_code(
    client: httpx.AsyncClient, store: JobStore, url: str, code: str
) -> None:
    body = problem(await client.post("/v1/jobs", json={"url": url}), 422)
    assert body["code"] == code
    assert fields(body) == {"url"}
    assert "hunter2" not in json.dumps(body)
    await no_jobs(store)


async def test_loopback_is_accepted_when_configuration_allows_it(
    settings: Settings, api_key: str, store: JobStore
) -> None:
    async with (
        serve_gateway(settings, allowed_source_networks=["127.0.0.0/8"]) as url,
        httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {api_key}"}) as http,
    ):
        allowed = await http.post("/v1/jobs", json={"url": "http://127.0.0.1:8080/talk.mp4"})
        still_refused = await http.post("/v1/jobs", json={"url": "http://10.0.0.8/talk.mp4"})
    assert allowed.status_code == 202, allowed.text
    assert problem(still_refused, 422)["code"] == "source_address_forbidden"


# --- types, sizes, shapes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": 42}, "url"),
        ({"url": ["https://example.com/a.mp4"]}, "url"),
        ({"url": None}, "url"),
        ({**GOOD, "options": "max_clips=3"}, "options"),
        ({**GOOD, "options": {"max_clips": "3"}}, "options.max_clips"),
        ({**GOOD, "options": {"max_clips": 3.5}}, "options.max_clips"),
        ({**GOOD, "options": {"max_clips": True}}, "options.max_clips"),
        ({**GOOD, "options": {"max_clips": 10**30}}, "options.max_clips"),
        ({**GOOD, "options": {"captions": "yes"}}, "options.captions"),
        ({**GOOD, "options": {"aspect": 916}}, "options.aspect"),
        ({**GOOD, "options": {"language": "english"}}, "options.language"),
        ({**GOOD, "priority": 1}, "priority"),
        ({**GOOD, "priority": "urgent"}, "priority"),
        ({**GOOD, "callback_url": {"href": "https://example.com/hook"}}, "callback_url"),
    ],
)
async def test_wrong_types_are_422_naming_the_field(
    client: httpx.AsyncClient, store: JobStore, body: dict[str, Any], field: str
) -> None:
    response = problem(await client.post("/v1/jobs", json=body), 422)
    assert response["code"] == "validation_error"
    assert field in fields(response)
    await no_jobs(store)


@pytest.mark.parametrize("raw", ["NaN", "Infinity", "-Infinity", "1e999"])
async def test_non_finite_numbers_are_422(client: httpx.AsyncClient, raw: str) -> None:
    body = f'{{"url": "https://example.com/a.mp4", "options": {{"min_clip_seconds": {raw}}}}}'
    assert "options.min_clip_seconds" in fields(problem(await post_raw(client, body), 422))


async def test_unknown_fields_are_422_naming_them(client: httpx.AsyncClient, store: JobStore) -> None:
    top = problem(await client.post("/v1/jobs", json={**GOOD, "webhook": "https://example.com"}), 422)
    nested = problem(await client.post("/v1/jobs", json={**GOOD, "options": {"clips": 3}}), 422)
    assert fields(top) == {"webhook"} and fields(nested) == {"options.clips"}
    await no_jobs(store)


async def test_huge_strings_are_422_and_huge_bodies_413(client: httpx.AsyncClient, store: JobStore) -> None:
    long_url = "https://example.com/" + "a" * 5000
    too_long = problem(await client.post("/v1/jobs", json={"url": long_url}), 422)
    long_callback = problem(await client.post("/v1/jobs", json={**GOOD, "callback_url": long_url}), 422)
    language = problem(await client.post("/v1/jobs", json={**GOOD, "options": {"language": "e" * 10_000}}), 422)
    huge = problem(await client.post("/v1/jobs", json={**GOOD, "note": "x" * 2_000_000}), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"url": "https://example.com/a.mp4", "pad": "'
        for _ in range(100):
            yield b"y" * 10_000
        yield b'"}'

    streamed = problem(
        await client.post("/v1/jobs", content=chunks(), headers={"content-type": "application/json"}), 413
    )
    assert fields(too_long) == {"url"} and fields(long_callback) == {"callback_url"}
    assert fields(language) == {"options.language"}
    assert huge["code"] == streamed["code"] == "body_too_large"
    await no_jobs(store)


@pytest.mark.parametrize("depth", [50, 5_000, 10_000])
async def test_deep_nesting_is_a_4xx(client: httpx.AsyncClient, store: JobStore, depth: int) -> None:
    nested = "[" * depth + "]" * depth
    deep_object = '{"a":' * depth + "1" + "}" * depth  # 60 kB at 10,000 deep: under the body limit
    for raw in (f'{{"url": "https://example.com/a.mp4", "options": {nested}}}', deep_object):
        response = await post_raw(client, raw)
        assert response.status_code in (400, 422), response.text
        problem(response, response.status_code)
    await no_jobs(store)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"not json",
        b"[]",
        b'"https://example.com/a.mp4"',
        b"null",
        b'{"url": "https://example.com/a.mp4",}',
        b"\xff\xfe{\x00}",
        '{"url": "https://example.com/\u00e9.mp4"}'.encode("latin-1"),
    ],
)
async def test_malformed_json_is_a_4xx_problem(client: httpx.AsyncClient, store: JobStore, raw: bytes) -> None:
    response = await post_raw(client, raw)
    assert response.status_code in (400, 422), response.text
    problem(response, response.status_code)
    await no_jobs(store)


async def test_wrong_content_types_are_4xx(client: httpx.AsyncClient) -> None:
    form = await client.post("/v1/jobs", data={"url": "https://example.com/a.mp4"})
    text = await client.post("/v1/jobs", content=json.dumps(GOOD), headers={"content-type": "text/plain"})
    assert form.status_code in (415, 422) and text.status_code in (415, 422)
    problem(form, form.status_code)


# --- unicode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        # Lone surrogates, as JSON escapes, in a value, a field name and a nested field name.
        r'{"url": "https://example.com/\ud800.mp4"}',
        r'{"url": "https://example.com/a.mp4", "\udfff": 1}',
        r'{"url": "https://example.com/a.mp4", "options": {"\ud83d": true}}',
        r'{"url": "https://example.com/a.mp4", "options": {"language": "\udc00\udc00"}}',
        r'{"url": "https://example.com/a.mp4", "callback_url": "https://example.com/\ud800"}',
        # NUL and other control characters.
        r'{"url": "https://example.com/a\u0000.mp4"}',
        r'{"url": "https://exa\u0000mple.com/a.mp4"}',
        r'{"url": "https://example.com/a.mp4", "priority": "batch\u0000"}',
        r'{"url": "https://example.com/a.mp4", "\u0000": 1}',
        # Right-to-left override, emoji, zero-width and full-width characters where ASCII belongs.
        '{"url": "https://example.com/a.mp4", "priority": "\u202ebatch"}',
        '{"url": "https://example.com/a.mp4", "options": {"aspect": "9\uff1a16"}}',
        '{"url": "https://example.com/a.mp4", "options": {"caption_style": "bold\u200b"}}',
        '{"url": "\U0001f3ac://example.com/a.mp4"}',
        '{"url": "https://example.com/a.mp4", "options": {"language": "\U0001f1eb\U0001f1f7"}}',
    ],
)
async def test_hostile_unicode_is_422_never_500(client: httpx.AsyncClient, store: JobStore, raw: str) -> None:
    body = problem(await post_raw(client, raw), 422)
    assert fields(body)
    await no_jobs(store)


async def test_unicode_in_a_valid_link_is_kept(client: httpx.AsyncClient, store: JobStore) -> None:
    url = "https://vidéos.example/émission/\u05e9\u05dc\u05d5\u05dd/\U0001f3ac.mp4"
    response = await client.post("/v1/jobs", json={"url": url, "options": {"language": "he"}})
    assert response.status_code == 202, response.text
    job = await store.get(response.json()["id"])
    assert job is not None and job["source"]["url"] == url


async def test_hostile_path_and_query_values_are_4xx(client: httpx.AsyncClient) -> None:
    for path in (
        "/v1/jobs/%00",
        "/v1/jobs/%ED%A0%80",
        "/v1/jobs/" + "a" * 5000,
        "/v1/jobs/\U0001f3ac/clips/1",
        "/v1/jobs/6742c1f0a9e4b3d2c1f0a9e4/clips/-1",
        "/v1/jobs/6742c1f0a9e4b3d2c1f0a9e4/clips/99999999999999999999999",
        "/v1/jobs/6742c1f0a9e4b3d2c1f0a9e4/transcript?format=%00",
        "/v1/jobs?status=%F0%9F%8E%AC",
        "/v1/jobs?limit=-1",
        "/v1/jobs?limit=1e9",
        "/v1/jobs?created_after=not-a-date",
        "/v1/jobs?created_after=99999-01-01T00:00:00Z",
        "/v1/jobs?cursor=%ED%A0%80",
    ):
        response = await client.get(path)
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
        problem(response, response.status_code)
