"""Who is on the other end of a request: the client address (for throttling) and what of it we keep
(a network, a shortened user agent) in the session list.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest

USER_AGENT_MAX = 200
UNKNOWN_ADDRESS = "unknown"


def client_address(request: HttpRequest) -> str:
    """The client's IP address, as text.

    REMOTE_ADDR, unless Pledge runs behind a TLS-terminating proxy (settings.SECURE_PROXY_SSL_HEADER
    is set, PLEDGE_HTTPS=1): then the right-most X-Forwarded-For entry, the one our own proxy
    appended. Entries to its left come from the client and could be anything, so they are never
    used: trusting them would let an attacker pick a fresh address for every guess.
    """
    remote = str(request.META.get("REMOTE_ADDR", ""))
    if getattr(settings, "SECURE_PROXY_SSL_HEADER", None):
        forwarded = str(request.META.get("HTTP_X_FORWARDED_FOR", ""))
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last and _parse(last) is not None:
            remote = last
    parsed = _parse(remote)
    return str(parsed) if parsed is not None else UNKNOWN_ADDRESS


def throttle_address(address: str) -> str:
    """What the per-address throttle counts: the IPv4 address, or the IPv6 /64 (one subscriber
    usually holds a whole /64, so counting single IPv6 addresses would throttle nothing)."""
    parsed = _parse(address)
    if parsed is None:
        return UNKNOWN_ADDRESS
    if parsed.version == 6:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


def client_network(address: str) -> str:
    """The address shortened for display and storage: 203.0.113.0/24, 2001:db8:1::/48."""
    parsed = _parse(address)
    if parsed is None:
        return ""
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network(f"{parsed}/{prefix}", strict=False))


def user_agent(request: HttpRequest) -> str:
    agent = str(request.META.get("HTTP_USER_AGENT", ""))
    printable = "".join(c for c in agent if c.isprintable())
    return printable[:USER_AGENT_MAX]


def _parse(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        parsed = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        return parsed.ipv4_mapped
    return parsed
