"""Where webhooks may POST: public addresses only, unless WEBHOOK_ALLOWED_NETWORKS allows a private network.

A webhook URL is typed by an admin, but its POSTs leave from inside our network: without this check a URL could
reach the database, a cloud metadata service (169.254.169.254) or an internal admin page (SSRF). A host is refused
when any address it resolves to is loopback, private, link-local, multicast, reserved, unspecified or otherwise not
globally reachable, IPv4 or IPv6; an IPv6 address that embeds an IPv4 one (IPv4-mapped `::ffff:a.b.c.d`, NAT64
`64:ff9b::/96`, 6to4 `2002::/16`) is judged by that IPv4 address too.

It is checked twice. At creation, to refuse a bad URL at once (a name that does not resolve yet is accepted: the
delivery checks it). At every connection, because DNS answers change: `GuardedBackend` is the network layer of the
dispatcher's HTTP client; it resolves the host itself, checks every address, and connects to a checked address,
never handing the name to the OS again. So DNS rebinding (a public answer at the check, a private one at the
connection) finds no second lookup to win. What remains: a receiver's redirect is never followed (the client does
not follow redirects), the process's HTTP(S)_PROXY variables are ignored (a proxy would resolve the name itself,
past this check), and a host allowed through WEBHOOK_ALLOWED_NETWORKS can of course reach everything in that network.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable

import httpcore
import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
RESOLVE_SECONDS = 5.0  # a name's lookup at creation (a delivery uses its connect timeout)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class TargetRefused(Exception):
    """The host resolves to an address webhooks may not reach; the message names it and why, for the admin."""


def _judged(address: IPAddress) -> list[IPAddress]:
    """The addresses that decide: an IPv4-mapped or NAT64 address is its IPv4 one; a 6to4 one is both."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return [address.ipv4_mapped]
        if address in _NAT64:
            return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
        if address.sixtofour is not None:
            return [address, address.sixtofour]
    return [address]


def _forbidden_kind(address: IPAddress) -> str | None:
    """Why webhooks may not reach `address` (loopback, private...), or None for a public address."""
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("site-local", isinstance(address, ipaddress.IPv6Address) and address.is_site_local),
        ("non-public", not address.is_global),
    )
    return next((kind for kind, hit in checks if hit), None)


class TargetPolicy:
    """`allowed`: private networks webhooks may reach all the same (WEBHOOK_ALLOWED_NETWORKS). A plain class, not a
    dataclass: Litestar would try to validate its fields when it is injected into a handler."""

    def __init__(self, allowed: Iterable[IPNetwork] = ()) -> None:
        self.allowed = tuple(allowed)

    def refusal(self, address: IPAddress) -> str | None:
        """Why `address` may not be reached, or None when it may."""
        for each in _judged(address):
            if any(each.version == network.version and each in network for network in self.allowed):
                continue
            if (kind := _forbidden_kind(each)) is not None:
                return f"{address} is a {kind} address"
        return None

    def check(self, addresses: Iterable[IPAddress]) -> None:
        for address in addresses:
            if (reason := self.refusal(address)) is not None:
                raise TargetRefused(f"{reason}; webhooks reach public addresses only (see WEBHOOK_ALLOWED_NETWORKS)")

    async def resolve(self, host: str, port: int, timeout: float | None) -> list[IPAddress]:
        """Every address of `host`, checked; TargetRefused if any is forbidden, OSError if it does not resolve."""
        loop = asyncio.get_running_loop()
        try:
            found = await asyncio.wait_for(loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout)
        except TimeoutError:
            raise socket.gaierror(f"no answer for {host} within {timeout} s") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in found))
        self.check(addresses)
        return addresses

    async def check_url_host(self, host: str, port: int) -> None:
        """At creation: TargetRefused if `host` is, or resolves to, a forbidden address; a name that does not
        resolve now passes (DNS may not be set up yet; every connection checks again)."""
        try:
            self.check([ipaddress.ip_address(host)])
            return
        except ValueError:
            pass  # a name, not an address
        try:
            await self.resolve(host, port, RESOLVE_SECONDS)
        except OSError:
            return


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the check in it: connects only to addresses `policy` allows, resolved here."""

    def __init__(self, policy: TargetPolicy) -> None:
        self.policy = policy
        self._network = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            addresses = await self.policy.resolve(host, port, timeout)
        except OSError as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from None
        failures: list[httpcore.ConnectError | httpcore.ConnectTimeout] = []
        for address in addresses:  # the checked addresses, in the resolver's order, as the OS would try them
            try:
                return await self._network.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failures.append(exc)
        raise failures[-1]  # getaddrinfo answers at least one address or raises

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over `GuardedBackend`; environment proxies ignored (see the module's docstring)."""

    def __init__(self, policy: TargetPolicy) -> None:
        super().__init__(trust_env=False)
        limits = httpx.Limits()
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(policy),
        )
