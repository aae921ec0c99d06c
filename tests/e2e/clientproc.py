"""Run the real ``vpnstack-client`` process in a client network namespace, for e2e tests.

The namespace is the lab's peer namespace (linked straight to the server's), with a private
``/etc/netns/<ns>/resolv.conf`` that ``ip netns exec`` bind-mounts over /etc/resolv.conf, so
the client's DNS changes never reach the test machine's own resolver. Output goes to a file
that the test polls (bounded); the process is stopped by its pid.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from vpnstack.lab.netns import PeerNamespace
from vpnstack.lab.server import OpenVPNLab

CLIENT = str(Path(sys.executable).with_name("vpnstack-client"))
ORIGINAL_RESOLV_CONF = "nameserver 192.0.2.53\nsearch original.test\n"


_PING_SUMMARY = re.compile(r"\d+ packets transmitted, (\d+) (?:packets )?received")
"""The line ``N packets transmitted, M received`` of iputils ping."""


class ClientProcess:
    """One ``vpnstack-client`` run inside a fresh peer namespace of ``lab``."""

    def __init__(self, lab: OpenVPNLab, workdir: Path) -> None:
        self.lab = lab
        self.peer: PeerNamespace = lab.add_peer_namespace()
        self.namespace = self.peer.namespace
        self.workdir = workdir
        self.log_path = workdir / f"{self.namespace}.log"
        self.etc_dir = Path("/etc/netns") / self.namespace
        self.etc_dir.mkdir(parents=True, exist_ok=True)
        (self.etc_dir / "resolv.conf").write_text(ORIGINAL_RESOLV_CONF)
        self.process: subprocess.Popen[bytes] | None = None

    def write_config(self, **overrides: object) -> Path:
        """A client .ovpn for this namespace (connecting over the peer link)."""
        overrides.setdefault("remote_host", str(self.peer.server_ipv4))
        path = self.workdir / f"{self.namespace}.ovpn"
        self.lab.write_client_config(str(path), **overrides)
        return path

    def start(self, config: Path, *args: str) -> None:
        """Start ``vpnstack-client --config CONFIG ARGS`` in the namespace."""
        log = open(self.log_path, "wb")  # noqa: SIM115 - owned by the child until it exits
        self.process = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace, CLIENT, "--config", str(config), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()

    def output(self) -> str:
        """Everything the client printed so far."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        """Wait (bounded) until the client printed ``text``; fail with its output if not."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.output():
                return
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"client never printed {text!r}; output:\n{self.output()}")

    def wait_exit(self, timeout: float = 20.0) -> int:
        """Wait (bounded) for the client to exit on its own; return its status."""
        assert self.process is not None
        return self.process.wait(timeout=timeout)

    def terminate(self) -> tuple[int, float]:
        """SIGTERM the client; return (exit status, seconds it took to exit)."""
        assert self.process is not None
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        status = self.process.wait(timeout=10)
        return status, time.monotonic() - started

    def run(self, *command: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        """Run a command inside the client namespace."""
        return subprocess.run(
            ["ip", "netns", "exec", self.namespace, *command],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def ping(self, address: object, *extra: str, count: int = 3) -> int:
        """``ping -c count`` (or ``ping -6``) from the namespace; how many replies came back.

        Over the lab's lossless links every reply must come, so callers compare with
        ``count`` (ping's own exit status would pass on one reply of ``count``).
        """
        result = self.run("ping", "-c", str(count), "-W", "2", "-i", "0.2", *extra, str(address))
        summary = _PING_SUMMARY.search(result.stdout)
        return int(summary.group(1)) if summary is not None else 0

    def routes(self, family: str = "-4") -> list[str]:
        """The namespace's routes, one line each."""
        return self.run("ip", family, "route", "show").stdout.splitlines()

    def addresses(self) -> str:
        """``ip addr`` of the namespace, without IPv6's passing ``tentative`` flag (duplicate
        address detection clears it on its own a moment after an address is added)."""
        return self.run("ip", "addr", "show").stdout.replace(" tentative", "")

    def resolv_conf(self) -> str:
        """The namespace's /etc/resolv.conf as the client sees it."""
        return (self.etc_dir / "resolv.conf").read_text()

    def stop(self) -> None:
        """Kill the client if it still runs (by its pid) and remove the private /etc files."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.etc_dir, ignore_errors=True)


def start_client(
    lab: OpenVPNLab, workdir: Path, *args: str, clients: list[ClientProcess], **overrides: object
) -> ClientProcess:
    """Create a namespace, write a config with ``overrides`` and start the client in it."""
    client = ClientProcess(lab, workdir)
    clients.append(client)
    client.start(client.write_config(**overrides), *args)
    return client
