"""yt-dlp with every outgoing connection checked against the source policy.

Run as ``python -m clipforge.ingest.netguard '<allowed networks as JSON>' <yt-dlp arguments>``.
Checking the URL before the download is not enough: a public page can redirect to an internal
address, embed a link to one, or have a DNS name that resolves (or re-resolves) to one. So the
check runs where the connection is made: ``socket.connect`` refuses an address that
``address_refusal`` forbids, whatever led there. yt-dlp hands some streams (live HLS, RTMP) to
external programs such as ffmpeg, whose sockets this process cannot see; those downloaders are
refused outright.

A refusal is written to stderr as one marker line (``FORBIDDEN_MARK host address reason`` or
``EXTERNAL_MARK name``) that ``clipforge.ingest.download`` turns into the job's error.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import socket
import sys
import threading
from typing import Any

from clipforge.shared.urlsafety import SourcePolicy, address_refusal

FORBIDDEN_MARK = "CLIPFORGE-FORBIDDEN-ADDRESS"
EXTERNAL_MARK = "CLIPFORGE-EXTERNAL-DOWNLOADER"

_names: dict[str, str] = {}  # address → the name it was resolved from, for the message
_names_lock = threading.Lock()


class ForbiddenAddress(ConnectionRefusedError):
    pass


def install(policy: SourcePolicy) -> None:
    """Patch this process's sockets so connecting to a forbidden address fails."""
    original_getaddrinfo = socket.getaddrinfo
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        results = original_getaddrinfo(host, *args, **kwargs)
        if isinstance(host, str | bytes):
            name = host.decode("ascii", "replace") if isinstance(host, bytes) else host
            with _names_lock:
                for result in results:
                    _names[str(result[4][0])] = name
        return results

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family not in (socket.AF_INET, socket.AF_INET6):
            return
        try:
            ip = ipaddress.ip_address(address[0])
        except (ValueError, TypeError, IndexError):
            return  # a name: the resolver's answer is checked when Python connects to it
        reason = address_refusal(ip, policy)
        if reason is None:
            return
        with _names_lock:
            host = _names.get(str(ip), str(ip))
        print(f"{FORBIDDEN_MARK} {host} {ip} {reason}", file=sys.stderr, flush=True)
        raise ForbiddenAddress(errno.EACCES, f"connecting to {host} ({ip}) is not allowed: it is {reason}")

    def connect(self: socket.socket, address: Any) -> None:
        check(self, address)
        original_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        check(self, address)
        return original_connect_ex(self, address)

    socket.getaddrinfo = getaddrinfo
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]


def _refuse_external_downloaders() -> None:
    from yt_dlp.downloader.external import ExternalFD
    from yt_dlp.downloader.rtmp import RtmpFD
    from yt_dlp.utils import DownloadError

    def real_download(self: Any, filename: str, info_dict: dict[str, Any]) -> bool:
        name = type(self).__name__.removesuffix("FD").lower()
        print(f"{EXTERNAL_MARK} {name}", file=sys.stderr, flush=True)
        raise DownloadError(f"this stream would need the external downloader {name}, which is not allowed")

    ExternalFD.real_download = real_download  # type: ignore[method-assign]
    RtmpFD.real_download = real_download  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    policy = SourcePolicy.allowing(json.loads(argv[0]))
    install(policy)
    _refuse_external_downloaders()
    import yt_dlp

    try:
        yt_dlp.main(argv[1:])
    except SystemExit as exit_:
        return int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
