"""Which job URLs ClipForge refuses to fetch (server-side request forgery), before any DNS."""

from __future__ import annotations

import ipaddress

import pytest

from clipforge.shared.settings import Settings
from clipforge.shared.urlsafety import SourcePolicy, UnsafeUrl, address_refusal, check_source_url, literal_address

PUBLIC_ONLY = SourcePolicy()
LOOPBACK_ALLOWED = SourcePolicy.allowing(["127.0.0.0/8"])


def refusal(url: str, policy: SourcePolicy = PUBLIC_ONLY) -> UnsafeUrl:
    with pytest.raises(UnsafeUrl) as caught:
        check_source_url(url, policy)
    return caught.value


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://example.com/video.mp4",
        "javascript:alert(1)",
        "data:video/mp4;base64,AAAA",
        "gopher://example.com/",
        "example.com/video.mp4",
        "http:///no-host",
        "//example.com/video.mp4",
    ],
)
def test_only_http_and_https_links_with_a_host(url: str) -> None:
    error = refusal(url)
    assert error.code == "unsupported_url_scheme"
    assert "http://" in error.message


@pytest.mark.parametrize(
    "url", ["https://user:secret@example.com/v.mp4", "http://user@example.com/v.mp4", "http://:pw@example.com/"]
)
def test_credentials_in_the_link_are_refused(url: str) -> None:
    error = refusal(url)
    assert error.code == "url_credentials_forbidden"
    assert "secret" not in error.message


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "http://exa mple.com/v.mp4",
        "http://example.com/v\x00.mp4",
        "http://example.com/v.mp4\r\nX-Injected: 1",
        "http://example.com/\ud800",
        "http://example.com:99999/v.mp4",
        "http://example.com/" + "a" * 3000,
    ],
)
def test_malformed_links_are_invalid_url(url: str) -> None:
    assert refusal(url).code == "invalid_url"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1/v.mp4", "loopback"),
        ("http://127.8.9.10:8080/v.mp4", "loopback"),
        ("http://[::1]/v.mp4", "loopback"),
        ("http://localhost/v.mp4", "loopback"),
        ("http://LOCALHOST./v.mp4", "loopback"),
        ("http://videos.localhost/v.mp4", "loopback"),
        # Forms the C resolver reads as 127.0.0.1 although they do not look like it.
        ("http://2130706433/v.mp4", "loopback"),
        ("http://0x7f000001/v.mp4", "loopback"),
        ("http://127.1/v.mp4", "loopback"),
        ("http://0177.0.0.1/v.mp4", "loopback"),
        ("http://[::ffff:127.0.0.1]/v.mp4", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata"),
        ("http://169.254.1.1/v.mp4", "link-local"),
        ("http://[fe80::1]/v.mp4", "link-local"),
        ("http://10.0.0.5/v.mp4", "private"),
        ("http://172.16.0.1/v.mp4", "private"),
        ("http://192.168.1.10/v.mp4", "private"),
        ("http://[fd12:3456::1]/v.mp4", "private"),
        ("http://[64:ff9b::10.0.0.1]/v.mp4", "private"),
        ("http://100.64.0.1/v.mp4", "carrier-grade NAT"),
        ("http://0.0.0.0/v.mp4", "unspecified"),
        ("http://[::]/v.mp4", "unspecified"),
        ("http://224.0.0.251/v.mp4", "multicast"),
        ("http://[ff02::1]/v.mp4", "multicast"),
        ("http://240.0.0.1/v.mp4", "reserved"),
        ("http://255.255.255.255/v.mp4", "reserved"),
    ],
)
def test_non_public_addresses_are_refused(url: str, reason: str) -> None:
    error = refusal(url)
    assert error.code == "source_address_forbidden"
    assert reason in error.message


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "http://93.184.215.14/talk.mp4",
        "https://[2606:4700::1111]/talk.mp4",
        "https://vidéos.example/épisode 1".replace(" ", "%20"),
        "HTTPS://EXAMPLE.COM/Talk.mp4",
    ],
)
def test_public_links_pass_trimmed(url: str) -> None:
    assert check_source_url(f"  {url}\t", PUBLIC_ONLY) == url


def test_an_allowed_network_is_allowed_and_nothing_else() -> None:
    assert check_source_url("http://127.0.0.1:8080/talk.mp4", LOOPBACK_ALLOWED) == "http://127.0.0.1:8080/talk.mp4"
    assert check_source_url("http://localhost:8080/talk.mp4", LOOPBACK_ALLOWED)
    for url in ("http://[::1]/v.mp4", "http://10.0.0.5/v.mp4", "http://169.254.169.254/", "http://metadata/"):
        assert refusal(url, LOOPBACK_ALLOWED).code == "source_address_forbidden"


def test_a_mapped_address_is_judged_by_the_address_it_reaches() -> None:
    policy = SourcePolicy.allowing(["::ffff:0:0/96"])  # allowing "IPv4 over IPv6" does not allow private IPv4
    assert address_refusal(ipaddress.ip_address("::ffff:10.0.0.1"), policy) == "a private network address"
    assert address_refusal(ipaddress.ip_address("::ffff:8.8.8.8"), policy) is None


def test_literal_addresses_without_dns() -> None:
    assert literal_address("localhost") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("0x7f.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_address("example.com") is None
    assert literal_address("cafe.dead.beef") is None


def test_settings_read_allowed_networks_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLIPFORGE_ALLOWED_SOURCE_NETWORKS", '["127.0.0.0/8", "10.1.0.0/16"]')
    policy = Settings().source_policy()
    assert policy.allows(ipaddress.ip_address("10.1.2.3"))
    assert not policy.allows(ipaddress.ip_address("10.2.0.1"))
    monkeypatch.setenv("CLIPFORGE_ALLOWED_SOURCE_NETWORKS", '["not a network"]')
    with pytest.raises(ValueError, match="not a network"):
        Settings()


def test_settings_allow_nothing_private_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLIPFORGE_ALLOWED_SOURCE_NETWORKS", raising=False)
    assert Settings().source_policy() == SourcePolicy()
