"""Test tools for the system tests: throw-away namespaces and a child process inside one.

``Namespaces.create()`` makes a *client* namespace and a *router* namespace joined by a veth
pair created directly inside them (``ip -n CLIENT link add v0 ... peer name v1 netns ROUTER``),
so nothing is ever created in the test machine's own namespace. The client gets
``192.0.2.2/24`` and ``2001:db8:1::2/64`` on ``v0`` and default routes via the router's
``192.0.2.1`` / ``2001:db8:1::1``: an "original gateway" for the host route to the VPN server.

``NsChild`` runs ``python -m tests.system.ns_helper MODE JSON`` inside the client namespace
and talks to it by JSON lines (events out, commands in), every wait bounded.

``info_to_json`` / ``info_from_json`` carry a ``TunnelInfo`` to the helper.
"""

from __future__ import annotations

import ipaddress
import json
import os
import queue
import random
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from vpnstack.messages import Route, TunnelInfo

REPO = Path(__file__).resolve().parents[2]
IP_TIMEOUT = 10.0
CLIENT_V4 = ipaddress.IPv4Address("192.0.2.2")
ROUTER_V4 = ipaddress.IPv4Address("192.0.2.1")
CLIENT_V6 = ipaddress.IPv6Address("2001:db8:1::2")
ROUTER_V6 = ipaddress.IPv6Address("2001:db8:1::1")


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    """Run ``ip [-n NS] ARGS`` with a timeout; return stdout."""
    cmd = ["ip", *(("-n", netns) if netns else ()), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=IP_TIMEOUT, check=False)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {proc.stderr.strip()}")
    return proc.stdout


def ip_json(netns: str, *args: str) -> Any:
    """``ip -j ARGS`` inside ``netns``, parsed."""
    out = ip("-j", *args, netns=netns)
    return json.loads(out) if out.strip() else []


class Namespaces:
    """A client namespace with a veth to a router namespace; ``delete`` removes both."""

    def __init__(self, client: str, router: str) -> None:
        self.client = client
        self.router = router

    @classmethod
    def create(cls) -> Namespaces:
        tag = f"{os.getpid() % 100000}x{random.randrange(1 << 20):x}"
        self = cls(f"vpnssys{tag}c", f"vpnssys{tag}r")
        ip("netns", "add", self.client)
        try:
            ip("netns", "add", self.router)
            for ns in (self.client, self.router):
                ip("link", "set", "lo", "up", netns=ns)
            ip(
                "link",
                "add",
                "v0",
                "type",
                "veth",
                "peer",
                "name",
                "v1",
                "netns",
                self.router,
                netns=self.client,
            )
            ip("addr", "add", f"{CLIENT_V4}/24", "dev", "v0", netns=self.client)
            ip("-6", "addr", "add", f"{CLIENT_V6}/64", "dev", "v0", "nodad", netns=self.client)
            ip("addr", "add", f"{ROUTER_V4}/24", "dev", "v1", netns=self.router)
            ip("-6", "addr", "add", f"{ROUTER_V6}/64", "dev", "v1", "nodad", netns=self.router)
            ip("link", "set", "v0", "up", netns=self.client)
            ip("link", "set", "v1", "up", netns=self.router)
            ip("route", "add", "default", "via", str(ROUTER_V4), netns=self.client)
            ip("-6", "route", "add", "default", "via", str(ROUTER_V6), netns=self.client)
        except BaseException:
            self.delete()
            raise
        return self

    def delete(self) -> None:
        for ns in (self.client, self.router):
            if os.path.exists(f"/run/netns/{ns}"):
                ip("netns", "del", ns, check=False)


class NsChild:
    """``python -m tests.system.ns_helper MODE JSON`` running inside a namespace."""

    def __init__(self, netns: str, mode: str, args: dict[str, Any]) -> None:
        cmd = [
            "ip",
            "netns",
            "exec",
            netns,
            sys.executable,
            "-W",
            "error",
            "-m",
            "tests.system.ns_helper",
            mode,
            json.dumps(args),
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def event(self, timeout: float = 10.0) -> dict[str, Any]:
        """The next JSON event line from the child (fails with its stderr if it died)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event from the helper within {timeout} s") from None
        if line is None:
            self.proc.wait(timeout=5)
            assert self.proc.stderr is not None
            raise AssertionError(
                f"helper exited ({self.proc.returncode}): {self.proc.stderr.read()}"
            )
        event: dict[str, Any] = json.loads(line)
        return event

    def command(self, text: str, timeout: float = 10.0) -> dict[str, Any]:
        """Send one command line and return the event that answers it."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        return self.event(timeout)

    def stop(self) -> None:
        """End the child (close its stdin, then kill it by pid after a bound)."""
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(timeout=5)
            except (subprocess.TimeoutExpired, BrokenPipeError):
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr, self.proc.stdin):
            if stream is not None and not stream.closed:
                stream.close()
        self._reader.join(timeout=5)


# --- TunnelInfo over JSON ---------------------------------------------------------------------


def info_to_json(info: TunnelInfo) -> dict[str, Any]:
    """A JSON-able description of ``info`` (only the fields the configurator reads)."""
    return {
        "address": str(info.address) if info.address else None,
        "network": str(info.network) if info.network else None,
        "gateway": str(info.gateway) if info.gateway else None,
        "mtu": info.mtu,
        "routes": [
            [str(r.network), str(r.gateway) if r.gateway else None, r.metric] for r in info.routes
        ],
        "address6": str(info.address6) if info.address6 else None,
        "redirect_gateway": (
            None if info.redirect_gateway is None else list(info.redirect_gateway)
        ),
        "topology": info.topology,
    }


def info_from_json(data: dict[str, Any]) -> TunnelInfo:
    """The ``TunnelInfo`` described by ``info_to_json``."""

    def opt(value: str | None, kind: Any) -> Any:
        return None if value is None else kind(value)

    return TunnelInfo(
        address=opt(data["address"], ipaddress.IPv4Address),
        network=opt(data["network"], ipaddress.IPv4Network),
        gateway=opt(data["gateway"], ipaddress.IPv4Address),
        mtu=data["mtu"],
        routes=tuple(
            Route(ipaddress.ip_network(n), opt(g, ipaddress.ip_address), m)
            for n, g, m in data["routes"]
        ),
        dns=(),
        cipher="AES-256-GCM",
        peer_id=None,
        address6=opt(data["address6"], ipaddress.IPv6Interface),
        redirect_gateway=(
            None if data["redirect_gateway"] is None else tuple(data["redirect_gateway"])
        ),
        topology=data["topology"],
    )
