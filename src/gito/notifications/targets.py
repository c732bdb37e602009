"""Where a webhook may point. A tenant admin must not make the platform call its own
network (cloud metadata at 169.254.169.254, the database, the broker): in production,
webhooks to loopback, private, link-local and otherwise non-global addresses are refused."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(Exception):
    """The URL points to an address webhooks may not reach."""


def _is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def literal_refused(url: str) -> bool:
    """True when the URL's host is an IP literal that is not public (checked on save; host
    names are checked when sending, since their addresses can change)."""
    host = urlsplit(url).hostname or ""
    try:
        return not _is_public(host)
    except ValueError:
        return host == "localhost" or host.endswith(".localhost")


async def check_target(url: str) -> None:
    """Raise TargetRefused unless every address the URL's host resolves to is public."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"cannot resolve {host}: {exc}") from None
    for info in infos:
        address = str(info[4][0])
        if not _is_public(address):
            raise TargetRefused(f"{host} resolves to {address}, which webhooks may not reach")
