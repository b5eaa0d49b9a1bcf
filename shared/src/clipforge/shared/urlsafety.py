"""Which source addresses ClipForge may fetch (server-side request forgery protection).

A job's URL is fetched from inside our network, so a URL must not make us reach what only we can
reach: loopback, private and link-local networks, cloud metadata endpoints, or schemes that read
local files. ``check_source_url`` refuses what can be seen in the URL itself (scheme,
credentials, literal addresses, well-known internal names) and is run by the gateway when a job
is submitted and by ingest before it starts. DNS names are only resolved when connecting: the
download runs with ``clipforge.ingest.netguard``, which checks every address a socket connects
to against ``address_refusal``, so redirects and names that resolve (or re-resolve) to internal
addresses are refused too.

Configuration may allow networks (``CLIPFORGE_ALLOWED_SOURCE_NETWORKS``, a JSON list of CIDRs),
as the local stack and the tests do for ``127.0.0.0/8``.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from clipforge.api.urls import UnsafeUrl, check_url_syntax

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Instance metadata services: AWS/GCP/Azure/OpenStack/DigitalOcean (169.254.169.254), AWS over
# IPv6, AWS ECS task metadata, Alibaba Cloud. Named apart so the refusal can say what it is.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(text) for text in ("169.254.169.254", "fd00:ec2::254", "169.254.170.2", "100.100.100.200")
)
METADATA_HOSTNAMES = frozenset(
    {"metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal"}
)
_LOOPBACK_NAME_ADDRESS = ipaddress.ip_address("127.0.0.1")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class SourcePolicy:
    """Networks that may be fetched although they are not public (empty: public addresses only)."""

    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def allowing(cls, networks: Iterable[str | IPNetwork]) -> SourcePolicy:
        return cls(tuple(ipaddress.ip_network(str(network), strict=False) for network in networks))

    def allows(self, address: IPAddress) -> bool:
        return any(address.version == network.version and address in network for network in self.allowed_networks)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one stands for (mapped, NAT64, 6to4), which is what gets reached."""
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_refusal(address: IPAddress, policy: SourcePolicy) -> str | None:
    """Why ``address`` may not be fetched ("a loopback address"), or None when it may."""
    embedded = _embedded_ipv4(address)
    if embedded is not None and (reason := address_refusal(embedded, policy)) is not None:
        return reason
    if policy.allows(address):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    checks = (
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.version == 4 and address in _SHARED_ADDRESS_SPACE, "a carrier-grade NAT address"),
        (address.is_reserved, "a reserved address"),
        (address.is_private, "a private network address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


def forbidden_address(host: str, address: IPAddress, reason: str) -> UnsafeUrl:
    shown = host if host == str(address) else f"{host} ({address})"
    return UnsafeUrl(
        "source_address_forbidden",
        f"The link points to {shown}, which is {reason}; ClipForge only fetches videos from public "
        "web addresses. Use the public link to the video.",
    )


def literal_address(host: str) -> IPAddress | None:
    """The address a host name stands for without DNS: ``[::1]``, ``127.1``, ``0x7f000001``, ``localhost``."""
    host = host.rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return _LOOPBACK_NAME_ADDRESS  # RFC 6761: always loopback, never looked up
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # The C resolver reads "127.1", "2130706433" and "0x7f.0.0.1" as IPv4 addresses; so must we.
    if host and all(char in "0123456789abcdefx." for char in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_source_url(url: str, policy: SourcePolicy) -> str:
    """Everything that can be refused without DNS; returns ``url`` trimmed."""
    candidate = check_url_syntax(url)
    host = (urlsplit(candidate).hostname or "").rstrip(".").lower()
    if host in METADATA_HOSTNAMES:
        metadata = ipaddress.ip_address("169.254.169.254")
        if not policy.allows(metadata):
            raise forbidden_address(host, metadata, "a cloud metadata address")
    address = literal_address(host)
    if address is not None and (reason := address_refusal(address, policy)) is not None:
        raise forbidden_address(host, address, reason)
    return candidate
