"""The form of a web address the API accepts: shared by the gateway, its clients and the
source-address policy (``clipforge.shared.urlsafety``), so all of them refuse the same links
with the same codes."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})
MAX_URL_LENGTH = 2048
_BAD_CATEGORIES = frozenset({"Cc", "Cs", "Zs", "Zl", "Zp"})


class UnsafeUrl(ValueError):
    """A source URL ClipForge will not fetch; ``code`` is the stable machine-readable reason."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def has_bad_characters(text: str) -> bool:
    # Cc: control characters (NUL, newlines), Cs: lone surrogates, Z*: spaces inside the URL.
    return any(unicodedata.category(char) in _BAD_CATEGORIES for char in text)


def check_url_syntax(url: str, *, allow_credentials: bool = False) -> str:
    """``url`` trimmed, when it is an http(s) link with a host (and no credentials); else UnsafeUrl."""
    candidate = url.strip()
    if not candidate or len(candidate) > MAX_URL_LENGTH or has_bad_characters(candidate):
        raise UnsafeUrl(
            "invalid_url",
            "The link is not a valid web address (it is empty, too long, or contains spaces or "
            "control characters). Paste the full link to the video.",
        )
    try:
        parts = urlsplit(candidate)
        host = parts.hostname
    except ValueError:
        parts, host = None, None
    if parts is None or parts.scheme.lower() not in ALLOWED_SCHEMES or not host:
        raise UnsafeUrl(
            "unsupported_url_scheme",
            "Only web addresses starting with http:// or https:// can be used. "
            "Paste the full link to the video page, for example https://example.com/watch/123.",
        )
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError:
        raise UnsafeUrl("invalid_url", "The port number in the link is not valid. Check the link.") from None
    if not allow_credentials and (parts.username is not None or parts.password is not None):
        raise UnsafeUrl(
            "url_credentials_forbidden",
            "The link contains a user name or password. Links with credentials are not accepted; "
            "use a public link to the video.",
        )
    return candidate
