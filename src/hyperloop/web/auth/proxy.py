"""Identity from a trusted reverse proxy: the verified X.509 client certificate subject DN.

The header is believed only when proxy authentication is enabled and the TCP peer is one of
the configured trusted proxies; anybody else could simply send the header themselves.
"""

from __future__ import annotations

import ipaddress
import re

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
