"""Which network addresses a capture may reach.

By default Refuge refuses loopback, private, link-local and reserved addresses, so a
target (or a link on a hostile page) cannot turn the crawler against the machine it
runs on or its local network. ``REFUGE_ALLOW_PRIVATE_NETWORKS`` lifts that;
``allow_networks`` lifts it for the networks it names only.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from refuge.config.errors import BadInput

SETTING = "REFUGE_ALLOW_PRIVATE_NETWORKS"
_resolver = ThreadPoolExecutor(max_workers=2, thread_name_prefix="resolve")


class PrivateAddressRefused(Exception):
    """A connection to a non-public address, refused. Deliberately not an OSError: urllib3
    must not retry it or wrap it as a network fault."""


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, reaching that IPv4 host
# through a translator or tunnel: NAT64 (RFC 6052, and RFC 8215's local-use prefix) and the
# deprecated IPv4-compatible form. 6to4 (2002::/16) carries it after its first 16 bits.
_IPV4_IN_LAST_32 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"),
                    ipaddress.IPv6Network("::/96"))


def is_public(address: str) -> bool:
    """Whether ADDRESS is a public unicast address, judged by the IPv4 address inside it for
    the IPv6 forms that carry one (mapped, NAT64, 6to4, IPv4-compatible)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _IPV4_IN_LAST_32[2] and int(ip) <= 1:
            return False  # :: and ::1, not IPv4-compatible addresses
        inner = ip.ipv4_mapped or ip.sixtofour or next(
            (ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) for net in _IPV4_IN_LAST_32 if ip in net), None)
        if inner is not None:
            return is_public(str(inner))
    return ip.is_global and not ip.is_multicast


def is_network(text: str) -> bool:
    """Whether TEXT names a network (10.1.0.0/16, fd00::/8) or one address."""
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def is_admitted(address: str, allowed: Sequence[str] = ()) -> bool:
    """Whether a capture may connect to ADDRESS: a public one, or one inside a network the
    operator allowed (the address as written: an allowed 10.0.0.0/8 does not admit the
    same host behind a NAT64 or 6to4 prefix)."""
    if is_public(address):
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    return any(ip in ipaddress.ip_network(network, strict=False) for network in allowed)


def refusal(host: str, address: str) -> str:
    return (f"{host} resolves to {address}, a loopback, private, link-local or reserved address; "
            f"set {SETTING}=true or allow_networks to capture it")


def resolve(host: str, timeout: float = 10.0) -> list[str]:
    """Every address the host resolves to; [] if it does not resolve in time.

    getaddrinfo has no timeout of its own, hence the worker thread.
    """
    try:
        infos = _resolver.submit(socket.getaddrinfo, host, None).result(timeout=timeout)
    except (OSError, UnicodeError, FutureTimeout):
        return []
    return sorted({info[4][0] for info in infos})


def check_host_allowed(host: str, allow_private: bool, allowed: Sequence[str] = ()) -> list[str]:
    """Refuse a host that resolves to a non-public address; returns the addresses found.

    A host that does not resolve now is let through: the same check runs on every
    connection the crawler makes, so it cannot slip past later.
    """
    if allow_private:
        return []
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        addresses = [str(literal)]
    except ValueError:
        addresses = resolve(host)
    for address in addresses:
        if not is_admitted(address, allowed):
            raise BadInput(refusal(host, address))
    return addresses
