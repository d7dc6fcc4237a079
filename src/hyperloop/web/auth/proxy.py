"""Reverse proxies: forwarded client addresses and the certificate identity they vouch for.

Only the TCP peer of the connection (the socket's address, never a header) decides whether a
request comes through a trusted proxy.  ``ForwardedHeaders`` records that peer and, for
trusted peers only, takes the client address and scheme from ``X-Forwarded-For`` and
``X-Forwarded-Proto``; the server must not rewrite them before (``hyperloop serve`` runs
uvicorn with proxy headers off; a hand-started uvicorn needs ``--no-proxy-headers``).  The
certificate subject DN header is believed only when proxy authentication is enabled and the
peer is trusted; from anybody else it is ignored.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

PEER_SCOPE_KEY = "hyperloop.peer"

_ATTR = re.compile(r"([A-Za-z][A-Za-z0-9.]*)=([^/,]+)")


def peer_is_trusted(peer: str | None, trusted: list[str]) -> bool:
    """True when the peer address lies in one of the trusted addresses/networks."""
    if not peer:
        return False
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in trusted)


def forwarded_client(header: str, trusted: list[str]) -> str | None:
    """The client address of an ``X-Forwarded-For`` chain: the nearest hop that is not itself
    a trusted proxy (each proxy appends the address it received from)."""
    hops = [h.strip() for h in header.split(",") if h.strip()]
    for hop in reversed(hops):
        if not peer_is_trusted(hop, trusted):
            return hop if _is_address(hop) else None
    return hops[0] if hops and _is_address(hops[0]) else None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def request_peer(scope: dict[str, Any]) -> str | None:
    """The TCP peer of the connection, as recorded by ``ForwardedHeaders``."""
    if PEER_SCOPE_KEY in scope:
        return scope[PEER_SCOPE_KEY]
    client = scope.get("client")
    return client[0] if client else None


class ForwardedHeaders:
    """ASGI middleware: remember the socket peer; believe forwarded headers from trusted
    proxies only."""

    def __init__(self, app: Any, trusted: list[str]) -> None:
        self.app, self.trusted = app, list(trusted)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            peer = client[0] if client else None
            scope[PEER_SCOPE_KEY] = peer
            if peer_is_trusted(peer, self.trusted):
                headers = _headers(scope)
                forwarded = headers.get("x-forwarded-for")
                address = forwarded_client(forwarded, self.trusted) if forwarded else None
                if address is not None:
                    scope["client"] = (address, 0)
                proto = (headers.get("x-forwarded-proto") or "").split(",")[0].strip().lower()
                if proto in ("http", "https"):
                    secure = proto == "https"
                    if scope["type"] == "websocket":
                        scope["scheme"] = "wss" if secure else "ws"
                    else:
                        scope["scheme"] = proto
        await self.app(scope, receive, send)


def _headers(scope: dict[str, Any]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in scope.get("headers", []):
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        out[key] = f"{out[key]},{text}" if key in out else text
    return out


def username_from_dn(dn: str, attribute: str = "CN") -> str | None:
    """Username from a subject DN (OpenSSL ``/A=b/CN=x`` or RFC 4514 ``CN=x,A=b``).

    When the attribute repeats (CERN: ``/OU=Users/CN=jdoe/CN=123456/CN=John Doe``) the one
    nearest the root is the account name: the first in slash form, the last in RFC 4514 form
    (which lists the most specific first).  Returns None if absent or empty.
    """
    dn = dn.strip()
    if not dn:
        return None
    values = [v.strip() for k, v in _ATTR.findall(dn) if k.upper() == attribute.upper()]
    values = [v for v in values if v]
    if not values:
        return None
    return values[0] if dn.startswith("/") else values[-1]
