"""The host side of a tunnel: address, routes and DNS applied when it is up, taken back after.

How this works: ``HostNetworkConfig.apply`` runs the two system configurators in order —
``NetworkConfigurator`` (MTU, link up, addresses, then the host route to the server through
the original gateway, the redirect-gateway pair and the pushed routes) and
``DnsConfigurator`` (systemd-resolved or /etc/resolv.conf, per ``--dns-mode``). Each keeps an
undo log; ``revert`` undoes DNS first, then routes and addresses, and never raises, so the
lifecycle can call it from any ``finally``. The calls are short netlink / file operations and
run synchronously.
"""

from __future__ import annotations

import ipaddress

from vpnstack.client.output import tunnel_addresses
from vpnstack.messages import TunnelInfo
from vpnstack.system.dns import DNS_MODES, DnsConfigurator, DnsMode, dns_settings
from vpnstack.system.netconfig import NetworkConfigurator

__all__ = ["DNS_MODES", "HostNetworkConfig"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class HostNetworkConfig:
    """The ``HostNetwork`` of ``client/lifecycle.py`` on a real Linux host."""

    def __init__(self, *, dns_mode: DnsMode = "auto") -> None:
        self._dns_mode = dns_mode
        self._net: NetworkConfigurator | None = None
        self._dns = DnsConfigurator(dns_mode)

    def apply(self, ifname: str, info: TunnelInfo, *, remote: IPAddress | None) -> list[str]:
        """Configure ``ifname`` from ``info``; return one line per step, for ``--verb 3``."""
        self.revert()
        self._net = NetworkConfigurator()
        self._net.configure_interface(ifname, info)
        done = [f"{ifname}: mtu {info.mtu}, link up, address {_addresses(info)}"]
        # route-nopull and pull-filter already removed what must not be applied (at pull
        # time, in the session), so everything in ``info`` is installed.
        routes = self._net.add_routes(ifname, info, remote=remote)
        for route in routes:
            via = f" via {route.gateway}" if route.gateway is not None else f" dev {ifname}"
            done.append(f"route {route.network}{via} ({route.purpose})")
        settings = dns_settings(info)
        if self._dns_mode != "none" and not settings.empty:
            done.append(self._dns.apply(ifname, settings))
        return done

    def revert(self) -> None:
        """Take back DNS, then routes and addresses. Idempotent; never raises."""
        self._dns.restore()
        net, self._net = self._net, None
        if net is not None:
            net.undo()
            net.close()


def _addresses(info: TunnelInfo) -> str:
    return " and ".join(tunnel_addresses(info)) or "none pushed"
