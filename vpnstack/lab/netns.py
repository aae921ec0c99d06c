"""Network namespaces and veth pairs for the lab, driven through the ``ip`` command.

How this works: ``LabNetwork.create(index)`` makes a namespace ``vpnslab<index>`` and a veth
pair ``vl<index>r`` (root side, stays in the current namespace) / ``vl<index>n`` (moved into
the namespace). Both ends get an IPv4 address from the /30 ``10.200.0.0/16`` block number
``index`` and an IPv6 address from ``fd00:200:<index>::/64`` (``nodad``, so they are usable at
once). Nothing else is configured: only the connected /30 and /64 routes exist, so all traffic
stays between the current namespace and the lab namespace. ``delete()`` removes the namespace,
which also destroys both veth ends.

``veth_between`` links two namespaces directly (used to put a stock OpenVPN client into a
second namespace for the lab self-test). Every ``ip`` call has a timeout.
"""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess

import attrs

IP_TIMEOUT = 10.0
"""Seconds any single ``ip`` command may take."""
MAX_INDEX = 16383
"""Number of /30 blocks in 10.200.0.0/16."""


class LabError(RuntimeError):
    """The lab could not be set up or the server did not start; the message says why."""


def run_ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run ``ip ARGS`` (inside ``netns`` if given) and return its stdout."""
    cmd = ["ip", *args] if netns is None else ["ip", "-n", netns, *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=IP_TIMEOUT, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} failed: {proc.stderr.strip()}")
    return proc.stdout


def namespace_exists(name: str) -> bool:
    """Whether the named network namespace exists."""
    return os.path.exists(f"/run/netns/{name}")


def create_namespace(name: str) -> None:
    """Create a network namespace with its loopback up."""
    run_ip("netns", "add", name)
    try:
        run_ip("link", "set", "lo", "up", netns=name)
    except LabError:
        delete_namespace(name)
        raise


def delete_namespace(name: str) -> None:
    """Delete a namespace (and the interfaces inside it); no error if it is gone."""
    if namespace_exists(name):
        run_ip("netns", "del", name, check=False)


def _add_addresses(dev: str, addr4: str, addr6: str, netns: str | None) -> None:
    run_ip("addr", "add", addr4, "dev", dev, netns=netns)
    run_ip("-6", "addr", "add", addr6, "dev", dev, "nodad", netns=netns)
    run_ip("link", "set", dev, "up", netns=netns)


def veth_between(
    name_a: str,
    ns_a: str | None,
    name_b: str,
    ns_b: str,
    addr4_a: str,
    addr4_b: str,
    addr6_a: str,
    addr6_b: str,
) -> None:
    """Create a veth pair ``name_a`` (in ``ns_a``, None = current) <-> ``name_b`` (in ``ns_b``).

    Addresses are given with their prefix length, e.g. ``10.200.0.1/30``.
    """
    run_ip("link", "add", name_a, "type", "veth", "peer", "name", name_b)
    try:
        run_ip("link", "set", name_b, "netns", ns_b)
        if ns_a is not None:
            run_ip("link", "set", name_a, "netns", ns_a)
        _add_addresses(name_a, addr4_a, addr6_a, ns_a)
        _add_addresses(name_b, addr4_b, addr6_b, ns_b)
    except LabError:
        run_ip("link", "del", name_a, netns=ns_a, check=False)
        raise


@attrs.frozen
class LabNetwork:
    """A lab namespace and its veth link to the current namespace."""

    index: int
    """Number of the /30 block; makes names and addresses unique per lab."""
    namespace: str
    """Name of the network namespace (``ip netns`` name)."""
    root_dev: str
    """veth end in the current namespace."""
    ns_dev: str
    """veth end inside the namespace."""
    root_ipv4: ipaddress.IPv4Address
    """Address of ``root_dev``."""
    ns_ipv4: ipaddress.IPv4Address
    """Address of ``ns_dev`` (the server's address)."""
    root_ipv6: ipaddress.IPv6Address
    """IPv6 address of ``root_dev``."""
    ns_ipv6: ipaddress.IPv6Address
    """IPv6 address of ``ns_dev``."""

    @classmethod
    def for_index(cls, index: int) -> LabNetwork:
        """Names and addresses of lab number ``index`` (nothing is created)."""
        if not 0 <= index <= MAX_INDEX:
            raise ValueError(f"lab index must be 0..{MAX_INDEX}")
        base = int(ipaddress.IPv4Address("10.200.0.0")) + 4 * index
        net6 = ipaddress.IPv6Network(f"fd00:200:{index:x}::/64")
        return cls(
            index=index,
            namespace=f"vpnslab{index}",
            root_dev=f"vl{index}r",
            ns_dev=f"vl{index}n",
            root_ipv4=ipaddress.IPv4Address(base + 1),
            ns_ipv4=ipaddress.IPv4Address(base + 2),
            root_ipv6=net6[1],
            ns_ipv6=net6[2],
        )

    @classmethod
    def create(cls, index: int | None = None, *, attempts: int = 20) -> LabNetwork:
        """Create the namespace and veth of ``index`` (a free random one if None)."""
        rng = random.Random()
        for _ in range(attempts if index is None else 1):
            net = cls.for_index(index if index is not None else rng.randint(1, MAX_INDEX))
            if namespace_exists(net.namespace) or os.path.exists(f"/sys/class/net/{net.root_dev}"):
                continue
            try:
                create_namespace(net.namespace)
            except LabError:
                continue  # another lab took it in the meantime
            try:
                veth_between(
                    net.root_dev,
                    None,
                    net.ns_dev,
                    net.namespace,
                    f"{net.root_ipv4}/30",
                    f"{net.ns_ipv4}/30",
                    f"{net.root_ipv6}/64",
                    f"{net.ns_ipv6}/64",
                )
            except LabError:
                delete_namespace(net.namespace)
                raise
            return net
        raise LabError("no free lab index found (too many labs, or stale 'vpnslab*' namespaces)")

    def delete(self) -> None:
        """Delete the namespace (which removes both veth ends)."""
        delete_namespace(self.namespace)
        if os.path.exists(f"/sys/class/net/{self.root_dev}"):
            run_ip("link", "del", self.root_dev, check=False)


@attrs.frozen
class PeerNamespace:
    """A second namespace linked directly to a lab namespace (e.g. for a client with a tun)."""

    namespace: str
    """Name of the peer namespace."""
    peer_ipv4: ipaddress.IPv4Address
    """Address of the peer's end of the link."""
    server_ipv4: ipaddress.IPv4Address
    """Address of the lab namespace's end: connect to this from the peer namespace."""
    peer_ipv6: ipaddress.IPv6Address
    """IPv6 address of the peer's end."""
    server_ipv6: ipaddress.IPv6Address
    """IPv6 address of the lab namespace's end."""

    @classmethod
    def create(cls, lab: LabNetwork, number: int) -> PeerNamespace:
        """Create peer namespace ``number`` (0..49) of ``lab``, linked by a veth pair."""
        if not 0 <= number < 50:
            raise ValueError("peer number must be 0..49")
        base = int(ipaddress.IPv4Address(f"10.{201 + number}.0.0")) + 4 * lab.index
        net6 = ipaddress.IPv6Network(f"fd00:{0x201 + number:x}:{lab.index:x}::/64")
        peer = cls(
            namespace=f"{lab.namespace}p{number}",
            peer_ipv4=ipaddress.IPv4Address(base + 2),
            server_ipv4=ipaddress.IPv4Address(base + 1),
            peer_ipv6=net6[2],
            server_ipv6=net6[1],
        )
        create_namespace(peer.namespace)
        try:
            veth_between(
                f"vp{lab.index}s{number}",
                lab.namespace,
                f"vp{lab.index}c{number}",
                peer.namespace,
                f"{peer.server_ipv4}/30",
                f"{peer.peer_ipv4}/30",
                f"{peer.server_ipv6}/64",
                f"{peer.peer_ipv6}/64",
            )
        except LabError:
            delete_namespace(peer.namespace)
            raise
        return peer

    def delete(self) -> None:
        """Delete the peer namespace (and its veth pair)."""
        delete_namespace(self.namespace)
